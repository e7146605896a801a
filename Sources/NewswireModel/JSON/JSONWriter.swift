/// The one JSON writer: appends JSON text to UTF-8 bytes, without Foundation.
struct JSONWriter {
    /// How strings are escaped.
    enum Escaping {
        /// Byte-for-byte what Foundation's `JSONEncoder` writes with `.withoutEscapingSlashes`: `"`, `\` and
        /// control characters (`\b \f \n \r \t`, others as `\u00XX`). Stored records use it.
        case foundation
        /// Also U+2028 and U+2029, which end a line in JavaScript; control characters other than `\n \r \t` as
        /// `\u00XX`. What the CLI prints, so its output is safe to paste into a script.
        case javaScriptSafe
    }

    var bytes: [UInt8] = []
    let escaping: Escaping

    init(escaping: Escaping, capacity: Int = 0) {
        self.escaping = escaping
        bytes.reserveCapacity(capacity)
    }

    mutating func raw(_ text: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    mutating func string(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { utf8 in
            let shortControlEscapes = escaping == .foundation
            // Only ASCII (and U+2028/U+2029, lead byte E2) can need escaping, so runs of other bytes copy whole;
            // one table look-up per byte finds where a run ends.
            let stops = escaping == .javaScriptSafe ? Self.javaScriptSafeStops : Self.foundationStops
            var runStart = 0
            for i in 0..<utf8.count {
                let b = utf8[i]
                guard stops[Int(b)] else { continue }
                if b == 0xE2 {
                    // E2 80 A8/A9; the two continuation bytes are skipped by the loop and not copied.
                    guard i + 2 < utf8.count, utf8[i + 1] == 0x80, utf8[i + 2] == 0xA8 || utf8[i + 2] == 0xA9 else {
                        continue
                    }
                    bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<i]))
                    raw(utf8[i + 2] == 0xA8 ? "\\u2028" : "\\u2029")
                    runStart = i + 3
                    continue
                }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<i]))
                runStart = i + 1
                switch b {
                case UInt8(ascii: "\""): raw("\\\"")
                case UInt8(ascii: "\\"): raw("\\\\")
                case 0x0A: raw("\\n")
                case 0x0D: raw("\\r")
                case 0x09: raw("\\t")
                case 0x08 where shortControlEscapes: raw("\\b")
                case 0x0C where shortControlEscapes: raw("\\f")
                default:
                    let hexDigits: StaticString = "0123456789abcdef"
                    raw("\\u00")
                    bytes.append(hexDigits.utf8Start[Int(b >> 4)])
                    bytes.append(hexDigits.utf8Start[Int(b & 0xF)])
                }
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// The bytes at which a run of copied bytes ends, per escaping.
    private static let foundationStops: [Bool] = (0..<256).map { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }
    private static let javaScriptSafeStops: [Bool] = (0..<256).map {
        $0 < 0x20 || $0 == 0x22 || $0 == 0x5C || $0 == 0xE2
    }

    mutating func optionalString(_ s: String?) {
        if let s { string(s) } else { raw("null") }
    }

    mutating func optionalInt(_ n: Int?) {
        if let n { bytes.append(contentsOf: String(n).utf8) } else { raw("null") }
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
