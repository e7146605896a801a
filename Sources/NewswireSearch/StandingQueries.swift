import Foundation
import NewswireModel

/// Identifies a standing query registered with a ``StandingQueryMatcher`` (unique for the matcher's lifetime;
/// never reused after ``StandingQueryMatcher/unregister(_:)``).
public struct StandingQueryID: RawRepresentable, Sendable, Hashable, Comparable, CustomStringConvertible {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { "q\(rawValue)" }
}

/// A saved query for live matching: text in the SEARCH query language plus the filters SEARCH takes as
/// options (sources, publishedFrom/publishedBefore), and how the hit's snippet is made.
///
/// An article matches a standing query exactly when a SEARCH with ``searchRequest`` over an index holding that
/// article would return it.
public struct StandingQuery: Sendable, Hashable {
    /// Query text (see README "Query language").
    public var text: String
    /// Only articles from one of these sources (exact match); empty means any.
    public var sources: [String]
    /// Only articles published at or after this instant.
    public var publishedFrom: PublishedTime?
    /// Only articles published before this instant.
    public var publishedBefore: PublishedTime?
    /// Whether matches carry a snippet with highlights.
    public var includeSnippets: Bool
    /// Approximate snippet length in characters.
    public var snippetLength: Int

    public init(
        text: String, sources: [String] = [], publishedFrom: PublishedTime? = nil,
        publishedBefore: PublishedTime? = nil, includeSnippets: Bool = true, snippetLength: Int = 120
    ) {
        self.text = text
        self.sources = sources
        self.publishedFrom = publishedFrom
        self.publishedBefore = publishedBefore
        self.includeSnippets = includeSnippets
        self.snippetLength = snippetLength
    }

    /// The standing form of a SEARCH request: its text, filters and snippet options (sort, paging and facets
    /// do not apply to a stream).
    public init(_ request: SearchRequest) {
        self.init(
            text: request.text, sources: request.sources, publishedFrom: request.publishedFrom,
            publishedBefore: request.publishedBefore, includeSnippets: request.includeSnippets,
            snippetLength: request.snippetLength)
    }

    /// The SEARCH request that matches the same articles and returns the same hits (less the score).
    public var searchRequest: SearchRequest {
        SearchRequest(
            text: text, sources: sources, publishedFrom: publishedFrom, publishedBefore: publishedBefore,
            includeSnippets: includeSnippets, snippetLength: snippetLength)
    }
}

/// One committed change, as the store's change feed reports it.
public enum ArticleChange: Sendable, Hashable {
    /// A new article.
    case inserted(Article)
    /// A new version of an existing article. Give the `previous` version when known: a query that matched it
    /// but not the new version then reports ``StandingQueryMatch/Kind-swift.enum/stoppedMatching``.
    case updated(Article, previous: Article?)
    /// An article removed; nothing is left to match (the caller decides who hears of it).
    case deleted(ArticleID)
}

/// A standing query that a change in a batch concerns.
public struct StandingQueryMatch: Sendable, Hashable {
    /// What the change means for the query.
    public enum Kind: UInt8, Sendable, Hashable {
        /// An inserted article matches.
        case inserted
        /// The new version of an updated article matches (whether or not the previous one did).
        case updated
        /// The previous version of an updated article matched and the new version does not.
        case stoppedMatching
    }

    public var query: StandingQueryID
    /// Index of the change in the batch passed to ``StandingQueryMatcher/match(_:)``.
    public var change: Int
    public var kind: Kind
    /// The article as SEARCH returns it: id, title, source, publishedAt, and (for `inserted` and `updated`,
    /// when the query asks for snippets) the snippet with highlights. Score is 0: a stream is not ranked. For
    /// `stoppedMatching` it describes the new version, without snippet.
    public var hit: SearchHit
    /// With ``SnippetTiming/deferred``: the snippet `hit` lacks, to build later (nil when the query asks for none).
    public var pendingSnippet: PendingSnippet?

    public init(query: StandingQueryID, change: Int, kind: Kind, hit: SearchHit) {
        self.query = query
        self.change = change
        self.kind = kind
        self.hit = hit
    }
}

/// When a match's snippet is built.
public enum SnippetTiming: Sendable, Hashable {
    /// While matching: the hit carries it.
    case built
    /// Later, by whoever sends the hit (``StandingQueryMatch/pendingSnippet``): building snippets is most of a
    /// match's cost, and a live-query server spreads it over the threads that send events, for the events it
    /// actually sends.
    case deferred
}

/// A hit's snippet not built yet: the article's body, the query's highlight patterns and the length. ``build()``
/// gives exactly the snippet and highlights SEARCH gives for that article and query. The matches of one batch
/// that need the same snippet (queries highlighting the same patterns at the same length: a popular topic is
/// watched by many) share one pending snippet, built once by whichever caller asks first.
public struct PendingSnippet: Sendable, Hashable {
    /// Everything behind one reference: matches, events and the batch's cache pass pending snippets around, and
    /// with the fields stored inline each copy retained the body, every pattern array and the occurrences.
    private let storage: PendingSnippetStorage

    var body: SnippetBody { storage.body }
    /// The query's highlight patterns, kept only when the body takes the stored-text path (a snippet placed from
    /// the analysis needs their occurrences alone, and reading them was a cache miss per match at 10,000 queries).
    var patterns: SnippetPatterns? { storage.patterns }
    var length: Int { storage.length }
    /// Per pattern, where it occurs in the body, from the article's analysis. In a body without combining marks or
    /// astral characters (nearly all news text; ``SnippetBody/expansions``), these are the occurrences the snippet
    /// is placed over, so the body is not read again to find them; otherwise they tell the stored-text path what
    /// the index's postings tell a SEARCH snippet (``SnippetBuilder/snippet(utf16:patterns:scratch:length:sameBody:mostDistinctPatterns:bodyMayHoldPatterns:)``),
    /// so that a hit whose patterns never meet within one window is not read to the end of its body to prove it.
    var bodyOccurrences: [[BodyOccurrence]] { storage.bodyOccurrences }

    /// `patternsNumber` identifies the pattern list among the registry's
    /// (``CompiledStandingQuery/snippetPatternNumber``); `patterns` may be nil when the body is placed from the
    /// analysis (``SnippetBody/expansions`` not nil).
    init(
        body: SnippetBody, patterns: SnippetPatterns?, patternCount: Int, patternsNumber: Int32, length: Int,
        bodyOccurrences: [[BodyOccurrence]]
    ) {
        precondition(patterns != nil || body.expansions != nil, "a body read again needs its patterns")
        storage = PendingSnippetStorage(
            body: body, patterns: patterns, patternCount: patternCount, patternsNumber: patternsNumber, length: length,
            bodyOccurrences: bodyOccurrences)
    }

    /// The same for every match sharing this pending snippet (to build each shared snippet once).
    public var sharingKey: ObjectIdentifier { ObjectIdentifier(storage) }

    /// Builds the snippet (the index's stored-text path, over the body's UTF-16 form), or returns it when a
    /// caller sharing this pending snippet already did.
    public func build() -> (snippet: String, highlights: [HighlightRange]) {
        var scratch = SnippetScratch()
        return build(scratch: &scratch, sameBody: false)
    }

    private func build(scratch: inout SnippetScratch, sameBody: Bool) -> (snippet: String, highlights: [HighlightRange]) {
        if let done = storage.built { return done }
        let made = body.units.withUnsafeBufferPointer { units in
            // Placed from the analysis as the hub places the snippets it writes straight into payloads; otherwise
            // the body is read again.
            if isPlacedFromAnalysis {
                var placement = SnippetPlacementScratch()
                let window = placeWindow(in: units, &placement)
                return (
                    UTF16Text.string(UnsafeBufferPointer(rebasing: units[window]), lineBreaksAsSpaces: true),
                    placement.highlights
                )
            }
            return SnippetBuilder.snippet(
                utf16: units, patterns: patterns!, scratch: &scratch, length: length, sameBody: sameBody,
                mostDistinctPatterns: { span in Self.mostDistinctPatterns(bodyOccurrences, span: span) },
                bodyMayHoldPatterns: { bodyOccurrences.contains { !$0.isEmpty } })
        }
        storage.built = made
        return made
    }

    /// Whether ``withPlacedText(_:_:)`` places this snippet (its body maps the analysis's offsets to code units);
    /// otherwise the body is read again, by ``build()``.
    public var isPlacedFromAnalysis: Bool { body.expansions != nil }

    /// At most how many bytes the snippet's UTF-8 takes (three per code unit of its longest window).
    public var maximumUTF8Count: Int { 3 * min(max(length, 1), body.units.count) }

    /// Places the snippet as ``build()`` does and hands `use` its text, a window of the body not yet made into a
    /// String, and its highlights: an encoder writes the text straight into a payload, exactly the bytes of the
    /// String ``build()`` makes (a String per event, and its copy into the payload, showed in the live-query
    /// profile at 10,000 watchers). `scratch` is reused from one call to the next. False, and `use` not called,
    /// when the snippet is not ``isPlacedFromAnalysis``.
    public func withPlacedText(
        _ scratch: inout SnippetPlacementScratch, _ use: (SnippetTextUnits, [HighlightRange]) -> Void
    ) -> Bool {
        guard isPlacedFromAnalysis else { return false }
        body.units.withUnsafeBufferPointer { units in
            let text = UnsafeBufferPointer(rebasing: units[placeWindow(in: units, &scratch)])
            use(SnippetTextUnits(units: text, utf8Count: UTF16Text.utf8Count(text)), scratch.highlights)
        }
        return true
    }

    /// The window of `units` (the body's) that a snippet placed from the analysis shows, its highlights left in
    /// `scratch`: the one placement behind ``withPlacedText(_:_:)`` and ``build()``.
    private func placeWindow(in units: UnsafeBufferPointer<UInt16>, _ scratch: inout SnippetPlacementScratch) -> Range<Int> {
        Self.occurrences(bodyOccurrences, into: &scratch.occurrences)
        if let expansions = body.expansions, !expansions.isEmpty { expansions.mapToSource(&scratch.occurrences) }
        let window = SnippetBuilder.place(
            UTF16BMPText(units: units), occurrences: scratch.occurrences, patternCount: storage.patternCount,
            length: length
        ).0
        SnippetBuilder.highlights(scratch.occurrences, in: window, into: &scratch.highlights)
        return window
    }

    /// The occurrences as the reference path finds them, in a body whose normalised offsets are its code unit
    /// offsets: by start, then by pattern, at most ``SnippetBuilder/maxOccurrences`` (each pattern's list is in
    /// text order already; merged a head at a time, as a query has few patterns).
    static func occurrences(_ byPattern: [[BodyOccurrence]]) -> [SnippetBuilder.Occurrence] {
        var merged: [SnippetBuilder.Occurrence] = []
        occurrences(byPattern, into: &merged)
        return merged
    }

    /// The same into `merged` (emptied first, its storage kept).
    static func occurrences(_ byPattern: [[BodyOccurrence]], into merged: inout [SnippetBuilder.Occurrence]) {
        merged.removeAll(keepingCapacity: true)
        var first = -1
        var presentCount = 0
        var total = 0
        for p in byPattern.indices where !byPattern[p].isEmpty {
            if first < 0 { first = p }
            presentCount += 1
            total += byPattern[p].count
        }
        guard first >= 0 else { return }
        merged.reserveCapacity(min(total, SnippetBuilder.maxOccurrences))
        if presentCount == 1 {
            for occurrence in byPattern[first].prefix(SnippetBuilder.maxOccurrences) {
                merged.append((Int(occurrence.start)..<Int(occurrence.end), first))
            }
            return
        }
        // Each pattern's next occurrence, on the stack: a query has a few patterns.
        withUnsafeTemporaryAllocation(of: Int.self, capacity: byPattern.count) { next in
            next.initialize(repeating: 0)
            while merged.count < SnippetBuilder.maxOccurrences {
                var best = -1
                var bestStart = Int32.max
                for p in byPattern.indices where next[p] < byPattern[p].count {
                    let start = byPattern[p][next[p]].start
                    if start < bestStart {  // strictly: on a tie the lower pattern index goes first
                        best = p
                        bestStart = start
                    }
                }
                guard best >= 0 else { break }
                let occurrence = byPattern[best][next[best]]
                merged.append((Int(occurrence.start)..<Int(occurrence.end), best))
                next[best] += 1
            }
        }
    }

    /// The most distinct patterns that start within `span` positions of one another (`occurrences[p]`: pattern
    /// `p`'s occurrences, in text order), as ``Segment/mostDistinctPatterns(in:terms:span:)`` counts them from
    /// postings.
    static func mostDistinctPatterns(_ occurrences: [[BodyOccurrence]], span: Int) -> Int {
        let present = occurrences.indices.filter { !occurrences[$0].isEmpty }
        if present.count <= 1 { return present.count }
        var merged: [(position: Int32, pattern: Int)] = []
        for p in present { merged += occurrences[p].map { ($0.position, p) } }
        return mostDistinctPatternsWithin(span: span, starts: &merged, patternCount: occurrences.count)
    }

    /// The same for the pending snippets of one article version (see ``buildAll(_:)``).
    public var bodyKey: ObjectIdentifier { ObjectIdentifier(body) }

    /// Builds each of `snippets` not built yet, as ``build()`` would, normalising and analysing each body once
    /// for the consecutive snippets of that body (an article matched by several queries highlighting different
    /// patterns): give them grouped by ``bodyKey``.
    /// An array, not any sequence: the hub's calls come from another module, where a generic sequence was not
    /// specialised and its iterator's metadata was looked up at run time for every element.
    public static func buildAll(_ snippets: [PendingSnippet]) {
        var scratch = SnippetScratch()
        var previous: SnippetBody?
        for snippet in snippets {
            if snippet.storage.built != nil { continue }
            _ = snippet.build(scratch: &scratch, sameBody: previous === snippet.body)
            previous = snippet.body
        }
    }

    /// The same body (one batch's analysis of an article), length and pattern list of the same registry.
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.body === rhs.body && lhs.length == rhs.length && lhs.storage.patternsNumber == rhs.storage.patternsNumber
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(ObjectIdentifier(body))
        hasher.combine(length)
        hasher.combine(storage.patternsNumber)
    }
}

/// What ``PendingSnippet/withPlacedText(_:_:)`` keeps from one call to the next (its arrays' storage).
public struct SnippetPlacementScratch {
    var occurrences: [SnippetBuilder.Occurrence] = []
    var highlights: [HighlightRange] = []
    public init() {}
}

/// A placed snippet's text: a window of an article body's UTF-16 code units, valid only inside
/// ``PendingSnippet/withPlacedText(_:_:)``.
public struct SnippetTextUnits {
    let units: UnsafeBufferPointer<UInt16>
    /// How many bytes its UTF-8 takes.
    public let utf8Count: Int

    /// Writes the UTF-8 bytes of the String ``PendingSnippet/build()`` makes (line breaks as spaces) at the start
    /// of `out`, which has room for ``utf8Count`` of them.
    public func writeUTF8(to out: UnsafeMutableRawBufferPointer) {
        precondition(out.count >= utf8Count, "room for the snippet's UTF-8")
        guard utf8Count > 0 else { return }
        _ = UTF16Text.writeUTF8(
            units, to: out.baseAddress!.assumingMemoryBound(to: UInt8.self), lineBreaksAsSpaces: true)
    }
}

/// A pending snippet's fields, and its result once built (shared by the matches that need it).
private final class PendingSnippetStorage: @unchecked Sendable {
    let body: SnippetBody
    let patterns: SnippetPatterns?
    let patternCount: Int
    let patternsNumber: Int32
    let length: Int
    let bodyOccurrences: [[BodyOccurrence]]
    /// Set once, under `lock`, by the first caller that builds it.
    private let lock = NSLock()
    private var result: (String, [HighlightRange])?

    init(
        body: SnippetBody, patterns: SnippetPatterns?, patternCount: Int, patternsNumber: Int32, length: Int,
        bodyOccurrences: [[BodyOccurrence]]
    ) {
        self.body = body
        self.patterns = patterns
        self.patternCount = patternCount
        self.patternsNumber = patternsNumber
        self.length = length
        self.bodyOccurrences = bodyOccurrences
    }

    var built: (String, [HighlightRange])? {
        get { lock.withLock { result } }
        set { lock.withLock { result = newValue } }
    }
}

/// An article body as UTF-16, shared by the pending snippets of every query the article matched.
final class SnippetBody: Sendable {
    let units: [UInt16]
    /// The body's scalars that normalise to several (`…` to `...`, `℃` to `°c`), when every other code unit
    /// normalises to exactly one scalar: then the analysis's normalised offsets map to code unit offsets through
    /// them (none: the offsets are the code unit offsets), and a snippet is placed from the analysis alone. Nil
    /// when the body has a combining mark or a surrogate (the stored-text path reads it again). Bodies with an
    /// ellipsis or a degree sign took the stored-text path until these were mapped: 3% of the corpus's bodies,
    /// nearly half of the hub's snippet time.
    let expansions: NormalisedExpansions?

    /// Whether every code unit normalises to exactly one scalar.
    var normalisesOneToOne: Bool { expansions?.isEmpty == true }

    init(_ body: String) {
        // Scalar by scalar: `Array(body.utf16)` first counts the UTF-16 view of a native (UTF-8) string, which
        // builds its breadcrumbs index, and that showed in the live-query profile (one body per matched article).
        // The length comes from the UTF-8 bytes, and the normalisation table is read in the same pass that writes
        // the units.
        let count = UTF16Text.utf16Count(of: body)
        var mappable = true
        var expanding: [(source: Int32, length: Int32)] = []
        units = Normalizer.withBMPTable { table in
            let exceptions = Normalizer.oneToOneExceptionMask
            return [UInt16](unsafeUninitializedCapacity: count) { buffer, initialized in
                var i = 0
                for scalar in body.unicodeScalars {
                    let value = scalar.value
                    if value < 0x10000 {
                        buffer[i] = UInt16(value)
                        let entry = table[Int(value)]
                        if entry & exceptions != 0 {
                            if let expansion = Normalizer.expansion(of: entry) {
                                expanding.append((Int32(i), Int32(expansion.count)))
                            } else {
                                mappable = false
                            }
                        }
                        i += 1
                    } else {
                        buffer[i] = UInt16(0xD800 + ((value - 0x10000) >> 10))
                        buffer[i + 1] = UInt16(0xDC00 + ((value - 0x10000) & 0x3FF))
                        mappable = false
                        i += 2
                    }
                }
                initialized = i
            }
        }
        expansions = mappable ? NormalisedExpansions(expanding) : nil
    }
}

/// The scalars of a BMP text without combining marks that normalise to several scalars, in text order: the map
/// from normalised offsets back to code unit offsets, as ``NormalizedText/sourceRange(from:to:)`` maps them.
struct NormalisedExpansions: Sendable {
    /// Per expanding scalar: its code unit offset, and the normalised offset of its first scalar.
    private let source: [Int32]
    private let normalisedStart: [Int32]
    /// How many normalised scalars each gives.
    private let length: [Int32]

    init(_ expanding: [(source: Int32, length: Int32)]) {
        source = expanding.map(\.source)
        length = expanding.map(\.length)
        var extra: Int32 = 0
        normalisedStart = expanding.map { expansion in
            defer { extra += expansion.length - 1 }
            return expansion.source + extra
        }
    }

    var isEmpty: Bool { source.isEmpty }

    /// The code unit offset of the scalar that normalised scalar `offset` came from (the text's length at its
    /// normalised end).
    func origin(of offset: Int) -> Int {
        // The last expanding scalar starting at or before `offset`.
        var low = 0
        var high = normalisedStart.count
        while low < high {
            let mid = (low + high) / 2
            if Int(normalisedStart[mid]) <= offset { low = mid + 1 } else { high = mid }
        }
        guard low > 0 else { return offset }
        let k = low - 1
        let start = Int(normalisedStart[k])
        if offset < start + Int(length[k]) { return Int(source[k]) }
        return Int(source[k]) + 1 + (offset - start - Int(length[k]))
    }

    /// Maps occurrences found in normalised offsets to code unit ranges, as the reference path maps its own.
    func mapToSource(_ occurrences: inout [SnippetBuilder.Occurrence]) {
        for k in occurrences.indices {
            let range = occurrences[k].range
            let start = origin(of: range.lowerBound)
            let end = origin(of: range.upperBound)
            occurrences[k].range = start..<max(end, start + 1)
        }
    }
}

/// What a batch of changes means for the registered standing queries.
public struct StandingQueryMatches: Sendable, Hashable {
    /// Every (query, change) pair to report, ordered by change (commit order) then query id.
    public var matches: [StandingQueryMatch]
    /// Indexes of the batch's deletions, in order: there is nothing to match; the caller decides delivery (for
    /// example to every watcher that was sent the article).
    public var deletions: [Int]
    /// Distinct queries whose conditions were evaluated against at least one article of the batch (candidates
    /// plus the always-checked ones): the percolator's work, for STATS.
    public var evaluatedQueries: Int
    /// (query, article version) pairs evaluated.
    public var evaluatedPairs: Int

    public init(matches: [StandingQueryMatch], deletions: [Int], evaluatedQueries: Int, evaluatedPairs: Int) {
        self.matches = matches
        self.deletions = deletions
        self.evaluatedQueries = evaluatedQueries
        self.evaluatedPairs = evaluatedPairs
    }
}

/// Sizes of a matcher's registry, for STATS.
public struct StandingQueryStatistics: Sendable, Hashable {
    /// Registered queries.
    public var queries: Int
    /// Queries with no required term to index them by (pure filters, browse-all), evaluated for every article.
    public var alwaysChecked: Int
    /// Distinct terms the other queries are indexed under.
    public var indexedTerms: Int
    /// Article versions matched so far (they feed the term-rarity estimate).
    public var articlesSeen: Int
}

/// Matches committed changes against standing queries, percolator style: queries are indexed by one rare
/// required term per query (or one per alternative of an OR group), each batch's articles are analysed once
/// into their term streams, and only queries whose index term occurs in an article are evaluated on it.
/// Queries without a required term (pure filters, browse-all) are evaluated on every article.
///
/// A query matches an article exactly when SEARCH would return it: the same parser (and the same
/// ``QueryError`` for a bad query), the same analyzer, the same phrase and field rules, the same filters.
///
/// Internally synchronized; `match` is meant to be called by one committer, in commit order.
public final class StandingQueryMatcher: @unchecked Sendable {
    private let lock = ReadWriteLock()
    private var registry: StandingQueryRegistry

    /// Creates a matcher with no queries.
    public init() { registry = StandingQueryRegistry() }

    /// A matcher whose term statistics count every article only until `fullyCountedArticles` were seen (tests
    /// reach the sampled counting with a few articles).
    init(fullyCountedArticles: Int) { registry = StandingQueryRegistry(fullyCountedArticles: fullyCountedArticles) }

    /// Registers `query`; throws the ``QueryError`` SEARCH gives for the same text.
    public func register(_ query: StandingQuery) throws(QueryError) -> StandingQueryID {
        let compiled = try CompiledStandingQuery(query)
        return lock.withWriteLock { registry.add(compiled) }
    }

    /// Removes a query; returns false when `id` is not registered.
    @discardableResult
    public func unregister(_ id: StandingQueryID) -> Bool {
        lock.withWriteLock { registry.remove(id) }
    }

    /// The registered query with `id`.
    public func query(_ id: StandingQueryID) -> StandingQuery? {
        lock.withReadLock { registry.query(id) }
    }

    /// Number of registered queries.
    public var count: Int { lock.withReadLock { registry.count } }

    /// Registry sizes.
    public var statistics: StandingQueryStatistics { lock.withReadLock { registry.statistics } }

    /// Matches a committed batch (in commit order) against every registered query.
    ///
    /// Semantics: an inserted article is reported to each query it matches (`inserted`); an updated article to
    /// each query its new version matches (`updated`), and, when the previous version is given, to each query
    /// that matched the previous version but not the new one (`stoppedMatching`); a deletion is listed in
    /// ``StandingQueryMatches/deletions`` only. Each change is matched on its own, so an id changed twice in
    /// one batch is reported once per change.
    ///
    /// `snippets` says whether the hits carry their snippets (``SnippetTiming/built``) or each match says how to
    /// build its own (``SnippetTiming/deferred``).
    public func match(_ changes: [ArticleChange], snippets: SnippetTiming = .built) -> StandingQueryMatches {
        match(changes, exhaustive: false, snippets: snippets)
    }

    /// ``match(_:snippets:)`` with, per change, the analysis of its current article version when the caller has
    /// it (``PreparedSegment/analyses``: the index analysed the same text): the article is not analysed again.
    /// An analysis that is not of that change's article is ignored, so the matches are the same either way.
    public func match(
        _ changes: [ArticleChange], analyses: [ArticleAnalysis?], snippets: SnippetTiming = .built
    ) -> StandingQueryMatches {
        match(changes, analyses: analyses, exhaustive: false, snippets: snippets)
    }

    /// `exhaustive` evaluates every query on every article, skipping candidate selection (the tests' check
    /// that selection never drops a match).
    func match(
        _ changes: [ArticleChange], analyses: [ArticleAnalysis?]? = nil, exhaustive: Bool,
        snippets: SnippetTiming = .built
    ) -> StandingQueryMatches {
        let batch = MatchBatch(changes, analyses: analyses)  // analysis needs no lock
        return lock.withWriteLock { registry.match(batch, exhaustive: exhaustive, snippets: snippets) }
    }
}
