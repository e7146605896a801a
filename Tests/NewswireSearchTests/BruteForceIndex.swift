import NewswireModel

@testable import NewswireSearch

/// The test oracle: scans every document for every query. It defines the exact semantics the
/// inverted index must reproduce, and the exactness tests compare the two.
struct BruteForceIndex: Sendable {
    struct Document: Sendable {
        var article: Article
        var body: String
        var units: [AnalyzedUnit]
        var bodyBase: Int32
        /// Normalised title and body scalars (for substring checks).
        var normalizedTitle: [UInt32]
        var normalizedBody: [UInt32]
        var normalizedSource: [UInt32]
        var normalizedPersons: Set<String>
        var titleUnits: Int
        var bodyUnits: Int
    }

    private(set) var documents: [ArticleID: Document] = [:]

    init() {}

    var count: Int { documents.count }

    mutating func upsert(_ article: Article) {
        let body = article.body
        let (units, bodyBase) = Analyzer.document(title: article.title, body: body)
        let titleUnits = units.prefix { $0.position < bodyBase }.count
        documents[article.id] = Document(
            article: article, body: body, units: units, bodyBase: bodyBase,
            normalizedTitle: NormalizedText(article.title, keepOrigins: false).scalars.map(\.value),
            normalizedBody: NormalizedText(body, keepOrigins: false).scalars.map(\.value),
            normalizedSource: Array(normalizeName(article.source ?? "").unicodeScalars.map(\.value)),
            normalizedPersons: Set(personNames(of: article).map(normalizeName)),
            titleUnits: titleUnits, bodyUnits: units.count - titleUnits)
    }

    mutating func remove(id: ArticleID) { documents[id] = nil }

    static func containsSubsequence(_ haystack: [UInt32], _ needle: [UInt32]) -> Bool {
        guard !needle.isEmpty else { return true }
        guard needle.count <= haystack.count else { return false }
        let first = needle[0]
        var i = 0
        let last = haystack.count - needle.count
        while i <= last {
            if haystack[i] == first {
                var k = 1
                while k < needle.count, haystack[i + k] == needle[k] { k += 1 }
                if k == needle.count { return true }
            }
            i += 1
        }
        return false
    }

    /// Occurrence counts of a pattern in (title, body).
    static func counts(_ pattern: TermPattern, in document: Document) -> (title: Int, body: Int) {
        let title = pattern.count(in: document.units, positions: 0..<document.bodyBase)
        let body = pattern.count(in: document.units, positions: document.bodyBase..<Int32.max)
        return (title, body)
    }

    /// Whether `document` satisfies `condition`. CJK-only patterns are checked as plain substrings of the
    /// normalised field text, independently of the analyzer's positions.
    static func holds(_ condition: ParsedQuery.Condition, in document: Document) -> Bool {
        switch condition {
        case .text(let pattern, let scope):
            let cjkOnly =
                pattern.elements.allSatisfy { $0.cjk != 0 }
                && zip(pattern.elements, pattern.elements.dropFirst()).allSatisfy { $1.offset == $0.offset + 1 }
            if cjkOnly {
                let needle = pattern.elements.map(\.cjk)
                if containsSubsequence(document.normalizedTitle, needle) { return true }
                return scope == .titleOrBody && containsSubsequence(document.normalizedBody, needle)
            }
            let (title, body) = counts(pattern, in: document)
            return title > 0 || (scope == .titleOrBody && body > 0)
        case .source(let name):
            return containsSubsequence(document.normalizedSource, name.unicodeScalars.map(\.value))
        case .person(let name):
            return document.normalizedPersons.contains(name)
        case .publishedFrom(let seconds):
            guard let t = document.article.publishedAt else { return false }
            return t.secondsSinceEpoch >= seconds
        case .publishedBefore(let seconds):
            guard let t = document.article.publishedAt else { return false }
            return t.secondsSinceEpoch < seconds
        }
    }

    static func holds(_ query: ParsedQuery, in document: Document) -> Bool {
        for group in query.groups where !group.contains(where: { $0.allSatisfy { holds($0, in: document) } }) {
            return false
        }
        for exclusion in query.exclusions where exclusion.allSatisfy({ holds($0, in: document) }) {
            return false
        }
        return true
    }

    static func passesRequestFilters(_ request: SearchRequest, _ article: Article) -> Bool {
        if !request.sources.isEmpty {
            guard let source = article.source, request.sources.contains(source) else { return false }
        }
        if let from = request.publishedFrom {
            guard let t = article.publishedAt, t.secondsSinceEpoch >= from.secondsSinceEpoch else { return false }
        }
        if let before = request.publishedBefore {
            guard let t = article.publishedAt, t.secondsSinceEpoch < before.secondsSinceEpoch else { return false }
        }
        return true
    }

    /// Ids matching `text` (the exactness oracle).
    func matchingIDs(_ query: ParsedQuery) -> Set<ArticleID> {
        Set(documents.values.filter { Self.holds(query, in: $0) }.map(\.article.id))
    }

    func search(_ request: SearchRequest) throws(QueryError) -> SearchPage {
        let query = try QueryParser.parse(request.text)
        let matches = documents.values.filter {
            Self.passesRequestFilters(request, $0.article) && Self.holds(query, in: $0)
        }
        let patterns = query.positiveTexts
        let n = Double(max(documents.count, 1))
        let averageLength =
            documents.values.reduce(0.0) { $0 + Double($1.titleUnits) * Scoring.titleBoost + Double($1.bodyUnits) }
            / n
        var idfs: [Double] = []
        for (pattern, scope) in patterns {
            let df = documents.values.filter { Self.holds(.text(pattern, scope), in: $0) }.count
            idfs.append(Scoring.idf(documentFrequency: df, documentCount: documents.count))
        }
        var scored: [(Document, Double)] = matches.map { document in
            var score = 0.0
            for (k, (pattern, scope)) in patterns.enumerated() {
                var (title, body) = Self.counts(pattern, in: document)
                if scope == .title { body = 0 }
                score += Scoring.bm25(
                    idf: idfs[k], titleFrequency: title, bodyFrequency: body, titleLength: document.titleUnits,
                    bodyLength: document.bodyUnits, averageLength: averageLength)
            }
            return (document, score)
        }
        scored.sort {
            precedes(
                ($0.1, $0.0.article.publishedAt?.secondsSinceEpoch, $0.0.article.id),
                ($1.1, $1.0.article.publishedAt?.secondsSinceEpoch, $1.0.article.id), sort: request.sort)
        }
        var facets = FacetCounter(fields: request.facets)
        for (document, _) in scored {
            facets.add(
                source: document.article.source, publishedAt: document.article.publishedAt,
                persons: personNames(of: document.article))
        }
        let page = scored.dropFirst(max(0, request.offset)).prefix(max(0, request.limit))
        let snippetPatterns = patterns.filter { $0.1 == .titleOrBody }.map(\.0)
        let hits = page.map { document, score in
            var hit = SearchHit(
                id: document.article.id, title: document.article.title, source: document.article.source,
                publishedAt: document.article.publishedAt, score: score)
            if request.includeSnippets {
                (hit.snippet, hit.highlights) = SnippetBuilder.snippet(
                    body: document.body, patterns: snippetPatterns, length: request.snippetLength)
            }
            return hit
        }
        return SearchPage(total: scored.count, hits: hits, facets: facets.facets(limit: request.facetLimit))
    }

    func related(to id: ArticleID, limit: Int) -> [SearchHit]? {
        guard let document = documents[id] else { return nil }
        let terms = Scoring.distinctiveTerms(units: document.units, documentCount: documents.count) { pattern in
            documents.values.filter { Self.holds(.text(pattern, .titleOrBody), in: $0) }.count
        }
        var results: [(Document, Double)] = []
        let averageLength =
            documents.values.reduce(0.0) { $0 + Double($1.titleUnits) * Scoring.titleBoost + Double($1.bodyUnits) }
            / Double(max(documents.count, 1))
        for other in documents.values where other.article.id != id {
            var score = 0.0
            for (pattern, idf) in terms {
                let (title, body) = Self.counts(pattern, in: other)
                if title + body == 0 { continue }
                score += Scoring.bm25(
                    idf: idf, titleFrequency: title, bodyFrequency: body, titleLength: other.titleUnits,
                    bodyLength: other.bodyUnits, averageLength: averageLength)
            }
            if score > 0 { results.append((other, score)) }
        }
        results.sort {
            precedes(
                ($0.1, $0.0.article.publishedAt?.secondsSinceEpoch, $0.0.article.id),
                ($1.1, $1.0.article.publishedAt?.secondsSinceEpoch, $1.0.article.id), sort: .relevance)
        }
        return results.prefix(max(0, limit)).map { document, score in
            SearchHit(
                id: document.article.id, title: document.article.title, source: document.article.source,
                publishedAt: document.article.publishedAt, score: score)
        }
    }
}

