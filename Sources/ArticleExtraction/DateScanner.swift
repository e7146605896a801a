import NewswireModel

/// A date (and maybe a time) found in text.
struct DateMatch: Sendable, Equatable {
    /// Scalar range of the match in the scanned text.
    var range: Range<Int>
    var year: Int
    var month: Int
    var day: Int
    var hour: Int?
    var minute: Int?
    var second: Int?
    /// Explicit UTC offset written in the text (ISO 8601 `Z` / `+08:00`), if any.
    var offset: Int32?
    /// Whether a date label (日期, 发布时间, 时间, Published…) directly precedes the match.
    var labelled: Bool = false
    /// The date opens a range (`2004年12月11－12日`, `2024-04-08至10日`): an event's dates, not a publication date.
    var startsRange: Bool = false

    var hasTime: Bool { hour != nil }

    func publishedTime(defaultOffset: Int32) -> PublishedTime? {
        PublishedTime(
            year: year, month: month, day: day, hour: hour ?? 0, minute: minute ?? 0, second: second ?? 0,
            utcOffsetSeconds: offset ?? defaultOffset)
    }
}

/// Finds dates written the ways news pages write them: `2024-04-08 10:04(:00)`, `2024/4/8 9:04`, `2024.04.08`,
/// `2024年4月8日 星期一 10:04`, ISO 8601 with `T` and offset, and English `April 8, 2024` / `Apr. 8 2024`.
/// Full-width digits and punctuation are accepted (the scanner reads width-folded text).
enum DateScanner {
    static let minimumYear = 1970
    static let maximumYear = 2100

    private static let dateLabels: [Scalars] = [
        "发布时间", "发表时间", "发布日期", "发表日期", "更新时间", "时间", "日期", "发表于", "发布于", "发帖时间",
        "posted", "published", "updated", "date", "time",
    ].map { Text.scalars($0) }

    /// All date matches in `text` (width-folded internally), in order.
    static func scan(_ text: Scalars) -> [DateMatch] { scan(folded: Text.folded(text)) }

    /// All date matches in text that is already width-folded (``PageLine/folded``).
    static func scan(folded s: Scalars) -> [DateMatch] {
        // Every date has a four-digit year or a month name: skip lines with neither cheaply.
        var digits = 0
        var letters = false
        for c in s {
            if c.isASCIIDigit {
                digits += 1
                if digits >= 4 { break }
            } else if c.isASCIILetter {
                letters = true
            }
        }
        guard digits >= 4 || letters else { return [] }
        var out: [DateMatch] = []
        var i = 0
        let n = s.count
        while i < n {
            let c = s[i]
            if c.isASCIIDigit, i == 0 || !s[i - 1].isASCIIDigit, let m = numericDate(s, i) ?? slashedDate(s, i) {
                var m = m
                m.labelled = isLabelled(s, before: i)
                m.startsRange = startsRange(s, after: m.range.upperBound)
                out.append(m)
                i = m.range.upperBound
                continue
            }
            if c.isASCIILetter, i == 0 || !s[i - 1].isASCIILetter, let m = englishDate(s, i) {
                var m = m
                m.labelled = isLabelled(s, before: i)
                out.append(m)
                i = m.range.upperBound
                continue
            }
            i += 1
        }
        return out
    }

    static func scan(_ text: String) -> [DateMatch] { scan(Text.scalars(text)) }

    private static func startsRange(_ s: Scalars, after end: Int) -> Bool {
        var j = end
        while j < s.count, s[j] == " " { j += 1 }
        guard j < s.count, s[j] == "-" || s[j] == "~" || s[j] == "至" || s[j] == "到" || s[j] == "—" || s[j] == "－"
        else { return false }
        j += 1
        while j < s.count, s[j] == " " { j += 1 }
        return j < s.count && s[j].isASCIIDigit
    }

    private static func isLabelled(_ s: Scalars, before start: Int) -> Bool {
        var j = start
        while j > 0, s[j - 1] == " " || s[j - 1] == ":" || s[j - 1] == "[" || s[j - 1] == "【" { j -= 1 }
        guard j < start || j == start else { return false }
        for label in dateLabels where j >= label.count {
            var ok = true
            for k in 0..<label.count {
                let a = s[j - label.count + k]
                let a2 = a.isASCIILetter ? Unicode.Scalar(a.value | 0x20)! : a
                if a2 != label[k] {
                    ok = false
                    break
                }
            }
            if ok { return true }
        }
        return false
    }

    /// Reads 1…`maxDigits` ASCII digits at `i`.
    @inline(__always) private static func number(_ s: Scalars, _ i: Int, maxDigits: Int) -> (value: Int, end: Int)? {
        var j = i
        var v = 0
        while j < s.count, j - i < maxDigits, s[j].isASCIIDigit {
            v = v * 10 + s[j].asciiDigitValue
            j += 1
        }
        return j > i ? (v, j) : nil
    }

    @inline(__always) private static func skipSpaces(_ s: Scalars, _ i: Int) -> Int {
        var j = i
        while j < s.count, s[j] == " " || s[j].isSpaceLike { j += 1 }
        return j
    }

    private static func numericDate(_ s: Scalars, _ start: Int) -> DateMatch? {
        guard let (year, afterYear) = number(s, start, maxDigits: 4), afterYear - start == 4,
            (minimumYear...maximumYear).contains(year)
        else { return nil }
        var i = skipSpaces(s, afterYear)
        guard i < s.count else { return nil }
        let sep = s[i]
        let chinese = sep == "年"
        guard chinese || sep == "-" || sep == "/" || sep == "." || sep == "_" else { return nil }
        i = skipSpaces(s, i + 1)
        guard let (month, afterMonth) = number(s, i, maxDigits: 2), (1...12).contains(month) else { return nil }
        i = skipSpaces(s, afterMonth)
        guard i < s.count, chinese ? s[i] == "月" : s[i] == sep else { return nil }
        i = skipSpaces(s, i + 1)
        guard let (day, afterDay) = number(s, i, maxDigits: 2), (1...31).contains(day) else { return nil }
        if afterDay < s.count, s[afterDay].isASCIIDigit { return nil }
        var end = afterDay
        if end < s.count, s[end] == "日" || s[end] == "号" { end += 1 }
        guard PublishedTime(year: year, month: month, day: day, utcOffsetSeconds: 0) != nil else { return nil }
        var match = DateMatch(range: start..<end, year: year, month: month, day: day)
        readTime(s, after: end, into: &match)
        return match
    }

    /// `9/17/2004 5:54:13 AM`: month/day/year with slashes, as ASP.NET-era pages print `DateTime`; day/month/year
    /// when the first number cannot be a month.
    private static func slashedDate(_ s: Scalars, _ start: Int) -> DateMatch? {
        guard let (first, afterFirst) = number(s, start, maxDigits: 2), afterFirst < s.count, s[afterFirst] == "/",
            let (second, afterSecond) = number(s, afterFirst + 1, maxDigits: 2), afterSecond < s.count,
            s[afterSecond] == "/", let (year, afterYear) = number(s, afterSecond + 1, maxDigits: 4),
            afterYear - afterSecond - 1 == 4, (minimumYear...maximumYear).contains(year)
        else { return nil }
        if afterYear < s.count, s[afterYear].isASCIIDigit { return nil }
        let (month, day) = first > 12 ? (second, first) : (first, second)
        guard (1...12).contains(month), (1...31).contains(day),
            PublishedTime(year: year, month: month, day: day, utcOffsetSeconds: 0) != nil
        else { return nil }
        var match = DateMatch(range: start..<afterYear, year: year, month: month, day: day)
        readTime(s, after: afterYear, into: &match)
        return match
    }

    /// Reads an optional weekday and time after a date: ` 星期一 10:04`, `T10:04:05+08:00`, ` 10时04分`, `, 9:04 PM`.
    private static func readTime(_ s: Scalars, after dateEnd: Int, into match: inout DateMatch) {
        var i = dateEnd
        var sawT = false
        if i < s.count, s[i] == "T" {
            sawT = true
            i += 1
        } else {
            i = skipSpaces(s, i)
            // Weekday: 星期一 / 周一 / (星期一) / 礼拜一 / Monday
            var j = i
            if j < s.count, s[j] == "(" || s[j] == "【" || s[j] == "[" { j += 1 }
            if Text.hasPrefix(s, weekPrefix1, at: j) || Text.hasPrefix(s, weekPrefix3, at: j) {
                j += 2
                if j < s.count, "一二三四五六日天".unicodeScalars.contains(s[j]) {
                    j += 1
                    if j < s.count, s[j] == ")" || s[j] == "】" || s[j] == "]" { j += 1 }
                    i = skipSpaces(s, j)
                }
            } else if Text.hasPrefix(s, weekPrefix2, at: j), j + 1 < s.count,
                "一二三四五六日天".unicodeScalars.contains(s[j + 1])
            {
                j += 2
                if j < s.count, s[j] == ")" || s[j] == "】" || s[j] == "]" { j += 1 }
                i = skipSpaces(s, j)
            }
            if i < s.count, s[i] == "," { i = skipSpaces(s, i + 1) }
            if Text.hasPrefix(s, Text.scalars("上午"), at: i) { i += 2 }
            var pm = false
            if Text.hasPrefix(s, Text.scalars("下午"), at: i) || Text.hasPrefix(s, Text.scalars("晚上"), at: i) {
                pm = true
                i += 2
            }
            if readClock(s, i, pm: pm, into: &match) == nil { return }
            return
        }
        if sawT { _ = readClock(s, i, pm: false, into: &match) }
    }

    private static let weekPrefix1 = Text.scalars("星期")
    private static let weekPrefix2 = Text.scalars("周")
    private static let weekPrefix3 = Text.scalars("礼拜")

    @discardableResult
    private static func readClock(_ s: Scalars, _ start: Int, pm: Bool, into match: inout DateMatch) -> Int? {
        guard let (hour0, afterHour) = number(s, start, maxDigits: 2), hour0 <= 24 else { return nil }
        guard afterHour < s.count else { return nil }
        let sep = s[afterHour]
        let chinese = sep == "时" || sep == "点"
        guard chinese || sep == ":" else { return nil }
        guard let (minute, afterMinute) = number(s, afterHour + 1, maxDigits: 2), minute < 60,
            afterMinute - afterHour - 1 == 2 || chinese
        else { return nil }
        var hour = hour0 == 24 ? 0 : hour0
        var end = afterMinute
        var second: Int?
        if chinese {
            if end < s.count, s[end] == "分" {
                end += 1
                if let (sec, afterSec) = number(s, end, maxDigits: 2), afterSec < s.count, s[afterSec] == "秒",
                    sec < 60
                {
                    second = sec
                    end = afterSec + 1
                }
            }
        } else if end < s.count, s[end] == ":", let (sec, afterSec) = number(s, end + 1, maxDigits: 2),
            afterSec - end - 1 == 2, sec <= 60
        {
            second = sec
            end = afterSec
            if end < s.count, s[end] == ".", end + 1 < s.count, s[end + 1].isASCIIDigit {
                end += 1
                while end < s.count, s[end].isASCIIDigit { end += 1 }
            }
        }
        // 12-hour clocks: 下午3:00, 3:00 PM
        var j = skipSpaces(s, end)
        if j + 1 < s.count, s[j] == "P" || s[j] == "p" || s[j] == "A" || s[j] == "a", s[j + 1] == "M" || s[j + 1] == "m"
        {
            let isPM = s[j] == "P" || s[j] == "p"
            if isPM && hour < 12 { hour += 12 }
            if !isPM && hour == 12 { hour = 0 }
            end = j + 2
            j = end
        } else if pm && hour < 12 {
            hour += 12
        }
        // Explicit offset: Z, +08:00, +0800
        if end < s.count {
            if s[end] == "Z" {
                match.offset = 0
                end += 1
            } else if s[end] == "+" || s[end] == "-", let (oh, afterOH) = number(s, end + 1, maxDigits: 2),
                afterOH - end - 1 == 2, oh <= 14
            {
                var om = 0
                var k = afterOH
                if k < s.count, s[k] == ":" { k += 1 }
                if let (m, afterOM) = number(s, k, maxDigits: 2), afterOM - k == 2 {
                    om = m
                    k = afterOM
                }
                match.offset = Int32((oh * 3600 + om * 60) * (s[end] == "-" ? -1 : 1))
                end = k
            }
        }
        match.hour = hour
        match.minute = minute
        match.second = second
        match.range = match.range.lowerBound..<end
        return end
    }

    private static let months: [(Scalars, Int)] = [
        ("january", 1), ("february", 2), ("march", 3), ("april", 4), ("may", 5), ("june", 6), ("july", 7),
        ("august", 8), ("september", 9), ("october", 10), ("november", 11), ("december", 12), ("sept", 9),
        ("jan", 1), ("feb", 2), ("mar", 3), ("apr", 4), ("jun", 6), ("jul", 7), ("aug", 8), ("sep", 9),
        ("oct", 10), ("nov", 11), ("dec", 12),
    ].map { (Text.scalars($0.0), $0.1) }

    private static func monthName(_ s: Scalars, _ i: Int) -> (month: Int, end: Int)? {
        var j = i
        var word = Scalars()
        while j < s.count, s[j].isASCIILetter, word.count < 10 {
            word.append(Unicode.Scalar(s[j].value | 0x20)!)
            j += 1
        }
        guard word.count >= 3 else { return nil }
        for (name, m) in months where name == word { return (m, j < s.count && s[j] == "." ? j + 1 : j) }
        return nil
    }

    /// `April 8, 2024`, `Apr. 8 2024`.
    private static func englishDate(_ s: Scalars, _ start: Int) -> DateMatch? {
        guard let (month, afterMonth) = monthName(s, start) else { return nil }
        var i = skipSpaces(s, afterMonth)
        guard let (day, afterDay) = number(s, i, maxDigits: 2), (1...31).contains(day) else { return nil }
        i = afterDay
        for suffix in ["st", "nd", "rd", "th"] where Text.hasPrefix(s, Text.scalars(suffix), at: i) { i += 2 }
        if i < s.count, s[i] == "," { i += 1 }
        i = skipSpaces(s, i)
        guard let (year, afterYear) = number(s, i, maxDigits: 4), afterYear - i == 4,
            (minimumYear...maximumYear).contains(year),
            PublishedTime(year: year, month: month, day: day, utcOffsetSeconds: 0) != nil
        else { return nil }
        var match = DateMatch(range: start..<afterYear, year: year, month: month, day: day)
        var j = afterYear
        if j < s.count, s[j] == "," { j += 1 }
        j = skipSpaces(s, j)
        if Text.hasPrefix(s, Text.scalars("at "), at: j) { j += 3 }
        if j < s.count, s[j].isASCIIDigit { readClock(s, j, pm: false, into: &match) }
        return match
    }
}
