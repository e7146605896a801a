/// A JSON syntax or shape error at a byte offset.
struct JSONReadError: Error, Sendable {
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

/// The one JSON reader: a small, allocation-light pull reader over UTF-8 bytes, without Foundation.
///
/// Record decoders (``ArticleCodec``, ``JSONLinesImport``) pull the fields they know (strings with every escape,
/// including surrogate pairs, integers, `null`, arrays of strings) and skip any other value; ``JSONValue`` builds
/// a tree from it for JSON found in web pages. Hand-written because NewswireModel and ArticleExtraction do not
/// import Foundation (see ``JSONValue``), and it is faster: `store-bench codec` measures stored records decoding
/// about 2.4–3× faster than with `JSONDecoder` (corpus lines about as fast: splitting the body into paragraphs
/// dominates there).
struct JSONReader {
    let bytes: UnsafeBufferPointer<UInt8>
    var offset = 0
    /// Accept what web pages write but JSON forbids: raw control characters in strings, unknown escapes (kept
    /// as the escaped character) and unpaired surrogates (read as U+FFFD). Off for records.
    var lenient = false

    /// Nesting deeper than this is rejected (bounded recursion on hostile input).
    static let maximumDepth = 64

    init(_ bytes: UnsafeBufferPointer<UInt8>, lenient: Bool = false) {
        self.bytes = bytes
        self.lenient = lenient
    }

    private func error(_ detail: String) -> JSONReadError {
        JSONReadError(kind: .syntax, offset: offset, detail: detail)
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

    mutating func expect(_ byte: UInt8, _ what: String) throws(JSONReadError) {
        guard peek() == byte else { throw error("expected \(what)") }
        offset += 1
    }

    /// Whether the document ends here (only whitespace remains).
    mutating func atEnd() -> Bool { peek() == nil }

    /// Iterates the members of an object; `body` must consume each value.
    mutating func forEachMember(_ body: (inout JSONReader, String) throws(JSONReadError) -> Void)
        throws(JSONReadError)
    {
        guard peek() == UInt8(ascii: "{") else {
            // Well-formed JSON of another type is "not an object"; anything else is a syntax error.
            var probe = JSONReader(bytes)
            probe.offset = offset
            try probe.skipValue()
            throw JSONReadError(kind: .notAnObject, offset: offset, detail: "expected an object")
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
    mutating func null() throws(JSONReadError) -> Bool {
        guard peek() == UInt8(ascii: "n") else { return false }
        try literal("null")
        return true
    }

    private mutating func literal(_ word: StaticString) throws(JSONReadError) {
        let n = word.utf8CodeUnitCount
        guard offset + n <= bytes.count else { throw error("truncated literal") }
        for i in 0..<n where bytes[offset + i] != word.utf8Start[i] { throw error("invalid literal") }
        offset += n
    }

    /// A string for `field`, with the field's name in the error when the value is null or not a string.
    mutating func string(field: String) throws(JSONReadError) -> String {
        switch peek() {
        case UInt8(ascii: "\""): return try string()
        case UInt8(ascii: "n"):
            try literal("null")
            throw JSONReadError(kind: .null(field: field), offset: offset, detail: "")
        case nil: throw error("truncated")
        default: throw JSONReadError(kind: .wrongType(field: field, expected: "a string"), offset: offset, detail: "")
        }
    }

    /// A string or null.
    mutating func optionalString(field: String) throws(JSONReadError) -> String? {
        if try null() { return nil }
        return try string(field: field)
    }

    /// An array of strings; null reads as empty.
    mutating func stringArray(field: String) throws(JSONReadError) -> [String] {
        if try null() { return [] }
        guard peek() == UInt8(ascii: "[") else {
            throw JSONReadError(kind: .wrongType(field: field, expected: "an array of strings"), offset: offset, detail: "")
        }
        var out: [String] = []
        try forEachElement { (reader: inout JSONReader) throws(JSONReadError) in
            out.append(try reader.string(field: field))
        }
        return out
    }

    /// Iterates the elements of an array (the `[` is next); `body` must consume each value.
    mutating func forEachElement(_ body: (inout JSONReader) throws(JSONReadError) -> Void) throws(JSONReadError) {
        offset += 1  // [
        if peek() == UInt8(ascii: "]") {
            offset += 1
            return
        }
        while true {
            try body(&self)
            switch peek() {
            case UInt8(ascii: ","): offset += 1
            case UInt8(ascii: "]"):
                offset += 1
                return
            default: throw error("expected ',' or ']' in an array")
            }
        }
    }

    /// An integer or null.
    mutating func optionalInt(field: String) throws(JSONReadError) -> Int? {
        if try null() { return nil }
        let start = offset
        var negative = false
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "-") {
            negative = true
            offset += 1
        }
        // Accumulated with the number's sign: Int.min has no positive counterpart to negate.
        var value = 0
        var digits = 0
        while offset < bytes.count, bytes[offset] >= 0x30, bytes[offset] <= 0x39 {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let digit = Int(bytes[offset] - 0x30)
            let (a, o2) = negative ? m.subtractingReportingOverflow(digit) : m.addingReportingOverflow(digit)
            guard !o1, !o2 else {
                throw JSONReadError(kind: .invalid(field: field, reason: "integer out of range"), offset: start, detail: "")
            }
            value = a
            digits += 1
            offset += 1
        }
        if digits == 0 || (offset < bytes.count && [0x2E, 0x65, 0x45].contains(bytes[offset])) {
            offset = start
            throw JSONReadError(kind: .wrongType(field: field, expected: "an integer"), offset: start, detail: "")
        }
        return value
    }

    /// Skips any JSON value.
    mutating func skipValue(depth: Int = 0) throws(JSONReadError) {
        guard depth < Self.maximumDepth else { throw error("nesting deeper than \(Self.maximumDepth)") }
        switch peek() {
        case UInt8(ascii: "\""): _ = try string()
        case UInt8(ascii: "n"): try literal("null")
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "{"):
            try forEachMember { (reader: inout JSONReader, _: String) throws(JSONReadError) in
                try reader.skipValue(depth: depth + 1)
            }
        case UInt8(ascii: "["):
            try forEachElement { (reader: inout JSONReader) throws(JSONReadError) in
                try reader.skipValue(depth: depth + 1)
            }
        case let b? where isNumberStart(b):
            _ = try numberText()
        default:
            throw error("expected a value")
        }
    }

    /// Reads any JSON value as a tree.
    mutating func value(depth: Int = 0) throws(JSONReadError) -> JSONValue {
        guard depth < Self.maximumDepth else { throw error("nesting deeper than \(Self.maximumDepth)") }
        switch peek() {
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "{"):
            var members: [(String, JSONValue)] = []
            try forEachMember { (reader: inout JSONReader, key: String) throws(JSONReadError) in
                members.append((key, try reader.value(depth: depth + 1)))
            }
            return .object(members)
        case UInt8(ascii: "["):
            var items: [JSONValue] = []
            try forEachElement { (reader: inout JSONReader) throws(JSONReadError) in
                items.append(try reader.value(depth: depth + 1))
            }
            return .array(items)
        case let b? where isNumberStart(b):
            let start = offset
            let text = try numberText()
            guard let number = Double(text) else {
                throw JSONReadError(kind: .syntax, offset: start, detail: "invalid number")
            }
            return .number(number)
        default:
            throw error("expected a value")
        }
    }

    /// Whether `b` starts a number (lenient readers also take a leading `+` or `.`, as pages write them).
    private func isNumberStart(_ b: UInt8) -> Bool {
        if b == UInt8(ascii: "-") || (b >= 0x30 && b <= 0x39) { return true }
        return lenient && (b == UInt8(ascii: "+") || b == UInt8(ascii: "."))
    }

    /// The run of number characters at the current position.
    private mutating func numberText() throws(JSONReadError) -> String {
        let start = offset
        while offset < bytes.count, "+-0123456789.eE".utf8.contains(bytes[offset]) { offset += 1 }
        if offset == start { throw error("invalid number") }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<offset]), as: UTF8.self)
    }

    /// A string at the current position (the opening quote is next).
    mutating func string() throws(JSONReadError) -> String {
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
            if b < 0x20 && !lenient { throw error("unescaped control character in a string") }
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
            if b < 0x20 && !lenient { throw error("unescaped control character in a string") }
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
                    else {
                        guard lenient else { throw error("unpaired surrogate in \\u escape") }
                        out += [0xEF, 0xBF, 0xBD]  // U+FFFD
                        continue
                    }
                    offset += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired surrogate in \\u escape") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(scalar) {
                    guard lenient else { throw error("unpaired surrogate in \\u escape") }
                    scalar = 0xFFFD
                }
                guard let s = Unicode.Scalar(scalar) else { throw error("invalid \\u escape") }
                out.append(contentsOf: UTF8.encode(s)!)
            default:
                guard lenient else { throw error("invalid escape") }
                out.append(e)
            }
        }
        throw error("unterminated string")
    }

    private mutating func hex4() throws(JSONReadError) -> UInt32 {
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
