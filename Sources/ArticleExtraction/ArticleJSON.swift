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
        out += "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{2028}": out += "\\u2028"
            case "\u{2029}": out += "\\u2029"
            default:
                if c.value < 0x20 {
                    let h = String(c.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    out.unicodeScalars.append(c)
                }
            }
        }
        out += "\""
    }
}
