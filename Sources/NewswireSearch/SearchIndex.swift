import Foundation
import NewswireModel

/// The full-text index: exact Chinese and English search with BM25 ranking, snippets, facets and related
/// articles.
///
/// Internally synchronized: any number of concurrent readers (`search`, `related`, `contains`, `write`) and one
/// writer at a time (`upsert`, `remove`). Writes land in small immutable segments that are merged in the
/// background of the writer (readers keep using the old segments until the merged one is swapped in).
public final class SearchIndex: @unchecked Sendable {
    /// Builds the analyzer's normalisation table now: every BMP scalar through Foundation's NFKC, about 0.2 s of
    /// CPU that the first query or write to analyse text would otherwise wait for (a server restarted from its
    /// snapshot analyses nothing until its first SEARCH). Idempotent and thread-safe; a search that starts while it
    /// runs waits for the same table instead of building another.
    public static func prepareAnalyzer() {
        Normalizer.prepare()
    }

    fileprivate let lock = ReadWriteLock()
    /// Serialises writers, so merges can be built outside `lock`.
    private let writer = NSLock()
    /// Serialises ``mergeSegmentsAlongsideWriters()`` calls (they do not hold `writer` while merging).
    private let merging = NSLock()
    fileprivate var state = IndexState() {
        // Any change, however small, makes a search prepared before it plan again (see ``run(_:)``).
        didSet { generation &+= 1 }
    }
    private var generation = 0

    /// Creates an empty index.
    public init() {}

    /// Number of indexed articles.
    public var count: Int { lock.withReadLock { state.liveCount } }

    /// Inserts `article`, replacing any article with the same id.
    public func upsert(_ article: Article) {
        upsert(contentsOf: [article])
    }

    /// Inserts or replaces many articles at once (the fast path for building from a store). When the batch holds
    /// the same id more than once, the last copy wins.
    public func upsert(contentsOf articles: [Article]) {
        guard !articles.isEmpty else { return }
        writer.lock()
        defer { writer.unlock() }
        var last: [ArticleID: Int] = [:]
        for (i, article) in articles.enumerated() { last[article.id] = i }
        let prepared = lock.withWriteLock {
            articles.indices.filter { last[articles[$0].id] == $0 }.map { state.prepare(articles[$0]) }
        }
        let segment = Segment.build(prepared)
        lock.withWriteLock { state.install(segment) }
        mergeWhileNeeded()
    }

    /// Analyses and lays out `articles` as a segment without installing it, so the expensive part of indexing can
    /// run outside the caller's critical section and concurrently with other preparations. When the batch holds
    /// the same id more than once, the last copy wins. Install it with ``install(_:)``, or drop it.
    public func prepare(contentsOf articles: [Article]) -> PreparedSegment {
        prepare(contentsOf: articles, keepingAnalyses: false)
    }

    /// ``prepare(contentsOf:)``, keeping with `keepingAnalyses` each article's analysis
    /// (``PreparedSegment/analyses``) for a live-query matcher.
    public func prepare(contentsOf articles: [Article], keepingAnalyses: Bool) -> PreparedSegment {
        var last: [ArticleID: Int] = [:]
        for (i, article) in articles.enumerated() { last[article.id] = i }
        let kept = articles.indices.filter { last[articles[$0].id] == $0 }
        // Interning takes the lock briefly; an interned value left unused (a dropped preparation) is never shown:
        // facets list only values with documents.
        let prepared = lock.withWriteLock { kept.map { state.prepare(articles[$0]) } }
        let (segment, analyses) = Segment.build(prepared, keepingAnalyses: keepingAnalyses)
        var byArticle: [ArticleAnalysis?]?
        if let analyses {
            var aligned = [ArticleAnalysis?](repeating: nil, count: articles.count)
            for (k, i) in kept.enumerated() { aligned[i] = analyses[k] }
            byArticle = aligned
        }
        return PreparedSegment(segment: segment, analyses: byArticle)
    }

    /// A segment of `articles` (distinct ids) that takes its terms and postings from `analysis` instead of
    /// analysing the text: what ``prepare(contentsOf:)`` returns for the same articles, for a fraction of the work.
    /// The caller must have established that `articles` are the documents the analysis was made from, in order
    /// (``ShippedAnalysis/checks``); the text, ids and attributes come from `articles`. Nil when the counts differ
    /// or an id repeats.
    public func prepare(contentsOf articles: [Article], analysis: ShippedAnalysis) -> PreparedSegment? {
        guard articles.count == analysis.count, Set(articles.map(\.id)).count == articles.count else { return nil }
        let documents = lock.withWriteLock { articles.map { state.prepare($0) } }
        return PreparedSegment(segment: Segment(documents: documents, analysis: analysis))
    }

    /// Installs a segment from ``prepare(contentsOf:)``: its articles replace any indexed copies, and searches see
    /// them once this returns. Unlike ``upsert(contentsOf:)`` it does not merge segments; call
    /// ``mergeSegmentsIfNeeded()`` afterwards (merging changes no result, so it may run after the write is
    /// acknowledged).
    public func install(_ prepared: PreparedSegment) {
        guard prepared.segment.count > 0 else { return }
        writer.lock()
        defer { writer.unlock() }
        lock.withWriteLock { state.install(prepared.segment) }
    }

    /// Merges segments while the merge policy asks for it (what ``upsert(contentsOf:)`` does after each write).
    public func mergeSegmentsIfNeeded() {
        writer.lock()
        defer { writer.unlock() }
        mergeWhileNeeded()
    }

    /// Whether the merge policy asks for a merge now (what ``mergeSegmentsAlongsideWriters()`` would start with).
    public var hasMergeDue: Bool {
        lock.withReadLock { state.mergeCandidates() != nil }
    }

    /// Like ``mergeSegmentsIfNeeded()``, but writers do not wait for a merge: each merge is built from the
    /// segments and deletion bits as they were when it started while ``install(_:)`` and ``remove(id:)`` go on,
    /// and whatever they replaced or removed meanwhile is marked deleted in the merged segment when it is swapped
    /// in. For a caller that merges on one thread while another installs segments (a cluster node's follower
    /// makes each page of the feed searchable without waiting for a merge).
    public func mergeSegmentsAlongsideWriters() {
        mergeSegmentsAlongsideWriters(whileMerging: {})
    }

    /// ``mergeSegmentsAlongsideWriters()`` calling `whileMerging` after each merge is built and before it is
    /// swapped in, where writers may change the index (tests force that interleaving with it).
    func mergeSegmentsAlongsideWriters(whileMerging: () -> Void) {
        merging.lock()
        defer { merging.unlock() }
        while mergeAlongsideWriters(of: { $0.mergeCandidates() }, whileMerging: whileMerging) {}
    }

    /// Builds one merge of the segments `candidates` picks from the state as it is now, outside the lock, and swaps
    /// it in (what writers changed meanwhile is marked deleted in it); false when `candidates` picks none. The
    /// caller holds `merging`.
    private func mergeAlongsideWriters(
        of candidates: (IndexState) -> [Segment]?, whileMerging: () -> Void = {}
    ) -> Bool {
        guard let (victims, deleted) = lock.withReadLock({ candidates(state).map { ($0, $0.map(\.deleted)) } })
        else { return false }
        let merged = Segment.merge(victims, deleted: deleted)
        whileMerging()
        writer.lock()
        lock.withWriteLock { state.replace(victims, with: merged) }
        writer.unlock()
        return true
    }

    /// Folds the segments a burst of writes left behind into at most two (``IndexState/compactionCandidates()``),
    /// built alongside writers as ``mergeSegmentsAlongsideWriters()`` builds its merges. For when writes have gone
    /// quiet: a search costs less on fewer segments (the search benchmark's median query took 30 µs on the 11
    /// segments one ingest over the protocol left, 15–21 µs on one). Changes no result. Returns whether it merged.
    @discardableResult
    public func compactSegments() -> Bool { compactSegments(whileMerging: {}) }

    /// ``compactSegments()`` calling `whileMerging` after the compaction's merge is built and before it is swapped
    /// in, where writers may change the index (tests force that interleaving with it).
    func compactSegments(whileMerging: () -> Void) -> Bool {
        merging.lock()
        defer { merging.unlock() }
        var merged = false
        while mergeAlongsideWriters(of: { $0.mergeCandidates() }) { merged = true }
        if mergeAlongsideWriters(of: { $0.compactionCandidates() }, whileMerging: whileMerging) { merged = true }
        return merged
    }

    /// Removes the article with `id`, if present.
    public func remove(id: ArticleID) {
        writer.lock()
        defer { writer.unlock() }
        lock.withWriteLock {
            state.delete(id)
            state.segments.removeAll { $0.liveCount == 0 }
        }
        mergeWhileNeeded()
    }

    /// Whether an article with `id` is indexed.
    public func contains(id: ArticleID) -> Bool {
        lock.withReadLock { state.locations.location(of: id) != nil }
    }

    /// The body the index holds for `id` (the article's paragraphs joined by line breaks, as indexed), or nil
    /// when `id` is not indexed. The near-duplicate check compares a new article with this copy instead of reading
    /// the record from the store.
    public func storedBody(of id: ArticleID) -> String? {
        lock.withReadLock { state.locations.location(of: id).map { $0.segment.body(Int($0.doc)) } }
    }

    /// Runs a query (see README "Query language"); throws ``QueryError`` for a malformed query.
    ///
    /// For a query without OR or exclusions, the matching set is exactly what a scan of the normalised title and
    /// body finds: CJK text as an exact substring of one field, words as whole words, all terms ANDed.
    public func search(_ request: SearchRequest) throws(QueryError) -> SearchPage {
        let started = DispatchTime.now().uptimeNanoseconds
        let query = try QueryParser.parse(request.text)
        var page = lock.withReadLock { Executor(state: state, request: request, query: query).run() }
        page.tookMicros = Int((DispatchTime.now().uptimeNanoseconds - started) / 1000)
        return page
    }

    /// Parses and plans a search (``search(_:)`` in two steps, so a caller can look at its estimated work and
    /// choose where to run it); throws ``QueryError`` for a malformed query. Run it with ``run(_:)``.
    public func prepare(_ request: SearchRequest) throws(QueryError) -> PreparedSearch {
        let started = DispatchTime.now().uptimeNanoseconds
        let query = try QueryParser.parse(request.text)
        return lock.withReadLock {
            // The plan outlives the lock, so it holds the state without the id table (searches never read it): a
            // write while the plan is held would otherwise copy the whole table under the write lock.
            let executor = Executor(state: state.withoutLocations, request: request, query: query)
            return PreparedSearch(
                executor: executor, generation: generation, started: started, estimatedWork: executor.estimatedWork)
        }
    }

    /// Runs a prepared search, on any thread: the page ``search(_:)`` answers now. A search prepared before the
    /// index last changed is planned again first (its plan holds the index as it was).
    public func run(_ prepared: PreparedSearch) -> SearchPage {
        var page = lock.withReadLock {
            let executor =
                prepared.generation == generation
                ? prepared.executor
                : Executor(state: state, request: prepared.executor.request, query: prepared.executor.query)
            return executor.run()
        }
        page.tookMicros = Int((DispatchTime.now().uptimeNanoseconds - prepared.started) / 1000)
        return page
    }

    /// Articles most like the one with `id` (More-Like-This over its most distinctive bigrams and words by
    /// tf-idf), best first, never including the article itself; nil when `id` is not indexed.
    public func related(to id: ArticleID, limit: Int) -> [SearchHit]? {
        lock.withReadLock { () -> [SearchHit]? in
            guard let location = state.locations.location(of: id) else { return nil }
            return Related.find(for: location, limit: limit, state: state)
        }
    }

    /// Writes a snapshot atomically (temp file, fsync, rename, fsync directory) with caller `metadata` stored
    /// alongside (e.g. the store's sequence number the snapshot reflects).
    ///
    /// Writers wait only while the state is captured (the segment list, each segment's deletion bits and the
    /// interners), not while it is encoded: encoding hundreds of megabytes under the lock paused writes for seconds.
    /// The file is written as it is encoded, a megabyte at a time, never whole in memory.
    public func write(to path: String, metadata: [UInt8]) throws {
        let capture = captureSnapshot()
        try SnapshotFile.writeAtomically(to: path) { write in
            SnapshotCodec.encode(capture, metadata: metadata, into: write)
        }
    }

    /// The state as of now, for encoding outside the lock. Segments are immutable but for their deletion bits,
    /// which are copied (copy-on-write: a later delete copies the segment's bits instead of changing these).
    func captureSnapshot() -> SnapshotCapture {
        lock.withReadLock { SnapshotCapture(state) }
    }

    /// Loads a snapshot written by ``write(to:metadata:)``. Throws ``SnapshotError`` when the file is missing,
    /// truncated, corrupt or of another format version: rebuild the index from the store then.
    public static func load(from path: String) throws -> (index: SearchIndex, metadata: [UInt8]) {
        let bytes = try SnapshotFile.read(path)
        let (state, metadata) = try bytes.withUnsafeBytes { buffer in try SnapshotCodec.decode(buffer, path: path) }
        let index = SearchIndex()
        index.state = state
        return (index, metadata)
    }

    /// Merges segments while the policy asks for it; each merge is built outside the lock.
    private func mergeWhileNeeded() {
        while let victims = lock.withReadLock({ state.mergeCandidates() }) {
            // Only this writer mutates deletion bits, so reading them here without the lock is safe.
            let merged = Segment.merge(victims)
            lock.withWriteLock { state.replace(victims, with: merged) }
        }
    }

    /// Merges every segment into one, whatever the policy says (for tests).
    func mergeAllForTesting() {
        writer.lock()
        defer { writer.unlock() }
        let victims = lock.withReadLock { state.segments }
        guard !victims.isEmpty else { return }
        let merged = Segment.merge(victims)
        lock.withWriteLock { state.replace(victims, with: merged) }
    }

    /// Number of segments searched today (each query visits every one, so writers bound it; see `mergeSegmentsIfNeeded`).
    public var segmentCount: Int { lock.withReadLock { state.segments.count } }

    /// Segment sizes, newest last (for tests and diagnostics).
    var segmentSizes: [Int] { lock.withReadLock { state.segments.map(\.count) } }

    /// Replaced or removed documents each segment still holds, newest last (for tests and diagnostics).
    var segmentDeletions: [Int] { lock.withReadLock { state.segments.map(\.deletedCount) } }

    /// Occupied slots of the id table (for tests: removals leave no tombstones, so this equals the live count).
    var locationSlots: Int { lock.withReadLock { state.locations.occupiedSlots } }
}

/// A parsed and planned search from ``SearchIndex/prepare(_:)``, run by ``SearchIndex/run(_:)``.
///
/// Unchecked: the plan holds the index state as of planning (immutable segments, copy-on-write arrays) and is
/// only run under the index's read lock, and only while that state is still the index's.
public struct PreparedSearch: @unchecked Sendable {
    fileprivate let executor: Executor
    fileprivate let generation: Int
    fileprivate let started: UInt64
    /// The work the search is estimated to do, in units of about one posting visited and scored (4–30 ns on the
    /// benchmark machine; a hit's snippet counts 128): for a caller choosing to run small searches where it
    /// stands and larger ones on a worker thread. Never changes a result.
    public let estimatedWork: Int
}

/// A batch of articles analysed into a segment by ``SearchIndex/prepare(contentsOf:)``, ready to install.
public struct PreparedSegment: Sendable {
    let segment: Segment
    /// With ``SearchIndex/prepare(contentsOf:keepingAnalyses:)``: per article given, its analysis (nil for an
    /// earlier copy of an id the batch holds twice); else nil.
    public var analyses: [ArticleAnalysis?]?

    init(segment: Segment, analyses: [ArticleAnalysis?]? = nil) {
        self.segment = segment
        self.analyses = analyses
    }

    /// Number of distinct articles in the batch.
    public var count: Int { segment.count }
}

/// More-Like-This.
enum Related {
    static func find(for location: DocumentLocation, limit: Int, state: IndexState) -> [SearchHit] {
        let segment = location.segment
        let doc = Int(location.doc)
        let (units, _) = Analyzer.document(title: segment.title(doc), body: segment.body(doc))
        let terms = Scoring.distinctiveTerms(units: units, documentCount: state.liveCount) { pattern in
            state.documentFrequency(PatternPlan(pattern).terms[0])
        }
        var collector = TopCollector(capacity: max(0, limit), sort: .relevance, segments: state.segments)
        let average = state.averageLength
        for (s, other) in state.segments.enumerated() {
            var scores = [Double](repeating: 0, count: other.count)
            other.postings.withUnsafeBufferPointer { buffer in
                for (pattern, idf) in terms {
                    guard let t = other.term(PatternPlan(pattern).terms[0]) else { continue }
                    var cursor = PostingCursor(
                        base: buffer.baseAddress!, start: other.termStart[t], end: other.termStart[t + 1],
                        positional: other.isPositional(term: t))
                    while cursor.next() {
                        let d = Int(cursor.doc)
                        scores[d] += Scoring.bm25(
                            idf: idf, titleFrequency: Int(cursor.titleTF), bodyFrequency: Int(cursor.bodyTF),
                            titleLength: Int(other.titleLengths[d]), bodyLength: Int(other.bodyLengths[d]),
                            averageLength: average)
                    }
                }
            }
            for d in 0..<other.count where scores[d] > 0 && !other.isDeleted(d) {
                if other === segment && d == doc { continue }
                collector.add(Candidate(score: scores[d], time: other.seconds[d], segment: Int32(s), doc: Int32(d)))
            }
        }
        return collector.sorted().map { candidate in
            let seg = state.segments[Int(candidate.segment)]
            let d = Int(candidate.doc)
            return SearchHit(
                id: seg.id(d), title: seg.title(d),
                source: seg.sourceIDs[d] >= 0 ? state.sources.values[Int(seg.sourceIDs[d])] : nil,
                publishedAt: seg.publishedAt(d), score: candidate.score)
        }
    }
}

/// Sizes of the index's parts, for `stats` and capacity planning.
public struct SearchIndexStatistics: Sendable, Hashable, Codable {
    /// Live (searchable) articles.
    public var articles: Int
    /// Immutable segments currently held (merged as writes arrive).
    public var segments: Int
    /// Distinct terms summed over segments (CJK unigrams, bigrams, words).
    public var terms: Int
    /// Bytes of postings (document lists, frequencies, positions).
    public var postingsBytes: Int
    /// Bytes of term dictionaries (keys, offsets, frequencies).
    public var dictionaryBytes: Int
    /// Bytes of stored titles and bodies (for hits and snippets).
    public var storedTextBytes: Int
    /// Bytes of per-article attributes (ids, dates, lengths, interned sources/persons).
    public var attributeBytes: Int
    /// Replaced or removed articles whose copies segments still hold (their text and postings), awaiting the
    /// merge that drops them.
    public var deletedArticles: Int = 0

    /// Sum of the parts: the index's payload in memory.
    public var totalBytes: Int { postingsBytes + dictionaryBytes + storedTextBytes + attributeBytes }
}

extension SearchIndex {
    /// Current sizes of the index's parts.
    public var statistics: SearchIndexStatistics {
        lock.withReadLock { state.statistics }
    }
}
