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

/// Following a shared store's feed (cluster mode) and handing committed changes to observers (live queries).
extension NewswireEngine {
    // MARK: Following a shared store

    /// Applies feed changes, oldest first, to the index and the duplicate table. Idempotent: an upsert replaces the
    /// id's copy, a delete of an absent id does nothing, so replaying a change twice changes nothing, and a delete
    /// after an upsert of the same id (in feed order) leaves it deleted. Called with the write lock held.
    ///
    /// `prepared` is the page's index segment and near-duplicate entries, computed outside the lock from exactly
    /// `changes` (a page read in one snapshot: each id at most once); without it they are computed here.
    func apply(_ changes: [StoreChange], prepared: PreparedFeedPage? = nil, _ state: inout WriteState) {
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
                    change.article == nil ? .deleted : existed ? .updated : .created
                return CommittedChange(position: change.sequence, id: change.id, kind: kind, article: change.article)
            }
        }
        if let prepared {
            // Each id is in the page once, so deletions and the segment's upserts commute.
            for change in changes where change.isDeletion {
                index.remove(id: change.id)
                state.duplicates.remove(change.id)
            }
            for segment in prepared.segments { index.install(segment) }
            for entry in prepared.entries { state.duplicates.insert(entry) }
        } else {
            var pending: [StoreChange] = []
            var pendingIDs: Set<ArticleID> = []
            func flush() {
                guard !pending.isEmpty else { return }
                index.install(index.prepare(contentsOf: pending.compactMap(\.article)))
                for change in pending { state.duplicates.insert(Self.duplicateEntry(for: change)!) }
                pending.removeAll(keepingCapacity: true)
                pendingIDs.removeAll(keepingCapacity: true)
            }
            for change in changes {
                // Batch consecutive upserts; keep feed order whenever an id comes back (several feed pages).
                if pendingIDs.contains(change.id) { flush() }
                if change.article != nil {
                    pending.append(change)
                    pendingIDs.insert(change.id)
                } else {
                    index.remove(id: change.id)
                    state.duplicates.remove(change.id)
                }
            }
            flush()
        }
        if let fresh, !fresh.isEmpty { for observer in commitObservers.withLock({ $0 }) { observer(fresh) } }
        state.applied = max(state.applied, last.sequence)
        feedGeneration.withLock { $0 &+= 1 }
        for observer in feedObservers.withLock({ $0 }) { observer(changes) }
        // Published after the observers ran: a reader that sees the new position (a read waiting for it) finds
        // the record cache already in step with it.
        appliedPosition.publish(state.applied)
    }

    /// Gives this commit's changes (in commit order, positions not yet set) their feed positions and hands them
    /// to the commit observers. Called with the write lock held, after the store commit: the changes are durable.
    func publishCommitted(_ changes: [CommittedChange], _ state: inout WriteState) {
        guard !changes.isEmpty else { return }
        // Every commit keeps the index from being quiet, also those a bulk load makes without the maintenance
        // that arms the compaction timer (``GroupCommitter`` runs it only once its queue empties): otherwise a
        // timer armed early in a load fired halfway through it and folded segments that more were joining.
        compactionTimer.withLock { $0.writes &+= 1 }
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

    /// While `keep` is true, this engine's own writes hand their observers each article's index analysis
    /// (``CommittedChange/analysis``), which the segment build computes anyway. A live-query hub turns it on while
    /// watches are open, so its matcher does not analyse the same text again; off, nothing is kept (the
    /// analyses of a large batch take several times its text's memory until the observers are done with them).
    public func keepAnalysesForObservers(_ keep: Bool) {
        analysesKept.withLock { $0 = keep }
    }

    /// The feed position of the latest durable change this engine has passed to its commit observers (its own
    /// writes and, on a cluster node, the feed it applied). Takes the write lock, so it is ordered with commits.
    public func committedPosition() throws -> UInt64 {
        try writeState.withLock { state in
            if store is any SharedArticleStore { return state.applied }
            if let position = state.committedPosition { return position }
            let position = try mappingErrors { try store.latestSequence }
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
    public func observeAppliedRecords(_ observer: @escaping @Sendable ([CommittedChange]) -> Void) {
        feedObservers.withLock { $0.append { observer($0.map(CommittedChange.init(feed:))) } }
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

    /// Largest feed page the follower reads and applies at once: each page is indexed and made searchable on its
    /// own while the next one is read, so a large backlog or batch becomes visible piece by piece. Each page also
    /// makes an index segment to merge later, so much smaller pages cost more merging than they save.
    static let followPageSize = 1_024

    /// Segments the follower leaves unmerged while the feed still has pages for it: merging waits until it is in
    /// step (merging changes no result). Merges run on their own thread (``scheduleMerge()``) and do not hold off
    /// installs; at twice this many the follower merges before reading on.
    static let followDeferredSegmentLimit = 32

    /// Merges index segments on the merge thread, alongside installs (see
    /// ``NewswireSearch/SearchIndex/mergeSegmentsAlongsideWriters()``): neither the group commit nor, on a cluster
    /// node, the follower waits for a merge to make the next change searchable. Calls made while a merge is
    /// queued add nothing; a call during a merge queues one more pass. A pass with nothing to merge (after most
    /// group commits) returns at once, without the thread of its own a low-priority merge is built on.
    func scheduleMerge() {
        runOnce(on: mergeQueue, queued: mergeQueued) { [self] in
            guard index.hasMergeDue else { return }
            buildingMerges { [self] in
                if let hook = beforeScheduledMerge.withLock({ $0 }) { hook() }
                index.mergeSegmentsAlongsideWriters()
            }
        }
    }

    /// Whether merges are built at a lower priority (``Configuration/mergesAtLowPriority``).
    var mergesAtLowPriority: Bool { configuration.mergesAtLowPriority ?? isClustered }

    /// How many nice levels below the process a low-priority merge is built (``Configuration/mergesAtLowPriority``).
    static let lowPriorityMergeNiceness: Int32 = 10

    /// Runs `merge` (from the merge queue) and returns when it is done: at a lower priority, on a thread of its own
    /// that ends with it, when ``mergesAtLowPriority``. Its own thread because an unprivileged thread cannot raise
    /// its priority again: a dispatch worker lowered for a merge would stay low for whatever it ran next.
    func buildingMerges(_ merge: @escaping @Sendable () -> Void) {
        guard mergesAtLowPriority else { return merge() }
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            #if os(Linux)
                // With NPTL a nice value is per thread, and `who` 0 is the calling thread. Relative to what the thread
                // inherited (a server started with `nice` stays below it), at most 19.
                let which = __priority_which_t(PRIO_PROCESS.rawValue)
                _ = setpriority(which, 0, min(19, getpriority(which, 0) + Self.lowPriorityMergeNiceness))
            #endif
            merge()
            done.signal()
        }
        thread.name = "newswire.engine.merge"
        thread.start()
        done.wait()
    }

    /// Runs `work` on `queue` (unless the engine has closed by then), once for any number of calls made before
    /// it starts: `queued` is set from the first call until the run begins.
    private func runOnce(on queue: DispatchQueue, queued: Locked<Bool>, _ work: @escaping @Sendable () -> Void) {
        let start = queued.withLock { isQueued -> Bool in
            if isQueued { return false }
            isQueued = true
            return true
        }
        guard start else { return }
        queue.async(group: background) { [self] in
            queued.withLock { $0 = false }
            if isClosed { return }
            work()
        }
    }

    /// Applies every change the store has after this engine's position (cluster mode; on a single node the index
    /// is always in step and this returns at once). Returns the position reached.
    ///
    /// Page by page: the next page is read while the current one is indexed, and the index segments and
    /// near-duplicate entries of a page are computed outside the write lock (which is taken only to install
    /// them), so this node's own writes, STATS and other readers are not held behind indexing. Within a page,
    /// writer batch by writer batch (``batchPieces(of:)``), each searchable before the next is prepared.
    @discardableResult
    public func catchUp() throws -> UInt64 {
        guard store is any SharedArticleStore else { return try mappingErrors { try store.latestSequence } }
        duplicatesReady.wait()
        feedFollowing.lock()
        defer { feedFollowing.unlock() }
        if isClosed { return appliedSequence }
        var read: FeedPageRead? = nextFeedPageRead(since: appliedSequence)
        var changed = false
        while let current = read {
            feedPagesRead.withLock { $0 += 1 }
            var page = try mappingErrors { try current.page() }
            let full = page.count == Self.followPageSize
            // A batch cut by the page's end is read whole with the next page, so its shipped analysis applies.
            if full, let cut = Self.startOfCutBatch(in: page) { page.removeSubrange(cut...) }
            // A page that ends at an announced commit is followed by the next while later commits are announced.
            let end = page.last?.sequence ?? current.through ?? current.since
            let more = full || (current.through != nil && !announcedPositions(after: end, limit: 1).isEmpty)
            read = more ? nextFeedPageRead(since: end) : nil
            // Batch by batch: a page holding two writers' batches makes the first searchable before the second is
            // prepared (under a bulk load the feed's lag was often two batches read together).
            var since = current.since
            var open = true
            for piece in Self.batchPieces(of: page) {
                let changes = Array(page[piece])
                let prepared = prepareFeedPage(changes)
                if let hook = beforeFollowerInstall.withLock({ $0 }) { hook() }
                let inStep = piece.upperBound == page.count && !more
                open = writeState.withLock { state -> Bool in
                    guard !state.closed else { return false }
                    if state.applied == since {
                        apply(changes, prepared: prepared, &state)
                    } else {
                        // This node's own write applied part of the feed meanwhile (inside the store's write lock):
                        // apply only what is still new, the plain way.
                        apply(changes.filter { $0.sequence > state.applied }, &state)
                    }
                    if inStep { state.lastInStep = .now }
                    state.followError = nil
                    return true
                }
                guard open else { break }
                since = changes.last!.sequence
            }
            if page.isEmpty {
                open = writeState.withLock { state -> Bool in
                    guard !state.closed else { return false }
                    if !more { state.lastInStep = .now }
                    state.followError = nil
                    return true
                }
            }
            guard open else { break }
            if !page.isEmpty { changed = true }
            if more, index.segmentCount >= 2 * Self.followDeferredSegmentLimit {
                // Merges on the merge thread fall behind the pages: this page waits for one, so searches never
                // visit too many segments.
                index.mergeSegmentsAlongsideWriters()
            } else if index.segmentCount >= Self.followDeferredSegmentLimit {
                scheduleMerge()
            }
        }
        if changed {
            mergeWhenFeedQuiet()
            compactWhenQuiet()
            maybeScheduleSnapshot()
        }
        return appliedSequence
    }

    /// Smallest page the follower cuts at a commit the store announced (see ``nextFeedPageRead(since:)``).
    static let followMinimumCutPage = 256

    /// Starts reading the page after `since`. Where the store announced the commits after `since`, the page ends
    /// at one of them: at the first whose changes number ``followMinimumCutPage`` or more (several small commits
    /// are read together, a writer's batch alone), never past ``followPageSize``. A follower one batch behind then
    /// reads only that batch, and one two batches behind makes the first searchable while it reads the second,
    /// instead of reading both before either (under a bulk load, the reads of two batches at once were the
    /// longest lags). Without announcements, a page of up to ``followPageSize`` changes.
    func nextFeedPageRead(since: UInt64) -> FeedPageRead {
        var through: UInt64?
        for end in announcedPositions(after: since, limit: 64) {
            guard end - since <= UInt64(Self.followPageSize) else { break }
            through = end
            if end - since >= UInt64(Self.followMinimumCutPage) { break }
        }
        return FeedPageRead(store: store, since: since, through: through, limit: Self.followPageSize)
    }

    /// Positions announced after `sequence` by a shared store (empty on a single node).
    func announcedPositions(after sequence: UInt64, limit: Int) -> [UInt64] {
        (store as? any SharedArticleStore)?.announcedPositions(after: sequence, limit: limit) ?? []
    }

    /// How long the feed must stay quiet before a follower in step merges what it installed. Well above the time
    /// between a writer's batches under load: at 250 ms, a bulk load on a busy machine (batches 150-260 ms apart)
    /// let the timer fire between two batches, and followers merged half the load in the middle of it (0.3-0.7 s on
    /// a loaded machine, where a trace put the run's slowest batch) only to merge it again with the rest at the end.
    static let followMergeQuietPeriod: DispatchTimeInterval = .seconds(1)

    /// Merges the follower's segments once the feed has been quiet for ``followMergeQuietPeriod``, or at once when
    /// ``followDeferredSegmentLimit`` segments piled up. A follower that keeps up is in step after every batch;
    /// merging then (as after each of this node's own commits) rewrote every article once per doubling of the
    /// index, about log2(articles / batch) times, which became most of a follower's work once it installs the
    /// writers' shipped analyses. Left to pile up, the segments of a burst are folded together at once (the merge
    /// policy takes similar-sized segments in one pass), as the group committer does for a bulk load; searches
    /// meanwhile visit at most that many more segments. Merging changes no result.
    func mergeWhenFeedQuiet() {
        if index.segmentCount >= Self.followDeferredSegmentLimit { return scheduleMerge() }
        let generation = feedGeneration.withLock { $0 }
        DispatchQueue.global().asyncAfter(deadline: .now() + Self.followMergeQuietPeriod) { [self] in
            if feedGeneration.withLock({ $0 }) == generation { scheduleMerge() }
        }
    }

    /// The index segments and near-duplicate entries of a feed page; nil when the page holds an id twice (a feed
    /// read in one snapshot never does), which ``apply(_:prepared:_:)`` then handles in order.
    ///
    /// Where the page holds a whole batch whose writer shipped its index analysis (``ShippedAnalysis``, stored in
    /// pieces with the batch's records), the batch's segment is made from it instead of analysing the text again:
    /// only when every record of the batch is in the page at consecutive positions and each record's content hash
    /// is the one the writer analysed. Anything else (an older writer, a record rewritten since, a damaged or
    /// unknown analysis) is analysed here, so the index is the same either way.
    func prepareFeedPage(_ changes: [StoreChange]) -> PreparedFeedPage? {
        var ids = Set<ArticleID>(minimumCapacity: changes.count)
        for change in changes where !ids.insert(change.id).inserted { return nil }
        // The writer's stored features when the feed has them: computing them costs about as much as indexing.
        let entries = changes.map(Self.duplicateEntry(for:))
        var segments: [PreparedSegment] = []
        var analysed: [Article] = []
        var i = 0
        while i < changes.count {
            if let shipped = shippedBatch(at: i, in: changes, entries: entries) {
                segments.append(shipped)
                i += shipped.count
                continue
            }
            if let article = changes[i].article { analysed.append(article) }
            i += 1
        }
        // On this thread alone: a follower spreading over every core would take them from this node's own writes
        // and reads (and, with nodes sharing a machine, from the node taking the writes).
        if !analysed.isEmpty { segments.append(index.prepare(contentsOf: analysed)) }
        shippedDocuments.withLock { $0 += UInt64(changes.count { $0.article != nil } - analysed.count) }
        return PreparedFeedPage(segments: segments, entries: entries.compactMap { $0 })
    }

    /// The segment of the batch whose shipped analysis `changes[start]` carries, when the batch is whole in
    /// `changes` from `start` on (consecutive positions) and every record is the one analysed; else nil.
    func shippedBatch(at start: Int, in changes: [StoreChange], entries: [DuplicateEntry?]) -> PreparedSegment? {
        guard let head = StoredDuplicateFeatures.analysisPiece(in: changes[start].derivedData), head.index == 0,
            start + head.count <= changes.count
        else { return nil }
        let first = changes[start].sequence
        var pieces: [ArraySlice<UInt8>] = []
        pieces.reserveCapacity(head.count)
        for k in 0..<head.count {
            let change = changes[start + k]
            guard change.sequence == first + UInt64(k),
                let piece = StoredDuplicateFeatures.analysisPiece(in: change.derivedData),
                piece.index == k, piece.count == head.count
            else { return nil }
            pieces.append(piece.bytes)
        }
        // Joined at their final size: appended one by one, the batch's analysis (about 1.5 KB per record) was
        // copied again each time the array grew.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(pieces.reduce(0) { $0 + $1.count })
        for piece in pieces { bytes += piece }
        guard let analysis = ShippedAnalysis(decoding: bytes[...]), analysis.count == head.count else { return nil }
        var articles: [Article] = []
        articles.reserveCapacity(analysis.count)
        for (k, check) in analysis.checks.enumerated() {
            guard let article = changes[start + k].article, entries[start + k]?.contentHash == check else {
                return nil
            }
            articles.append(article)
        }
        return index.prepare(contentsOf: articles, analysis: analysis)
    }

    /// The page cut where each batch with a shipped analysis starts and ends (the changes between such batches form
    /// pieces of their own), in feed order: each piece is prepared and installed before the next is prepared.
    static func batchPieces(of page: [StoreChange]) -> [Range<Int>] {
        var pieces: [Range<Int>] = []
        var start = 0
        var i = 0
        while i < page.count {
            if let piece = StoredDuplicateFeatures.analysisPiece(in: page[i].derivedData), piece.index == 0,
                piece.count > 0
            {
                if start < i { pieces.append(start..<i) }
                let end = min(page.count, i + piece.count)
                pieces.append(i..<end)
                start = end
                i = end
                continue
            }
            i += 1
        }
        if start < page.count { pieces.append(start..<page.count) }
        return pieces
    }

    /// Where a full feed page should end so that no batch with a shipped analysis is cut by the page's end: the
    /// index of the first record of the last such batch that runs past it (nil when none does, or when it starts
    /// the page: a batch larger than a page is analysed).
    static func startOfCutBatch(in page: [StoreChange]) -> Int? {
        for i in page.indices.reversed() {
            guard let piece = StoredDuplicateFeatures.analysisPiece(in: page[i].derivedData), piece.index == 0 else {
                continue
            }
            return i + piece.count > page.count && i > 0 ? i : nil
        }
        return nil
    }

    /// The near-duplicate entry of an upsert read from the feed (nil for a deletion): the features its writer
    /// stored next to the record when they are there and its own, else computed here.
    static func duplicateEntry(for change: StoreChange) -> DuplicateEntry? {
        guard let article = change.article else { return nil }
        return StoredDuplicateFeatures.entry(for: article, from: change.derivedData)
            ?? entry(for: article, features: TextFeatures(body: article.body))
    }

    /// The feed position this engine's index holds: every write up to it is searchable here.
    public var appliedSequence: UInt64 { appliedPosition.value }

    /// Whether the store is shared with other nodes (cluster mode), so this engine follows its change feed.
    public var followsSharedStore: Bool { store is any SharedArticleStore }

    /// Waits until this engine's index holds feed position `sequence` (a write acknowledged by another node),
    /// reading the feed on the calling thread as needed; returns false when `timeout` passed first. It blocks its
    /// thread: a server answering reads uses ``applied(atLeast:within:)``, which holds none.
    public func waitUntilApplied(_ sequence: UInt64, timeout: Duration) throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        guard let shared = store as? any SharedArticleStore else {
            return try mappingErrors { try store.latestSequence } >= sequence
        }
        while true {
            if appliedSequence >= sequence { return true }
            if try catchUp() >= sequence { return true }
            let remaining = deadline - ContinuousClock.now
            if remaining <= .zero { return false }
            shared.waitForChanges(after: appliedSequence, timeout: min(remaining, .milliseconds(50)))
        }
    }

    /// Waits, holding no thread, until this engine's index holds feed position `sequence` (a write acknowledged by
    /// another node, which a read carries as its `minPosition`); false when `timeout` passed first. The follower
    /// applies the feed, woken by the commit's notification; only while the store cannot vouch for notifications
    /// (its listener is down) is a catch-up started here as well, so the read does not wait for the next poll. (A
    /// catch-up for every read that arrived before the notification did read pages not cut at the commits, and
    /// doubled the probe's lag in the cluster benchmark.)
    public func applied(atLeast sequence: UInt64, within timeout: Duration) async -> Bool {
        if appliedSequence >= sequence { return true }
        guard let shared = store as? any SharedArticleStore else {
            return ((try? mappingErrors { try store.latestSequence }) ?? 0) >= sequence
        }
        if shared.announcedSequence == nil { requestCatchUp() }
        return await appliedPosition.wait(for: sequence, timeout: timeout)
    }

    /// Reads waiting in ``applied(atLeast:within:)``.
    public var readsWaitingForFeed: Int { appliedPosition.waitingCount }

    /// Runs ``catchUp()`` off the caller's thread, once for any number of requests made before it starts.
    private func requestCatchUp() {
        runOnce(on: catchUpQueue, queued: catchUpQueued) { [self] in
            do {
                try catchUp()
            } catch {
                writeState.withLock { $0.followError = "\(error)" }
            }
        }
    }

    var isClosed: Bool { writeState.withLock { $0.closed } }

    /// Whether this engine holds feed position `position`, counting a write of its own that is committing now.
    ///
    /// A node that writes is woken by the notification of its own commit, which may arrive before the commit's
    /// answer: reading the feed then would read the node's own batch back (every record and its shipped analysis)
    /// and prepare it again, only to find it applied. The write lock is held across a write's store round trips,
    /// so waiting for it settles that; it also covers another node's write that this node's write applied inside
    /// the store's lock. Notifications are only a hint, so a follower still reads after each poll timeout.
    func holds(_ position: UInt64) -> Bool {
        if appliedSequence >= position { return true }
        return writeState.withLock { $0.applied } >= position
    }

    /// Runs the follower: wakes on a change notification (or the poll interval) and applies the feed.
    func startFollowing(_ shared: any SharedArticleStore) {
        follower.enter()
        let thread = Thread { [self] in
            defer { follower.leave() }
            while !isClosed {
                let waited = ContinuousClock.now
                shared.waitForChanges(after: appliedSequence, timeout: configuration.followPollInterval)
                if isClosed { break }
                if ContinuousClock.now - waited < configuration.followPollInterval,
                    let announced = shared.announcedSequence, holds(announced)
                {
                    continue  // woken for writes this node already holds: nothing to read
                }
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
}
