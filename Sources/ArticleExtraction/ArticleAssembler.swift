import NewswireModel

/// One line of page text: a line of a plain-text scrape, or a block of an HTML page.
struct PageLine {
    /// The text as written, whitespace collapsed.
    var text: Scalars
    /// Width-folded twin of `text` (same length), for matching.
    var folded: Scalars
    /// Letters and digits only; equal keys mean the same line.
    var key: String
    var visible: Int
    var punctuation: Int
    /// HTML heading level (1…6), 0 for other lines.
    var heading: Int = 0

    init(_ text: Scalars, heading: Int = 0) {
        self.text = text
        folded = Text.folded(text)
        key = Text.key(text)
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
    }

    // MARK: Line kinds

    private static let stopPrefixes: [Scalars] = [
        "相关文章", "相关链接", "相关新闻", "相关阅读", "相关推荐", "相关稿件", "相关报道", "延伸阅读", "推荐阅读", "热点推荐",
        "热门推荐", "猜你喜欢", "上一篇", "下一篇", "上一条", "下一条", "上一页", "版权所有", "copyright", "©", "(c)",
        "技术支持", "主办单位", "主办:", "承办:", "承办单位", "网站地图", "关于我们", "联系我们", "免责声明", "网友评论",
        "发表评论", "我要评论", "评论列表", "最新评论", "本网站所有", "本站所有",
    ].map { Text.scalars($0) }

    private static let junkPrefixes: [Scalars] = [
        "分享到", "分享至", "分享:", "扫一扫", "扫描二维码", "微信扫一扫", "用微信扫", "手机扫", "手机看", "手机阅读",
        "当前位置", "您现在的位置", "你现在的位置", "您的位置", "你的位置", "所在位置", "位置:", "首页>", "首页 >",
    ].map { Text.scalars($0) }

    private static let junkInfixes: [Scalars] = [
        "扫描分享", "分享至微信", "分享到微信", "icp备", "icp证", "公网安备", "返回顶部", "【打印", "[打印", "【关闭", "[关闭",
        "打印本页", "关闭窗口", "打印本文",
    ].map { Text.scalars($0) }

    /// Words a toolbar line is made of (`【打印本文】 【关闭窗口】`, `字体：大 中 小`).
    private static let widgetWords: [Scalars] = [
        "打印本文", "打印本页", "打印", "关闭窗口", "关闭本页", "关闭", "本文", "本页", "窗口", "收藏", "加入收藏",
        "分享", "字体", "字号", "大", "中", "小", "默认", "返回顶部", "返回", "顶部", "纠错", "我要纠错", "保存", "复制",
        "链接", "评论", "点赞", "推荐", "登录", "注册", "无障碍", "简体", "繁体", "首页", "english", "手机版", "网站地图",
        "print", "close", "share", "email", "top", "back", "home", "login", "sign", "in", "register", "menu",
    ].map { Text.scalars($0) }.sorted { $0.count > $1.count }

    static func lowercasedKey(_ line: PageLine) -> Scalars {
        line.folded.compactMap { c -> Unicode.Scalar? in
            if c.isSpaceLike || c == "[" || c == "]" || c == "【" || c == "】" || c == "|" || c == "(" || c == ")"
                || c == ":" || c == "丨" || c == "/" || c == "·" || c == "-" || c == ">" || c == "»"
            {
                return nil
            }
            return c.isASCIILetter ? Unicode.Scalar(c.value | 0x20)! : c
        }
    }

    static func isStop(_ line: PageLine) -> Bool {
        guard line.visible <= 200 else { return false }
        let k = lowercasedKey(line)
        let raw = line.folded.drop(while: { $0 == " " || $0 == "【" || $0 == "[" || $0 == "<" || $0 == "*" })
        let lowered = raw.map { $0.isASCIILetter ? Unicode.Scalar($0.value | 0x20)! : $0 }
        for p in stopPrefixes where Text.hasPrefix(k, p, at: 0) || Text.hasPrefix(lowered, p, at: 0) { return true }
        return false
    }

    static func isJunk(_ line: PageLine) -> Bool {
        guard line.visible <= 200 else { return false }
        let lowered = line.folded.map { $0.isASCIILetter ? Unicode.Scalar($0.value | 0x20)! : $0 }
        let k = lowercasedKey(line)
        for p in junkPrefixes where Text.hasPrefix(k, p, at: 0) || Text.hasPrefix(lowered, p, at: 0) { return true }
        for p in junkInfixes where Text.contains(lowered, p) { return true }
        return isWidgetLine(k)
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
            if c == " " || c == "|" || c == ">" || c == "»" || c == "›" || c == "丨" || c == "/" || c == "·" {
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
            let nearStart = first.labelStart <= leading + 1
                || (line.visible <= 60 && !line.hasSentenceEnd && line.punctuation <= 3
                    && fields.contains(where: { $0.kind != .widget && $0.kind != .other }))
            let several = fields.count >= 2 && line.punctuation <= fields.count * 3 + 2
            let proseEnd = line.endsWithSentenceEnd && line.visible > 50
            if (nearStart || several) && !proseEnd { return fields }
        }
        if line.visible <= 60, let d = DateScanner.scan(line.text).first,
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

        // Title.
        var titleLines = Set<Int>()
        var titleKey: String?
        if let titleHint, !titleHint.isEmpty {
            let k = Text.key(Text.scalars(titleHint))
            titleKey = k
            result.title = titleHint
            for (i, l) in lines.enumerated() where !l.key.isEmpty && (l.key == k) { titleLines.insert(i) }
        } else {
            let window = min(lines.count, 40)
            search: for i in 0..<window {
                let l = lines[i]
                guard isTitleLike(l), !isNavigation(l), metas[i] == nil, !isJunk(l), !isStop(l) else { continue }
                for j in (i + 1)..<min(lines.count, i + 13) where lines[j].key == l.key {
                    titleLines = [i, j]
                    titleKey = l.key
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
                    guard isTitleLike(l), !isNavigation(l), metas[i] == nil, !isJunk(l), !isStop(l),
                        !l.hasSentenceEnd, participantListNames(l) == nil
                    else { continue }
                    candidates.append(i)
                }
                let followedByMeta = candidates.first { i in
                    (i + 1..<min(lines.count, i + 4)).contains { metas[$0] != nil }
                }
                if let i = followedByMeta ?? candidates.first {
                    titleLines = [i]
                    titleKey = lines[i].key
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
            if titleLines.contains(k) || l.key == titleKey {
                previousWasTitleOrDeck = true
            } else if isJunk(l) || isStop(l) {
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
                addBylines(l, into: &meta)
                previousWasTitleOrDeck = false
            } else if previousWasTitleOrDeck, result.subtitles.count < 4, l.visible <= 40, !l.hasSentenceEnd,
                l.punctuation <= 2, l.heading != 1
            {
                result.subtitles.append(l.string)
            } else if isParagraphLike(l) || l.heading == 0 && l.visible >= 8 && k + 1 < lines.count
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
        var paragraphs: [PageLine] = []
        var i = bodyStart
        var stopped = false
        while i < lines.count {
            let l = lines[i]
            i += 1
            if stopped {
                gatherTrailer(l, into: &meta)
                continue
            }
            if isStop(l) {
                if paragraphs.isEmpty { continue }
                // A stop marker is trusted only when more prose does not follow it than came before it
                // (a "related" caption in the middle of an article must not cut the article short).
                let proseBefore = paragraphs.reduce(0) { $0 + (isProse($1) ? $1.visible : 0) }
                let proseAfter = lines[i...].reduce(0) { $0 + (isProse($1) && !isJunk($1) ? $1.visible : 0) }
                if proseAfter <= proseBefore { stopped = true }
                continue
            }
            if isJunk(l) { continue }
            if let titleKey, l.key == titleKey { continue }
            if let fields = metas[i - 1], !fields.isEmpty || l.visible <= 40 {
                gatherHeader(l, into: &meta, rank: DateRank.labelledElsewhere)
                continue
            }
            if isNavigation(l) && l.visible <= 30 && l.heading == 0 { continue }
            if l.key.isEmpty { continue }
            paragraphs.append(l)
        }
        for l in before { gatherContext(l, into: &meta) }
        for l in after.prefix(15) { gatherTrailer(l, into: &meta) }

        // Repeated paragraphs: keep the first occurrence wherever the repeat appears.
        var seen = Set<String>()
        paragraphs = paragraphs.filter { seen.insert($0.key).inserted }

        // Bylines and datelines in the body.
        // Bylines: in the first paragraphs (a dateline), or a short paragraph of its own anywhere.
        for (n, p) in paragraphs.enumerated() where n < 3 || p.visible <= 40 {
            for r in People.reportersInParagraph(p.text) where !meta.bylineReporters.contains(r) {
                meta.bylineReporters.append(r)
            }
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
            for d in DateScanner.scan(p.text) { meta.addDate(d, rank: DateRank.nearby) }
        }
        result.paragraphs = paragraphs.map(\.string)
        result.metadata = meta
        return result
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
            for d in DateScanner.scan(l.text) {
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
        if found.isEmpty, let date = DateScanner.scan(l.text).first {
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

    static func bylineCount(_ l: PageLine) -> Int {
        People.reportersInParagraph(l.text).count + People.englishByline(l.text).count
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
            for d in DateScanner.scan(l.text) {
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
