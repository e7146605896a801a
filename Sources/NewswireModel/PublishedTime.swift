/// A point in time together with the UTC offset it was written in, e.g. `2024-04-08T10:04:00+08:00`.
///
/// News pages give local wall-clock times; keeping the offset lets a record print the time exactly as the
/// page meant it while still ordering and filtering by the absolute instant.
public struct PublishedTime: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// Seconds since 1970-01-01T00:00:00Z.
    public var secondsSinceEpoch: Int64
    /// Offset of the local wall clock from UTC, in seconds (China Standard Time is `28_800`).
    public var utcOffsetSeconds: Int32

    /// China Standard Time (Asia/Shanghai has had no daylight saving since 1991).
    public static let chinaStandardOffset: Int32 = 8 * 3600

    /// Creates a time from an absolute instant and the offset to display it in.
    public init(secondsSinceEpoch: Int64, utcOffsetSeconds: Int32 = 0) {
        self.secondsSinceEpoch = secondsSinceEpoch
        self.utcOffsetSeconds = utcOffsetSeconds
    }

    /// Creates a time from local wall-clock fields; returns nil when a field is out of range.
    public init?(
        year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0,
        utcOffsetSeconds: Int32
    ) {
        guard (1...9999).contains(year), (1...12).contains(month), (1...31).contains(day),
            day <= Self.daysInMonth(year: year, month: month),
            (0...23).contains(hour), (0...59).contains(minute), (0...60).contains(second)
        else { return nil }
        let days = Self.daysFromCivil(year: year, month: month, day: day)
        let local = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + min(second, 59))
        self.init(secondsSinceEpoch: local - Int64(utcOffsetSeconds), utcOffsetSeconds: utcOffsetSeconds)
    }

    /// Local times RFC 3339 text can hold: 0001-01-01T00:00:00 through 9999-12-31T23:59:59.
    public static let storableLocalSeconds: ClosedRange<Int64> = -62_135_596_800...253_402_300_799

    /// Whether the time survives its RFC 3339 text (a record's stored form) unchanged: a local time in years
    /// 0001–9999 and an offset of whole minutes within ±23:59.
    public var isStorable: Bool {
        guard utcOffsetSeconds % 60 == 0, utcOffsetSeconds > -86_400, utcOffsetSeconds < 86_400 else { return false }
        let (local, overflow) = secondsSinceEpoch.addingReportingOverflow(Int64(utcOffsetSeconds))
        return !overflow && Self.storableLocalSeconds.contains(local)
    }

    /// Local wall-clock fields in this time's own offset.
    public var localComponents: (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
        // Wrapping: a time outside `storableLocalSeconds` gives nonsense fields rather than a trap.
        let local = secondsSinceEpoch &+ Int64(utcOffsetSeconds)
        var days = local / 86_400
        var rem = local % 86_400
        if rem < 0 {
            rem += 86_400
            days -= 1
        }
        let (y, m, d) = Self.civilFromDays(Int(days))
        return (y, m, d, Int(rem / 3600), Int(rem % 3600 / 60), Int(rem % 60))
    }

    /// `YYYY-MM`, in the time's own offset (used for month facets).
    public var yearMonth: String {
        let c = localComponents
        return Self.pad(c.year, 4) + "-" + Self.pad(c.month, 2)
    }

    /// RFC 3339 / ISO 8601 text, e.g. `2024-04-08T10:04:00+08:00` (`Z` for a zero offset).
    public var iso8601: String {
        let c = localComponents
        var s = Self.pad(c.year, 4) + "-" + Self.pad(c.month, 2) + "-" + Self.pad(c.day, 2)
        s += "T" + Self.pad(c.hour, 2) + ":" + Self.pad(c.minute, 2) + ":" + Self.pad(c.second, 2)
        if utcOffsetSeconds == 0 { return s + "Z" }
        let sign = utcOffsetSeconds < 0 ? "-" : "+"
        let abs = Int(utcOffsetSeconds.magnitude)
        return s + sign + Self.pad(abs / 3600, 2) + ":" + Self.pad(abs % 3600 / 60, 2)
    }

    public var description: String { iso8601 }

    /// Parses RFC 3339 text (`2024-04-08T10:04:00+08:00`, `...Z`, fractional seconds ignored), or a bare
    /// `YYYY-MM-DD` date taken as midnight in `defaultOffset`.
    public init?(iso8601 text: String, defaultOffset: Int32 = PublishedTime.chinaStandardOffset) {
        let u = Array(text.utf8)
        func num(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= u.count else { return nil }
            var v = 0
            for i in from..<(from + count) {
                let b = u[i]
                guard b >= 48, b <= 57 else { return nil }
                v = v * 10 + Int(b - 48)
            }
            return v
        }
        guard let year = num(0, 4), u.count >= 10, u[4] == 45, let month = num(5, 2), u[7] == 45,
            let day = num(8, 2)
        else { return nil }
        if u.count == 10 {
            self.init(year: year, month: month, day: day, utcOffsetSeconds: defaultOffset)
            return
        }
        guard u.count >= 16, u[10] == 84 || u[10] == 32, let hour = num(11, 2), u[13] == 58,
            let minute = num(14, 2)
        else { return nil }
        var i = 16
        var second = 0
        if i < u.count, u[i] == 58 {
            guard let s = num(17, 2) else { return nil }
            second = s
            i = 19
            if i < u.count, u[i] == 46 {
                i += 1
                while i < u.count, u[i] >= 48, u[i] <= 57 { i += 1 }
            }
        }
        var offset = defaultOffset
        if i < u.count {
            if u[i] == 90, i == u.count - 1 {
                offset = 0
            } else if u[i] == 43 || u[i] == 45, u.count == i + 6, let oh = num(i + 1, 2), u[i + 3] == 58,
                let om = num(i + 4, 2)
            {
                offset = Int32((oh * 3600 + om * 60) * (u[i] == 45 ? -1 : 1))
            } else {
                return nil
            }
        }
        self.init(
            year: year, month: month, day: day, hour: hour, minute: minute, second: second,
            utcOffsetSeconds: offset)
    }

    public static func < (lhs: PublishedTime, rhs: PublishedTime) -> Bool {
        lhs.secondsSinceEpoch < rhs.secondsSinceEpoch
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let value = PublishedTime(iso8601: text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "expected an RFC 3339 date-time, got \(text)")
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(iso8601)
    }

    // MARK: Calendar arithmetic (proleptic Gregorian, Howard Hinnant's algorithms)

    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    static func pad(_ value: Int, _ width: Int) -> String {
        let s = String(value)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}
