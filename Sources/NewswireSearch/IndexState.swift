import NewswireModel

/// Interned strings (sources, months, person names) shared by all segments.
struct Interner: Sendable {
    private(set) var values: [String] = []
    /// NFKC + lowercase form of each value (what `source:` and `person:` compare against).
    private(set) var normalized: [String] = []
    private var ids: [String: Int32] = [:]

    init() {}

    init(values: [String]) {
        for value in values { _ = intern(value) }
    }

    mutating func intern(_ value: String) -> Int32 {
        if let id = ids[value] { return id }
        let id = Int32(values.count)
        values.append(value)
        normalized.append(normalizeName(value))
        ids[value] = id
        return id
    }

    var count: Int { values.count }
}

/// Where an article lives.
struct DocumentLocation {
    let segment: Segment
    let doc: Int32
}

/// Everything the index holds; guarded by the ``SearchIndex`` lock.
struct IndexState {
    var segments: [Segment] = []
    var locations = LocationTable()
    var sources = Interner()
    var months = Interner()
    var persons = Interner()
    var liveCount = 0
    /// Sum of weighted lengths of live documents (for BM25's average length).
    var totalLength: Double = 0

    var averageLength: Double { liveCount == 0 ? 1 : totalLength / Double(liveCount) }

    /// This state with an empty id table, for a reader that keeps it past the lock (a prepared search): holding
    /// the table's buffers would make the next write copy all of them (copy-on-write) under the write lock.
    var withoutLocations: IndexState {
        var view = self
        view.locations = LocationTable.unused
        return view
    }

    mutating func prepare(_ article: Article) -> PreparedDocument {
        let sourceID = article.source.map { sources.intern($0) } ?? -1
        let monthID = article.publishedAt.map { months.intern($0.yearMonth) } ?? -1
        return PreparedDocument(
            id: article.id, title: article.title, body: article.body, sourceID: sourceID, monthID: monthID,
            seconds: article.publishedAt?.secondsSinceEpoch ?? .min,
            utcOffset: article.publishedAt?.utcOffsetSeconds ?? 0,
            personIDs: personNames(of: article).map { persons.intern($0) })
    }

    mutating func delete(_ id: ArticleID) {
        guard let old = locations.removeValue(forKey: id) else { return }
        forget(old)
    }

    private mutating func forget(_ old: DocumentLocation) {
        old.segment.markDeleted(Int(old.doc))
        liveCount -= 1
        totalLength -= old.segment.weightedLength(Int(old.doc))
    }

    /// Adds a freshly built segment, superseding older copies of its articles.
    mutating func install(_ segment: Segment) {
        for doc in 0..<segment.count {
            if let old = locations.removeValue(idOf: doc, in: segment) { forget(old) }
            locations.set(doc: doc, in: segment)
            liveCount += 1
            totalLength += segment.weightedLength(doc)
        }
        segments.append(segment)
        segments.removeAll { $0.liveCount == 0 }
    }

    /// Replaces `old` segments (adjacent, in order) with `merged`, which holds their live documents as of when the
    /// merge read them. A document replaced or removed since (a merge built alongside writers) no longer lives in
    /// `old`: it is marked deleted in `merged` too.
    mutating func replace(_ old: [Segment], with merged: Segment) {
        let oldIDs = Set(old.map(ObjectIdentifier.init))
        guard let first = segments.firstIndex(where: { oldIDs.contains(ObjectIdentifier($0)) }) else { return }
        segments.removeAll { oldIDs.contains(ObjectIdentifier($0)) }
        for doc in 0..<merged.count {
            if let current = locations.location(ofIDOf: doc, in: merged),
                oldIDs.contains(ObjectIdentifier(current.segment))
            {
                locations.set(doc: doc, in: merged)
            } else {
                merged.markDeleted(doc)
            }
        }
        if merged.liveCount > 0 { segments.insert(merged, at: min(first, segments.count)) }
    }

    /// Above this share of deleted documents a segment is rewritten without them. The old segments of a
    /// steady stream of updates (the large ones, which the binary-counter merges reach last) would otherwise keep
    /// up to half their text and postings dead until then. Rewriting at a third costs at most three copied
    /// documents per update or delete; at a fifth (five copies) a feed of corrections cost measurably more merge
    /// work for a lower peak (BENCHMARKS.md, "Index housekeeping").
    static let maximumDeletedShare = 1.0 / 3

    /// Global document frequency of a term (deleted documents included until their segment is merged).
    func documentFrequency(_ ref: TermRef) -> Int {
        segments.reduce(0) { $0 + $1.documentFrequency(ref) }
    }

    /// Segments to merge next (adjacent), or nil: the newest two when the older is at most twice the newer, with
    /// the older ones that merge would cascade into (a binary-counter policy: every document is rewritten
    /// O(log n) times), or a segment alone once more than ``maximumDeletedShare`` of its documents are replaced
    /// or removed.
    func mergeCandidates() -> [Segment]? {
        if let sparse = segments.first(where: { Double($0.deletedCount) > Self.maximumDeletedShare * Double($0.count) }) {
            return [sparse]
        }
        let n = segments.count
        guard n >= 2, segments[n - 2].liveCount <= 2 * segments[n - 1].liveCount else { return nil }
        // Take at once every older segment the cascade of pairwise merges would absorb next (the same segments
        // end up together, but each document is copied once instead of once per step).
        var first = n - 2
        var merged = segments[n - 2].liveCount + segments[n - 1].liveCount
        while first > 0, segments[first - 1].liveCount <= 2 * merged {
            first -= 1
            merged += segments[first].liveCount
        }
        return Array(segments[first..<n])
    }
}

extension IndexState {
    /// Segments to fold together once writes have gone quiet (``SearchIndex/compactSegments()``), or nil.
    ///
    /// The binary-counter policy leaves up to about log2(articles / batch) segments (up to a dozen after the
    /// corpus ingested over the protocol), and every search visits each one: its terms looked up, its cursors set up,
    /// its shorter lists seeked without block tables. Quiet, the index keeps at most two: the oldest (largest)
    /// segment and one holding everything newer, and folds those two together once the newer holds at least
    /// 1/``compactionTailShare`` of the oldest's articles, so a trickle of writes rewrites the large segment about
    /// once per that much growth instead of after every quiet spell.
    func compactionCandidates() -> [Segment]? {
        let n = segments.count
        guard n >= 2 else { return nil }
        let oldest = segments[0].liveCount
        let newer = segments[1...].reduce(0) { $0 + $1.liveCount }
        if newer * Self.compactionTailShare >= oldest || segments[1...].contains(where: { $0.liveCount > oldest }) {
            return segments
        }
        return n >= 3 ? Array(segments[1...]) : nil
    }

    /// See ``compactionCandidates()``.
    static let compactionTailShare = 8
}

extension IndexState {
    var statistics: SearchIndexStatistics {
        var result = SearchIndexStatistics(
            articles: liveCount, segments: segments.count, terms: 0, postingsBytes: 0, dictionaryBytes: 0,
            storedTextBytes: 0, attributeBytes: 0)
        for s in segments {
            result.terms += s.termCount
            result.deletedArticles += s.deletedCount
            result.postingsBytes += s.postings.count
            result.dictionaryBytes += s.compactKeys.count * 4 + s.wideKeys.count * 8 + s.termStart.count * 4
                + s.wordList.reduce(0) { $0 + $1.utf8.count + 48 }
            result.storedTextBytes += s.storedTextBytes
            result.attributeBytes += s.count * (8 + 4 * 6 + 16 + 8) + s.personIDs.count * 4
                + s.idText.count
        }
        return result
    }
}
