import NewswireModel

/// A JSON syntax or shape error at a byte offset.
struct JSONScanError: Error, Sendable {
    enum Kind: Sendable {
        /// Not JSON at all (or truncated).
        case syntax
        /// A value of the wrong type for a field.
        case wrongType(field: String, expected: String)
        /// `null` for a field that needs a value.
        case null(field: String)
        /// A required field is absent.
        case missing(field: String)
        /// The top-level value is not an object.
        case notAnObject
        /// A field's value is well-formed JSON but not acceptable (for example an unparseable date).
        case invalid(field: String, reason: String)
    }

    var kind: Kind
    var offset: Int
    var detail: String

    var kindIsNotAnObject: Bool {
        if case .notAnObject = kind { return true }
        return false
    }
}

/// A small, allocation-light JSON reader for flat records: Foundation's `JSONDecoder` reads the corpus at about
/// 18 MB/s on Linux, which made parsing, not SQLite, the import bottleneck.
///
/// It reads strings (with every escape, including surrogate pairs), integers, `null`, booleans, arrays of
/// strings, and skips any other value (nested objects and arrays, numbers) of fields it does not know.
struct JSONScanner {
    let bytes: UnsafeBufferPointer<UInt8>
    var offset = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    private func error(_ detail: String) -> JSONScanError {
        JSONScanError(kind: .syntax, offset: offset, detail: detail)
    }

    mutating func skipWhitespace() {
        while offset < bytes.count {
            switch bytes[offset] {
            case 0x20, 0x09, 0x0A, 0x0D: offset += 1
            default: return
            }
        }
    }

    /// The next non-space byte, not consumed; nil at the end.
    mutating func peek() -> UInt8? {
        skipWhitespace()
        return offset < bytes.count ? bytes[offset] : nil
    }

    mutating func expect(_ byte: UInt8, _ what: String) throws(JSONScanError) {
        guard peek() == byte else { throw error("expected \(what)") }
        offset += 1
    }

    /// Whether the document ends here (only whitespace remains).
    mutating func atEnd() -> Bool { peek() == nil }

    /// Iterates the members of an object; `body` must consume each value.
    mutating func forEachMember(_ body: (inout JSONScanner, String) throws(JSONScanError) -> Void)
        throws(JSONScanError)
    {
        guard peek() == UInt8(ascii: "{") else {
            // Well-formed JSON of another type is "not an object"; anything else is a syntax error.
            var probe = JSONScanner(bytes)
            probe.offset = offset
            try probe.skipValue()
            throw JSONScanError(kind: .notAnObject, offset: offset, detail: "expected an object")
        }
        offset += 1
        if peek() == UInt8(ascii: "}") {
            offset += 1
            return
        }
        while true {
            guard peek() == UInt8(ascii: "\"") else { throw error("expected a member name") }
            let key = try string()
            try expect(UInt8(ascii: ":"), "':' after a member name")
            try body(&self, key)
            switch peek() {
            case UInt8(ascii: ","): offset += 1
            case UInt8(ascii: "}"):
                offset += 1
                return
            default: throw error("expected ',' or '}' in an object")
            }
        }
    }

    /// Reads `null` if it is next; returns whether it did.
    mutating func null() throws(JSONScanError) -> Bool {
        guard peek() == UInt8(ascii: "n") else { return false }
        try literal("null")
        return true
    }

    private mutating func literal(_ word: StaticString) throws(JSONScanError) {
        let n = word.utf8CodeUnitCount
        guard offset + n <= bytes.count else { throw error("truncated literal") }
        for i in 0..<n where bytes[offset + i] != word.utf8Start[i] { throw error("invalid literal") }
        offset += n
    }

    /// A string for `field`, with the field's name in the error when the value is null or not a string.
    mutating func string(field: String) throws(JSONScanError) -> String {
        switch peek() {
        case UInt8(ascii: "\""): return try string()
        case UInt8(ascii: "n"):
            try literal("null")
            throw JSONScanError(kind: .null(field: field), offset: offset, detail: "")
        case nil: throw error("truncated")
        default: throw JSONScanError(kind: .wrongType(field: field, expected: "a string"), offset: offset, detail: "")
        }
    }

    /// A string or null.
    mutating func optionalString(field: String) throws(JSONScanError) -> String? {
        if try null() { return nil }
        return try string(field: field)
    }

    /// An array of strings; null reads as empty.
    mutating func stringArray(field: String) throws(JSONScanError) -> [String] {
        if try null() { return [] }
        guard peek() == UInt8(ascii: "[") else {
            throw JSONScanError(kind: .wrongType(field: field, expected: "an array of strings"), offset: offset, detail: "")
        }
        offset += 1
        var out: [String] = []
        if peek() == UInt8(ascii: "]") {
            offset += 1
            return out
        }
        while true {
            out.append(try string(field: field))
            switch peek() {
            case UInt8(ascii: ","): offset += 1
            case UInt8(ascii: "]"):
                offset += 1
                return out
            default: throw error("expected ',' or ']' in an array")
            }
        }
    }

    /// An integer or null.
    mutating func optionalInt(field: String) throws(JSONScanError) -> Int? {
        if try null() { return nil }
        let start = offset
        var negative = false
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "-") {
            negative = true
            offset += 1
        }
        var value = 0
        var digits = 0
        while offset < bytes.count, bytes[offset] >= 0x30, bytes[offset] <= 0x39 {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int(bytes[offset] - 0x30))
            guard !o1, !o2 else {
                throw JSONScanError(kind: .invalid(field: field, reason: "integer out of range"), offset: start, detail: "")
            }
            value = a
            digits += 1
            offset += 1
        }
        if digits == 0 || (offset < bytes.count && [0x2E, 0x65, 0x45].contains(bytes[offset])) {
            offset = start
            throw JSONScanError(kind: .wrongType(field: field, expected: "an integer"), offset: start, detail: "")
        }
        return negative ? -value : value
    }

    /// Skips any JSON value.
    mutating func skipValue(depth: Int = 0) throws(JSONScanError) {
        guard depth < 64 else { throw error("nesting deeper than 64") }
        switch peek() {
        case UInt8(ascii: "\""): _ = try string()
        case UInt8(ascii: "n"): try literal("null")
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "{"):
            try forEachMember { (scanner: inout JSONScanner, _: String) throws(JSONScanError) in
                try scanner.skipValue(depth: depth + 1)
            }
        case UInt8(ascii: "["):
            offset += 1
            if peek() == UInt8(ascii: "]") {
                offset += 1
                return
            }
            while true {
                try skipValue(depth: depth + 1)
                switch peek() {
                case UInt8(ascii: ","): offset += 1
                case UInt8(ascii: "]"):
                    offset += 1
                    return
                default: throw error("expected ',' or ']' in an array")
                }
            }
        case let b? where b == UInt8(ascii: "-") || (b >= 0x30 && b <= 0x39):
            let start = offset
            while offset < bytes.count, "+-0123456789.eE".utf8.contains(bytes[offset]) { offset += 1 }
            if offset == start { throw error("invalid number") }
        default:
            throw error("expected a value")
        }
    }

    /// A string at the current position (the opening quote is next).
    mutating func string() throws(JSONScanError) -> String {
        offset += 1  // opening quote
        let start = offset
        // Fast path: no escapes.
        while offset < bytes.count {
            let b = bytes[offset]
            if b == UInt8(ascii: "\"") {
                let s = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<offset]), as: UTF8.self)
                offset += 1
                return s
            }
            if b == UInt8(ascii: "\\") { break }
            if b < 0x20 { throw error("unescaped control character in a string") }
            offset += 1
        }
        guard offset < bytes.count else { throw error("unterminated string") }
        var out = Array(bytes[start..<offset])
        while offset < bytes.count {
            let b = bytes[offset]
            if b == UInt8(ascii: "\"") {
                offset += 1
                return String(decoding: out, as: UTF8.self)
            }
            if b < 0x20 { throw error("unescaped control character in a string") }
            if b != UInt8(ascii: "\\") {
                out.append(b)
                offset += 1
                continue
            }
            guard offset + 1 < bytes.count else { throw error("unterminated escape") }
            let e = bytes[offset + 1]
            offset += 2
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar) {
                    guard offset + 1 < bytes.count, bytes[offset] == UInt8(ascii: "\\"),
                        bytes[offset + 1] == UInt8(ascii: "u")
                    else { throw error("unpaired surrogate in \\u escape") }
                    offset += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired surrogate in \\u escape") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(scalar) {
                    throw error("unpaired surrogate in \\u escape")
                }
                guard let s = Unicode.Scalar(scalar) else { throw error("invalid \\u escape") }
                out.append(contentsOf: UTF8.encode(s)!)
            default:
                throw error("invalid escape")
            }
        }
        throw error("unterminated string")
    }

    private mutating func hex4() throws(JSONScanError) -> UInt32 {
        guard offset + 4 <= bytes.count else { throw error("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[offset]
            let d: UInt8
            switch b {
            case 0x30...0x39: d = b - 0x30
            case 0x41...0x46: d = b - 0x41 + 10
            case 0x61...0x66: d = b - 0x61 + 10
            default: throw error("invalid hex digit in \\u escape")
            }
            v = v << 4 | UInt32(d)
            offset += 1
        }
        return v
    }
}

/// Appends JSON text, escaping exactly as Foundation's `JSONEncoder` with `.withoutEscapingSlashes` does.
struct JSONWriter {
    var bytes: [UInt8] = []

    mutating func raw(_ text: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    mutating func string(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { utf8 in
            var runStart = 0
            for i in 0..<utf8.count {
                let b = utf8[i]
                guard b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") else { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<i]))
                runStart = i + 1
                switch b {
                case UInt8(ascii: "\""): raw("\\\"")
                case UInt8(ascii: "\\"): raw("\\\\")
                case 0x08: raw("\\b")
                case 0x0C: raw("\\f")
                case 0x0A: raw("\\n")
                case 0x0D: raw("\\r")
                case 0x09: raw("\\t")
                default:
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    raw("\\u00")
                    bytes.append(hex[Int(b >> 4)])
                    bytes.append(hex[Int(b & 0xF)])
                }
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func optionalString(_ s: String?) {
        if let s { string(s) } else { raw("null") }
    }

    mutating func stringArray(_ list: [String]) {
        bytes.append(UInt8(ascii: "["))
        for (i, item) in list.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            string(item)
        }
        bytes.append(UInt8(ascii: "]"))
    }
}
