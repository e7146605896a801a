import Dispatch
import NewswireModel

/// Group commit: gathers concurrent writes into one ``NewswireEngine/put(_:)`` (one SQLite transaction and
/// fsync, one index segment, one near-duplicate pass), then answers each writer with its own outcomes.
///
/// Writes queue in the order ``submit(_:completion:)`` is called. A single drain runs at a time on the
/// committer's own serial queue: it takes every queued write (up to ``maxBatchArticles`` articles, never splitting
/// one write), puts them in one batch, completes each, then has index segments merged on the engine's merge
/// thread, alongside the batches that follow (merging changes no result, so no writer waits for it). While a batch
/// commits, new writes queue up and form the next batch, so the batch size follows the load: alone, a write
/// commits at once; under load, one fsync and one segment serve many writes.
///
/// Pipelined: when writes are queued as a batch's store commit starts, the next batch is taken and its CPU work
/// (analysis into an index segment, near-duplicate features) done on a second queue while the commit waits on
/// the store. Only that work moves: its duplicate verdicts, store commit and index install still happen in
/// queue order after the previous batch's, so a failed commit changes nothing the next batch relies on.
///
/// It lives in the engine rather than the server because it is a property of `put` (batch semantics, outcome
/// splitting, the order that makes verdicts exact), and so it can be tested, and crash-tested, without sockets.
///
/// Guarantees:
/// - A completion reports success only after the batch's `put` returned, so the write is durable and searchable.
/// - Outcomes (inserted / updated / unchanged, `duplicateOf`) equal what putting the queued writes one at a time,
///   in queue order, would give (``NewswireEngine/put(_:)`` treats a batch exactly like that).
/// - When the batch's `put` throws, every write in it gets that error (for example ``EngineError/Code/closed``
///   once the engine is closed, so closing with writes queued answers them all and hangs nothing).
///
/// Commits run on the committer's queue, not on the caller's threads: a server's thread pool keeps parsing pages
/// and serving reads while a batch is written, and no pool thread is parked waiting for another's commit.
public final class GroupCommitter: Sendable {
    /// Default cap on articles per batch: large enough that one fsync and one segment serve a burst of
    /// concurrent writes, small enough that a batch commits well under a second.
    public static let defaultMaxBatchArticles = 4_096

    /// The engine written to.
    public let engine: NewswireEngine
    /// At most this many articles per batch, unless one write alone holds more (it then commits alone).
    public let maxBatchArticles: Int

    /// Default cap in cluster mode. A follower makes a change searchable only after indexing its whole batch, so
    /// smaller batches keep feed lag low; pipelining keeps ingest from paying for the extra commits (at 512, the
    /// feed lag's p99 was over 100 ms in most bulk loads on two cores; at 256 under it in 16 of 18, for no more
    /// ingest time; 128 was no better).
    public static let defaultClusterMaxBatchArticles = 256

    /// The default cap for `engine`'s store: ``defaultClusterMaxBatchArticles`` on a shared (cluster) store.
    public static func defaultMaxBatchArticles(for engine: NewswireEngine) -> Int {
        engine.isClustered ? defaultClusterMaxBatchArticles : defaultMaxBatchArticles
    }

    private let queue = DispatchQueue(label: "newswire.engine.group-commit", qos: .userInitiated)
    /// Prepares the next batch while the drain commits the current one.
    private let prepareQueue = DispatchQueue(label: "newswire.engine.group-commit.prepare", qos: .userInitiated)
    private let state = Locked(State())

    private struct Waiter: Sendable {
        var articles: [Article]
        var completion: @Sendable (Result<[PutOutcome], any Error>) -> Void
        /// Set for a DELETE: it commits alone, in its place in the queue (one transaction for all its ids).
        var deletion: Deletion?
    }

    private struct Deletion: Sendable {
        var ids: [ArticleID]
        var completion: @Sendable (Result<[Bool], any Error>) -> Void
    }

    private struct State {
        var pending: [Waiter] = []
        var draining = false
        var batches = 0
        var writes = 0
    }

    /// Creates a committer for `engine`; `maxBatchArticles` (default: ``defaultMaxBatchArticles(for:)``) is
    /// clamped to at least 1.
    public init(engine: NewswireEngine, maxBatchArticles: Int? = nil) {
        self.engine = engine
        self.maxBatchArticles = max(1, maxBatchArticles ?? Self.defaultMaxBatchArticles(for: engine))
    }

    /// Queues a write; `completion` is called once, on the committer's queue, with the outcomes of `articles` (one
    /// per article, in order) after their batch committed, or with the batch's error. An empty write completes at
    /// once. Keep `completion` short: the next batch waits for it.
    public func submit(
        _ articles: [Article], completion: @escaping @Sendable (Result<[PutOutcome], any Error>) -> Void
    ) {
        if articles.isEmpty {
            completion(.success([]))
            return
        }
        let startDrain = state.withLock { state -> Bool in
            state.pending.append(Waiter(articles: articles, completion: completion))
            if state.draining { return false }
            state.draining = true
            return true
        }
        if startDrain { queue.async { self.drain() } }
    }

    /// Queues a delete of `ids`, ordered with the puts around it; `completion` gets, per id, whether it existed,
    /// once the delete committed: one transaction (all ids or none) and one fsync.
    public func submitDelete(_ ids: [ArticleID], completion: @escaping @Sendable (Result<[Bool], any Error>) -> Void) {
        if ids.isEmpty {
            completion(.success([]))
            return
        }
        let startDrain = state.withLock { state -> Bool in
            state.pending.append(
                Waiter(articles: [], completion: { _ in }, deletion: Deletion(ids: ids, completion: completion)))
            if state.draining { return false }
            state.draining = true
            return true
        }
        if startDrain { queue.async { self.drain() } }
    }

    /// Deletes `ids` once the writes queued before have committed; returns, per id, whether it existed. All or
    /// none: a crash leaves either every id deleted or none (see ``submitDelete(_:completion:)``). Not cancellable.
    public func delete(_ ids: [ArticleID]) async throws -> [Bool] {
        try await withCheckedThrowingContinuation { continuation in
            submitDelete(ids) { continuation.resume(with: $0) }
        }
    }

    /// Queues a write and returns its outcomes once its batch is durable (see ``submit(_:completion:)``).
    ///
    /// Not cancellable: once queued, the write is committed (or fails with its batch) whether or not the caller
    /// still waits, so a cancelled caller never leaves it half-applied or unanswered.
    public func put(_ articles: [Article]) async throws -> [PutOutcome] {
        try await withCheckedThrowingContinuation { continuation in
            submit(articles) { continuation.resume(with: $0) }
        }
    }

    /// Batches committed and writes answered so far (for stats and tests: writes / batches is the grouping).
    public var counters: (batches: Int, writes: Int) {
        state.withLock { ($0.batches, $0.writes) }
    }

    /// A batch taken from the queue, with its CPU work done (nil for a delete).
    private struct ReadyBatch: Sendable {
        var waiters: [Waiter]
        var prepared: NewswireEngine.PreparedWrite?
    }

    /// Takes the next batch and does its CPU work; nil when none is queued (see ``takeBatch(keepDrainingIf:)``).
    private func takeReadyBatch(keepDrainingIf keepDraining: Bool) -> ReadyBatch? {
        guard let waiters = takeBatch(keepDrainingIf: keepDraining) else { return nil }
        if waiters.first?.deletion != nil { return ReadyBatch(waiters: waiters, prepared: nil) }
        var articles: [Article] = []
        articles.reserveCapacity(waiters.reduce(0) { $0 + $1.articles.count })
        for waiter in waiters { articles += waiter.articles }
        return ReadyBatch(waiters: waiters, prepared: engine.prepareWrite(articles))
    }

    /// Commits batches until nothing is queued. Only one drain runs at a time (`State.draining`).
    private func drain() {
        var maintenanceDue = false
        var next: ReadyBatch?
        while true {
            let taken = next ?? takeReadyBatch(keepDrainingIf: maintenanceDue)
            next = nil
            if let batch = taken {
                if batch.prepared != nil, hasPendingWrites {
                    // Prepare the next batch while this one commits. It is taken now, so it commits after this
                    // one; its verdicts are decided at its own commit, against what this one left.
                    let prepared = Locked<ReadyBatch?>(nil)
                    let done = DispatchGroup()
                    prepareQueue.async(group: done) {
                        let ready = self.takeReadyBatch(keepDrainingIf: true)
                        prepared.withLock { $0 = ready }
                    }
                    if commit(batch) { maintenanceDue = true }
                    done.wait()
                    next = prepared.withLock { $0 }
                } else if commit(batch) {
                    maintenanceDue = true
                }
                // While more writes wait, segments are left to pile up (up to `deferredSegmentLimit`) and are
                // merged in one pass once the queue is empty: the merge policy folds similar-sized segments together
                // at once, so a bulk load copies each article a couple of times instead of once per doubling.
                if maintenanceDue,
                    next == nil && !hasPendingWrites || engine.indexSegmentCount >= Self.deferredSegmentLimit
                {
                    engine.maintainAfterWrites()
                    maintenanceDue = false
                }
            } else if maintenanceDue {
                engine.maintainAfterWrites()
                maintenanceDue = false
            } else {
                return
            }
        }
    }

    /// Most segments left unmerged while writes are queued (searches visit every segment; while the merge thread
    /// catches up, a bulk load may leave up to twice this many: ``NewswireEngine/mergeBackpressureSegments``).
    static let deferredSegmentLimit = 32

    private var hasPendingWrites: Bool { state.withLock { !$0.pending.isEmpty } }

    /// The next batch, or nil when none is queued; the drain stops (`draining` false) unless `keepDraining`, in
    /// which case the caller has maintenance to run first and calls again.
    private func takeBatch(keepDrainingIf keepDraining: Bool) -> [Waiter]? {
        state.withLock { state -> [Waiter]? in
            guard !state.pending.isEmpty else {
                if !keepDraining { state.draining = false }
                return nil
            }
            var taken = 0
            var articles = 0
            for waiter in state.pending {
                // A delete is a batch of its own; puts never join it.
                if waiter.deletion != nil {
                    if taken == 0 { taken = 1 }
                    break
                }
                if taken > 0, articles + waiter.articles.count > maxBatchArticles { break }
                taken += 1
                articles += waiter.articles.count
            }
            let batch = Array(state.pending[..<taken])
            state.pending.removeFirst(taken)
            state.batches += 1
            state.writes += taken
            return batch
        }
    }

    /// Commits one batch and answers its writers; returns whether anything changed (maintenance is due).
    private func commit(_ ready: ReadyBatch) -> Bool {
        let batch = ready.waiters
        engine.paceCommit()
        if let deletion = batch.first?.deletion {
            let result = Result { try engine.delete(ids: deletion.ids) }
            deletion.completion(result)
            return (try? result.get())?.contains(true) ?? false
        }
        guard let prepared = ready.prepared else { preconditionFailure("a put batch is prepared when taken") }
        let result = Result { try engine.commit(prepared) }
        switch result {
        case .success(let (outcomes, changed)):
            var start = 0
            for waiter in batch {
                let end = start + waiter.articles.count
                waiter.completion(.success(Array(outcomes[start..<end])))
                start = end
            }
            return changed > 0
        case .failure(let error):
            for waiter in batch { waiter.completion(.failure(error)) }
            return false
        }
    }
}
