/// A stable article identifier.
///
/// Derived by the extractor from the canonical URL when the page gives one, else from a hash of the
/// normalised title, date and body; imported records (JSON Lines) keep the id they arrive with.
public struct ArticleID: RawRepresentable, Sendable, Hashable, Comparable, Codable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    public var rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }

    public var description: String { rawValue }

    public static func < (lhs: ArticleID, rhs: ArticleID) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// A structured news article: what the extractor produces, the store keeps, the index searches and the
/// protocol serves. JSON field names are exactly the property names (camelCase); absent values are `null`.
public struct Article: Sendable, Hashable, Codable {
    /// Stable identifier (see ``ArticleID``).
    public var id: ArticleID
    /// Canonical URL when known.
    public var url: String?
    /// Headline.
    public var title: String
    /// Deck lines shown under the headline.
    public var subtitles: [String]
    /// Publication time with the page's UTC offset (China time when the page gives no zone).
    public var publishedAt: PublishedTime?
    /// The outlet (来源/稿源, JSON-LD publisher, or the dateline's "X讯").
    public var source: String?
    /// Reporters / authors.
    public var reporters: [String]
    /// Editors (责任编辑/责编).
    public var editors: [String]
    /// People listed as taking part (…参加活动, 出席…).
    public var participants: [String]
    /// The body, paragraph by paragraph, in order.
    public var paragraphs: [String]
    /// Page-view counter, only when the page shows a number.
    public var clicks: Int?
    /// BCP 47 language tag, e.g. `zh` or `en`.
    public var language: String?
    /// Set when this article is a near-duplicate (a republished copy) of an earlier one.
    public var duplicateOf: ArticleID?

    public init(
        id: ArticleID, url: String? = nil, title: String, subtitles: [String] = [],
        publishedAt: PublishedTime? = nil, source: String? = nil, reporters: [String] = [],
        editors: [String] = [], participants: [String] = [], paragraphs: [String] = [],
        clicks: Int? = nil, language: String? = nil, duplicateOf: ArticleID? = nil
    ) {
        self.id = id
        self.url = url
        self.title = title
        self.subtitles = subtitles
        self.publishedAt = publishedAt
        self.source = source
        self.reporters = reporters
        self.editors = editors
        self.participants = participants
        self.paragraphs = paragraphs
        self.clicks = clicks
        self.language = language
        self.duplicateOf = duplicateOf
    }

    /// The body as one string, paragraphs joined by `\n`.
    public var body: String { paragraphs.joined(separator: "\n") }

    enum CodingKeys: String, CodingKey {
        case id, url, title, subtitles, publishedAt, source, reporters, editors, participants, paragraphs
        case clicks, language, duplicateOf
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(ArticleID.self, forKey: .id)
        url = try c.decodeIfPresent(String.self, forKey: .url)
        title = try c.decode(String.self, forKey: .title)
        subtitles = try c.decodeIfPresent([String].self, forKey: .subtitles) ?? []
        publishedAt = try c.decodeIfPresent(PublishedTime.self, forKey: .publishedAt)
        source = try c.decodeIfPresent(String.self, forKey: .source)
        reporters = try c.decodeIfPresent([String].self, forKey: .reporters) ?? []
        editors = try c.decodeIfPresent([String].self, forKey: .editors) ?? []
        participants = try c.decodeIfPresent([String].self, forKey: .participants) ?? []
        paragraphs = try c.decodeIfPresent([String].self, forKey: .paragraphs) ?? []
        clicks = try c.decodeIfPresent(Int.self, forKey: .clicks)
        language = try c.decodeIfPresent(String.self, forKey: .language)
        duplicateOf = try c.decodeIfPresent(ArticleID.self, forKey: .duplicateOf)
    }

    /// Encodes every field, writing `null` for absent optionals so the JSON shape is stable.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(url, forKey: .url)
        try c.encode(title, forKey: .title)
        try c.encode(subtitles, forKey: .subtitles)
        try c.encode(publishedAt, forKey: .publishedAt)
        try c.encode(source, forKey: .source)
        try c.encode(reporters, forKey: .reporters)
        try c.encode(editors, forKey: .editors)
        try c.encode(participants, forKey: .participants)
        try c.encode(paragraphs, forKey: .paragraphs)
        try c.encode(clicks, forKey: .clicks)
        try c.encode(language, forKey: .language)
        try c.encode(duplicateOf, forKey: .duplicateOf)
    }
}
