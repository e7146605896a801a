/// How search results are ordered.
public enum SearchSort: UInt8, Sendable, Hashable, Codable, CaseIterable {
    /// Best BM25 score first (ties: newer first, then id).
    case relevance = 0
    /// Newest first.
    case newest = 1
    /// Oldest first.
    case oldest = 2
}

/// A field that results can be counted by.
public enum FacetField: UInt8, Sendable, Hashable, Codable, CaseIterable, Comparable {
    /// The outlet.
    case source = 0
    /// `YYYY-MM` of publication.
    case month = 1
    /// Participants and reporters.
    case person = 2

    public static func < (lhs: FacetField, rhs: FacetField) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A search request: the query text in Newswire's query language plus structured options.
///
/// Filters given here are ANDed with any written in `text` (`source:`, `after:`, `before:`).
public struct SearchRequest: Sendable, Hashable, Codable {
    /// Query text (see README "Query language").
    public var text: String
    /// Only articles from one of these sources (exact match); empty means any.
    public var sources: [String]
    /// Only articles published at or after this instant.
    public var publishedFrom: PublishedTime?
    /// Only articles published before this instant.
    public var publishedBefore: PublishedTime?
    /// Result order.
    public var sort: SearchSort
    /// Number of hits to skip.
    public var offset: Int
    /// Maximum number of hits to return.
    public var limit: Int
    /// Whether to compute snippets with highlights.
    public var includeSnippets: Bool
    /// Approximate snippet length in characters.
    public var snippetLength: Int
    /// Fields to count the whole result set by.
    public var facets: [FacetField]
    /// Maximum number of values per facet.
    public var facetLimit: Int
    /// Cluster mode: the smallest change-feed position the answer must reflect (PROTOCOL.md §5.18); nil: any. Not
    /// a search option: the node waits until its index holds that position, then searches without it.
    public var minPosition: UInt64? = nil

    public init(
        text: String, sources: [String] = [], publishedFrom: PublishedTime? = nil,
        publishedBefore: PublishedTime? = nil, sort: SearchSort = .relevance, offset: Int = 0, limit: Int = 10,
        includeSnippets: Bool = true, snippetLength: Int = 120, facets: [FacetField] = [], facetLimit: Int = 10
    ) {
        self.text = text
        self.sources = sources
        self.publishedFrom = publishedFrom
        self.publishedBefore = publishedBefore
        self.sort = sort
        self.offset = offset
        self.limit = limit
        self.includeSnippets = includeSnippets
        self.snippetLength = snippetLength
        self.facets = facets
        self.facetLimit = facetLimit
    }
}

/// A half-open range `[start, end)` of Unicode scalar offsets into a snippet (or title).
///
/// Scalar offsets (code points) are what Python's `str` and Swift's `String.unicodeScalars` index by.
public struct HighlightRange: Sendable, Hashable, Codable {
    public var start: Int
    public var end: Int
    public init(start: Int, end: Int) {
        self.start = start
        self.end = end
    }
}

/// One search hit.
public struct SearchHit: Sendable, Hashable, Codable {
    public var id: ArticleID
    public var title: String
    public var source: String?
    public var publishedAt: PublishedTime?
    /// BM25 score (0 when the results are sorted by date: the score did not order them).
    public var score: Double
    /// Body text around the best match (empty when snippets were not requested).
    public var snippet: String
    /// Where the matched terms are in `snippet`.
    public var highlights: [HighlightRange]

    public init(
        id: ArticleID, title: String, source: String?, publishedAt: PublishedTime?, score: Double,
        snippet: String = "", highlights: [HighlightRange] = []
    ) {
        self.id = id
        self.title = title
        self.source = source
        self.publishedAt = publishedAt
        self.score = score
        self.snippet = snippet
        self.highlights = highlights
    }
}

/// One value of a facet and how many results carry it.
public struct FacetCount: Sendable, Hashable, Codable {
    public var value: String
    public var count: Int
    public init(value: String, count: Int) {
        self.value = value
        self.count = count
    }
}

/// The counts for one facet field, most frequent first.
public struct Facet: Sendable, Hashable, Codable {
    public var field: FacetField
    public var counts: [FacetCount]
    public init(field: FacetField, counts: [FacetCount]) {
        self.field = field
        self.counts = counts
    }
}

/// A page of search results.
public struct SearchPage: Sendable, Hashable, Codable {
    /// Exact number of matching articles.
    public var total: Int
    /// The requested slice of hits.
    public var hits: [SearchHit]
    /// Requested facets over the whole result set.
    public var facets: [Facet]
    /// Time the engine spent, in microseconds.
    public var tookMicros: Int

    public init(total: Int, hits: [SearchHit], facets: [Facet] = [], tookMicros: Int = 0) {
        self.total = total
        self.hits = hits
        self.facets = facets
        self.tookMicros = tookMicros
    }
}
