import NewswireModel

/// Metadata read from lines around the body: header fields, bylines, trailing credits, datelines.
extension ArticleAssembler {
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
                if People.isPhotoCredit(v) { break }
                if let d = DateScanner.scan(v).first { v = Array(v[..<d.range.lowerBound]) }
                meta.labelledAuthors += People.splitByline(v).filter { !meta.labelledAuthors.contains($0) }
            case .editor:
                meta.editors += People.splitByline(f.value).filter { !meta.editors.contains($0) }
            case .issuer:
                if let issuer = People.issuer(f.value), !meta.issuers.contains(issuer) { meta.issuers.append(issuer) }
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
                if People.isPhotoCredit(f.value) { continue }
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
