import Dispatch
import Foundation
import NewswireSearch
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import NewswireModel
import NewswireStore

/// What callers may read of the engine's store and index without stepping around the engine: the store and the
/// index themselves stay internal, so every write goes through the engine's rules.
extension NewswireEngine {
    /// The identifier of the store whose feed positions this engine reports (live queries name it).
    public var storeIdentifier: String { store.storeIdentifier }

    /// The store's latest feed position.
    public func latestPosition() throws -> UInt64 { try mappingErrors { try store.latestSequence } }

    /// The store's change feed after `position`, oldest first, at most `limit` changes, each of kind
    /// ``CommittedChange/Kind/written`` or ``CommittedChange/Kind/deleted``. The feed is compacted: it keeps each
    /// article's latest change.
    public func changes(after position: UInt64, limit: Int) throws -> [CommittedChange] {
        try mappingErrors { try store.changes(since: position, limit: limit) }.map(CommittedChange.init(feed:))
    }

    /// Articles in the search index.
    public var indexedCount: Int { index.count }

    /// Whether the search index holds `id`.
    public func isIndexed(_ id: ArticleID) -> Bool { index.contains(id: id) }
}

/// Reads: records from the store, searches from the index.
extension NewswireEngine {
    // MARK: Reads

    /// The article with `id`, or nil.
    public func article(id: ArticleID) throws -> Article? {
        try mappingErrors { try store.article(id) }
    }

    /// The articles with `ids`, aligned with `ids` (nil where missing).
    public func articles(ids: [ArticleID]) throws -> [Article?] {
        try mappingErrors { try store.articles(ids) }
    }

    /// The stored JSON bytes of each id, aligned with `ids` (nil where missing); see
    /// ``NewswireStore/ArticleStore/encodedArticles(_:)``.
    public func encodedArticles(ids: [ArticleID]) throws -> [[UInt8]?] {
        try mappingErrors { try store.encodedArticles(ids) }
    }

    /// One page of stored articles in `order`, after `cursor` (from the start when nil), at most `limit` of them
    /// (1 to 10,000; ``EngineError/Code/storeFailed`` otherwise, as the store refuses it).
    public func scan(order: RecordOrder, after cursor: RecordCursor?, limit: Int) throws -> RecordPage {
        let page = try mappingErrors {
            try store.scan(order: order.storeOrder, after: cursor?.storeCursor, limit: limit)
        }
        return RecordPage(articles: page.articles, next: page.next.map(RecordCursor.init))
    }

    /// Runs a search; throws ``EngineError/Code/badQuery`` for a malformed query.
    public func search(_ request: SearchRequest) throws -> SearchPage {
        try mappingErrors { try index.search(request) }
    }

    /// ``search(_:)`` in two steps: parse and plan (throws for a malformed query), look at the plan's estimated
    /// work, then run it with `search(_ prepared:)` on the thread of your choice.
    public func prepareSearch(_ request: SearchRequest) throws -> PreparedSearch {
        try index.prepare(request)
    }

    /// Runs a search from ``prepareSearch(_:)`` (planned again first when the index changed since).
    public func search(_ prepared: PreparedSearch) -> SearchPage {
        index.run(prepared)
    }

    /// Articles related to `id`, best first, never `id` itself. Throws ``EngineError/Code/notFound`` when `id`
    /// is not stored.
    public func related(to id: ArticleID, limit: Int) throws -> [SearchHit] {
        guard limit >= 0 else { throw EngineError(.invalidArgument, "related limit \(limit) must not be negative") }
        guard let hits = index.related(to: id, limit: limit) else {
            throw EngineError(.notFound, "no article with id \(id); check the id (ids are case-sensitive)")
        }
        return hits
    }

    /// How long stats wait for a shared store's position before answering from what this node knows.
    static let statsStoreBound: Duration = .seconds(1)

    /// Current counters.
    public func stats() throws -> EngineStats {
        try mappingErrors { try storeStats() }
    }

    func storeStats() throws -> EngineStats {
        duplicatesReady.wait()
        let (duplicates, snapshotSequence, snapshotError) = writeState.withLock {
            ($0.duplicates.duplicateCount, $0.snapshotSequence, $0.lastSnapshotError)
        }
        let shared = store as? any SharedArticleStore
        var unreachable: String?
        let sequence: UInt64
        if let shared {
            // Monitoring polls stats during an outage too: answer within a second from what this node knows (the
            // newest position announced to it, or the one it applied) and say why the store's own is missing.
            do {
                sequence = try shared.latestSequence(within: Self.statsStoreBound)
            } catch {
                unreachable = "\(error)"
                sequence = max(appliedSequence, shared.announcedSequence ?? 0)
            }
        } else {
            // A damaged database still lets stats answer, saying so.
            do {
                sequence = try mappingErrors { try store.latestSequence }
            } catch let error as EngineError where error.code == .storeDamaged {
                unreachable = error.message
                sequence = writeState.withLock { $0.committedPosition ?? $0.snapshotSequence }
            }
        }
        var stats = EngineStats(
            articleCount: index.count, duplicateCount: duplicates, storeSequence: sequence,
            snapshotSequence: snapshotSequence,
            changesSinceSnapshot: sequence >= snapshotSequence ? sequence - snapshotSequence : 0, startup: startup,
            lastSnapshotError: snapshotError)
        stats.indexSegments = index.segmentCount
        if let shared {
            stats.storeError = unreachable
            let applied = appliedSequence
            stats.appliedSequence = applied
            // The age of the oldest change not yet searchable here: since its commit was announced, or (no
            // announcement known, the listener was down) since this node was last in step, which is earlier.
            let since: ContinuousClock.Instant? =
                applied >= sequence
                ? nil : shared.commitTime(ofFirstChangeAfter: applied) ?? writeState.withLock { $0.lastInStep }
            let behind = since.map { ContinuousClock.now - $0 } ?? .zero
            stats.lagMilliseconds = UInt64(max(0, behind.components.seconds * 1_000
                + behind.components.attoseconds / 1_000_000_000_000_000))
            stats.storeDescription = shared.writeTargetDescription
            stats.shippedArticles = shippedDocuments.withLock { $0 }
        } else {
            stats.appliedSequence = sequence
            stats.storeError = writeState.withLock { $0.storeDamage } ?? unreachable
        }
        return stats
    }
}
