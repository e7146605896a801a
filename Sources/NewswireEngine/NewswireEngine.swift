import Dispatch
import Foundation
import NewswireModel
import NewswireSearch
import NewswireStore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The store and the search index kept in step: what the server calls.
///
/// - Writes (``put(_:)``, ``delete(id:)``) are serialized. A put detects near-duplicates, commits to the store
///   (durable when it returns) and updates the index before returning, so a search issued after a write was
///   acknowledged sees it. Reads (lookups, scans, searches) run concurrently with each other and with writes.
/// - Near-duplicates: a new article whose normalised body has a Jaccard similarity of at least
///   ``Configuration/duplicateSimilarity`` (character 5-shingles) with an article already stored, published within
///   ``Configuration/duplicateWindowDays`` of it, gets `duplicateOf` set to the earliest such original (the
///   original of a copy is followed). Candidates come from MinHash LSH, the similarity is then computed exactly.
///   The engine owns `duplicateOf`: a value supplied by the caller is replaced. Re-putting an unchanged article
///   keeps its earlier verdict, so re-ingest stays a no-op.
/// - Restart: ``open(dataDirectory:configuration:)`` loads the index snapshot, whose metadata records the store
///   change sequence it covers, and replays the store's change feed after it; when the snapshot is missing,
///   corrupt or belongs to another store it rebuilds from the store and says why in ``startup``. A snapshot is
///   saved on ``close()`` and in the background every ``Configuration/snapshotEveryChanges`` changes.
///
/// All methods are synchronous and may block on disk: call them from a thread pool, never an event loop.
public final class NewswireEngine: Sendable {
    /// Engine settings.
    public struct Configuration: Sendable {
        /// The store's settings (durability mode and so on).
        public var store: SQLiteArticleStore.Configuration
        /// Save a snapshot in the background after this many store changes since the last one; default 20,000.
        /// Bounds what a restart after a crash replays.
        public var snapshotEveryChanges: Int
        /// Minimum Jaccard similarity of body shingles for a near-duplicate; default 0.8.
        public var duplicateSimilarity: Double
        /// Maximum distance in publication days between a copy and its original; default 7. Measured on the
        /// corpus, every textual near-duplicate pair further apart was a recurring template (an annual
        /// announcement, a ceremony), not a republished copy. Undated articles are not limited.
        public var duplicateWindowDays: Int
        /// On a shared store (cluster mode): how long the follower waits for a change notification before reading
        /// the feed anyway; default 1 s. Notifications make it prompt; this bounds the delay when one is lost.
        public var followPollInterval: Duration

        /// Creates a configuration with the documented defaults.
        public init(
            store: SQLiteArticleStore.Configuration = .init(), snapshotEveryChanges: Int = 20_000,
            duplicateSimilarity: Double = 0.8, duplicateWindowDays: Int = 7, followPollInterval: Duration = .seconds(1)
        ) {
            self.store = store
            self.snapshotEveryChanges = snapshotEveryChanges
            self.duplicateSimilarity = duplicateSimilarity
            self.duplicateWindowDays = duplicateWindowDays
            self.followPollInterval = followPollInterval
        }
    }

    /// File name of the index snapshot inside the data directory.
    public static let snapshotFileName = "index.snapshot"
    /// File name of the lock that keeps a second process off the data directory.
    public static let lockFileName = "LOCK"

    /// The record store. Internal: callers go through the engine, which keeps store and index in step.
    let store: any ArticleStore
    /// The search index. Internal, like the store.
    let index: SearchIndex
    /// How the index came up.
    public let startup: EngineStartup
    /// Where snapshots go; nil when the engine does not persist its index.
    public let snapshotPath: String?

    private let configuration: Configuration
    private let writeState: Locked<WriteState>
    private let snapshotLock = NSLock()
    private let background = DispatchGroup()
    private let backgroundQueue = DispatchQueue(label: "newswire.engine.snapshot")
    private let directoryLock: Locked<Int32?>
    /// Left once the near-duplicate table is loaded; writes wait on it.
    private let duplicatesReady = DispatchGroup()
    /// Left when the follower thread (shared stores only) has stopped.
    private let follower = DispatchGroup()
    /// Bumped (after the index changed) each time changes committed by other writers are applied; readable without
    /// the write lock, which a commit holds across its store round trip.
    private let feedGeneration = Locked<UInt64>(0)
    /// `WriteState.applied`, readable without the write lock.
    private let appliedMirror = Locked<UInt64>(0)
    private let feedObservers = Locked<[@Sendable ([StoreChange]) -> Void]>([])
    /// Live-query observers: called, in commit order, with every change once it is durable.
    private let commitObservers = Locked<[@Sendable ([CommittedChange]) -> Void]>([])

    private struct WriteState {
        var duplicates: DuplicateTable
        var closed = false
        var snapshotSequence: UInt64
        var snapshotInProgress = false
        var lastSnapshotError: String?
        /// The feed position the index and the duplicate table hold (every change up to it is applied).
        var applied: UInt64 = 0
        /// When the index was last seen in step with the store's head (for the lag in stats).
        var lastInStep = ContinuousClock.now
        var followError: String?
        /// Single store: the store's latest change sequence, read once when first needed and then advanced by each
        /// commit (every changed article and every deleted one takes the next value, ArticleStore's contract).
        var committedPosition: UInt64?
    }

    // MARK: Opening

    /// Opens the engine on a data directory (created when absent): the SQLite store in it, the index from
    /// `index.snapshot` plus the change feed, or rebuilt from the store.
    ///
    /// Throws ``EngineError`` (``EngineError/Code/dataDirectoryInUse`` when another process has it open) or the
    /// store's ``NewswireStore/StoreError``.
    public static func open(dataDirectory: String, configuration: Configuration = Configuration()) throws
        -> NewswireEngine
    {
        try open(dataDirectory: dataDirectory, configuration: configuration) {
            try SQLiteArticleStore(directory: dataDirectory, configuration: configuration.store)
        }
    }

    /// Opens the engine of a cluster node: `store` is shared with other nodes (see
    /// ``NewswireStore/SharedArticleStore``); the data directory holds only this node's index snapshot. The index
    /// comes from the snapshot plus the store's change feed, or from the feed alone, and then follows the feed.
    public static func open(
        store: any ArticleStore, dataDirectory: String, configuration: Configuration = Configuration()
    ) throws -> NewswireEngine {
        try open(dataDirectory: dataDirectory, configuration: configuration) { store }
    }

    /// Locks the data directory, then makes the store (after the lock: SQLite's files live there) and the engine;
    /// the lock is released again if either fails.
    private static func open(
        dataDirectory: String, configuration: Configuration, makeStore: () throws -> any ArticleStore
    ) throws -> NewswireEngine {
        let lockFD = try lockDataDirectory(dataDirectory)
        do {
            let engine = try NewswireEngine(
                store: try makeStore(),
                indexSnapshotPath: (dataDirectory as NSString).appendingPathComponent(snapshotFileName),
                configuration: configuration)
            engine.directoryLock.withLock { $0 = lockFD }
            return engine
        } catch {
            closeDescriptor(lockFD)
            throw error
        }
    }

    private static func lockDataDirectory(_ directory: String) throws -> Int32 {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw EngineError(.cannotOpen, "cannot create data directory \(directory): \(error)")
        }
        let path = (directory as NSString).appendingPathComponent(lockFileName)
        let fd = openDescriptor(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw EngineError(
                .cannotOpen, "cannot open \(path): \(String(cString: strerror(errno))); check permissions")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            closeDescriptor(fd)
            throw EngineError(
                .dataDirectoryInUse,
                "data directory \(directory) is in use by another Newswire process (\(path) is locked); "
                    + "stop it or choose another directory")
        }
        return fd
    }

    /// Builds an engine over `store`. With `indexSnapshotPath` the index is loaded from that snapshot (and saved
    /// there); without, it is rebuilt from the store.
    public init(store: any ArticleStore, indexSnapshotPath: String?, configuration: Configuration = Configuration())
        throws
    {
        let clock = ContinuousClock()
        let start = clock.now
        self.store = store
        self.snapshotPath = indexSnapshotPath
        self.configuration = configuration
        directoryLock = Locked(nil)

        var rebuildReason: String? = "no snapshot path configured"
        var loaded: (index: SearchIndex, header: SnapshotMetadata.Header, metadata: [UInt8])?
        var loadSeconds = 0.0
        if let indexSnapshotPath {
            if !FileManager.default.fileExists(atPath: indexSnapshotPath) {
                rebuildReason = "snapshot \(indexSnapshotPath) missing"
            } else {
                do {
                    let (index, bytes) = try SearchIndex.load(from: indexSnapshotPath)
                    switch SnapshotMetadata.decodeHeader(bytes) {
                    case .failure(let error):
                        rebuildReason = "snapshot \(indexSnapshotPath) unusable: \(error.reason)"
                    case .success(let header):
                        let latest = try store.latestSequence
                        if header.storeIdentifier != store.storeIdentifier {
                            rebuildReason = "snapshot \(indexSnapshotPath) belongs to another store"
                        } else if header.sequence > latest {
                            rebuildReason =
                                "snapshot \(indexSnapshotPath) is ahead of the store (\(header.sequence) > \(latest))"
                        } else {
                            loaded = (index, header, bytes)
                            rebuildReason = nil
                        }
                    }
                } catch {
                    rebuildReason = "snapshot \(indexSnapshotPath) unreadable: \(error)"
                }
                loadSeconds = (clock.now - start).seconds
            }
        }

        let catchUpStart = clock.now
        let source: EngineStartup.Source
        var replayed = 0
        var duplicates = DuplicateTable()
        var pendingDuplicateChanges: [DuplicateChange] = []
        let covered: UInt64
        let applied: UInt64
        let shared = store as? any SharedArticleStore
        if let loaded {
            index = loaded.index
            let last: UInt64
            (replayed, pendingDuplicateChanges, last) = try Self.replay(
                store: store, since: loaded.header.sequence, into: index)
            covered = loaded.header.sequence
            applied = max(covered, last)
            source = .snapshot
        } else if shared != nil {
            // A shared store changes while we read it: build from the feed, which (being gap-free) leaves the
            // index exactly at a known position, instead of from a scan.
            index = SearchIndex()
            covered = 0
            let changes: [DuplicateChange]
            (replayed, changes, applied) = try Self.replay(store: store, since: 0, into: index)
            for change in changes {
                switch change {
                case .insert(let entry): duplicates.insert(entry)
                case .remove(let id): duplicates.remove(id)
                }
            }
            source = .rebuilt
        } else {
            index = SearchIndex()
            covered = 0
            try Self.rebuild(store: store, into: index, &duplicates)
            applied = try store.latestSequence
            source = .rebuilt
        }
        let end = clock.now
        startup = EngineStartup(
            source: source, rebuildReason: rebuildReason, replayedChanges: replayed, articleCount: index.count,
            snapshotLoadSeconds: loadSeconds, catchUpSeconds: (end - catchUpStart).seconds,
            totalSeconds: (end - start).seconds)
        writeState = Locked(WriteState(duplicates: duplicates, snapshotSequence: covered, applied: applied))
        appliedMirror.withLock { $0 = applied }

        // The index is searchable now. The near-duplicate table, needed only by writes, is decoded in the
        // background (a third of the restart time on 200k articles); writes wait for it.
        if let loaded {
            let pendingDuplicateChanges = pendingDuplicateChanges
            duplicatesReady.enter()
            backgroundQueue.async(group: background) { [self] in
                defer { duplicatesReady.leave() }
                var table: DuplicateTable
                switch SnapshotMetadata.decodeTable(loaded.metadata, from: loaded.header.tableOffset) {
                case .success(let decoded):
                    table = decoded
                case .failure:
                    // Cannot happen for a checksummed snapshot short of a bug; recompute from the store then.
                    table = DuplicateTable()
                    try? Self.rebuildDuplicates(store: store, into: &table)
                }
                for change in pendingDuplicateChanges {
                    switch change {
                    case .insert(let entry): table.insert(entry)
                    case .remove(let id): table.remove(id)
                    }
                }
                writeState.withLock { $0.duplicates = table }
            }
        }

        // A rebuilt or long-replayed index is saved right away (in the background) so the next open is fast.
        if indexSnapshotPath != nil, source == .rebuilt || replayed > 0 { scheduleSnapshot() }
        if let shared { startFollowing(shared) }
    }

    /// A replayed change to apply to the near-duplicate table once it is loaded.
    private enum DuplicateChange: Sendable {
        case insert(DuplicateEntry)
        case remove(ArticleID)
    }

    /// Recomputes the near-duplicate table from every stored article.
    private static func rebuildDuplicates(store: any ArticleStore, into table: inout DuplicateTable) throws {
        var cursor: ScanCursor?
        repeat {
            let page = try store.scan(order: .id, after: cursor, limit: 5_000)
            for article in page.articles {
                table.insert(entry(for: article, features: TextFeatures(body: article.body)))
            }
            cursor = page.next
        } while cursor != nil
    }

    /// Applies the store's changes after `sequence` to the index; returns how many, and what they do to the
    /// near-duplicate table.
    private static func replay(
        store: any ArticleStore, since sequence: UInt64, into index: SearchIndex
    ) throws -> (Int, [DuplicateChange], UInt64) {
        var since = sequence
        var count = 0
        var duplicateChanges: [DuplicateChange] = []
        while true {
            let changes = try store.changes(since: since, limit: rebuildBatchSize)
            guard let last = changes.last else { return (count, duplicateChanges, since) }
            let entries = Self.indexAndComputeEntries(changes.compactMap(\.article), into: index)
            for change in changes where change.isDeletion {
                index.remove(id: change.id)
                duplicateChanges.append(.remove(change.id))
            }
            duplicateChanges += entries.map { .insert($0) }
            count += changes.count
            since = last.sequence
        }
    }

    /// Articles handed to the index at once when rebuilding or replaying.
    static let rebuildBatchSize = 25_000

    /// Indexes every stored article.
    private static func rebuild(store: any ArticleStore, into index: SearchIndex, _ duplicates: inout DuplicateTable)
        throws
    {
        // The index builds much faster from large batches (one segment each) than from many small ones.
        var cursor: ScanCursor?
        var pending: [Article] = []
        func flush(_ duplicates: inout DuplicateTable) {
            for entry in Self.indexAndComputeEntries(pending, into: index) { duplicates.insert(entry) }
            pending.removeAll(keepingCapacity: true)
        }
        repeat {
            let page = try store.scan(order: .id, after: cursor, limit: 5_000)
            pending += page.articles
            if pending.count >= rebuildBatchSize { flush(&duplicates) }
            cursor = page.next
        } while cursor != nil
        if !pending.isEmpty { flush(&duplicates) }
    }

    /// Indexes `articles` while computing their near-duplicate entries on another thread (both are CPU-bound and
    /// independent), returning the entries.
    private static func indexAndComputeEntries(_ articles: [Article], into index: SearchIndex) -> [DuplicateEntry] {
        if articles.isEmpty { return [] }
        let entries = Locked<[DuplicateEntry]>([])
        DispatchQueue.concurrentPerform(iterations: 2) { task in
            if task == 0 {
                index.upsert(contentsOf: articles)
            } else {
                let computed = articles.map { Self.entry(for: $0, features: TextFeatures(body: $0.body)) }
                entries.withLock { $0 = computed }
            }
        }
        return entries.withLock { $0 }
    }

    private static func entry(for article: Article, features: TextFeatures) -> DuplicateEntry {
        DuplicateEntry(
            id: article.id, publishedKey: ScanCursor.publishedKey(of: article), duplicateOf: article.duplicateOf,
            contentHash: contentHash(of: article), fingerprint: features.fingerprint, bandKeys: features.bandKeys)
    }

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
        if articles.isEmpty { return ([], 0) }
        // CPU work outside the write lock, so concurrent puts overlap it with each other's commits: the
        // near-duplicate features, and the index segment (it does not depend on `duplicateOf`).
        let (features, prepared) = prepare(articles)
        duplicatesReady.wait()
        return try writeState.withLock { state -> ([PutOutcome], Int) in
            guard !state.closed else { throw EngineError(.closed, "the engine is closed") }
            var toStore: [Article] = []
            var entries: [DuplicateEntry] = []
            let results: [UpsertOutcome]
            if let shared = store as? any SharedArticleStore {
                // Cluster mode: verdicts are decided inside the store's write lock, after applying what other
                // nodes committed, so they are the ones a single node would give whichever node takes the write.
                let write = try shared.serializedUpsert(after: state.applied) { missed in
                    apply(missed, &state)
                    (toStore, entries) = try decide(articles, features, state.duplicates)
                    return toStore
                }
                results = write.outcomes
                state.applied = max(state.applied, write.sequence)
                appliedMirror.withLock { $0 = state.applied }
                state.lastInStep = .now
            } else {
                if state.committedPosition == nil { state.committedPosition = try store.latestSequence }
                (toStore, entries) = try decide(articles, features, state.duplicates)
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
                PutOutcome(id: $0.id, outcome: $1, duplicateOf: $0.duplicateOf)
            }
            publishCommitted(
                zip(toStore, results).compactMap { article, result in
                    switch result {
                    case .unchanged: nil
                    case .inserted: CommittedChange(position: 0, id: article.id, kind: .inserted, article: article)
                    case .updated: CommittedChange(position: 0, id: article.id, kind: .updated, article: article)
                    }
                }, &state)
            return (outcomes, changed.count)
        }
    }

    /// Sets each article's `duplicateOf` against `table` (and the batch's earlier articles); returns the articles to
    /// store and their duplicate-table entries. Called with the write lock held.
    private func decide(_ articles: [Article], _ features: [TextFeatures], _ table: DuplicateTable) throws
        -> ([Article], [DuplicateEntry])
    {
        var batch = DuplicateTable()
        var batchArticles: [ArticleID: (article: Article, shingles: [UInt64])] = [:]
        var toStore: [Article] = []
        var entries: [DuplicateEntry] = []
        toStore.reserveCapacity(articles.count)
        for (article, features) in zip(articles, features) {
            var article = article
            let hash = contentHash(of: article)
            // The latest copy of this id: earlier in this batch, else stored. An equal re-put keeps its verdict
            // (also when the batch holds the id twice, as two grouped INGESTs of one page do).
            if let known = batch.entry(for: article.id) ?? table.entry(for: article.id), known.contentHash == hash {
                article.duplicateOf = known.duplicateOf
            } else {
                article.duplicateOf = try findOriginal(
                    of: article, features: features, in: table, batch: batch, batchArticles)
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

    // MARK: Following a shared store

    /// Applies feed changes, oldest first, to the index and the duplicate table. Idempotent: an upsert replaces the
    /// id's copy, a delete of an absent id does nothing, so replaying a change twice changes nothing, and a delete
    /// after an upsert of the same id (in feed order) leaves it deleted. Called with the write lock held.
    private func apply(_ changes: [StoreChange], _ state: inout WriteState) {
        guard let last = changes.last else { return }
        // For live queries: what each change did to this node's copy, read before the index changes. Changes this
        // node already passed on (a rerun write hands them over again) are skipped by position.
        var fresh: [CommittedChange]?
        if !commitObservers.withLock({ $0.isEmpty }) {
            var present: [ArticleID: Bool] = [:]
            fresh = changes.filter { $0.sequence > state.applied }.map { change in
                let existed = present[change.id] ?? index.contains(id: change.id)
                present[change.id] = change.article != nil
                let kind: CommittedChange.Kind =
                    change.article == nil ? .deleted : existed ? .updated : .inserted
                return CommittedChange(position: change.sequence, id: change.id, kind: kind, article: change.article)
            }
        }
        var pending: [Article] = []
        var pendingIDs: Set<ArticleID> = []
        func flush() {
            guard !pending.isEmpty else { return }
            index.install(index.prepare(contentsOf: pending))
            for article in pending {
                state.duplicates.insert(Self.entry(for: article, features: TextFeatures(body: article.body)))
            }
            pending.removeAll(keepingCapacity: true)
            pendingIDs.removeAll(keepingCapacity: true)
        }
        for change in changes {
            // Batch consecutive upserts; keep feed order whenever an id comes back (several feed pages).
            if pendingIDs.contains(change.id) { flush() }
            if let article = change.article {
                pending.append(article)
                pendingIDs.insert(change.id)
            } else {
                index.remove(id: change.id)
                state.duplicates.remove(change.id)
            }
        }
        flush()
        if let fresh, !fresh.isEmpty { for observer in commitObservers.withLock({ $0 }) { observer(fresh) } }
        state.applied = max(state.applied, last.sequence)
        feedGeneration.withLock { $0 &+= 1 }
        for observer in feedObservers.withLock({ $0 }) { observer(changes) }
        // Published after the observers ran: a reader that sees the new position (a read waiting for it) finds
        // the record cache already in step with it.
        appliedMirror.withLock { $0 = state.applied }
    }

    /// Gives this commit's changes (in commit order, positions not yet set) their feed positions and hands them
    /// to the commit observers. Called with the write lock held, after the store commit: the changes are durable.
    private func publishCommitted(_ changes: [CommittedChange], _ state: inout WriteState) {
        guard !changes.isEmpty else { return }
        let end: UInt64
        if store is any SharedArticleStore {
            end = state.applied  // the write's own sequence, set by the caller
        } else {
            end = (state.committedPosition ?? 0) + UInt64(changes.count)
            state.committedPosition = end
        }
        let observers = commitObservers.withLock { $0 }
        guard !observers.isEmpty else { return }
        var positioned = changes
        let first = end - UInt64(changes.count) + 1
        for index in positioned.indices { positioned[index].position = first + UInt64(index) }
        for observer in observers { observer(positioned) }
    }

    /// Calls `observer` with every committed change, once durable, in commit order, with its feed position: this
    /// engine's own writes and, on a cluster node, the writes it applies from the shared feed. Called with the
    /// engine's write lock held, so it must be quick (hand the batch to another thread).
    public func observeCommittedChanges(_ observer: @escaping @Sendable ([CommittedChange]) -> Void) {
        commitObservers.withLock { $0.append(observer) }
    }

    /// The feed position of the latest durable change this engine has passed to its commit observers (its own
    /// writes and, on a cluster node, the feed it applied). Takes the write lock, so it is ordered with commits.
    public func committedPosition() throws -> UInt64 {
        try writeState.withLock { state in
            if store is any SharedArticleStore { return state.applied }
            if let position = state.committedPosition { return position }
            let position = try store.latestSequence
            state.committedPosition = position
            return position
        }
    }

    /// Calls `observer` with the ids of every batch of changes this engine applies from the feed (writes other
    /// nodes committed), after the index holds them: a cluster node's record cache forgets them there.
    public func observeAppliedChanges(_ observer: @escaping @Sendable ([ArticleID]) -> Void) {
        feedObservers.withLock { $0.append { observer($0.map(\.id)) } }
    }

    /// Like ``observeAppliedChanges(_:)``, with the changes themselves (the new record, or nil for a delete), so a
    /// node's record cache can hold another node's write without reading the store.
    public func observeAppliedRecords(_ observer: @escaping @Sendable ([StoreChange]) -> Void) {
        feedObservers.withLock { $0.append(observer) }
    }

    /// Changes each time this engine applies writes committed by other nodes (see ``observeAppliedChanges(_:)``).
    /// A reader that caches a record it read compares it before and after: when it moved, the record may predate a
    /// change whose invalidation already ran, so the reader drops its copy. Constant on a single node.
    public var appliedChangesGeneration: UInt64 { feedGeneration.withLock { $0 } }

    /// Applies `changes` as the follower does (tests replay a feed twice, or out of the follower's timing).
    func applyFeed(_ changes: [StoreChange]) {
        duplicatesReady.wait()
        writeState.withLock { apply(changes, &$0) }
    }

    /// Largest feed page the follower applies at once.
    static let followBatchSize = 5_000

    /// Applies every change the store has after this engine's position (cluster mode; on a single node the index
    /// is always in step and this returns at once). Returns the position reached.
    @discardableResult
    public func catchUp() throws -> UInt64 {
        guard store is any SharedArticleStore else { return try store.latestSequence }
        duplicatesReady.wait()
        let (applied, changed) = try writeState.withLock { state -> (UInt64, Bool) in
            guard !state.closed else { return (state.applied, false) }
            var changed = false
            while true {
                let changes = try store.changes(since: state.applied, limit: Self.followBatchSize)
                apply(changes, &state)
                if !changes.isEmpty { changed = true }
                if changes.count < Self.followBatchSize { break }
            }
            state.lastInStep = .now
            state.followError = nil
            return (state.applied, changed)
        }
        if changed { maintainAfterWrites() }
        return applied
    }

    /// The feed position this engine's index holds: every write up to it is searchable here.
    public var appliedSequence: UInt64 { appliedMirror.withLock { $0 } }

    /// Whether the store is shared with other nodes (cluster mode), so this engine follows its change feed.
    public var followsSharedStore: Bool { store is any SharedArticleStore }

    /// Waits until this engine's index holds feed position `sequence` (a write acknowledged by another node),
    /// reading the feed as needed; returns false when `timeout` passed first.
    public func waitUntilApplied(_ sequence: UInt64, timeout: Duration) throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        guard let shared = store as? any SharedArticleStore else { return try store.latestSequence >= sequence }
        while true {
            if appliedSequence >= sequence { return true }
            if try catchUp() >= sequence { return true }
            let remaining = deadline - ContinuousClock.now
            if remaining <= .zero { return false }
            shared.waitForChanges(after: appliedSequence, timeout: min(remaining, .milliseconds(50)))
        }
    }

    private var isClosed: Bool { writeState.withLock { $0.closed } }

    /// Runs the follower: wakes on a change notification (or the poll interval) and applies the feed.
    private func startFollowing(_ shared: any SharedArticleStore) {
        follower.enter()
        let thread = Thread { [self] in
            defer { follower.leave() }
            while !isClosed {
                shared.waitForChanges(after: appliedSequence, timeout: configuration.followPollInterval)
                if isClosed { break }
                do {
                    try catchUp()
                } catch {
                    // The store is failing over or unreachable; the next wait is the back-off.
                    writeState.withLock { $0.followError = "\(error)" }
                }
            }
        }
        thread.name = "newswire.engine.follow"
        thread.start()
    }

    /// Merges index segments and schedules a snapshot when due. Merging changes no search result, so it runs
    /// after the write lock is released (the next put's duplicate check and commit overlap it), and a caller may
    /// acknowledge a write before it.
    func maintainAfterWrites() {
        index.mergeSegmentsIfNeeded()
        maybeScheduleSnapshot()
    }

    /// Segments the index holds now (each commit adds one until a merge folds them together).
    /// Segments of the search index.
    public var indexSegmentCount: Int { index.segmentCount }

    /// The near-duplicate features of `articles` and their prepared index segment, computed side by side.
    private func prepare(_ articles: [Article]) -> ([TextFeatures], PreparedSegment) {
        guard articles.count >= 64 else {
            return (articles.map { TextFeatures(body: $0.body) }, index.prepare(contentsOf: articles))
        }
        let segment = Locked<PreparedSegment?>(nil)
        let features = Locked<[TextFeatures]>([])
        DispatchQueue.concurrentPerform(iterations: 2) { task in
            if task == 0 {
                let prepared = index.prepare(contentsOf: articles)
                segment.withLock { $0 = prepared }
            } else {
                let computed = Self.features(of: articles)
                features.withLock { $0 = computed }
            }
        }
        return (features.withLock { $0 }, segment.withLock { $0! })
    }

    /// Near-duplicate features of each article, on all cores for large batches.
    private static func features(of articles: [Article]) -> [TextFeatures] {
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
        if ids.isEmpty { return [] }
        duplicatesReady.wait()
        let existed = try writeState.withLock { state -> [Bool] in
            guard !state.closed else { throw EngineError(.closed, "the engine is closed") }
            let existed: [Bool]
            if let shared = store as? any SharedArticleStore {
                let result = try shared.serializedDelete(ids, after: state.applied) { missed in apply(missed, &state) }
                state.applied = max(state.applied, result.write.sequence)
                appliedMirror.withLock { $0 = state.applied }  // DELETE_RESULT's commit position reads it
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
    private func findOriginal(
        of article: Article, features: TextFeatures, in table: DuplicateTable, batch: DuplicateTable,
        _ batchArticles: [ArticleID: (article: Article, shingles: [UInt64])]
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
            return abs(candidate.publishedKey - key) <= window
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
        var stored: [ArticleID: [UInt64]] = [:]
        for candidate in candidates {
            let root = root(of: candidate).id
            if candidate.fingerprint == features.fingerprint { return root }
            let shingles: [UInt64]
            if let pending = batchArticles[candidate.id] {
                shingles = pending.shingles
            } else if let cached = stored[candidate.id] {
                shingles = cached
            } else {
                guard let other = try store.article(candidate.id) else { continue }
                shingles = TextFeatures(body: other.body).shingles
                stored[candidate.id] = shingles
            }
            if TextFeatures.jaccard(shingles, features.shingles) >= configuration.duplicateSimilarity { return root }
        }
        return nil
    }

    // MARK: Reads

    /// The article with `id`, or nil.
    public func article(id: ArticleID) throws -> Article? {
        try store.article(id)
    }

    /// The articles with `ids`, aligned with `ids` (nil where missing).
    public func articles(ids: [ArticleID]) throws -> [Article?] {
        try store.articles(ids)
    }

    /// The stored JSON bytes of each id, aligned with `ids` (nil where missing); see
    /// ``NewswireStore/ArticleStore/encodedArticles(_:)``.
    public func encodedArticles(ids: [ArticleID]) throws -> [[UInt8]?] {
        try store.encodedArticles(ids)
    }

    /// One page of stored articles in `order`; see ``NewswireStore/ArticleStore/scan(order:after:limit:)``.
    public func scan(order: ScanOrder, after cursor: ScanCursor?, limit: Int) throws -> ScanPage {
        try store.scan(order: order, after: cursor, limit: limit)
    }

    /// Runs a search; throws ``NewswireSearch/QueryError`` for a malformed query.
    public func search(_ request: SearchRequest) throws -> SearchPage {
        try index.search(request)
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

    /// Current counters.
    public func stats() throws -> EngineStats {
        duplicatesReady.wait()
        let (duplicates, snapshotSequence, snapshotError) = writeState.withLock {
            ($0.duplicates.duplicateCount, $0.snapshotSequence, $0.lastSnapshotError)
        }
        let sequence = try store.latestSequence
        var stats = EngineStats(
            articleCount: index.count, duplicateCount: duplicates, storeSequence: sequence,
            snapshotSequence: snapshotSequence,
            changesSinceSnapshot: sequence >= snapshotSequence ? sequence - snapshotSequence : 0, startup: startup,
            lastSnapshotError: snapshotError)
        if let shared = store as? any SharedArticleStore {
            let (applied, lastInStep) = writeState.withLock { ($0.applied, $0.lastInStep) }
            stats.appliedSequence = applied
            let behind = ContinuousClock.now - lastInStep
            stats.lagMilliseconds = applied >= sequence ? 0 : UInt64(max(0, behind.components.seconds * 1_000
                + behind.components.attoseconds / 1_000_000_000_000_000))
            stats.storeDescription = shared.writeTargetDescription
        } else {
            stats.appliedSequence = sequence
        }
        return stats
    }

    // MARK: Snapshots and shutdown

    /// Writes the index snapshot now (atomically: temp file, fsync, rename). Writers wait only while the
    /// engine captures the change sequence and the duplicate table, not while the file is written.
    /// Does nothing when the engine has no snapshot path or nothing changed since the last snapshot.
    public func saveSnapshot() throws {
        guard let snapshotPath else { return }
        duplicatesReady.wait()
        snapshotLock.lock()
        defer { snapshotLock.unlock() }
        // Capture a sequence S the index is in step with and the duplicate table at S. The index file may then
        // include writes after S: replaying the compacted change feed from S at open converges either way.
        let shared = store is any SharedArticleStore
        let captured = try writeState.withLock { state -> (UInt64, DuplicateTable)? in
            // On a shared store the head moves without us: the snapshot covers what this index applied.
            let sequence = shared ? state.applied : try store.latestSequence
            if sequence == state.snapshotSequence, FileManager.default.fileExists(atPath: snapshotPath) { return nil }
            return (sequence, state.duplicates)
        }
        guard let (sequence, duplicates) = captured else { return }
        let metadata = SnapshotMetadata(
            storeIdentifier: store.storeIdentifier, sequence: sequence, duplicates: duplicates)
        try index.write(to: snapshotPath, metadata: metadata.encoded())
        writeState.withLock { state in
            state.snapshotSequence = max(state.snapshotSequence, sequence)
            state.lastSnapshotError = nil
        }
    }

    private func maybeScheduleSnapshot() {
        let due = writeState.withLock { state -> Bool in
            guard !state.closed, !state.snapshotInProgress, snapshotPath != nil else { return false }
            let sequence = store is any SharedArticleStore ? state.applied : ((try? store.latestSequence) ?? 0)
            return sequence >= state.snapshotSequence + UInt64(max(1, configuration.snapshotEveryChanges))
        }
        if due { scheduleSnapshot() }
    }

    private func scheduleSnapshot() {
        let start = writeState.withLock { state -> Bool in
            if state.snapshotInProgress || state.closed { return false }
            state.snapshotInProgress = true
            return true
        }
        guard start else { return }
        backgroundQueue.async(group: background) { [self] in
            var failure: String?
            do { try saveSnapshot() } catch { failure = "\(error)" }
            writeState.withLock { state in
                state.snapshotInProgress = false
                if let failure { state.lastSnapshotError = failure }
            }
        }
    }

    /// Waits for a background snapshot to finish (tests and benchmarks use it to measure a settled engine).
    public func waitForBackgroundWork() {
        background.wait()
    }

    /// Stops accepting writes, waits for background work, saves the snapshot and closes the store.
    /// Reads after close may fail. Calling it twice is harmless.
    public func close() throws {
        let wasOpen = writeState.withLock { state -> Bool in
            defer { state.closed = true }
            return !state.closed
        }
        guard wasOpen else { return }
        if store is any SharedArticleStore {
            // Closing the shared store wakes the follower from its wait; the snapshot needs only local state.
            try? store.close()
            follower.wait()
            background.wait()
            defer {
                directoryLock.withLock { fd in
                    if let descriptor = fd { closeDescriptor(descriptor) }
                    fd = nil
                }
            }
            try saveSnapshot()
            return
        }
        background.wait()
        defer {
            directoryLock.withLock { fd in
                if let descriptor = fd { closeDescriptor(descriptor) }
                fd = nil
            }
        }
        try saveSnapshot()
        try store.close()
    }
}

// File-scope wrappers: inside the engine, `open` and `close` name its own methods.
private func openDescriptor(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 { open(path, flags, mode) }
private func closeDescriptor(_ fd: Int32) { _ = close(fd) }
