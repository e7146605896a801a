/// The serialized form the store keeps for each article: compact UTF-8 JSON of ``Article`` with sorted keys,
/// byte-for-byte what Foundation's `JSONEncoder` writes with `[.sortedKeys, .withoutEscapingSlashes]`.
///
/// Sorted keys make the encoding deterministic, so an unchanged record is detected by comparing bytes, and the
/// bytes can be served as-is. Absent optionals are written as `null` (see `Article.encode(to:)`). Encoding and
/// decoding are hand-written (``JSONReader``/``JSONWriter``): `store-bench codec` (benchmarks/store) measures
/// them against Foundation's coders on the corpus, same bytes out, at about 5–10× for encoding and 2.4–3× for
/// decoding on Linux, which matters for import and for rebuilding the index from the store.
public enum ArticleCodec {
    /// Encodes `article`.
    public static func encode(_ article: Article) -> [UInt8] {
        var writer = JSONWriter(escaping: .foundation, capacity: ArticleField.estimatedSize(of: article))
        ArticleField.write(article, in: ArticleField.sortedOrder, to: &writer)
        return writer.bytes
    }

    /// Decodes ``Article`` JSON (any key order; unknown keys ignored; absent lists empty, absent optionals nil).
    public static func decode(_ bytes: some Collection<UInt8>) throws -> Article {
        if let result = bytes.withContiguousStorageIfAvailable({ decodeBuffer($0) }) { return try result.get() }
        return try Array(bytes).withUnsafeBufferPointer { decodeBuffer($0) }.get()
    }

    /// Why a stored or supplied record is not an ``Article``.
    public struct DecodingFailure: Error, Sendable, CustomStringConvertible {
        /// What is wrong, with the byte offset.
        public var description: String
    }

    private static func decodeBuffer(_ buffer: UnsafeBufferPointer<UInt8>) -> Result<Article, DecodingFailure> {
        do {
            var reader = JSONReader(buffer)
            var id: String?
            var title: String?
            var article = Article(id: "", title: "")
            try reader.forEachMember { (s: inout JSONReader, key: String) throws(JSONReadError) in
                switch key {
                case "id": id = try s.string(field: key)
                case "title": title = try s.string(field: key)
                case "url": article.url = try s.optionalString(field: key)
                case "subtitles": article.subtitles = try s.stringArray(field: key)
                case "publishedAt":
                    let start = s.offset
                    if let text = try s.optionalString(field: key) {
                        guard let time = PublishedTime(iso8601: text) else {
                            throw JSONReadError(
                                kind: .invalid(field: key, reason: "expected an RFC 3339 date-time, got \(text)"),
                                offset: start, detail: "")
                        }
                        article.publishedAt = time
                    }
                case "source": article.source = try s.optionalString(field: key)
                case "reporters": article.reporters = try s.stringArray(field: key)
                case "editors": article.editors = try s.stringArray(field: key)
                case "participants": article.participants = try s.stringArray(field: key)
                case "paragraphs": article.paragraphs = try s.stringArray(field: key)
                case "clicks": article.clicks = try s.optionalInt(field: key)
                case "language": article.language = try s.optionalString(field: key)
                case "duplicateOf": article.duplicateOf = try s.optionalString(field: key).map { ArticleID($0) }
                default: try s.skipValue()
                }
            }
            guard reader.atEnd() else {
                return .failure(DecodingFailure(description: "trailing bytes after the object at \(reader.offset)"))
            }
            guard let id else { return .failure(DecodingFailure(description: "missing field 'id'")) }
            guard let title else { return .failure(DecodingFailure(description: "missing field 'title'")) }
            article.id = ArticleID(id)
            article.title = title
            return .success(article)
        } catch {
            return .failure(DecodingFailure(description: describe(error)))
        }
    }

    static func describe(_ error: JSONReadError) -> String {
        switch error.kind {
        case .syntax: return "not valid JSON (\(error.detail) at byte \(error.offset))"
        case .notAnObject: return "not a JSON object"
        case .wrongType(let field, let expected): return "field '\(field)' has the wrong type, expected \(expected)"
        case .null(let field): return "field '\(field)' is null, expected a string"
        case .missing(let field): return "missing field '\(field)'"
        case .invalid(let field, let reason): return "field '\(field)' is invalid: \(reason)"
        }
    }
}
