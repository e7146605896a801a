/// ``Article`` as the JSON the CLI prints: one compact object with the model's field names in declaration order
/// and `null` for absent values, escaped so it is safe to paste into JavaScript. `newswire parse --json` and
/// `newswire get --json` print exactly this, so the two can be compared byte for byte.
///
/// Stored records use ``ArticleCodec`` (sorted keys, Foundation's escaping); both are written by one routine.
public enum ArticleJSON {
    /// One compact JSON object, no trailing newline. Non-ASCII text is written as UTF-8, not `\u` escapes.
    public static func encode(_ article: Article) -> String {
        var writer = JSONWriter(escaping: .javaScriptSafe, capacity: ArticleField.estimatedSize(of: article))
        ArticleField.write(article, in: ArticleField.declarationOrder, to: &writer)
        return String(decoding: writer.bytes, as: UTF8.self)
    }
}

/// The members of ``Article``'s JSON, in declaration order.
enum ArticleField: CaseIterable {
    case id, url, title, subtitles, publishedAt, source, reporters, editors, participants, paragraphs, clicks
    case language, duplicateOf

    static let declarationOrder = allCases
    /// The order of Foundation's `.sortedKeys`.
    static let sortedOrder = allCases.sorted { "\($0)" < "\($1)" }

    /// The quoted name and colon.
    var key: StaticString {
        switch self {
        case .id: "\"id\":"
        case .url: "\"url\":"
        case .title: "\"title\":"
        case .subtitles: "\"subtitles\":"
        case .publishedAt: "\"publishedAt\":"
        case .source: "\"source\":"
        case .reporters: "\"reporters\":"
        case .editors: "\"editors\":"
        case .participants: "\"participants\":"
        case .paragraphs: "\"paragraphs\":"
        case .clicks: "\"clicks\":"
        case .language: "\"language\":"
        case .duplicateOf: "\"duplicateOf\":"
        }
    }

    /// Writes `article` as one object with its members in `order`.
    static func write(_ article: Article, in order: [ArticleField], to writer: inout JSONWriter) {
        writer.raw("{")
        for (index, field) in order.enumerated() {
            if index > 0 { writer.raw(",") }
            writer.raw(field.key)
            switch field {
            case .id: writer.string(article.id.rawValue)
            case .url: writer.optionalString(article.url)
            case .title: writer.string(article.title)
            case .subtitles: writer.stringArray(article.subtitles)
            case .publishedAt: writer.optionalString(article.publishedAt?.iso8601)
            case .source: writer.optionalString(article.source)
            case .reporters: writer.stringArray(article.reporters)
            case .editors: writer.stringArray(article.editors)
            case .participants: writer.stringArray(article.participants)
            case .paragraphs: writer.stringArray(article.paragraphs)
            case .clicks: writer.optionalInt(article.clicks)
            case .language: writer.optionalString(article.language)
            case .duplicateOf: writer.optionalString(article.duplicateOf?.rawValue)
            }
        }
        writer.raw("}")
    }

    /// Room for the usual encoding, so the writer rarely grows.
    static func estimatedSize(of article: Article) -> Int {
        article.paragraphs.reduce(256) { $0 + $1.utf8.count + 3 } + article.title.utf8.count
    }
}
