import NewswireModel

/// Classifies lines into navigation, metadata, title, deck, participant list, body and trailing junk.
enum ArticleAssembler {
    /// Date ranks (lower wins): a labelled date in the header beats an unlabelled one, which beats dates found in
    /// the body or around the article.
    enum DateRank {
        static let structured = 0
        static let labelledHeader = 1
        static let timeElement = 2
        static let unlabelledHeader = 3
        static let labelledElsewhere = 4
        static let nearby = 5
        static let anywhere = 6
        /// A last-modified time: the publication time only when the page states nothing else (a page showing
        /// `发布时间：10-08 12:00` without a year).
        static let modified = 7
    }

    // MARK: Assembly

    /// Classifies `lines`.
    ///
    /// - Parameters:
    ///   - titleHint: the headline when structured metadata gave one (HTML); lines equal to it are title lines.
    ///   - context: lines around the article (HTML: outside the chosen block) searched for metadata only.
    static func assemble(_ lines: [PageLine], titleHint: String?, before: [PageLine] = [], after: [PageLine] = [])
        -> AssembledArticle
    {
        var result = AssembledArticle()
        var meta = GatheredMetadata()
        // Classified once: several passes below ask.
        let metas = lines.map(metaFields)
        // Keys as scalars: compared and tested for emptiness many times, never hashed (a String would be
        // normalised for each comparison).
        let keys = lines.map { Text.keyScalars($0.text) }
        let prefixKeys = lines.map(prefixKey)
        let junk = lines.indices.map { isJunk(lines[$0], key: prefixKeys[$0]) }
        let stop = lines.indices.map { isStop(lines[$0], key: prefixKeys[$0]) }

        // Title.
        var titleLines = Set<Int>()
        var titleKey: Scalars?
        if let titleHint, !titleHint.isEmpty {
            let k = Text.keyScalars(Text.scalars(titleHint))
            titleKey = k
            result.title = titleHint
            let headline = Text.string(k)
            // Character counts are taken only for a prefix of the headline (counting walks graphemes).
            let headlineLength = headline.count
            for i in lines.indices where !keys[i].isEmpty {
                // The page may show the headline without a `<title>` suffix like `(页 1)`: a long prefix counts.
                let key = keys[i]
                if key == k {
                    titleLines.insert(i)
                } else if key.count < k.count, k.starts(with: key) {
                    let prefix = Text.string(key)
                    if headline.hasPrefix(prefix) && prefix.count >= 6 && prefix.count * 10 >= headlineLength * 6 {
                        titleLines.insert(i)
                    }
                }
            }
        } else {
            let window = min(lines.count, 40)
            search: for i in 0..<window {
                let l = lines[i]
                guard isTitleLike(l), metas[i] == nil, !junk[i], !stop[i], !isNavigation(l) else { continue }
                for j in (i + 1)..<min(lines.count, i + 13) where keys[j] == keys[i] {
                    titleLines = [i, j]
                    titleKey = keys[i]
                    result.title = l.string
                    break search
                }
            }
            if titleKey == nil {
                // No repeated headline: the first title-like line, preferring one that a metadata line
                // (date, source) follows closely, since a site name or section label may come first.
                var candidates: [Int] = []
                for i in 0..<window {
                    let l = lines[i]
                    if isProse(l) && l.hasSentenceEnd { break }
                    guard isTitleLike(l), metas[i] == nil, !junk[i], !stop[i], !isNavigation(l),
                        !l.hasSentenceEnd, participantListNames(l) == nil, bylineCount(l) == 0
                    else { continue }
                    candidates.append(i)
                }
                // The headline is the last candidate before the first metadata line (site names and section
                // labels come earlier); with no metadata line, the first candidate.
                let firstMeta = (0..<window).first { metas[$0] != nil }
                let beforeMeta = firstMeta.flatMap { m in candidates.last { $0 < m } }
                if let i = beforeMeta ?? candidates.first {
                    titleLines = [i]
                    titleKey = keys[i]
                    result.title = lines[i].string
                }
            }
        }

        // Header: everything up to the first body paragraph after the (last) title line.
        // Only title lines above the first prose count for the header (a page may repeat its headline lower down,
        // e.g. a second copy of the article for another layout).
        let firstProse = lines.firstIndex(where: isProse) ?? lines.count
        let titleEnd = titleLines.filter { $0 < firstProse }.max().map { $0 + 1 } ?? 0
        var bodyStart = lines.count
        var previousWasTitleOrDeck = !titleLines.isEmpty
        var k = titleEnd
        // Lines before the title: metadata only.
        for i in 0..<titleEnd where !titleLines.contains(i) {
            gatherHeader(lines[i], into: &meta)
        }
        while k < lines.count {
            let l = lines[k]
            if titleLines.contains(k) || keys[k] == titleKey {  // a repeat of the headline
                previousWasTitleOrDeck = true
            } else if junk[k] || stop[k] {
                previousWasTitleOrDeck = false
            } else if metas[k] != nil {
                gatherHeader(l, into: &meta)
                previousWasTitleOrDeck = false
            } else if let names = participantListNames(l), !l.endsWithSentenceEnd || l.visible < 80 {
                meta.participants += names
                previousWasTitleOrDeck = false
            } else if isNavigation(l) && !previousWasTitleOrDeck {
                previousWasTitleOrDeck = false
            } else if l.visible <= 60, bylineCount(l) > 0 {
                gatherHeader(l, into: &meta)
                previousWasTitleOrDeck = false
            } else if !titleLines.isEmpty, let names = nameLine(l) {
                // A line of nothing but personal names under the headline is the byline (`胡平`, `赵延东、风笑天`).
                meta.bylineReporters += names.filter { !meta.bylineReporters.contains($0) }
                previousWasTitleOrDeck = false
            } else if previousWasTitleOrDeck, result.subtitles.count < 4, l.visible <= 40, !l.hasSentenceEnd,
                l.punctuation <= 2, l.heading != 1
            {
                result.subtitles.append(l.string)
            } else if isParagraphLike(l)
                || l.heading == 0 && l.visible >= 8 && k + 1 < lines.count
                    && isParagraphLike(lines[k + 1])
            {
                bodyStart = k
                break
            } else {
                // A short header line: maybe a byline or a date.
                gatherHeader(l, into: &meta)
                previousWasTitleOrDeck = false
            }
            k += 1
        }

        // Body: until a stop line (related articles, prev/next, copyright…).
        // proseFrom[i]: prose characters in lines[i...], so each stop line is judged in O(1).
        var proseFrom = [Int](repeating: 0, count: lines.count + 1)
        for j in stride(from: lines.count - 1, through: 0, by: -1) {
            proseFrom[j] = proseFrom[j + 1] + (isProse(lines[j]) && !junk[j] ? lines[j].visible : 0)
        }
        var paragraphs: [PageLine] = []
        var proseBefore = 0
        var i = bodyStart
        var stopped = false
        // Dated metadata lines after prose, as (paragraph count, prose so far): an index page (a blog's or a
        // column's posts in a row) repeats title, date and body per post.
        var datedBreaks: [(paragraphs: Int, prose: Int)] = []
        while i < lines.count {
            let l = lines[i]
            i += 1
            if stopped {
                gatherTrailer(l, into: &meta)
                continue
            }
            if stop[i - 1] {
                if paragraphs.isEmpty { continue }
                // A stop marker is trusted only when more prose does not follow it than came before it
                // (a "related" caption in the middle of an article must not cut the article short).
                if proseFrom[i] <= proseBefore { stopped = true }
                continue
            }
            if junk[i - 1] { continue }
            if let titleKey, keys[i - 1] == titleKey { continue }
            if let fields = metas[i - 1], !fields.isEmpty || l.visible <= 40 {
                if proseBefore > 0, DateScanner.scan(folded: l.folded).contains(where: \.hasTime) {
                    datedBreaks.append((paragraphs.count, proseBefore))
                }
                gatherHeader(l, into: &meta, rank: DateRank.labelledElsewhere)
                continue
            }
            if isNavigation(l) && l.visible <= 30 && l.heading == 0 {
                // A byline can look like a menu (`新华日报·交汇点记者 徐睿翔`): read it before dropping the line.
                addBylines(l, into: &meta)
                continue
            }
            if keys[i - 1].isEmpty { continue }
            paragraphs.append(withoutEditLink(l))
            if isProse(l) { proseBefore += l.visible }
        }
        let allUnits = paragraphs
        paragraphs = firstUnitOfIndex(paragraphs, breaks: datedBreaks, totalProse: proseBefore)
        for l in before { gatherContext(l, into: &meta) }
        for l in after.prefix(15) { gatherTrailer(l, into: &meta) }

        // Repeated paragraphs: keep the first occurrence wherever the repeat appears.
        paragraphs = dedupe(paragraphs)

        // Bylines and datelines in the body.
        // Bylines: in the first paragraphs (a dateline), or a short paragraph of its own anywhere.
        for (n, p) in paragraphs.enumerated() where n < 3 || p.visible <= 40 {
            for r in People.reportersInParagraph(p.text) where !meta.bylineReporters.contains(r) {
                meta.bylineReporters.append(r)
            }
        }
        // A forum or blog post's own credit line (`本贴由 X 于 …发表`, `X 发表于 …`). On an index page the
        // owner signs every post: the name most posts carry comes first.
        var posters: [(name: String, count: Int)] = []
        for p in allUnits where p.visible <= 80 {
            for r in People.posterBeforeMarker(p.text) {
                if let k = posters.firstIndex(where: { $0.name == r }) { posters[k].count += 1 } else { posters.append((r, 1)) }
            }
        }
        let topCount = posters.map(\.count).max() ?? 0
        for (name, count) in posters where count == topCount && !meta.trailingAuthors.contains(name) {
            meta.trailingAuthors.append(name)
        }
        for p in paragraphs.suffix(3) {
            for r in People.trailingCredit(p.text) where !meta.trailingAuthors.contains(r) {
                meta.trailingAuthors.append(r)
            }
        }
        if let first = paragraphs.first {
            meta.datelineSource = datelineSource(first.folded, text: first.text)
        }
        for p in paragraphs { meta.participants += People.participants(in: p.text) }
        // An unlabelled date near the top of the body (e.g. a dateline) is a weak candidate.
        for p in paragraphs.prefix(2) {
            for d in DateScanner.scan(folded: p.folded) { meta.addDate(d, rank: DateRank.nearby) }
        }
        result.paragraphs = paragraphs.map(\.string)
        result.metadata = meta
        return result
    }

    /// On an index page (several posts, each with its own timestamp line and prose, merged into one run) the
    /// article is the first post: keep the paragraphs before the first timestamp that more posts follow, less a
    /// trailing headline that belongs to the next post.
    static func firstUnitOfIndex(
        _ paragraphs: [PageLine], breaks: [(paragraphs: Int, prose: Int)], totalProse: Int
    ) -> [PageLine] {
        // Two more timestamped units after the first, each with prose of its own.
        guard breaks.count >= 2, let first = breaks.first, first.prose >= 80 else { return paragraphs }
        let second = breaks[1]
        guard second.prose - first.prose >= 80, totalProse - first.prose >= 160 else { return paragraphs }
        var kept = Array(paragraphs[..<first.paragraphs])
        while let last = kept.last, kept.count > 1, last.visible <= 40, !last.hasSentenceEnd, last.punctuation <= 2 {
            kept.removeLast()
        }
        return kept
    }

    /// Drops every paragraph whose key (letters and digits) equals an earlier one's. Keys are compared by a
    /// 64-bit hash first (hashing Chinese Strings in a Set normalises them, which is slow), then exactly.
    static func dedupe(_ paragraphs: [PageLine]) -> [PageLine] {
        var firstByHash: [UInt64: [Int]] = [:]
        var kept: [PageLine] = []
        for p in paragraphs {
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            Text.forEachKeyScalar(p.text) { h = (h ^ UInt64($0.value)) &* 0x0000_0100_0000_01b3 }
            if let candidates = firstByHash[h] {
                // Same hash: compare the keys themselves (computed only here, on the rare collision or repeat).
                let key = p.key
                if candidates.contains(where: { kept[$0].key == key }) { continue }
            }
            firstByHash[h, default: []].append(kept.count)
            kept.append(p)
        }
        return kept
    }
}
