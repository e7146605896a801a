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
        /// How long writes (on a cluster node, the feed too) must stay quiet before the index folds the segments
        /// they left into at most two, which searches then visit instead of about log2(articles / batch);
        /// default 1 s; nil never does. Under a steady stream of writes it happens every 30 quiet periods.
        public var compactionQuietPeriod: Duration?
        /// Whether a batch of writes has its index segment and near-duplicate features prepared on every core
        /// (true) or on one thread (false); nil: every core on a single node, one thread on a cluster node. A
        /// cluster node's batches wait for PostgreSQL's round trips, which the next batch's preparation overlaps
        /// anyway: on every core it did not make a bulk load faster, and took the cores from the nodes following
        /// the feed when they share a machine (BENCHMARKS.md, "Cluster mode"). A writing node with cores of its
        /// own and a fast network to PostgreSQL may load faster with true.
        public var preparesWritesOnEveryCore: Bool?
        /// Whether index merges are built on a thread at a lower scheduling priority than writes, reads and the
        /// feed (Linux: 10 nice levels lower for that thread; elsewhere no change); nil: on a cluster node, not on a
        /// single node. A merge is background work that only makes later searches cheaper, while a cluster node's
        /// installs of the feed are what reads carrying another node's write position wait for: at normal priority,
        /// the followers' merges during a bulk load (0.2-0.9 s each on a loaded machine) were behind the slowest
        /// batches' lag on a shared machine (BENCHMARKS.md, "Cluster mode").
        public var mergesAtLowPriority: Bool?

        /// Creates a configuration with the documented defaults.
        public init(
            store: SQLiteArticleStore.Configuration = .init(), snapshotEveryChanges: Int = 20_000,
            duplicateSimilarity: Double = 0.8, duplicateWindowDays: Int = 7, followPollInterval: Duration = .seconds(1),
            compactionQuietPeriod: Duration? = .seconds(1), preparesWritesOnEveryCore: Bool? = nil,
            mergesAtLowPriority: Bool? = nil
        ) {
            self.mergesAtLowPriority = mergesAtLowPriority
            self.preparesWritesOnEveryCore = preparesWritesOnEveryCore
            self.store = store
            self.snapshotEveryChanges = snapshotEveryChanges
            self.duplicateSimilarity = duplicateSimilarity
            self.duplicateWindowDays = duplicateWindowDays
            self.followPollInterval = followPollInterval
            self.compactionQuietPeriod = compactionQuietPeriod
        }
    }

    /// File name of the index snapshot inside the data directory.
    public static let snapshotFileName = "index.snapshot"

    /// The record store. Internal: callers go through the engine, which keeps store and index in step.
    let store: any ArticleStore
    /// The search index. Internal, like the store.
    let index: SearchIndex
    /// How the index came up.
    public let startup: EngineStartup
    /// Where snapshots go; nil when the engine does not persist its index.
    public let snapshotPath: String?

    let configuration: Configuration
    let writeState: Locked<WriteState>
    let snapshotLock = NSLock()
    let background = DispatchGroup()
    let backgroundQueue = DispatchQueue(label: "newswire.engine.snapshot")
    /// Merges index segments alongside writes and installs (``scheduleMerge()``).
    let mergeQueue = DispatchQueue(label: "newswire.engine.merge")
    /// Whether a merge pass is queued on `mergeQueue` and not started yet.
    let mergeQueued = Locked(false)
    /// Called by the follower between preparing a feed page and installing it (tests force an interleaving).
    let beforeFollowerInstall = Locked<(@Sendable () -> Void)?>(nil)
    /// Called on the merge thread before each scheduled merge pass (tests hold a merge while writes go on).
    let beforeScheduledMerge = Locked<(@Sendable () -> Void)?>(nil)
    let directoryLock: Locked<Int32?>
    /// Left once the near-duplicate table is loaded; writes wait on it.
    let duplicatesReady = DispatchGroup()
    /// Left when the follower thread (shared stores only) has stopped.
    let follower = DispatchGroup()
    /// Held while reading and applying the shared feed (the follower thread, or a read waiting for a position), so
    /// two callers do not read and index the same pages.
    let feedFollowing = NSLock()
    /// Bumped (after the index changed) each time changes committed by other writers are applied; readable without
    /// the write lock, which a commit holds across its store round trip.
    let feedGeneration = Locked<UInt64>(0)
    /// `WriteState.applied`, readable without the write lock, and the reads waiting for it.
    let appliedPosition = AppliedPosition()
    /// Runs the catch-ups that waiting reads ask for (``applied(atLeast:within:)``).
    let catchUpQueue = DispatchQueue(label: "newswire.engine.catch-up")
    /// Whether such a catch-up is queued on `catchUpQueue` and not started yet.
    let catchUpQueued = Locked(false)
    /// Articles from the feed indexed from their writer's shipped analysis instead of analysed here.
    let shippedDocuments = Locked<UInt64>(0)
    /// Feed pages read by ``catchUp()`` (tests check that a node does not read its own writes back).
    let feedPagesRead = Locked<UInt64>(0)
    let feedObservers = Locked<[@Sendable ([StoreChange]) -> Void]>([])
    /// Live-query observers: called, in commit order, with every change once it is durable.
    let commitObservers = Locked<[@Sendable ([CommittedChange]) -> Void]>([])
    /// Whether writes keep their index analysis for the commit observers (see ``keepAnalysesForObservers(_:)``).
    let analysesKept = Locked(false)
    /// Called before each group commit (see ``paceCommits(with:)``).
    let commitPacers = Locked<[@Sendable () -> Void]>([])
    /// Writes seen since the index last went quiet (``compactWhenQuiet()``).
    let compactionTimer = Locked(CompactionTimer())
    /// Compactions that merged something (tests wait for one).
    let compactions = Locked<Int>(0)

    struct WriteState {
        var duplicates: DuplicateTable
        var closed = false
        var snapshotSequence: UInt64
        var snapshotInProgress = false
        var lastSnapshotError: String?
        /// Why the store's database was found damaged by the check after open; writes are refused from then on.
        var storeDamage: String?
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
        let engine = try open(dataDirectory: dataDirectory, configuration: configuration) {
            try SQLiteArticleStore(directory: dataDirectory, configuration: configuration.store)
        }
        engine.checkStoreInBackground()
        return engine
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
    static func open(
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

    static func lockDataDirectory(_ directory: String) throws -> Int32 {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw EngineError(.cannotOpen, "\(directory) exists and is not a directory")
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw EngineError(
                .cannotOpen,
                "cannot create data directory \(directory): \(StoreError.reason(ofFileError: error))")
        }
        // The directory itself is locked, not a file in it: a lock file someone deleted (or replaced) let a
        // second server open the same directory.
        let fd = openDescriptor(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)
        guard fd >= 0 else {
            throw EngineError(
                .cannotOpen, "cannot open \(directory): \(String(cString: strerror(errno))); check permissions")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            closeDescriptor(fd)
            throw EngineError(
                .dataDirectoryInUse,
                "data directory \(directory) is in use by another Newswire process (it is locked); "
                    + "stop it or choose another directory")
        }
        removeLeftoverSnapshotTemporaries(in: directory)
        return fd
    }

    /// Removes what snapshot writes a crash interrupted left (`index.snapshot.tmp-PID`, tens of MB each: a crash
    /// loop would fill the disk). Called holding the directory's lock, so no other process is writing one.
    static func removeLeftoverSnapshotTemporaries(in directory: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names where name.hasPrefix(snapshotFileName + ".tmp-") {
            try? FileManager.default.removeItem(atPath: (directory as NSString).appendingPathComponent(name))
        }
    }

    /// Builds an engine over `store`. With `indexSnapshotPath` the index is loaded from that snapshot (and saved
    /// there); without, it is rebuilt from the store.
    public init(store: any ArticleStore, indexSnapshotPath: String?, configuration: Configuration = Configuration())
        throws
    {
        // On another core while the snapshot loads, so a restarted server's first SEARCH does not build it.
        DispatchQueue.global(qos: .utility).async { SearchIndex.prepareAnalyzer() }
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
        appliedPosition.publish(applied)

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
        // A snapshot saved mid-burst, or a rebuild, may hold many segments.
        compactWhenQuiet()
        if let shared { startFollowing(shared) }
    }

    /// A replayed change to apply to the near-duplicate table once it is loaded.
    enum DuplicateChange: Sendable {
        case insert(DuplicateEntry)
        case remove(ArticleID)
    }

    /// Recomputes the near-duplicate table from every stored article.
    static func rebuildDuplicates(store: any ArticleStore, into table: inout DuplicateTable) throws {
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
    static func replay(
        store: any ArticleStore, since sequence: UInt64, into index: SearchIndex
    ) throws -> (Int, [DuplicateChange], UInt64) {
        var since = sequence
        var count = 0
        var duplicateChanges: [DuplicateChange] = []
        while true {
            let changes = try store.changes(since: since, limit: rebuildBatchSize)
            guard let last = changes.last else { return (count, duplicateChanges, since) }
            let upserts = changes.filter { !$0.isDeletion }
            let stored = upserts.compactMap { StoredDuplicateFeatures.entry(for: $0.article!, from: $0.derivedData) }
            let entries: [DuplicateEntry]
            if stored.count == upserts.count {
                index.upsert(contentsOf: upserts.map { $0.article! })  // features stored by their writers
                entries = stored
            } else {
                entries = Self.indexAndComputeEntries(upserts.map { $0.article! }, into: index)
            }
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
    static func rebuild(store: any ArticleStore, into index: SearchIndex, _ duplicates: inout DuplicateTable)
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
    static func indexAndComputeEntries(_ articles: [Article], into index: SearchIndex) -> [DuplicateEntry] {
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

    static func entry(for article: Article, features: TextFeatures) -> DuplicateEntry {
        DuplicateEntry(
            id: article.id, publishedKey: ScanCursor.publishedKey(of: article), duplicateOf: article.duplicateOf,
            contentHash: contentHash(of: article), fingerprint: features.fingerprint, bandKeys: features.bandKeys)
    }
}

// File-scope wrappers: inside the engine, `open` and `close` name its own methods.
func openDescriptor(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 { open(path, flags, mode) }
func closeDescriptor(_ fd: Int32) { _ = close(fd) }
