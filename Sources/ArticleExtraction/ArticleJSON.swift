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
        key("id"); str(a.id.rawValue); out += ","
        key("url"); str(a.url); out += ","
        key("title"); str(a.title); out += ","
        key("subtitles"); list(a.subtitles); out += ","
        key("publishedAt"); str(a.publishedAt?.iso8601); out += ","
        key("source"); str(a.source); out += ","
        key("reporters"); list(a.reporters); out += ","
        key("editors"); list(a.editors); out += ","
        key("participants"); list(a.participants); out += ","
        key("paragraphs"); list(a.paragraphs); out += ","
        key("clicks"); out += a.clicks.map(String.init) ?? "null"; out += ","
        key("language"); str(a.language); out += ","
        key("duplicateOf"); str(a.duplicateOf?.rawValue)
        out += "}"
        return out
    }

    static func escape(_ s: String, into out: inout String) {
        // Escape on UTF-8 bytes: only ASCII needs escaping, and a byte buffer avoids per-scalar String appends.
        var bytes: [UInt8] = [UInt8(ascii: "\"")]
        bytes.reserveCapacity(s.utf8.count + 8)
        let hexDigits = Array("0123456789abcdef".utf8)
        var iterator = s.utf8.makeIterator()
        var pending: [UInt8] = []
        while let b = iterator.next() {
            switch b {
            case UInt8(ascii: "\""): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x0A: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0xE2:
                // U+2028/U+2029 (E2 80 A8/A9) break JavaScript parsers: escape them.
                pending = [b]
                if let b1 = iterator.next() { pending.append(b1) }
                if let b2 = iterator.next() { pending.append(b2) }
                if pending.count == 3, pending[1] == 0x80, pending[2] == 0xA8 || pending[2] == 0xA9 {
                    bytes += Array((pending[2] == 0xA8 ? "\\u2028" : "\\u2029").utf8)
                } else {
                    bytes += pending
                }
            default:
                if b < 0x20 {
                    bytes += [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                        hexDigits[Int(b >> 4)], hexDigits[Int(b & 0xF)]]
                } else {
                    bytes.append(b)
                }
            }
        }
        bytes.append(UInt8(ascii: "\""))
        out += String(decoding: bytes, as: UTF8.self)
    }
}
