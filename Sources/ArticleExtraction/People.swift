/// Names of people: reporters, editors and participants.
enum People {
    // MARK: Name shapes

    /// A Chinese personal name: 2–4 Han characters, or a transliterated minority/foreign name whose parts are
    /// joined by a middle dot (`艾尔肯·吐尼亚孜`), kept whole.
    static func isChineseName(_ s: Scalars) -> Bool {
        if s.contains(where: { $0 == "·" || $0 == "•" || $0 == "・" || $0 == "." }) {
            var parts = 0
            var current = 0
            for c in s {
                if c == "·" || c == "•" || c == "・" || c == "." {
                    guard current >= 1, current <= 8 else { return false }
                    parts += 1
                    current = 0
                } else if c.isHan {
                    current += 1
                } else {
                    return false
                }
            }
            return current >= 1 && current <= 8 && parts >= 1 && s.count <= 20
        }
        return s.count >= 2 && s.count <= 4 && s.allSatisfy(\.isHan)
    }

    /// A byline name of any script: 1–24 characters with at least one letter and no sentence punctuation.
    static func isBylineName(_ s: Scalars) -> Bool {
        guard s.count >= 2 || (s.count == 1 && s[0].isHan == false && s[0].isLetterLike), s.count <= 24 else {
            return false
        }
        guard s.contains(where: \.isLetterLike) else { return false }
        // Han-only tokens longer than a name are words or sentences, not names.
        if s.allSatisfy({ $0.isHan }) && s.count > 4 { return false }
        if s.contains(where: { $0.isHan }), !s.allSatisfy({ $0.isHan || $0 == "·" || $0 == "•" }) {
            if s.count > 12 { return false }
        }
        var digits = 0
        for c in s where c.isASCIIDigit { digits += 1 }
        if digits * 2 > s.count || s.contains("=") || s.contains("\"") || s.contains("<")
            || s.contains("_") && digits > 0
        {
            return false
        }
        for c in s {
            let f = c.foldedWidth
            if f == "," || f == "." || f == ":" || f == ";" || f == "!" || f == "?" || c == "。" || c == "，"
                || c == "："
            {
                return false
            }
        }
        return true
    }

    private static let nameSeparators: Set<Unicode.Scalar> = [
        " ", "、", ",", "，", ";", "；", "/", "|", "\u{3000}", "\t", "&", "＆",
    ]

    /// Splits a byline value (`王建宏 张文攀`, `赵延东、风笑天`, `A, B and C`) into names.
    static func splitByline(_ value: Scalars) -> [String] {
        var names: [String] = []
        var current = Scalars()
        // `赵  培`: a surname and a given name of one character each, spaced apart for layout, are one name.
        var pendingSingle: Scalars?
        func flush() {
            var t = Text.trimmed(current[...], extra: { $0.isProsePunctuation || $0 == "(" || $0 == ")" })
            // `杨倩_NF4425`: a content system's editor code after the name.
            if let underscore = t.firstIndex(of: "_"), underscore >= 2,
                t[(underscore + 1)...].allSatisfy({ $0.isASCIIDigit || ($0.isASCII && $0.properties.isAlphabetic) })
            {
                t.removeSubrange(underscore...)
            }
            if t.count == 1, t[0].isHan {
                if let first = pendingSingle {
                    t = first + t
                    pendingSingle = nil
                    if Surnames.startsWithSurname(t) { names.append(Text.string(t)) }
                } else {
                    pendingSingle = t
                }
                current.removeAll()
                return
            }
            pendingSingle = nil
            for prefix in ["本报记者", "本报通讯员", "本报实习生", "记者", "通讯员", "实习生"].map(Text.scalars)
            where t.count > prefix.count + 1 && Text.hasPrefix(t, prefix, at: 0) {
                t.removeFirst(prefix.count)
                break
            }
            // Drop `（实习）`-style parentheticals and trailing role words.
            for suffix in ["报道", "摄影", "摄", "整理", "编译", "供稿", "撰稿", "等"] {
                let s = Text.scalars(suffix)
                if t.count > s.count + 1, Array(t.suffix(s.count)) == s { t.removeLast(s.count) }
            }
            if isBylineName(t), !isRoleWord(t) { names.append(Text.string(t)) }
            current.removeAll()
        }
        var i = 0
        while i < value.count {
            let c = value[i]
            if nameSeparators.contains(c) {
                flush()
            } else if c == "(" || c == "（" {
                // Skip a parenthetical alias.
                flush()
                while i < value.count, value[i] != ")" && value[i] != "）" { i += 1 }
            } else if c == "a", i + 3 < value.count, value[i + 1] == "n", value[i + 2] == "d", value[i + 3] == " ",
                i > 0, value[i - 1] == " "
            {
                flush()
                i += 3
            } else {
                current.append(c)
            }
            i += 1
        }
        flush()
        return names
    }

    private static let roleWords: Set<String> = [
        "本报记者", "记者", "通讯员", "实习生", "编辑", "责任编辑", "作者", "本报", "本网", "新华社", "图", "文", "摄",
        "来源", "报道", "未知", "佚名", "admin", "匿名", "网友", "转载", "原创", "by", "本文", "出自", "网络", "本站",
        "综合", "管理员", "系统管理员", "name", "author", "editor", "小编", "原标题",
    ]

    /// A role or filler word, or a fragment of a sentence (`本文发表于…` gives `(本文`).
    static func isRoleWord(_ s: Scalars) -> Bool {
        let word = Text.string(s).lowercased()
        return roleWords.contains(word) || word.hasPrefix("本文") || word.hasPrefix("本站")
    }

    /// A photo credit (`李明 摄`, `张三/摄`): names the photographer, not an author.
    static func isPhotoCredit(_ value: Scalars) -> Bool {
        value.last(where: { !$0.isSpaceLike && $0 != ")" && $0 != "）" }) == photoMarker
    }

    /// The issuing body of an official document, as written, when it reads like an organisation's name (a run of
    /// Han characters, not a sentence).
    static func issuer(_ value: Scalars) -> String? {
        var name = Scalars()
        for c in value {
            if c.isSpaceLike { break }
            name.append(c)
        }
        guard name.count >= 2, name.count <= 30, name.allSatisfy({ $0.isHan || $0 == "·" }) else { return nil }
        return Text.string(name)
    }

    // MARK: Reporters in running text

    private static let reporterMarker = Text.scalars("记者")
    private static let reporterStops: [Scalars] = ["报道", "摄影", "摄", "通讯员", "实习生", "发自", "电", "综合"]
        .map { Text.scalars($0) }

    /// Reporters named in a dateline or byline inside a paragraph: `（记者王兴瑞报道）`, `本报记者 张三 李四`,
    /// `记者：王五`. Only the first ~80 scalars and bracketed tails are looked at, where bylines live.
    static func reportersInParagraph(_ text: Scalars) -> [String] {
        // Cheap rejection before folding: no 记 or 通 means no 记者 or 通讯员.
        guard text.contains("记") || text.contains("通") else { return [] }
        let f = Text.folded(text)
        var found: [String] = []
        for marker in bylineMarkers where found.isEmpty {
            found = reportersAfter(marker, text, f)
        }
        return found
    }

    /// `记者`, then `通讯员` (`本站讯（职工通讯员 李琴雯 刘会）` credits correspondents when no reporter is named).
    private static let bylineMarkers: [Scalars] = [reporterMarker, Text.scalars("通讯员")]
    private static let photoMarker: Unicode.Scalar = "摄"
    /// Reporter roles that may start the next group of a byline list, longest first (correspondents after
    /// reporters are left out, as when no reporter is named they are read on their own).
    private static let bylineRoles: [Scalars] = ["实习记者", "特约记者", "见习记者", "记者"].map(Text.scalars)

    private static func reportersAfter(_ marker: Scalars, _ text: Scalars, _ f: Scalars) -> [String] {
        // A caption ending in 摄 (`10月4日，旅游专列开往襄阳。 通讯员刘娟 摄`) credits a photographer.
        if f.last(where: { $0 != " " && $0 != ")" }) == photoMarker { return [] }
        var found: [String] = []
        var from = 0
        while let at = Text.firstIndex(of: marker, in: f, from: from) {
            from = at + marker.count
            // `图片来源：每经记者 张蕊 摄`: a photo credit names the photographer, not a reporter.
            if f[..<at].contains("图") { continue }
            // A byline sits near the start of a paragraph or inside parentheses.
            let inParens = f[..<at].lastIndex(of: "(").map { open in !f[open..<at].contains(")") } ?? false
            guard at < 60 || inParens else { continue }
            var i = at + marker.count
            while i < f.count, f[i] == " " || f[i] == ":" { i += 1 }
            // Read names until the byline ends.
            var names: [String] = []
            while i < f.count {
                // A list mixing roles goes on past the next role word: `实习记者 王明 李华 记者赵强`.
                if !names.isEmpty, let role = bylineRoles.first(where: { Text.hasPrefix(f, $0, at: i) }) {
                    i += role.count
                    while i < f.count, f[i] == " " || f[i] == ":" { i += 1 }
                    continue
                }
                var run = Scalars()
                while i < f.count, f[i].isHan || f[i] == "·" {
                    run.append(text[i])
                    i += 1
                }
                // Trim a trailing role word glued to the name: 王兴瑞报道 → 王兴瑞.
                var trimmedAtStop = false
                for stop in reporterStops {
                    if let pos = Text.firstIndex(of: stop, in: run), pos >= 2 {
                        run = Array(run[..<pos])
                        trimmedAtStop = true
                    }
                }
                // Without a clean end (space, bracket, 报道…), only a run starting with a family name is a name:
                // `记者了解到` is a verb phrase, not a byline.
                let end = i < f.count ? f[i] : " "
                let cleanEnd =
                    end == " " || end == ")" || end == "、" || end == "/" || i == f.count
                    || trimmedAtStop
                if isChineseName(run) && Surnames.isLikelyPersonalName(run) && (cleanEnd || run.count <= 3) {
                    names.append(Text.string(run))
                } else {
                    break
                }
                // Next name after a separator.
                if i < f.count, f[i] == " " || f[i] == "、" || f[i] == "," {
                    i += 1
                    continue
                }
                break
            }
            var after = i
            while after < f.count, f[after] == " " { after += 1 }
            if after < f.count, f[after] == photoMarker { continue }
            for n in names where !found.contains(n) { found.append(n) }
            if !found.isEmpty { break }
        }
        return found
    }

    /// A credit at the end of a story: `（袁源）`, `（记者 胡晓蓉）`, `（姚峰 上海报道）`, `（总台记者 张倩）`.
    /// Only names that look like personal names count, since nothing else marks them.
    static func trailingCredit(_ text: Scalars) -> [String] {
        guard let last = text.last(where: { !$0.isSpaceLike && $0 != "。" }), last == ")" || last == "）" else {
            return []
        }
        let f = Text.folded(text)
        var end = f.count
        while end > 0, f[end - 1] == " " || f[end - 1] == "。" { end -= 1 }
        guard end > 2, f[end - 1] == ")" else { return [] }
        guard let open = f[..<(end - 1)].lastIndex(of: "("), end - 1 - open <= 30 else { return [] }
        var inner = Array(text[(open + 1)..<(end - 1)])
        let innerFolded = Text.folded(inner)
        // `（综合整理自澎湃新闻、智东西、雷锋网等）`, `（资料来源：…）`: outlets, not people.
        for word in ["整理自", "来源", "来自", "综合"] where Text.firstIndex(of: Text.scalars(word), in: innerFolded) != nil {
            return []
        }
        if let at = Text.firstIndex(of: reporterMarker, in: innerFolded) { inner = Array(inner[(at + 2)...]) }
        var names: [String] = []
        var token = Scalars()
        func flush() {
            defer { token.removeAll() }
            var t = token
            for suffix in ["报道", "摄影", "摄", "整理", "供稿"].map(Text.scalars) where Array(t.suffix(suffix.count)) == suffix
            {
                t.removeLast(suffix.count)
                // `上海报道`: a place before 报道 is not a name.
                if t.count <= 3 && !names.isEmpty { return }
            }
            if Surnames.isLikelyPersonalName(t) { names.append(Text.string(t)) }
        }
        for c in inner {
            if c.isSpaceLike || c == "、" || c == "," || c == "，" || c == "/" {
                flush()
            } else if c.isHan || c == "·" {
                token.append(c)
            } else {
                return []
            }
        }
        flush()
        return names
    }

    /// `ggjjzhzz 发表于 2005-9-15`, `本贴由 大卫 于2005年…`: the poster of a blog or forum entry.
    static func posterBeforeMarker(_ text: Scalars) -> [String] {
        guard text.contains(where: { $0 == "于" || $0 == "在" || $0 == "y" || $0 == "Y" }) else {
            return []
        }
        let f = Text.folded(text)
        // `本贴由 大卫 于2005年8月12日…发表`: the name sits between 由 and 于 + a date.
        if let by = f.firstIndex(of: "由"), let at = f[(by + 1)...].firstIndex(of: "于"), at - by <= 26,
            at + 1 < f.count, f[(at + 1)...].first(where: { $0 != " " })?.isASCIIDigit == true
        {
            let name = Text.trimmed(text[(by + 1)..<at])
            if isBylineName(name), !isRoleWord(name), !name.contains(where: { $0.isSpaceLike }) {
                return [Text.string(name)]
            }
        }
        // `Posted by NAME`: the name follows.
        if let at = Text.firstIndex(
            of: Text.scalars("posted by "), in: f.map { $0.isASCIILetter ? Unicode.Scalar($0.value | 0x20)! : $0 })
        {
            let rest = Array(text[(at + 10)...])
            let names = splitEnglishNames(Array(rest.prefix(while: { $0 != "," && $0 != "|" && !$0.isASCIIDigit })))
            if !names.isEmpty { return names }
        }
        for marker in ["发表于", "发布于", "发表在", "写于"].map(Text.scalars) {
            guard let at = Text.firstIndex(of: marker, in: f), at >= 2 else { continue }
            var end = at
            while end > 0, f[end - 1] == " " { end -= 1 }
            var start = end
            while start > 0, f[start - 1] != " ", f[start - 1] != "|", f[start - 1] != ":" { start -= 1 }
            let name = Array(text[start..<end])
            // `(本文发表于首页…)`: a note in brackets about where the text appeared, not a poster.
            if name.contains(where: { $0 == "(" || $0 == "（" || $0 == "[" || $0 == "【" }) { continue }
            if isBylineName(name), !isRoleWord(name), !name.contains(where: { $0.isASCIIDigit }) {
                if name.allSatisfy(\.isHan) && !Surnames.isLikelyPersonalName(name) && name.count > 3 { return [] }
                return [Text.string(name)]
            }
        }
        return []
    }

    /// English bylines: a paragraph `By Jane Doe and John Roe` (optionally followed by a comma and a role).
    static func englishByline(_ text: Scalars) -> [String] {
        guard text.count <= 120, text.count > 3, text[0] == "B" || text[0] == "b", text[1] == "y", text[2] == " "
        else { return [] }
        var value = Array(text[3...])
        if let comma = value.firstIndex(where: { $0 == "," || $0 == "|" }) { value = Array(value[..<comma]) }
        let names = splitEnglishNames(value)
        return names
    }

    private static func splitEnglishNames(_ value: Scalars) -> [String] {
        let words = Text.string(value).split(separator: " ").map(String.init)
        var names: [String] = []
        var current: [String] = []
        for w in words {
            if w == "and" || w == "&" {
                if !current.isEmpty { names.append(current.joined(separator: " ")) }
                current = []
            } else if let first = w.unicodeScalars.first, first.properties.isUppercase {
                current.append(w)
            } else {
                return []
            }
        }
        if !current.isEmpty { names.append(current.joined(separator: " ")) }
        return names.filter { $0.split(separator: " ").count <= 4 }
    }

    // MARK: Participants

    /// Job titles that precede a participant's name (`四川省领导`, `东方电气集团董事长`); the name follows the last one.
    private static let titleWords: [Scalars] = [
        "领导", "董事长", "总经理", "经理", "书记", "主席", "主任", "省长", "市长", "县长", "区长", "州长", "部长",
        "局长", "厅长", "处长", "司长", "秘书长", "政委", "司令员", "委员", "常委", "负责人", "代表", "校长", "院长",
        "会长", "理事长", "总裁", "行长", "社长", "台长", "总编辑", "主编", "馆长", "所长", "团长", "队长", "组长",
        "同志", "议员", "大使", "参赞", "领事", "专家", "教授", "院士", "成员", "嘉宾", "总监", "首席", "执行官",
        "检察长", "庭长", "旅长", "师长", "军长", "镇长", "乡长", "村长", "盟长", "旗长", "巡视员", "调研员", "干部",
    ].map { Text.scalars($0) }

    private static let triggers: [Scalars] = ["参加", "出席"].map { Text.scalars($0) }
    private static let listIntro: [Scalars] = ["的有", "的还有", "的领导有", "人员有", "的嘉宾有"].map { Text.scalars($0) }

    /// Participants listed in one paragraph: every clause ending in 参加(有关)活动 / 出席…, or introducing a list
    /// with 出席…的有. Job-title prefixes are stripped; names with a middle dot are kept whole.
    static func participants(in text: Scalars) -> [String] {
        // Only sentences with 参加 or 出席 list participants: skip everything else without allocating.
        var hasTrigger = false
        for i in 1..<max(1, text.count)
        where (text[i] == "加" && text[i - 1] == "参") || (text[i] == "席" && text[i - 1] == "出") {
            hasTrigger = true
            break
        }
        guard hasTrigger else { return [] }
        var result: [String] = []
        var sentenceStart = 0
        let f = Text.folded(text)
        var i = 0
        while i <= f.count {
            if i == f.count || f[i] == "。" || f[i] == "!" || f[i] == "?" || f[i] == ";" {
                if i > sentenceStart {
                    result += participantsInSentence(
                        Array(text[sentenceStart..<i]), folded: Array(f[sentenceStart..<i]))
                }
                sentenceStart = i + 1
            }
            i += 1
        }
        var seen = Set<String>()
        return result.filter { seen.insert($0).inserted }
    }

    private static func participantsInSentence(_ text: Scalars, folded f: Scalars) -> [String] {
        for trigger in triggers {
            guard let at = lastIndex(of: trigger, in: f) else { continue }
            let after = at + trigger.count
            // `出席会议的有A、B、C`: the list follows.
            for intro in listIntro {
                if let introAt = Text.firstIndex(of: intro, in: f, from: after), introAt - after <= 8 {
                    let list = Array(text[(introAt + intro.count)...])
                    return namesInList(list, requireSeveral: false)
                }
            }
            // `A、B、C参加活动。`: the list precedes, and the clause ends soon after the trigger.
            guard f.count - after <= 10 else { continue }
            var list = Array(text[..<at])
            if let colon = list.lastIndex(where: { $0 == ":" || $0 == "：" }) { list = Array(list[(colon + 1)...]) }
            return namesInList(list, requireSeveral: true)
        }
        return []
    }

    private static func lastIndex(of word: Scalars, in s: Scalars) -> Int? {
        guard s.count >= word.count else { return nil }
        var i = s.count - word.count
        while i >= 0 {
            if Text.hasPrefix(s, word, at: i) { return i }
            i -= 1
        }
        return nil
    }

    private static func namesInList(_ list: Scalars, requireSeveral: Bool) -> [String] {
        var names: [String] = []
        var strippedTitle = false
        var segment = Scalars()
        func flush() {
            defer { segment.removeAll() }
            var s = Text.trimmed(segment[...])
            for suffix in ["等人", "等", "同志", "一行", "分别", "也", "还", "一同", "陪同"].map(Text.scalars) {
                if s.count > suffix.count, Array(s.suffix(suffix.count)) == suffix { s.removeLast(suffix.count) }
            }
            var cut = 0
            for word in titleWords {
                var from = 0
                while let at = Text.firstIndex(of: word, in: s, from: from) {
                    cut = max(cut, at + word.count)
                    from = at + 1
                }
            }
            if cut > 0 {
                strippedTitle = true
                s = Array(s[cut...])
            }
            // `孙七和吴九`, `买买提·艾力和吴九`: split at a conjunction when both parts are names.
            if s.count > 4 {
                for conjunction in ["以及", "和", "及", "与"].map(Text.scalars) {
                    guard let at = Text.firstIndex(of: conjunction, in: s) else { continue }
                    let left = Array(s[..<at])
                    let right = Array(s[(at + conjunction.count)...])
                    if isChineseName(left) && isChineseName(right) {
                        names.append(Text.string(left))
                        names.append(Text.string(right))
                        return
                    }
                }
            }
            if isChineseName(s) { names.append(Text.string(s)) }
        }
        for c in list {
            let fc = c.foldedWidth
            if fc == "," || fc == " " || c == "、" || fc == ";" || fc == ":" || c.isSpaceLike {
                flush()
            } else {
                segment.append(c)
            }
        }
        flush()
        if requireSeveral && names.count < 2 && !strippedTitle { return [] }
        return names
    }
}
