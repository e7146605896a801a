import NewswireModel

/// Writes an ``NewswireModel/Article`` as one line of JSON with the model's field names in declaration order
/// and `null` for absent values — the same shape `Article`'s `Codable` conformance produces, without needing
/// Foundation (see ``JSONValue`` for why this module avoids it).
public enum ArticleJSON {
    /// One compact JSON object, no trailing newline. Non-ASCII text is written as UTF-8, not `\u` escapes.
    public static func encode(_ a: Article) -> String {
        var out = "{"
        func key(_ k: String) { out += "\"" + k + "\":" }
        func str(_ s: String?) {
            guard let s else {
                out += "null"
                return
            }
            escape(s, into: &out)
        }
        func list(_ items: [String]) {
            out += "["
            for (i, s) in items.enumerated() {
                if i > 0 { out += "," }
                escape(s, into: &out)
            }
            out += "]"
        }
        key("id")
        str(a.id.rawValue)
        out += ","
        key("url")
        str(a.url)
        out += ","
        key("title")
        str(a.title)
        out += ","
        key("subtitles")
        list(a.subtitles)
        out += ","
        key("publishedAt")
        str(a.publishedAt?.iso8601)
        out += ","
        key("source")
        str(a.source)
        out += ","
        key("reporters")
        list(a.reporters)
        out += ","
        key("editors")
        list(a.editors)
        out += ","
        key("participants")
        list(a.participants)
        out += ","
        key("paragraphs")
        list(a.paragraphs)
        out += ","
        key("clicks")
        out += a.clicks.map(String.init) ?? "null"
        out += ","
        key("language")
        str(a.language)
        out += ","
        key("duplicateOf")
        str(a.duplicateOf?.rawValue)
        out += "}"
        return out
    }

    static func escape(_ s: String, into out: inout String) {
        var s = s
        s.withUTF8 { escape($0, into: &out) }
    }

    /// Escapes on UTF-8 bytes: only ASCII (and U+2028/U+2029) needs escaping, so runs of other bytes are copied
    /// whole.
    private static func escape(_ p: UnsafeBufferPointer<UInt8>, into out: inout String) {
        var bytes: [UInt8] = [UInt8(ascii: "\"")]
        bytes.reserveCapacity(p.count + 8)
        let n = p.count
        var runStart = 0
        var i = 0
        @inline(__always) func escaped(_ replacement: StaticString, skipping count: Int) {
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: p[runStart..<i]))
            bytes.append(
                contentsOf: UnsafeBufferPointer(start: replacement.utf8Start, count: replacement.utf8CodeUnitCount))
            i += count
            runStart = i
        }
        while i < n {
            let b = p[i]
            if b >= 0x20 && b != UInt8(ascii: "\"") && b != UInt8(ascii: "\\") && b != 0xE2 {
                i += 1
                continue
            }
            switch b {
            case UInt8(ascii: "\""): escaped("\\\"", skipping: 1)
            case UInt8(ascii: "\\"): escaped("\\\\", skipping: 1)
            case 0x0A: escaped("\\n", skipping: 1)
            case 0x0D: escaped("\\r", skipping: 1)
            case 0x09: escaped("\\t", skipping: 1)
            case 0xE2:
                // U+2028/U+2029 (E2 80 A8/A9) break JavaScript parsers: escape them.
                if i + 2 < n, p[i + 1] == 0x80, p[i + 2] == 0xA8 {
                    escaped("\\u2028", skipping: 3)
                } else if i + 2 < n, p[i + 1] == 0x80, p[i + 2] == 0xA9 {
                    escaped("\\u2029", skipping: 3)
                } else {
                    i += 1
                }
            default:
                let hexDigits: StaticString = "0123456789abcdef"
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: p[runStart..<i]))
                bytes += [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")]
                bytes.append(hexDigits.utf8Start[Int(b >> 4)])
                bytes.append(hexDigits.utf8Start[Int(b & 0xF)])
                i += 1
                runStart = i
            }
        }
        bytes.append(contentsOf: UnsafeBufferPointer(rebasing: p[runStart..<n]))
        bytes.append(UInt8(ascii: "\""))
        out += String(decoding: bytes, as: UTF8.self)
    }
}
