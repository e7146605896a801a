import NewswireModel

// Whole-article facet counting and result order (what the reference search in the tests ranks and counts
// with), and the person names an article contributes to the person facet and filter.

/// Facet counting over a whole result set.
struct FacetCounter {
    private var counts: [FacetField: [String: Int]] = [:]
    let fields: [FacetField]

    init(fields: [FacetField]) {
        self.fields = Array(Set(fields)).sorted()
        for field in self.fields { counts[field] = [:] }
    }

    var isEmpty: Bool { fields.isEmpty }

    mutating func add(source: String?, publishedAt: PublishedTime?, persons: [String]) {
        for field in fields {
            switch field {
            case .source:
                if let source { counts[field]![source, default: 0] += 1 }
            case .month:
                if let publishedAt { counts[field]![publishedAt.yearMonth, default: 0] += 1 }
            case .person:
                for person in persons { counts[field]![person, default: 0] += 1 }
            }
        }
    }

    /// Facets with at most `limit` values each, most frequent first (ties by value).
    func facets(limit: Int) -> [Facet] {
        fields.map { field in
            let sorted = counts[field]!.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            return Facet(
                field: field, counts: sorted.prefix(max(0, limit)).map { FacetCount(value: $0.key, count: $0.value) })
        }
    }
}

/// Deduplicated participants then reporters, as given (the `person` facet and filter).
func personNames(of article: Article) -> [String] {
    var seen = Set<String>()
    var result: [String] = []
    for name in article.participants + article.reporters where !name.isEmpty && seen.insert(name).inserted {
        result.append(name)
    }
    return result
}

/// Total order for result lists: the requested sort, then newer first, then id.
@inline(__always)
func precedes(
    _ a: (score: Double, time: Int64?, id: ArticleID), _ b: (score: Double, time: Int64?, id: ArticleID),
    sort: SearchSort
) -> Bool {
    switch sort {
    case .relevance:
        if a.score != b.score { return a.score > b.score }
        if a.time != b.time { return (a.time ?? .min) > (b.time ?? .min) }
    case .newest:
        if a.time != b.time { return (a.time ?? .min) > (b.time ?? .min) }
    case .oldest:
        if a.time != b.time { return (a.time ?? .max) < (b.time ?? .max) }
    }
    return a.id < b.id
}
