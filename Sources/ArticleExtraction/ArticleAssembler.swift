import NewswireModel

/// One line of page text: a line of a plain-text scrape, or a block of an HTML page.
struct PageLine {
    /// The text as written, whitespace collapsed.
    var text: Scalars
    /// Width-folded twin of `text` (same length), for matching.
    var folded: Scalars
    /// Letters and digits only; equal keys mean the same line. Computed on demand: most blocks of a page
    /// (navigation, footers) never need it.
    var key: String { Text.key(text) }
    var visible: Int
    var punctuation: Int
    /// HTML heading level (1…6), 0 for other lines.
    var heading: Int = 0

    init(_ text: Scalars, heading: Int = 0) {
        self.text = text
        folded = Text.folded(text)
        visible = Text.visibleCount(text)
        punctuation = Text.punctuationCount(text)
        self.heading = heading
    }

    var string: String { Text.string(text) }

    /// Whether the line carries a sentence end (。！？; …) anywhere.
    var hasSentenceEnd: Bool { folded.contains(where: \.isSentenceEnd) }
    var endsWithSentenceEnd: Bool { folded.last.map { $0.isSentenceEnd || $0 == "." } ?? false }
}

/// Metadata gathered while classifying lines; the extractor merges it with structured page metadata.
struct GatheredMetadata {
    /// Dates with the rank of where they were found (lower is better) and their order.
    var dates: [(rank: Int, match: DateMatch)] = []
    var sources: [String] = []
    var labelledAuthors: [String] = []
    var bylineReporters: [String] = []
    /// Authors credited after the body (`作者：…` below the story, `（记者 X）` at its end).
    var trailingAuthors: [String] = []
    var editors: [String] = []
    var clicks: Int?
    var sawClicksLabel = false
    var participants: [String] = []
    var datelineSource: String?

    mutating func addDate(_ m: DateMatch, rank: Int) {
        // An event's date range is not when the article was published, unless a label says so.
        if m.startsRange && !m.labelled { return }
        dates.append((rank, m))
    }
}

/// The classified article: what the plain-text path produces and what the HTML path produces from the chosen
/// content block's lines.
struct AssembledArticle {
    var title: String?
    var subtitles: [String] = []
    var paragraphs: [String] = []
    var metadata = GatheredMetadata()
}

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

    // MARK: Line kinds

    private static let stopPrefixes: [Scalars] = [
        "相关文章", "相关链接", "相关新闻", "相关阅读", "相关推荐", "相关稿件", "相关报道", "延伸阅读", "推荐阅读", "热点推荐",
        "热门推荐", "猜你喜欢", "上一篇", "下一篇", "上一条", "下一条", "上一页", "版权所有", "copyright", "©", "(c)",
        "技术支持", "主办单位", "主办:", "承办:", "承办单位", "网站地图", "关于我们", "联系我们", "免责声明", "网友评论",
        "发表评论", "我要评论", "评论列表", "最新评论", "本网站所有", "本站所有", "特别声明", "声明:", "版权声明",
        "本文来自", "notice: the content", "回复线索", "回复列表", "跟帖列表",
        "related stories", "related articles", "related news", "related coverage", "more stories", "more from",
        "read next", "recommended for you", "you may also like", "all rights reserved",
    ].map { Text.scalars($0) }

    private static let junkPrefixes: [Scalars] = [
        "分享到", "分享至", "分享:", "扫一扫", "扫描二维码", "微信扫一扫", "用微信扫", "手机扫", "手机看", "手机阅读",
        "当前位置", "您现在的位置", "你现在的位置", "您的位置", "你的位置", "所在位置", "位置:", "首页>", "首页 >",
        "share this", "share on", "share via", "advertisement", "subscribe to", "sign up for", "follow us",
    ].map { Text.scalars($0) }

    private static let junkInfixes: [Scalars] = [
        "扫描分享", "分享至微信", "分享到微信", "icp备", "icp证", "公网安备", "返回顶部", "【打印", "[打印", "【关闭", "[关闭",
        "打印本页", "关闭窗口", "打印本文",
    ].map { Text.scalars($0) }
    private static let junkInfixInitials: Scalars = Array(Set(junkInfixes.map { $0[0] }))

    /// Words a toolbar line is made of (`【打印本文】 【关闭窗口】`, `字体：大 中 小`).
    private static let widgetWords: [Scalars] = [
        "打印本文", "打印本页", "打印", "关闭窗口", "关闭本页", "关闭", "本文", "本页", "窗口", "收藏", "加入收藏",
        "分享", "字体", "字号", "大", "中", "小", "默认", "返回顶部", "返回", "顶部", "纠错", "我要纠错", "保存", "复制",
        "链接", "评论", "点赞", "推荐", "登录", "注册", "无障碍", "简体", "繁体", "首页", "english", "手机版", "网站地图",
        "print", "close", "share", "email", "top", "back", "home", "login", "sign", "in", "register", "menu",
    ].map { Text.scalars($0) }.sorted { $0.count > $1.count }

    /// The line without spaces, brackets and separators, ASCII lowercased; at most `limit` scalars.
    static func lowercasedKey(_ line: PageLine, limit: Int = .max) -> Scalars {
        var out = Scalars()
        out.reserveCapacity(min(limit, line.folded.count))
        for c in line.folded {
            if c.isSpaceLike || c == "[" || c == "]" || c == "【" || c == "】" || c == "|" || c == "(" || c == ")"
                || c == ":" || c == "丨" || c == "/" || c == "·" || c == "-" || c == ">" || c == "»"
            {
                continue
            }
            out.append(c.isASCIILetter ? Unicode.Scalar(c.value | 0x20)! : c)
            if out.count >= limit { break }
        }
        return out
    }

    static func isStop(_ line: PageLine) -> Bool {
        guard line.visible <= 200 else { return false }
        let k = lowercasedKey(line, limit: 48)
        var start = 0
        while start < line.folded.count, "【[<* ".unicodeScalars.contains(line.folded[start]) { start += 1 }
        for p in stopPrefixes where Text.hasPrefix(k, p, at: 0) || hasPrefixIgnoringCase(line.folded, p, at: start) {
            return true
        }
        return false
    }

    static func isJunk(_ line: PageLine) -> Bool {
        guard line.visible <= 200 else { return false }
        let k = lowercasedKey(line, limit: 48)
        for p in junkPrefixes where Text.hasPrefix(k, p, at: 0) || hasPrefixIgnoringCase(line.folded, p, at: 0) {
            return true
        }
        // One pass over the line; an infix is tried only where its first scalar stands.
        for (i, c) in line.folded.enumerated() {
            let lower = c.isASCIILetter ? Unicode.Scalar(c.value | 0x20)! : c
            guard junkInfixInitials.contains(lower) else { continue }
            for p in junkInfixes where p[0] == lower && hasPrefixIgnoringCase(line.folded, p, at: i) { return true }
        }
        return isWidgetLine(k) || isTeaser(line)
    }

    /// Endings of a teaser: an abstract that links on to its article (`…【详细】`, `…阅读全文`, `更多>>`), or a
    /// feed item's source-and-age line (`示例网 · 5分钟前`).
    private static let teaserEndings: [Scalars] = [
        "【详细】", "[详细]", "详细>>", "阅读全文", "阅读全文>>", "查看全文", "全文>>", "更多>>", "[更多]", "【更多】",
        "分钟前", "小时前", "秒前",
    ].map { Text.folded(Text.scalars($0)) }

    static func isTeaser(_ line: PageLine) -> Bool {
        var end = line.folded.count
        while end > 0, line.folded[end - 1].isSpaceLike || line.folded[end - 1] == "." { end -= 1 }
        for e in teaserEndings where end >= e.count && line.folded[(end - e.count)..<end].elementsEqual(e) {
            // An age (`5分钟前`) marks a feed line only when the line is short; the links-on markers always do.
            if e.first == "分" || e.first == "小" || e.first == "秒" {
                return line.visible <= 40 && end > e.count && line.folded[end - e.count - 1].isASCIIDigit
            }
            return true
        }
        return false
    }

    /// `历史[编辑]`: an encyclopedia's section-edit link after a heading is not part of the heading.
    private static let editLinks: [Scalars] = ["[编辑]", "[編輯]", "[edit]", "【编辑】"].map { Text.scalars($0) }

    static func withoutEditLink(_ line: PageLine) -> PageLine {
        for e in editLinks where line.folded.count > e.count && line.folded.suffix(e.count).elementsEqual(e) {
            var text = Array(line.text.dropLast(e.count))
            while let last = text.last, last.isSpaceLike { text.removeLast() }
            return PageLine(text, heading: line.heading)
        }
        return line
    }

    /// `p` (lowercase) at `i` of `s`, ASCII letters compared case-insensitively.
    @inline(__always) static func hasPrefixIgnoringCase(_ s: Scalars, _ p: Scalars, at i: Int) -> Bool {
        guard i + p.count <= s.count else { return false }
        for j in 0..<p.count {
            let c = s[i + j]
            let lower = c.isASCIILetter ? Unicode.Scalar(c.value | 0x20)! : c
            if lower != p[j] { return false }
        }
        return true
    }

    /// Whether `k` (a lowercased key without brackets) is made of toolbar words only.
    static func isWidgetLine(_ k: Scalars) -> Bool {
        guard !k.isEmpty, k.count <= 40 else { return false }
        var i = 0
        outer: while i < k.count {
            for w in widgetWords where Text.hasPrefix(k, w, at: i) {
                i += w.count
                continue outer
            }
            return false
        }
        return true
    }

    /// Navigation: a breadcrumb, or a row of short link-like words (`无障碍 登录 注册`, `首页 | 新闻 | 图片`).
    static func isNavigation(_ line: PageLine) -> Bool {
        guard line.visible <= 80, !line.hasSentenceEnd, line.punctuation <= 1 else { return false }
        var tokens = 0
        var current = 0
        var longest = 0
        var hasHan = false
        for c in line.folded {
            if c == " " || c == "|" || c == ">" || c == "»" || c == "›" || c == "丨" || c == "/" {
                if current > 0 { tokens += 1 }
                current = 0
            } else {
                current += 1
                longest = max(longest, current)
                if c.isHan { hasHan = true }
            }
        }
        if current > 0 { tokens += 1 }
        if tokens >= 2 && longest <= 6 && hasHan { return true }
        // Explicitly separated menus in any script: `About Us | Contact | Login`.
        var separated = 0
        var longestItem = 0
        var item = 0
        for c in line.folded {
            // (Not `·`: it joins the parts of a transliterated name.)
            if c == "|" || c == "丨" || c == "»" || c == ">" {
                separated += 1
                longestItem = max(longestItem, item)
                item = 0
            } else if !c.isSpaceLike {
                item += 1
            }
        }
        longestItem = max(longestItem, item)
        if separated >= 2 && longestItem <= 15 { return true }
        return isWidgetLine(lowercasedKey(line)) && line.visible <= 30
    }

    /// A metadata line: labelled fields near its start (`来源: 日期:2024-04-08 10:04 点击:[次]`), or a short line
    /// that starts with a date.
    static func metaFields(_ line: PageLine) -> [LabelledField]? {
        guard line.visible <= 160 else { return nil }
        let fields = LabelledFields.parse(text: line.text, folded: line.folded)
        let leading = line.folded.prefix(while: {
            $0 == " " || $0 == "【" || $0 == "[" || $0 == "(" || $0 == "|" || $0 == "*" || $0 == "<"
        }).count
        if let first = fields.first {
            let nearStart =
                first.labelStart <= leading + 1
                || (line.visible <= 60 && !line.hasSentenceEnd && line.punctuation <= 3
                    && fields.contains(where: { $0.kind != .widget && $0.kind != .other }))
            let several = fields.count >= 2 && line.punctuation <= fields.count * 3 + 2
            let proseEnd = line.endsWithSentenceEnd && line.visible > 50
            if (nearStart || several) && !proseEnd { return fields }
        }
        if line.visible <= 60, let d = DateScanner.scan(folded: line.folded).first,
            d.range.lowerBound <= leading + 1 || (d.labelled && d.range.lowerBound <= leading + 12),
            !line.hasSentenceEnd
        {
            return fields
        }
        return nil
    }

    /// A line that only lists names before 参加活动 / 出席 (`马兴瑞 王晓晖 … 施小琳参加活动`): not a body paragraph
    /// when it stands in the header.
    static func participantListNames(_ line: PageLine) -> [String]? {
        guard line.visible <= 300, !line.folded.dropLast().contains(where: { $0 == "。" || $0 == "!" || $0 == "?" }),
            line.folded.filter({ $0 == "," }).count <= 1 || line.folded.contains("、")
        else { return nil }
        let names = People.participants(in: line.text)
        return names.isEmpty ? nil : names
    }

    /// Paragraph-like: prose with punctuation, or long enough to be prose.
    static func isParagraphLike(_ line: PageLine) -> Bool {
        (line.punctuation >= 1 && line.visible >= 12) || line.visible >= 40
    }

    /// Clearly prose: long and punctuated.
    static func isProse(_ line: PageLine) -> Bool { line.visible >= 30 && line.punctuation >= 2 }

    static func isTitleLike(_ line: PageLine) -> Bool {
        line.visible >= 4 && line.visible <= 100 && !line.endsWithSentenceEnd && line.punctuation <= 6
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
        let keys = lines.map(\.key)
        let junk = lines.map(isJunk)
        let stop = lines.map(isStop)

        // Title.
        var titleLines = Set<Int>()
        var titleKey: String?
        if let titleHint, !titleHint.isEmpty {
            let k = Text.key(Text.scalars(titleHint))
            titleKey = k
            result.title = titleHint
            // Character counts are taken only for a prefix of the headline (counting walks graphemes).
            let headlineLength = k.count
            for i in lines.indices where !keys[i].isEmpty {
                // The page may show the headline without a `<title>` suffix like `(页 1)`: a long prefix counts.
                let key = keys[i]
                if key == k || (k.hasPrefix(key) && key.count >= 6 && key.count * 10 >= headlineLength * 6) {
                    titleLines.insert(i)
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

    /// Metadata from a header line (before the body, or a labelled line inside it).
    static func gatherHeader(_ l: PageLine, into meta: inout GatheredMetadata, rank: Int = DateRank.labelledHeader) {
        let fields = LabelledFields.parse(text: l.text, folded: l.folded)
        var dateFromLabel = false
        for f in fields {
            switch f.kind {
            case .source:
                if let s = LabelledFields.source(f.value) { meta.sources.append(s) }
            case .date:
                if let d = DateScanner.scan(f.value).first {
                    meta.addDate(d, rank: rank)
                    dateFromLabel = true
                }
            case .clicks:
                meta.sawClicksLabel = true
                if meta.clicks == nil { meta.clicks = LabelledFields.clicks(f.value) }
            case .author, .reporter:
                var v = f.value
                // `记者：这么看你…？` is an interview question, not a byline.
                if v.contains(where: { $0 == "，" || $0 == "。" || $0 == "？" || $0 == "?" || $0 == "！" }) { break }
                if let d = DateScanner.scan(v).first { v = Array(v[..<d.range.lowerBound]) }
                meta.labelledAuthors += People.splitByline(v).filter { !meta.labelledAuthors.contains($0) }
            case .editor:
                meta.editors += People.splitByline(f.value).filter { !meta.editors.contains($0) }
            case .widget, .other:
                break
            }
        }
        if !dateFromLabel {
            for d in DateScanner.scan(folded: l.folded) {
                meta.addDate(d, rank: d.labelled ? rank : max(rank, DateRank.unlabelledHeader))
            }
        }
        if l.visible <= 60 {
            addBylines(l, into: &meta)
        }
    }

    /// Unlabelled bylines in a short line: `光明日报记者 王建宏 张文攀`, `By Jane Doe`, `ggjjzhzz 发表于 …`, and a
    /// lone bracketed personal name on a metadata line (`2004年7月16日08:19 [ 黄宇 ] 来源：…`).
    static func addBylines(_ l: PageLine, into meta: inout GatheredMetadata) {
        var found = People.reportersInParagraph(l.text)
        found += People.englishByline(l.text)
        found += People.posterBeforeMarker(l.text)
        // A bracketed name right after the date: `2004年7月16日08:19 [ 黄宇 ]`.
        if found.isEmpty, let date = DateScanner.scan(folded: l.folded).first {
            var token = Scalars()
            var bracketed = false
            for c in l.folded[date.range.upperBound..<min(l.folded.count, date.range.upperBound + 12)] {
                if c == "[" || c == "【" {
                    token.removeAll()
                    bracketed = true
                } else if (c == "]" || c == "】") && bracketed {
                    let t = Text.trimmed(token[...])
                    if Surnames.isLikelyPersonalName(t) { found.append(Text.string(t)) }
                    token.removeAll()
                    bracketed = false
                } else {
                    token.append(c)
                }
            }
        }
        meta.bylineReporters += found.filter { !meta.bylineReporters.contains($0) }
    }

    /// The names when a line holds only personal names (family name first, 2–4 characters, or dotted).
    static func nameLine(_ l: PageLine) -> [String]? {
        guard l.visible <= 40, l.visible >= 2 else { return nil }
        var names: [String] = []
        var withFamilyName = 0
        var token = Scalars()
        func flush() -> Bool {
            defer { token.removeAll() }
            if token.isEmpty { return true }
            guard People.isChineseName(token), token.count <= 4 else { return false }
            if Surnames.isLikelyPersonalName(token) { withFamilyName += 1 }
            names.append(Text.string(token))
            return true
        }
        for c in l.text {
            if c.isSpaceLike || c == "、" || c == "，" || c == "," || c == "/" {
                if !flush() { return nil }
            } else {
                token.append(c)
            }
        }
        // Rare family names exist; most names in a list must still start with a common one.
        guard flush(), !names.isEmpty, names.count <= 6, withFamilyName >= 1, withFamilyName * 2 >= names.count
        else { return nil }
        return names
    }

    static func bylineCount(_ l: PageLine) -> Int {
        People.reportersInParagraph(l.text).count + People.englishByline(l.text).count
            + People.posterBeforeMarker(l.text).count
    }

    /// Lines after the body: editors, authors credited at the end, stray labelled fields.
    static func gatherTrailer(_ l: PageLine, into meta: inout GatheredMetadata) {
        guard l.visible <= 160 else { return }
        for f in LabelledFields.parse(text: l.text, folded: l.folded) {
            switch f.kind {
            case .editor:
                meta.editors += People.splitByline(f.value).filter { !meta.editors.contains($0) }
            case .author, .reporter:
                if f.value.contains(where: { $0 == "，" || $0 == "。" || $0 == "？" || $0 == "?" }) { continue }
                meta.trailingAuthors += People.splitByline(f.value).filter { !meta.trailingAuthors.contains($0) }
            default:
                break
            }
        }
        if l.visible <= 80 {
            for r in People.posterBeforeMarker(l.text) where !meta.trailingAuthors.contains(r) {
                meta.trailingAuthors.append(r)
            }
        }
        if l.visible <= 40 {
            for r in People.reportersInParagraph(l.text) + People.trailingCredit(l.text)
            where !meta.trailingAuthors.contains(r) {
                meta.trailingAuthors.append(r)
            }
        }
    }

    /// Lines before the article block (HTML): labelled metadata and dates, ranked below the header's own.
    static func gatherContext(_ l: PageLine, into meta: inout GatheredMetadata) {
        guard l.visible <= 160 else { return }
        if metaFields(l) != nil {
            gatherHeader(l, into: &meta, rank: DateRank.labelledHeader)
        } else {
            if l.visible <= 60 { addBylines(l, into: &meta) }
            for d in DateScanner.scan(folded: l.folded) {
                meta.addDate(d, rank: d.labelled ? DateRank.labelledHeader : DateRank.nearby)
            }
        }
    }

    /// `天山网-新疆日报讯（记者…）` → `天山网-新疆日报`; `本报讯` names no outlet.
    static func datelineSource(_ f: Scalars, text: Scalars) -> String? {
        guard let xun = f.prefix(30).firstIndex(of: "讯"), xun >= 2 else { return nil }
        let prefix = Text.trimmed(text[..<xun])
        guard prefix.count >= 2, !prefix.contains(where: { $0.isProsePunctuation && $0 != "·" }),
            !prefix.contains(where: { $0.isSpaceLike })
        else { return nil }
        let s = Text.string(prefix)
        for generic in ["本报", "本网", "本站", "本刊", "本台", "通讯", "简讯", "快讯", "电讯", "喜讯", "资讯"]
        where s == generic || s.hasSuffix("资讯") {
            return nil
        }
        // The character after 讯 opens the byline or the story.
        let next = xun + 1 < f.count ? f[xun + 1] : " "
        guard next == "(" || next == " " || next == "记" || next.isASCIIDigit || next == "【" || next == "[" else {
            return nil
        }
        return s
    }
}
