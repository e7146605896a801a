/// A JSON value as a tree, for JSON found in web pages (JSON-LD blocks).
///
/// ArticleExtraction avoids Foundation: libxml2's headers pull in the system ICU, whose declarations clash with
/// Foundation's bundled ICU inside one Swift module. JSON-LD needs only values, so ``JSONReader`` builds them,
/// leniently, with its depth limit.
public indirect enum JSONValue: Sendable {
    case object([(String, JSONValue)])
    case array([JSONValue])
    case string(String)
    case number(Double)
    case bool(Bool)
    case null

    /// The first member named `key` of an object; nil for other values.
    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members.first(where: { $0.0 == key })?.1 }
        return nil
    }

    /// The text of a string value; nil for other values.
    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// Reads the first JSON value in `text` (what follows it is ignored), tolerating what pages get wrong: raw
    /// control characters in strings, unknown escapes, unpaired surrogates. Nil when it is not JSON or nests
    /// deeper than ``JSONReader/maximumDepth``.
    public static func parse(_ text: String) -> JSONValue? {
        var text = text
        return text.withUTF8 { bytes in
            var reader = JSONReader(bytes, lenient: true)
            return try? reader.value()
        }
    }
}
