import NewswireModel

/// Line kinds: what a line of page text is (stop marker, junk, teaser, navigation, metadata, prose, headline).
extension ArticleAssembler {
    private static let stopPrefixes: [Scalars] = [
        "相关文章", "相关链接", "相关新闻", "相关阅读", "相关推荐", "相关稿件", "相关报道", "延伸阅读", "推荐阅读", "热点推荐",
        "热门推荐", "猜你喜欢", "上一篇", "下一篇", "上一条", "下一条", "上一页", "版权所有", "copyright", "©", "(c)",
        "技术支持", "主办单位", "主办:", "承办:", "承办单位", "网站地图", "关于我们", "联系我们", "免责声明", "网友评论",
        "发表评论", "我要评论", "评论列表", "最新评论", "本网站所有", "本站所有", "特别声明", "声明:", "版权声明",
        "本文来自", "notice: the content", "回复线索", "回复列表", "跟帖列表", "反侵权公告", "侵权公告", "版权公告",
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

    /// The key ``isStop(_:key:)`` and ``isJunk(_:key:)`` test prefixes against: the first 48 scalars of
    /// ``lowercasedKey(_:limit:)``, empty for lines too long to be either (made once per line for both).
    static func prefixKey(_ line: PageLine) -> Scalars {
        line.visible <= 200 ? lowercasedKey(line, limit: 48) : []
    }

    static func isStop(_ line: PageLine, key k: Scalars) -> Bool {
        guard line.visible <= 200 else { return false }
        var start = 0
        while start < line.folded.count, "【[<* ".unicodeScalars.contains(line.folded[start]) { start += 1 }
        for p in stopPrefixes where Text.hasPrefix(k, p, at: 0) || hasPrefixIgnoringCase(line.folded, p, at: start) {
            return true
        }
        return false
    }

    static func isJunk(_ line: PageLine, key k: Scalars) -> Bool {
        guard line.visible <= 200 else { return false }
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
}
