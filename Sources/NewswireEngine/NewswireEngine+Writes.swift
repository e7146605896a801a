import Dispatch
import Foundation
import NewswireModel
import NewswireSearch
import NewswireStore

/// Writes: puts and deletes, each decided under the write lock, committed to the store, then applied to the index.
extension NewswireEngine {
    // MARK: Writes

    /// Stores `articles` (one transaction, durable when it returns) and indexes them, after setting each one's
    /// `duplicateOf`. Returns one outcome per article, in order.
    ///
    /// A batch gives exactly what putting its articles one at a time, in order, would give (outcomes, verdicts
    /// and stored records), also when it holds the same id more than once: ``GroupCommitter`` relies on it.
    public func put(_ articles: [Article]) throws -> [PutOutcome] {
        let (outcomes, changes) = try commit(articles)
        if changes > 0 { maintainAfterWrites() }
        return outcomes
    }

    /// What ``put(_:)`` does up to and including the commit and index install: when it returns, the articles are
    /// durable and searchable. Returns the outcomes and how many articles changed; call
    /// ``maintainAfterWrites()`` afterwards when any did.
    func commit(_ articles: [Article]) throws -> (outcomes: [PutOutcome], changed: Int) {
        try mappingErrors { try commitToStore(articles) }
    }

    /// Commits a write whose CPU work ``prepareWrite(_:)`` did earlier (``GroupCommitter`` prepares the next batch
    /// while the previous one commits). Same guarantees as ``commit(_:)``: nothing of it is searchable before
    /// its store commit returned, and a failed commit installs nothing.
    func commit(_ write: PreparedWrite) throws -> (outcomes: [PutOutcome], changed: Int) {
        try mappingErrors { try commitToStore(write) }
    }

    /// A write's CPU work done ahead of its commit: the near-duplicate features and the index segment (neither
    /// depends on the index, the duplicate table or `duplicateOf`, so it may be prepared while other writes
    /// commit). Until ``commit(_:)-swift.method`` installs it, the segment is invisible to searches.
    struct PreparedWrite: Sendable {
        let articles: [Article]
        let features: [TextFeatures]
        /// ``contentHash(of:)`` of each article, computed once for the verdicts and the shipped analysis.
        let contentHashes: [UInt64]
        let segment: PreparedSegment
        /// Cluster mode: the segment's analysis for the nodes following the feed, stored in pieces with the
        /// batch's records (nil on a single node, or when the batch holds an id twice).
        var shippedAnalysis: [UInt8]? = nil
    }

    /// The CPU work of writing `articles`, outside the write lock (see ``PreparedWrite``).
    func prepareWrite(_ articles: [Article]) -> PreparedWrite {
        let (features, contentHashes, segment) = prepare(articles)
        var write = PreparedWrite(articles: articles, features: features, contentHashes: contentHashes, segment: segment)
        if isClustered, segment.count == articles.count {
            // Checked by each follower against its own copy of every record before it trusts the analysis.
            write.shippedAnalysis = segment.shippedAnalysis(checks: contentHashes)
        }
        return write
    }

    func commitToStore(_ articles: [Article]) throws -> (outcomes: [PutOutcome], changed: Int) {
        if articles.isEmpty { return ([], 0) }
        // CPU work outside the write lock, so concurrent puts overlap it with each other's commits: the
        // near-duplicate features, and the index segment (it does not depend on `duplicateOf`).
        return try commitToStore(prepareWrite(articles))
    }

    func commitToStore(_ write: PreparedWrite) throws -> (outcomes: [PutOutcome], changed: Int) {
        let (articles, features, prepared) = (write.articles, write.features, write.segment)
        let contentHashes = write.contentHashes
        let shippedAnalysis = write.shippedAnalysis
        if articles.isEmpty { return ([], 0) }
        duplicatesReady.wait()
        return try writeState.withLock { state -> ([PutOutcome], Int) in
            guard !state.closed else { throw EngineError(.closed, "the engine is closed") }
            if let damage = state.storeDamage { throw EngineError(.storeDamaged, damage) }
            var toStore: [Article] = []
            var entries: [DuplicateEntry] = []
            // Versions these writes replace, for live queries (single node only; see `previousVersions`).
            var previous: [Article?] = []
            let results: [UpsertOutcome]
            if let shared = store as? any SharedArticleStore {
                // Cluster mode: verdicts are decided inside the store's write lock, after applying what other
                // nodes committed, so they are the ones a single node would give whichever node takes the write.
                let write = try shared.serializedUpsert(after: state.applied, expecting: articles.map(\.id)) { missed in
                    applyMissed(missed, &state)
                    (toStore, entries) = try decide(articles, features, contentHashes, state.duplicates)
                    // The features go next to each record, so the nodes following the feed need not compute them.
                    // Each record also carries its piece of the batch's index analysis: a follower that finds
                    // the whole batch at consecutive positions, each record as analysed, installs it as it is.
                    let pieces = shippedAnalysis.map {
                        StoredDuplicateFeatures.analysisPieces($0, count: toStore.count)
                    }
                    return zip(toStore, entries).enumerated().map { offset, written in
                        var derived = StoredDuplicateFeatures.encode(written.1)
                        if let pieces { derived += pieces[offset] }
                        return ArticleWrite(written.0, derivedData: derived)
                    }
                }
                results = write.outcomes
                state.applied = max(state.applied, write.sequence)
                appliedPosition.publish(state.applied)
                state.lastInStep = .now
            } else {
                if state.committedPosition == nil { state.committedPosition = try store.latestSequence }
                (toStore, entries) = try decide(articles, features, contentHashes, state.duplicates)
                previous = try previousVersions(of: zip(toStore, entries), state.duplicates)
                results = try store.upsert(toStore)
            }
            // The store has committed: bring the index and the duplicate table in step before acknowledging.
            var changed: [Article] = []
            for (article, result) in zip(toStore, results) where result != .unchanged { changed.append(article) }
            if changed.count == toStore.count {
                index.install(prepared)  // every article changed: the prepared segment is exactly the update
            } else if !changed.isEmpty {
                index.install(index.prepare(contentsOf: changed))
            }
            for (entry, result) in zip(entries, results) where result != .unchanged {
                state.duplicates.insert(entry)
            }
            let outcomes = zip(toStore, results).map {
                PutOutcome(id: $0.id, outcome: WriteOutcome($1), duplicateOf: $0.duplicateOf)
            }
            // `toStore` is `articles` with verdicts set (same text), so the prepared analyses line up with it.
            let analyses = prepared.analyses
            publishCommitted(
                zip(toStore, results).enumerated().compactMap { index, written in
                    let (article, result) = written
                    let analysis = analyses.flatMap { index < $0.count ? $0[index] : nil }
                    switch result {
                    case .unchanged: return nil
                    case .inserted:
                        return CommittedChange(
                            position: 0, id: article.id, kind: .created, article: article, analysis: analysis)
                    case .updated:
                        return CommittedChange(
                            position: 0, id: article.id, kind: .updated, article: article,
                            previous: index < previous.count ? previous[index] : nil, analysis: analysis)
                    }
                }, &state)
            return (outcomes, changed.count)
        }
    }

    /// Applies, inside the store's write lock, what other nodes committed since this node's position: from their
    /// shipped analyses where they are whole (``prepareFeedPage(_:)``), as the follower would, instead of analysing
    /// every article again while every node's writes wait for the lock (with writers on several nodes, each write
    /// found the others' latest batches here).
    func applyMissed(_ missed: [StoreChange], _ state: inout WriteState) {
        guard !missed.isEmpty else { return }
        apply(missed, prepared: prepareFeedPage(missed), &state)
    }

    /// For live queries: per article about to be written, the version it replaces when its content changes (nil
    /// for a new id or the same content), so a watcher that saw the old version match learns that the new one no
    /// longer does. Read only when a commit observer is registered, in one read for the batch; an id written twice
    /// in the batch replaces its earlier copy. Called with the write lock held, before the store write.
    func previousVersions(
        of writes: Zip2Sequence<[Article], [DuplicateEntry]>, _ table: DuplicateTable
    ) throws -> [Article?] {
        guard !commitObservers.withLock({ $0.isEmpty }) else { return [] }
        var stored: [ArticleID] = []
        var seen: Set<ArticleID> = []
        for (article, entry) in writes where !seen.contains(article.id) {
            seen.insert(article.id)
            if let known = table.entry(for: article.id), known.contentHash != entry.contentHash {
                stored.append(article.id)
            }
        }
        var versions: [ArticleID: Article] = [:]
        if !stored.isEmpty {
            for case let article? in try store.articles(stored) { versions[article.id] = article }
        }
        return writes.map { article, _ in
            defer { versions[article.id] = article }
            return versions[article.id]
        }
    }

    /// Sets each article's `duplicateOf` against `table` (and the batch's earlier articles); returns the articles to
    /// store and their duplicate-table entries. Called with the write lock held.
    func decide(
        _ articles: [Article], _ features: [TextFeatures], _ contentHashes: [UInt64], _ table: DuplicateTable
    ) throws -> ([Article], [DuplicateEntry])
    {
        var batch = DuplicateTable()
        var batchArticles: [ArticleID: (article: Article, shingles: [UInt64])] = [:]
        // Shingles of stored candidates, kept for the whole batch: the table does not change while it is decided.
        var storedShingles: [ArticleID: [UInt64]] = [:]
        var toStore: [Article] = []
        var entries: [DuplicateEntry] = []
        toStore.reserveCapacity(articles.count)
        for ((article, features), hash) in zip(zip(articles, features), contentHashes) {
            var article = article
            // The latest copy of this id: earlier in this batch, else stored. An equal re-put keeps its verdict
            // (also when the batch holds the id twice, as two grouped INGESTs of one page do).
            if let known = batch.entry(for: article.id) ?? table.entry(for: article.id), known.contentHash == hash {
                article.duplicateOf = known.duplicateOf
            } else {
                article.duplicateOf = try findOriginal(
                    of: article, features: features, in: table, batch: batch, batchArticles, &storedShingles)
            }
            let entry = DuplicateEntry(
                id: article.id, publishedKey: ScanCursor.publishedKey(of: article),
                duplicateOf: article.duplicateOf, contentHash: hash, fingerprint: features.fingerprint,
                bandKeys: features.bandKeys)
            batch.insert(entry)
            batchArticles[article.id] = (article, features.shingles)
            entries.append(entry)
            toStore.append(article)
        }
        return (toStore, entries)
    }

    /// Merges index segments and schedules a snapshot when due. Merging changes no search result, so it runs on
    /// the merge thread alongside the writes that follow (``scheduleMerge()``) and a caller may acknowledge a write
    /// before it: merged on the writer's own thread, a merge held up every write queued behind it (the corpus as
    /// pages took a median 4.27 s that way, 3.64 s with merges alongside; BENCHMARKS.md "Ingest"). Only once
    /// ``mergeBackpressureSegments`` segments have piled up does the writer wait for a merge pass, since every
    /// search visits every segment.
    func maintainAfterWrites() {
        if index.segmentCount >= Self.mergeBackpressureSegments {
            index.mergeSegmentsAlongsideWriters()
        } else {
            scheduleMerge()
        }
        compactWhenQuiet()
        maybeScheduleSnapshot()
    }

    /// Segments at which a writer merges before going on instead of leaving it to the merge thread: twice what the
    /// group commit leaves unmerged while writes queue (``GroupCommitter/deferredSegmentLimit``).
    static let mergeBackpressureSegments = 2 * GroupCommitter.deferredSegmentLimit

    /// Whether the store is shared with other nodes (cluster mode).
    public var isClustered: Bool { store is any SharedArticleStore }

    /// Whether write batches are prepared on every core (``Configuration/preparesWritesOnEveryCore``).
    var preparesWritesOnEveryCore: Bool { configuration.preparesWritesOnEveryCore ?? !isClustered }

    /// Segments the index holds now (each commit adds one until a merge folds them together).
    /// Segments of the search index.
    public var indexSegmentCount: Int { index.segmentCount }

    /// The near-duplicate features and content hashes of `articles` and their prepared index segment, computed side
    /// by side.
    func prepare(_ articles: [Article]) -> ([TextFeatures], [UInt64], PreparedSegment) {
        let keep = analysesKept.withLock { $0 }
        guard articles.count >= 64, preparesWritesOnEveryCore else {
            return (
                articles.map { TextFeatures(body: $0.body) }, articles.map(contentHash(of:)),
                index.prepare(contentsOf: articles, keepingAnalyses: keep)
            )
        }
        let segment = Locked<PreparedSegment?>(nil)
        let features = Locked<([TextFeatures], [UInt64])>(([], []))
        DispatchQueue.concurrentPerform(iterations: 2) { task in
            if task == 0 {
                let prepared = index.prepare(contentsOf: articles, keepingAnalyses: keep)
                segment.withLock { $0 = prepared }
            } else {
                let computed = (Self.features(of: articles), articles.map(contentHash(of:)))
                features.withLock { $0 = computed }
            }
        }
        let (textFeatures, contentHashes) = features.withLock { $0 }
        return (textFeatures, contentHashes, segment.withLock { $0! })
    }

    /// Near-duplicate features of each article, on all cores for large batches.
    static func features(of articles: [Article]) -> [TextFeatures] {
        guard articles.count >= 64 else { return articles.map { TextFeatures(body: $0.body) } }
        let results = Locked([TextFeatures?](repeating: nil, count: articles.count))
        let chunk = 32
        DispatchQueue.concurrentPerform(iterations: (articles.count + chunk - 1) / chunk) { part in
            let range = (part * chunk)..<min(articles.count, (part + 1) * chunk)
            let computed = range.map { TextFeatures(body: articles[$0].body) }
            results.withLock { all in
                for (offset, value) in computed.enumerated() { all[range.lowerBound + offset] = value }
            }
        }
        return results.withLock { $0.map { $0! } }
    }

    /// Deletes the article with `id` from the store and the index. Returns whether it existed.
    public func delete(id: ArticleID) throws -> Bool {
        try delete(ids: [id])[0]
    }

    /// Deletes the articles with `ids` from the store in one transaction (all or none, one fsync) and from the
    /// index. Returns, per id in order, whether it existed. ``GroupCommitter/delete(_:)`` orders it with puts.
    public func delete(ids: [ArticleID]) throws -> [Bool] {
        try mappingErrors { try deleteFromStore(ids) }
    }

    func deleteFromStore(_ ids: [ArticleID]) throws -> [Bool] {
        if ids.isEmpty { return [] }
        duplicatesReady.wait()
        let existed = try writeState.withLock { state -> [Bool] in
            guard !state.closed else { throw EngineError(.closed, "the engine is closed") }
            if let damage = state.storeDamage { throw EngineError(.storeDamaged, damage) }
            let existed: [Bool]
            if let shared = store as? any SharedArticleStore {
                let result = try shared.serializedDelete(ids, after: state.applied) { missed in
                    applyMissed(missed, &state)
                }
                state.applied = max(state.applied, result.write.sequence)
                appliedPosition.publish(state.applied)  // DELETE_RESULT's commit position reads it
                state.lastInStep = .now
                existed = result.existed
            } else {
                if state.committedPosition == nil { state.committedPosition = try store.latestSequence }
                existed = try store.delete(ids)
            }
            for (id, existed) in zip(ids, existed) where existed {
                index.remove(id: id)
                state.duplicates.remove(id)
            }
            publishCommitted(
                zip(ids, existed).compactMap { id, existed in
                    existed ? CommittedChange(position: 0, id: id, kind: .deleted, article: nil) : nil
                }, &state)
            return existed
        }
        if existed.contains(true) { maybeScheduleSnapshot() }
        return existed
    }

    /// The earliest original `article` copies, or nil. Called with the write lock held.
    ///
    /// A stored candidate's shingles come from the body the index holds for it (the index and the duplicate
    /// table change together, under the write lock), used only when it has the candidate's fingerprint; the store
    /// is read only when that copy is missing or is not the candidate's. On a cluster node a store read is a
    /// round trip to the primary with the store's write lock held, and an article that shares bands with many
    /// stored ones without copying any compares with every one of them. `stored` keeps them for the batch.
    func findOriginal(
        of article: Article, features: TextFeatures, in table: DuplicateTable, batch: DuplicateTable,
        _ batchArticles: [ArticleID: (article: Article, shingles: [UInt64])],
        _ stored: inout [ArticleID: [UInt64]]
    ) throws -> ArticleID? {
        guard !features.bandKeys.isEmpty else { return nil }
        let key = ScanCursor.publishedKey(of: article)
        let window = Int64(configuration.duplicateWindowDays) * 86_400
        // Batch entries supersede the table's for the same id, also when the new copy no longer shares a band
        // with this article (the stale stored copy must not be proposed then).
        var candidates = batch.candidates(features.bandKeys)
        candidates += table.candidates(features.bandKeys).filter { !batch.contains($0.id) }
        candidates = candidates.filter { candidate in
            guard candidate.id != article.id, candidate.duplicateOf != article.id else { return false }
            if key == .min || candidate.publishedKey == .min { return true }
            let (distance, overflow) = candidate.publishedKey.subtractingReportingOverflow(key)
            return !overflow && distance.magnitude <= window
        }
        if candidates.isEmpty { return nil }
        // A copy's original, or the copy itself when that original has been deleted since.
        func root(of candidate: DuplicateEntry) -> DuplicateEntry {
            guard let original = candidate.duplicateOf else { return candidate }
            return batch.entry(for: original) ?? table.entry(for: original) ?? candidate
        }
        // Prefer the earliest original: order by the root's publication (undated last), then the root's id.
        func rootKey(_ candidate: DuplicateEntry) -> (Int64, String) {
            let rootEntry = root(of: candidate)
            let published = rootEntry.publishedKey
            return (published == .min ? .max : published, rootEntry.id.rawValue)
        }
        candidates.sort { rootKey($0) < rootKey($1) }
        for candidate in candidates {
            let root = root(of: candidate).id
            if candidate.fingerprint == features.fingerprint { return root }
            let shingles: [UInt64]
            if let pending = batchArticles[candidate.id] {
                shingles = pending.shingles
            } else if let cached = stored[candidate.id] {
                shingles = cached
            } else {
                if let body = index.storedBody(of: candidate.id),
                    case let indexed = TextFeatures(body: body), indexed.fingerprint == candidate.fingerprint
                {
                    shingles = indexed.shingles
                } else {
                    guard let other = try store.article(candidate.id) else { continue }
                    shingles = TextFeatures(body: other.body).shingles
                }
                stored[candidate.id] = shingles
            }
            if TextFeatures.jaccard(shingles, features.shingles) >= configuration.duplicateSimilarity { return root }
        }
        return nil
    }
}

extension WriteOutcome {
    /// The store's outcome in the engine's words.
    init(_ outcome: UpsertOutcome) {
        switch outcome {
        case .inserted: self = .created
        case .updated: self = .updated
        case .unchanged: self = .unchanged
        }
    }
}
