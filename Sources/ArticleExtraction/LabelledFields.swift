/// Labelled metadata inside text lines: `来源：新华网 日期：2024-04-08 10:04 点击：[次] 作者：张三 责任编辑：李四`.
enum FieldKind: Sendable {
    case source, date, clicks, author, reporter, editor, widget, other
    /// The issuing body of an official document (`发文机关：某某省人民政府`): an organisation, the author when the
    /// page credits no person.
    case issuer
}

/// One `label: value` pair found in a line.
struct LabelledField {
    var kind: FieldKind
    /// Position of the label in the line.
    var labelStart: Int
    /// The value as written (trimmed), possibly empty.
    var value: Scalars
}

enum LabelledFields {
    /// Labels, longest first within each kind so `发布时间` wins over `时间` and `责任编辑` over `编辑`.
    static let labels: [(Scalars, FieldKind)] = {
        let table: [(String, FieldKind)] = [
            ("信息来源", .source), ("文章来源", .source), ("新闻来源", .source), ("本文来源", .source),
            ("稿件来源", .source), ("来源", .source), ("稿源", .source), ("出处", .source),
            ("发布时间", .date), ("发表时间", .date), ("发布日期", .date), ("发表日期", .date), ("更新时间", .date),
            ("录入时间", .date), ("发帖时间", .date), ("上传时间", .date), ("日期", .date), ("时间", .date),
            ("发表于", .date), ("发布于", .date),
            ("点击次数", .clicks), ("点击数", .clicks), ("点击量", .clicks), ("点击率", .clicks), ("点击", .clicks),
            ("浏览次数", .clicks), ("浏览量", .clicks), ("浏览", .clicks), ("阅读次数", .clicks), ("阅读数", .clicks),
            ("阅读量", .clicks), ("阅读", .clicks), ("访问量", .clicks), ("访问次数", .clicks), ("人气", .clicks),
            ("发布作者", .author), ("作者", .author), ("撰稿人", .author), ("撰稿", .author), ("撰文", .author),
            ("发布人", .author), ("发布者", .author), ("发表人", .author), ("发表者", .author), ("发帖人", .author),
            ("执笔人", .author), ("执笔", .author), ("楼主", .author), ("文", .author),
            ("本报记者", .reporter), ("记者", .reporter), ("本报实习生", .reporter), ("实习生", .reporter),
            ("本报通讯员", .reporter), ("通讯员", .reporter),
            ("责任编辑", .editor), ("责编", .editor), ("编辑", .editor),
            ("发文机关", .issuer), ("发文单位", .issuer), ("发布机构", .issuer), ("发文机构", .issuer),
            ("字体", .widget), ("字号", .widget), ("分享到", .widget), ("分享", .widget),
            ("摄影", .other), ("审核", .other), ("校对", .other), ("审校", .other),
            ("签发", .other), ("地址", .other), ("电话", .other), ("邮编", .other),
        ]
        return table.map { (Text.scalars($0.0), $0.1) }.sorted { $0.0.count > $1.0.count }
    }()

    @inline(__always) static func isBoundary(_ c: Unicode.Scalar) -> Bool {
        c == " " || c == "[" || c == "]" || c == "【" || c == "】" || c == "|" || c == "(" || c == ")" || c == "丨"
            || c == "/" || c == "," || c == ";" || c == "、" || c == "》" || c == "《" || c == "·" || c == "-"
            || c == "　" || c == "。" || c == "\"" || c == "<" || c == ">" || c == "*" || c == "~"
    }

    /// The label (and its kind and end) at `i` of folded text `f`, when it stands at a token boundary and is
    /// followed by a colon (or, for `文`, a slash).
    /// First characters of all labels (BMP bitmap): most positions are rejected with one lookup.
    static let labelInitials: [Bool] = {
        var table = [Bool](repeating: false, count: 0x10000)
        for (label, _) in labels where label[0].value < 0x10000 { table[Int(label[0].value)] = true }
        return table
    }()

    static func label(in f: Scalars, at i: Int) -> (kind: FieldKind, valueStart: Int)? {
        let first = f[i].value
        guard first < 0x10000, labelInitials[Int(first)] else { return nil }
        let atBoundary = i == 0 || isBoundary(f[i - 1]) || (f[i - 1].isASCIIDigit)
        for (word, kind) in labels where Text.hasPrefix(f, word, at: i) {
            var j = i + word.count
            while j < f.count, f[j] == " " { j += 1 }
            guard j < f.count else { return nil }
            // `证券时报网作者：李在山`: a two-character label with its colon needs no boundary before it.
            guard atBoundary || (word.count >= 2 && f[j] == ":" && kind != .date && kind != .other) else { return nil }
            if f[j] == ":" || ((word.count == 1 || kind == .author) && f[j] == "/")
                || (kind == .widget && f[j] != " ")
            {
                return (kind, f[j] == ":" || f[j] == "/" ? j + 1 : j)
            }
            // `来源 新华网` without a colon is common only for a few labels; accept those followed by a space.
            if j > i + word.count, kind == .source || kind == .reporter || kind == .editor || kind == .author {
                return (kind, j)
            }
        }
        return nil
    }

    /// All labelled fields in a line (text as written and its width-folded twin).
    static func parse(text: Scalars, folded f: Scalars) -> [LabelledField] {
        var starts: [(Int, FieldKind, Int)] = []
        // The initials test inline: most scalars of a line start no label, and a call per scalar cost more than it.
        let initials = labelInitials
        var i = 0
        while i < f.count {
            let first = f[i].value
            if first < 0x10000, initials[Int(first)], let (kind, valueStart) = label(in: f, at: i) {
                starts.append((i, kind, valueStart))
                i = valueStart
                continue
            }
            i += 1
        }
        var fields: [LabelledField] = []
        for (n, (start, kind, valueStart)) in starts.enumerated() {
            let limit = n + 1 < starts.count ? starts[n + 1].0 : f.count
            var end = valueStart
            var open = 0  // brackets opened inside the value: `来源：人民网（北京）` keeps its closing one
            while end < limit {
                let c = f[end]
                if c == "(" { open += 1 }
                if c == ")", open > 0 {
                    open -= 1
                    end += 1
                    continue
                }
                if c == "【" || c == "[" || c == "|" || c == "丨" || c == "】" || c == "]" || c == ")" { break }
                if c == " ", end + 1 < limit, f[end + 1] == " " { break }
                end += 1
            }
            var lo = valueStart
            if kind == .clicks {
                // `点击：[123]次` keeps the number inside brackets.
                while lo < limit, f[lo] == " " || f[lo] == "[" || f[lo] == "【" { lo += 1 }
                end = lo
                while end < limit, f[end].isASCIIDigit || f[end] == "," { end += 1 }
            }
            let value = Text.trimmed(text[lo..<max(lo, end)])
            fields.append(LabelledField(kind: kind, labelStart: start, value: value))
        }
        return fields
    }

    /// An integer click count from a value like `1,234` or `1234次`; nil for `[次]`-style unfilled counters.
    static func clicks(_ value: Scalars) -> Int? {
        var digits = 0
        var v = 0
        for c in value {
            let f = c.foldedWidth
            if f.isASCIIDigit {
                digits += 1
                guard digits <= 12 else { return nil }
                v = v * 10 + f.asciiDigitValue
            } else if f == "," {
                continue
            } else {
                break
            }
        }
        return digits > 0 ? v : nil
    }

    /// A source value cut at the first space or date, without punctuation around it, except a mark paired inside
    /// the value: `央视网《新闻联播》` and `“学习强国”学习平台` stay whole, while `《人民日报》` (a pair around all
    /// of it) becomes `人民日报`, and `新华社》` becomes `新华社`.
    static func source(_ value: Scalars) -> String? {
        var v = value
        if let d = DateScanner.scan(v).first { v = Array(v[..<d.range.lowerBound]) }
        if let space = v.firstIndex(where: { $0.isSpaceLike }) { v = Array(v[..<space]) }
        func trims(_ c: Unicode.Scalar) -> Bool { c.isSpaceLike || c.isProsePunctuation || c == ":" || c == "：" }
        var lo = 0
        var hi = v.count
        while true {
            // A mark is trimmed unless its partner stands inside the rest of the value.
            while lo < hi, trims(v[lo]) {
                if let closing = pairedMarks[v[lo]], v[(lo + 1)..<hi].contains(closing) { break }
                lo += 1
            }
            while hi > lo, trims(v[hi - 1]) {
                if let opening = closingMarks[v[hi - 1]], v[lo..<(hi - 1)].contains(opening) { break }
                hi -= 1
            }
            // A pair around the whole value (`《人民日报》`) goes, then the inside is trimmed again.
            guard hi - lo >= 2, let closing = pairedMarks[v[lo]], v[hi - 1] == closing,
                !v[(lo + 1)..<(hi - 1)].contains(closing)
            else { break }
            lo += 1
            hi -= 1
        }
        v = Array(v[lo..<hi])
        guard v.count >= 2, v.count <= 40, !v.allSatisfy({ $0.isASCIIDigit }) else { return nil }
        return Text.string(v)
    }

    /// Opening marks and the closing marks they pair with.
    static let pairedMarks: [Unicode.Scalar: Unicode.Scalar] = [
        "《": "》", "〈": "〉", "（": "）", "(": ")", "「": "」", "『": "』", "“": "”", "【": "】",
    ]

    /// Closing marks and the opening marks they close.
    static let closingMarks: [Unicode.Scalar: Unicode.Scalar] = Dictionary(
        uniqueKeysWithValues: pairedMarks.map { ($0.value, $0.key) })

    /// Joins a block that is only a label (`发布日期：`, `来源`) with the short block after it, as table layouts
    /// put them in separate cells: `发布日期：` + `2022年01月28日` → `发布日期：2022年01月28日`.
    static func mergingLabelCells(_ lines: [PageLine]) -> [PageLine] {
        guard lines.count > 1 else { return lines }
        var out: [PageLine] = []
        out.reserveCapacity(lines.count)
        var i = 0
        while i < lines.count {
            let l = lines[i]
            if i + 1 < lines.count, l.visible <= 8, lines[i + 1].visible <= 60, let kind = bareLabel(l.folded),
                kind != .widget && kind != .other
            {
                var joined = l.text
                while let last = joined.last, last.isSpaceLike || last == ":" || last == "：" { joined.removeLast() }
                joined.append("：")
                joined += lines[i + 1].text
                out.append(PageLine(joined))
                i += 2
                continue
            }
            out.append(l)
            i += 1
        }
        return out
    }

    /// The kind of a line that is exactly one label, optionally with a colon.
    static func bareLabel(_ f: Scalars) -> FieldKind? {
        var t = f
        while let last = t.last, last == " " || last == ":" { t.removeLast() }
        while let first = t.first, first == " " { t.removeFirst() }
        guard !t.isEmpty else { return nil }
        for (word, kind) in labels where word == t { return kind }
        return nil
    }
}
