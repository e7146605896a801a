import Dispatch
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NewswireEngine
import NewswireModel
import NewswireProtocol
import NewswireSearch
import Synchronization

/// Live queries (PROTOCOL.md §5.19): every WATCH's standing query, fed by the engine's committed changes.
///
/// The engine hands each durable batch over from inside its write lock (so batches arrive in commit order and
/// only once durable); the hub notes its last position and matches it on its own serial queue, off the write
/// path, against every standing query at once (``StandingQueryMatcher``, percolator style), then appends the
/// events to each concerned watch's bounded buffer. A watch whose buffer fills is cut off: its buffer is dropped
/// and its stream ends OVERLOADED with the position to resume after.
///
/// Ordering argument (no gap, no duplicate): a watch taken up at position R (the highest position the hub has
/// been handed) is registered under the hub lock, which also guards R, so every batch handed over afterwards has
/// positions above R and is matched with the watch's query registered; batches handed over before are filtered
/// out by position (each watch takes only positions above its own R).
final class WatchHub: Sendable {
    private struct State {
        /// Highest position the engine handed over.
        var received: UInt64 = 0
        /// The batches handed over and not yet distributed, for the commit pacer.
        var backlog = HubBacklog()
        /// Highest position matched and distributed to the watches.
        var distributed: UInt64 = 0
        /// The open watches by registered query. Watches of equal standing queries (the same text, filters and
        /// snippet options) share one registration, matched once per article: a popular topic is watched by many.
        var registrations: [StandingQueryID: Registration] = [:]
        /// The registered id of each distinct standing query with open watches.
        var registered: [StandingQuery: StandingQueryID] = [:]
        /// The watch of each registration that has exactly one, not asking for the article
        /// (``Registration/soleWatch``): the planning loop reads it here, without touching the registration (a cache
        /// miss per match at 10,000 distinct queries, and another for its array of watches).
        var soleWatches: [StandingQueryID: Watch] = [:]
        var openWatches = 0
        /// Per extra matcher (index 1…): its id of each query → the first matcher's id (the watch's `queryID`).
        var primaryIDs: [[StandingQueryID: StandingQueryID]] = []
        /// The first matcher's id → the query's id in every matcher, in matcher order.
        var allIDs: [StandingQueryID: [StandingQueryID]] = [:]
        var eventsSent: Int64 = 0
        var eventsDropped: Int64 = 0
        var cutoffs: Int64 = 0
        var batches: Int64 = 0
        var matchNanosTotal: Int64 = 0
        var matchNanosMax: Int64 = 0
        /// Commits the pacer held, and for how long in all (STATS `watches.commits_held`, `.commit_held_micros`).
        var commitsHeld: Int64 = 0
        var commitHeldNanos: Int64 = 0
        var changesMatched: Int64 = 0
        var pairsEvaluated: Int64 = 0
        /// Where delivery latency accrues, stage by stage (STATS `watches.lag.*`).
        var waited = LagHistogram()
        var matched = LagHistogram()
        var snippetsBuilt = LagHistogram()
        var offered = LagHistogram()
        var streamed = LagHistogram()
        /// Connections the hub queued events on directly during the batch being distributed, to flush after it.
        var queuedOn: [ObjectIdentifier: Connection] = [:]

        mutating func distributedUpTo(_ position: UInt64) {
            distributed = max(distributed, position)
            backlog.distributed(upTo: distributed)
        }
    }

    /// One registered standing query and the open watches that share it. A class: the planning loop looks one up
    /// per match, and copying the struct (the query's strings) there showed in the profile.
    ///
    /// `@unchecked Sendable`: read and changed only under the hub lock.
    private final class Registration: @unchecked Sendable {
        let query: StandingQuery
        private(set) var watches: [Watch] = []
        /// Watches asking for the article with each event: while none does, one event goes to all of them.
        private(set) var includingArticle = 0

        init(query: StandingQuery) {
            self.query = query
        }

        func add(_ watch: Watch) {
            watches.append(watch)
            if watch.includeArticle { includingArticle += 1 }
        }

        /// Its only watch, when it has one and that watch does not ask for the article: every match goes to it alone.
        var soleWatch: Watch? { watches.count == 1 && includingArticle == 0 ? watches[0] : nil }

        /// Removes `watch`; false if it was not here.
        func remove(_ watch: Watch) -> Bool {
            guard let k = watches.firstIndex(where: { $0 === watch }) else { return false }
            watches.remove(at: k)
            if watch.includeArticle { includingArticle -= 1 }
            return true
        }
    }

    /// Who a planned delivery goes to: one watch, or every watch of a registration as they were when planned.
    private enum Recipients {
        case watch(Watch)
        case all([Watch])
    }

    private let state = NIOLockedValueBox(State())
    /// One matcher per hub thread (at most four), each holding every query: a large committed batch is split into
    /// one contiguous part per matcher, matched side by side, and the results put back in commit order.
    private let matchers: [StandingQueryMatcher]
    /// Below this many changes per part a batch is matched on one thread.
    private static let minimumPart = 8
    private let queue = DispatchQueue(label: "newswire.watch.match")
    /// Threads a batch's matching, snippets and encoding are spread over.
    private let workers: Int
    /// The default for ``workers``: one fewer than the usable cores, at least one. Spread over every core, the
    /// hub's bursts took both cores of a two-core machine from the group commit, whose analysis and store commit
    /// run one batch at a time (with 10,000 distinct watches, ingest took a median 1.26x its time without them,
    /// against 1.21x with the hub on one thread; BENCHMARKS.md). Read once: Foundation's `activeProcessorCount`
    /// reads the cgroup files on every call, which showed in the profile at a few calls per committed batch.
    static let defaultWorkers = max(1, NetworkThreads.defaultCount - 1)
    /// Signalled whenever `distributed` moves (see ``holdCommit()``).
    private let distributedMoved = NSCondition()
    /// Longest a commit is held while the hub catches up: a hub that cannot keep up slows ingest, never stops it.
    static let maxCommitHold: TimeInterval = 0.5
    let engine: NewswireEngine
    private let logger: Logger

    /// Watches open at once, all connections together (see ``register(_:includeArticle:reportUnmatched:capacity:)``).
    let maxWatches: Int

    /// `workers`: threads to match, build snippets and encode on (nil: ``defaultWorkers``).
    init(
        engine: NewswireEngine, logger: Logger, workers: Int? = nil, maxWatches: Int
    ) {
        self.engine = engine
        self.logger = logger
        self.maxWatches = maxWatches
        self.workers = max(1, workers ?? Self.defaultWorkers)
        let count = min(4, self.workers)
        self.matchers = (0..<count).map { _ in StandingQueryMatcher() }
        state.withLockedValue { $0.primaryIDs = Array(repeating: [:], count: count) }
        engine.observeCommittedChanges { [self] changes in self.committed(changes) }
        engine.paceCommits { [self] in self.holdCommit() }
        // After registering: every commit from here on reaches `committed`, every earlier one is at or below this.
        do {
            let position = try engine.committedPosition()
            state.withLockedValue { $0.received = max($0.received, position) }
        } catch {
            logger.error("live queries: cannot read the store's position", metadata: ["newswire_error": "\(error)"])
        }
    }

    // MARK: Feeding

    /// The engine's commit observer: called with its write lock held, so it only notes the position and queues.
    private func committed(_ changes: [CommittedChange]) {
        guard let last = changes.last?.position else { return }
        let handed = ContinuousClock.now
        let anyWatch = state.withLockedValue { state -> Bool in
            state.backlog.handed(upTo: last, at: handed)
            state.received = max(state.received, last)
            return state.openWatches > 0
        }
        if anyWatch {
            queue.async { self.distribute(changes, handed: handed) }
        } else {
            queue.async {
                self.state.withLockedValue { $0.distributedUpTo(last) }
                self.signalDistributed()
            }
        }
    }

    /// The engine's commit pacer: while watches are open and the hub is behind on more than the latest batch
    /// for too long (``HubBacklog/mustHoldCommits(now:)``), the next commit waits (at most ``maxCommitHold``);
    /// the writes arriving meanwhile join the next, larger, group commit.
    private func holdCommit() {
        let deadline = Date(timeIntervalSinceNow: Self.maxCommitHold)
        var heldSince: ContinuousClock.Instant?
        distributedMoved.lock()
        while state.withLockedValue({ $0.openWatches > 0 && $0.backlog.mustHoldCommits(now: .now) }) {
            if heldSince == nil { heldSince = .now }
            if !distributedMoved.wait(until: deadline) { break }
        }
        distributedMoved.unlock()
        if let heldSince {
            let held = (ContinuousClock.now - heldSince).nanoseconds
            state.withLockedValue {
                $0.commitsHeld += 1
                $0.commitHeldNanos += held
            }
        }
    }

    private func signalDistributed() {
        distributedMoved.lock()
        distributedMoved.broadcast()
        distributedMoved.unlock()
    }

    /// Matches one committed batch against every standing query and hands each watch its events. Snippets (most
    /// of the cost) are matched as pending; each event's is placed and written into its payload as it is encoded
    /// (``encode``), or, for a body read again, built beforehand (``buildSnippets``), on the hub's threads; a
    /// stream task builds any still pending when it sends a buffered event (``QueuedWatchEvent``).
    private func distribute(_ changes: [CommittedChange], handed: ContinuousClock.Instant) {
        let articles: [ArticleChange] = changes.map { change in
            guard let article = change.article else { return .deleted(change.id) }
            if change.kind == .updated, let previous = change.previous { return .updated(article, previous: previous) }
            return .inserted(article)
        }
        let started = ContinuousClock.now
        let parts = min(matchers.count, max(1, articles.count / Self.minimumPart))
        let bounds = (0...parts).map { articles.count * $0 / parts }
        let partResults = NIOLockedValueBox([StandingQueryMatches?](repeating: nil, count: parts))
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            let range = bounds[part]..<bounds[part + 1]
            // The index analysed these articles for their segment: the matcher takes those analyses.
            let matched = matchers[part].match(
                Array(articles[range]), analyses: changes[range].map(\.analysis), snippets: .deferred)
            partResults.withLockedValue { $0[part] = matched }
        }
        var matchedAll = partResults.withLockedValue { $0 }
        let matchDone = ContinuousClock.now
        // The open watches as they are now (a copy-on-write snapshot, not a set built per batch).
        let (open, primaryIDs) = state.withLockedValue { ($0.registrations, $0.primaryIDs) }
        Self.buildSnippets(matchedAll, for: open, primaryIDs: primaryIDs, workers: workers)
        let snippetsDone = ContinuousClock.now
        let took = (snippetsDone - started).nanoseconds
        var records: [Int: ArticleRecord] = [:]
        // Who gets which event, planned under the lock without encoding anything: each distinct event (a change
        // with its snippet and options; a deletion for everyone) once in `events`, each delivery pointing at it.
        var events: [QueuedWatchEvent] = []
        var deliveries: [(recipients: Recipients, event: Int)] = []
        state.withLockedValue { state in
            // Back to the first matcher's query ids and the batch's change indexes, in commit order. Each part's
            // matches stay in their own array (parts cover consecutive changes): appending one to another copied
            // every match, a retain and a release per string of its hit.
            var matchLists: [[StandingQueryMatch]] = []
            var deletions: [Int] = []
            var evaluatedPairs = 0
            for part in matchedAll.indices {
                // Moved out, not copied: the usual batch is one part, whose matches are taken as they are.
                guard var matched = matchedAll[part].take() else { continue }
                let offset = bounds[part]
                if part > 0 {
                    var kept = 0
                    for m in matched.matches.indices {
                        guard let primary = state.primaryIDs[part][matched.matches[m].query] else { continue }
                        matched.matches[m].query = primary
                        matched.matches.swapAt(kept, m)
                        kept += 1
                    }
                    matched.matches.removeLast(matched.matches.count - kept)
                }
                if offset != 0 {
                    for m in matched.matches.indices { matched.matches[m].change += offset }
                }
                matchLists.append(matched.matches)
                deletions += matched.deletions.map { $0 + offset }
                evaluatedPairs += matched.evaluatedPairs
            }
            state.batches += 1
            state.matchNanosTotal += took
            state.matchNanosMax = max(state.matchNanosMax, took)
            state.changesMatched += Int64(changes.count)
            state.pairsEvaluated += Int64(evaluatedPairs)
            // Changes to every watch (deletions; updates whose previous version is unknown, to watches asking
            // for `unmatched`), merged with the matches in commit order.
            var broadcasts = deletions
            for (index, change) in changes.enumerated() where change.kind == .updated && change.previous == nil {
                broadcasts.append(index)
            }
            broadcasts.sort()
            var pending = broadcasts[...]
            var matchedByChange: Set<StandingQueryID> = []
            var currentChange = -1
            func deliverBroadcasts(before index: Int) {
                while let next = pending.first, next < index {
                    pending.removeFirst()
                    let change = changes[next]
                    guard let article = change.article else {
                        events.append(
                            QueuedWatchEvent(
                                WatchEventMessage(
                                    position: change.position, kind: .deleted,
                                    hit: SearchHit(id: change.id, title: "", source: nil, publishedAt: nil, score: 0))))
                        for registration in state.registrations.values {
                            deliveries.append((.all(registration.watches), events.count - 1))
                        }
                        continue
                    }
                    // An update whose previous version is unknown: every watch asking for `unmatched` that the
                    // new version does not match hears of it (PROTOCOL.md §5.19 rule 3).
                    let matching = next == currentChange ? matchedByChange : []
                    events.append(
                        QueuedWatchEvent(
                            WatchEventMessage(position: change.position, kind: .unmatched, hit: Self.bareHit(article))))
                    for (id, registration) in state.registrations where !matching.contains(id) {
                        for watch in registration.watches where watch.reportUnmatched {
                            deliveries.append((.watch(watch), events.count - 1))
                        }
                    }
                }
            }
            // One change's distinct events: by snippet (nil: none) and whether the article is included. A list
            // looked through, not a dictionary: a change has a few distinct events, and the dictionary's clearing
            // and growing per change showed in the profile.
            var changeEvents: [(key: EventKey, event: Int)] = []
            for matches in matchLists {
                var index = 0
                while index < matches.count {
                    // One change's matches at a time: an unknown-previous update goes out after them.
                    let change = matches[index].change
                    var end = index
                    // The broadcasts of earlier changes first (none of them is the previous change, whose went out
                    // after its matches), so that whether this change has one is the first one left.
                    deliverBroadcasts(before: change)
                    matchedByChange = []
                    // Only an update with an unknown previous version (rare) asks which queries matched it.
                    let collect = pending.first == change
                    while end < matches.count, matches[end].change == change {
                        if collect, matches[end].kind != .stoppedMatching { matchedByChange.insert(matches[end].query) }
                        end += 1
                    }
                    changeEvents.removeAll(keepingCapacity: true)
                    // Fields are read in place: copying a match or a committed change (an article's strings) for each
                    // delivery showed as retains and releases in the profile.
                    let position = changes[change].position
                    let hasArticle = changes[change].article != nil
                    // The event for match `m` with or without the article: made once per distinct snippet (or none)
                    // and option, then shared by every watch it goes to.
                    func event(for m: Int, includeArticle: Bool) -> Int {
                        let key = EventKey(
                            snippet: matches[m].pendingSnippet?.sharingKey, includeArticle: includeArticle)
                        for known in changeEvents where known.key == key { return known.event }
                        var record: ArticleRecord?
                        if includeArticle, let article = changes[change].article {
                            record = records[change] ?? ArticleRecord(article)
                            records[change] = record
                        }
                        let message = WatchEventMessage(
                            position: position, kind: Self.kind(changes[change].kind), hit: matches[m].hit,
                            record: record)
                        events.append(QueuedWatchEvent(message, snippet: matches[m].pendingSnippet))
                        changeEvents.append((key, events.count - 1))
                        return events.count - 1
                    }
                    for m in index..<end {
                        if matches[m].kind != .stoppedMatching, let watch = state.soleWatches[matches[m].query] {
                            deliveries.append((.watch(watch), event(for: m, includeArticle: false)))
                            continue
                        }
                        guard let registration = state.registrations[matches[m].query] else { continue }
                        let watches = registration.watches
                        if matches[m].kind != .stoppedMatching {
                            // The usual case, no watch of the query asking for the article: one plan entry for all.
                            if registration.includingArticle == 0 || !hasArticle {
                                let shared = event(for: m, includeArticle: false)
                                deliveries.append((watches.count == 1 ? .watch(watches[0]) : .all(watches), shared))
                                continue
                            }
                            for watch in watches {
                                deliveries.append((.watch(watch), event(for: m, includeArticle: watch.includeArticle)))
                            }
                            continue
                        }
                        var unmatched: Int?  // this match's `unmatched` event, made for the first watch asking
                        for watch in watches where watch.reportUnmatched {
                            if unmatched == nil {
                                let message = WatchEventMessage(
                                    position: position, kind: .unmatched, hit: matches[m].hit)
                                events.append(QueuedWatchEvent(message))
                                unmatched = events.count - 1
                            }
                            deliveries.append((.watch(watch), unmatched!))
                        }
                    }
                    currentChange = change
                    deliverBroadcasts(before: change + 1)
                    index = end
                }
            }
            deliverBroadcasts(before: Int.max)
        }
        // Each distinct event encoded once, on the hub's threads, outside the lock.
        let payloads = Self.encode(events, workers: workers)
        let queuedOn = state.withLockedValue { state in
            // One instant for the batch's offers; each event is then passed as it lies in `events`, not copied.
            let offered = ContinuousClock.now
            for index in events.indices { events[index].offered = offered }
            // A watch unregistered since the plan was made ignores what is offered to it (``Watch/unregistered()``):
            // looking each one up again here was most of this loop's time at 10,000 watches.
            // The clock is read once per 64 deliveries, not per event (a clock read per event showed in the
            // profile at 10,000 watches); `streamed` is then late by at most 63 offers' time.
            var clock = offered
            var offers = 0
            func offer(_ index: Int, to watch: Watch) {
                offers += 1
                if offers & 63 == 0 { clock = .now }
                deliver(events[index], payload: payloads[index], to: watch, at: clock, &state)
            }
            for (recipients, index) in deliveries {
                switch recipients {
                case .watch(let watch): offer(index, to: watch)
                case .all(let watches): for watch in watches { offer(index, to: watch) }
                }
            }
            if let last = changes.last?.position { state.distributedUpTo(last) }
            state.waited.record(started - handed)
            state.matched.record(matchDone - started)
            state.snippetsBuilt.record(snippetsDone - matchDone)
            state.offered.record(.now - snippetsDone)
            defer { state.queuedOn = [:] }
            return state.queuedOn
        }
        // One write per connection for the whole batch's directly queued events.
        for connection in queuedOn.values { connection.flushWatchEvents() }
        signalDistributed()
    }

    /// Which events of one change are the same message: the snippet they carry, and whether the article is.
    private struct EventKey: Hashable {
        var snippet: ObjectIdentifier?
        var includeArticle: Bool
    }

    /// The WATCH_EVENT payload of each event with its snippet, encoded side by side: a snippet placed from the
    /// analysis goes straight from the body into the payload after the change's hit head, encoded once per change
    /// (a String per event, a copy of the message to put it in, and the hit's fields encoded again for every
    /// event were a sixth of the live-query hub's samples at 10,000 watchers).
    ///
    /// Each worker writes its events into one buffer and hands out slices of it: a buffer per event was two
    /// allocations per event, freed on another thread (the connection's writer), and the allocator's arena locks
    /// showed in the profile at 10,000 watches. The payloads are held only by frames queued on connections, which
    /// their writers copy into a write buffer as soon as they run, so a batch's buffer is not kept for long; an
    /// event a watch buffers keeps its message, not its payload.
    private static func encode(_ events: [QueuedWatchEvent], workers: Int) -> [ByteBuffer] {
        let workers = events.count < 64 ? 1 : workers
        let parts = NIOLockedValueBox([[ByteBuffer]](repeating: [], count: workers))
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            let range = events.count * worker / workers..<events.count * (worker + 1) / workers
            // Sized once for what the hits' text takes: grown field by field, buffers were reallocated several
            // times (the reallocations showed in the profile at 10,000 watches).
            var buffer = ByteBuffer()
            buffer.reserveCapacity(
                range.reduce(0) { size, index in
                    size + Self.payloadSizeEstimate(events[index].message)
                        + (events[index].snippet?.maximumUTF8Count ?? 0)
                })
            var ends: [Int] = []
            ends.reserveCapacity(range.count)
            var scratch = SnippetPlacementScratch()
            // The hit's head (id, title, source, date) of the change the last event was about: a change's events
            // differ only in their snippets.
            var head: (position: UInt64, encoded: EncodedHitHead)?
            for index in range {
                let event = events[index]
                if let snippet = event.snippet, snippet.isPlacedFromAnalysis, let hit = event.message.hit,
                    event.message.record == nil, event.message.store == nil
                {
                    let position = event.message.position
                    if head?.position != position { head = (position, EncodedHitHead(hit)) }
                    // The snippet placed and written straight into the payload, not made into a String first.
                    _ = snippet.withPlacedText(&scratch) { text, highlights in
                        WatchEventMessage.encode(
                            position: position, kind: event.message.kind, head: head!.encoded,
                            snippetUTF8Count: text.utf8Count, writeSnippet: text.writeUTF8(to:), highlights: highlights,
                            into: &buffer)
                    }
                } else {
                    Response.watchEvent(event.built()).encode(into: &buffer)
                }
                ends.append(buffer.writerIndex)
            }
            var start = buffer.readerIndex
            let encoded = ends.map { end -> ByteBuffer in
                defer { start = end }
                return buffer.getSlice(at: start, length: end - start)!
            }
            parts.withLockedValue { $0[worker] = encoded }
        }
        return parts.withLockedValue { $0.flatMap { $0 } }
    }

    /// About the encoded size of `message`: its hit's strings, a few bytes per highlight, and the fields' tags.
    /// The article, when asked for, is not counted (the buffer then grows as it is written).
    static func payloadSizeEstimate(_ message: WatchEventMessage) -> Int {
        guard let hit = message.hit else { return 64 }
        return 64 + hit.id.rawValue.utf8.count + hit.title.utf8.count + (hit.source?.utf8.count ?? 0)
            + hit.snippet.utf8.count + 8 * hit.highlights.count
    }

    /// Builds the snippets read again from the body (not placed from the analysis) that the batch's events to
    /// open watches need, each distinct one once, on the hub's threads
    /// (worker threads of their own: on the cooperative pool, thousands of streams building snippets would
    /// delay every request's continuations behind them). The stream tasks then find them built.
    private static func buildSnippets(
        _ parts: [StandingQueryMatches?], for open: [StandingQueryID: Registration],
        primaryIDs: [[StandingQueryID: StandingQueryID]], workers: Int
    ) {
        var seen: Set<ObjectIdentifier> = []
        var pending: [PendingSnippet] = []
        // Matches are read in place (copying each one's hit and snippet cost a retain per field in the profile).
        for part in parts.indices {
            guard let count = parts[part]?.matches.count else { continue }
            for m in 0..<count {
                // Snippets placed from the analysis are placed as their events are encoded (``encode``).
                guard let snippet = parts[part]!.matches[m].pendingSnippet, !snippet.isPlacedFromAnalysis else {
                    continue
                }
                let key = snippet.sharingKey
                let query = parts[part]!.matches[m].query
                let primary = part == 0 ? query : primaryIDs[part][query]
                guard let primary, open[primary] != nil, seen.insert(key).inserted else { continue }
                pending.append(parts[part]!.matches[m].pendingSnippet!)
            }
        }
        guard !pending.isEmpty else { return }
        // Grouped by article, each article's snippets on one worker: its body is analysed once for all of them.
        var byBody: [ObjectIdentifier: [PendingSnippet]] = [:]
        for snippet in pending { byBody[snippet.bodyKey, default: []].append(snippet) }
        let groups = Array(byBody.values)
        let workers = min(groups.count, workers)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            PendingSnippet.buildAll(stride(from: worker, to: groups.count, by: workers).flatMap { groups[$0] })
        }
    }

    /// A hit with the article's id, title, source and date (no snippet).
    static func bareHit(_ article: Article) -> SearchHit {
        SearchHit(id: article.id, title: article.title, source: article.source, publishedAt: article.publishedAt, score: 0)
    }

    private func deliver(
        _ event: QueuedWatchEvent, payload: ByteBuffer, to watch: Watch, at now: ContinuousClock.Instant,
        _ state: inout State
    ) {
        switch watch.offer(event, payload: payload) {
        case .accepted, .ignored: break
        case .sent(let connection):
            state.eventsSent += 1
            state.streamed.record(now - event.offered)
            state.queuedOn[ObjectIdentifier(connection)] = connection
        case .cutOff(let dropped):
            state.cutoffs += 1
            state.eventsDropped += Int64(dropped)
            unregister(watch, &state)
        case .dropped:
            state.eventsDropped += 1
        }
    }

    static func kind(_ kind: CommittedChange.Kind) -> WatchEventKind {
        switch kind {
        case .created: .new
        case .updated: .updated
        case .deleted: .deleted
        case .written: .changed
        }
    }

    // MARK: Watches

    /// Registers a standing query (or joins the open watches of an equal one); returns its watch, taken up at the
    /// hub's latest position (`watch.after`). Throws the query's ``QueryError``.
    func register(_ query: StandingQuery, includeArticle: Bool, reportUnmatched: Bool, capacity: Int) throws -> Watch {
        try state.withLockedValue { state in
            guard state.openWatches < maxWatches else {
                throw ProtocolError(
                    code: .overloaded,
                    message: "this server has \(maxWatches) watches open, its limit (newswired --max-watches); "
                        + "retry later, or end watches you no longer read",
                    retryAfterMillis: 1000)
            }
            let id: StandingQueryID
            if let existing = state.registered[query] {
                id = existing
            } else {
                // Every matcher compiles the same query, so they throw alike (the first one throws for all).
                let ids = try matchers.map { try $0.register(query) }
                id = ids[0]
                state.allIDs[id] = ids
                for part in 1..<max(1, ids.count) { state.primaryIDs[part][ids[part]] = id }
                state.registered[query] = id
                state.registrations[id] = Registration(query: query)
            }
            let watch = Watch(
                queryID: id, after: state.received, includeArticle: includeArticle, reportUnmatched: reportUnmatched,
                capacity: capacity)
            state.registrations[id]!.add(watch)
            state.soleWatches[id] = state.registrations[id]!.soleWatch
            state.openWatches += 1
            if state.openWatches == 1 { engine.keepAnalysesForObservers(true) }
            return watch
        }
    }

    /// Forgets a watch (its stream ended).
    func remove(_ watch: Watch) {
        state.withLockedValue { state in unregister(watch, &state) }
    }

    /// Lets go of `watch` (if the hub still holds it), and of its query once no open watch shares it.
    private func unregister(_ watch: Watch, _ state: inout State) {
        let id = watch.queryID
        guard let registration = state.registrations[id], registration.remove(watch) else { return }
        watch.unregistered()
        state.openWatches -= 1
        if state.openWatches == 0 { engine.keepAnalysesForObservers(false) }
        state.soleWatches[id] = registration.soleWatch
        guard registration.watches.isEmpty else { return }
        state.registrations[id] = nil
        state.registered[registration.query] = nil
        for (part, partID) in (state.allIDs.removeValue(forKey: id) ?? [id]).enumerated() {
            matchers[part].unregister(partID)
            if part > 0 { state.primaryIDs[part][partID] = nil }
        }
    }

    /// The position up to which every change concerning `watch` has been handed to it: its last event, or the
    /// hub's distributed position when nothing is waiting in its buffer — short of the first event the hub offered
    /// after the watch ended (dropped, so a resume must start before it).
    func coveredPosition(of watch: Watch, lastSent: UInt64) -> UInt64 {
        state.withLockedValue { state in
            let lastSent = max(lastSent, watch.lastSentDirectly)
            guard watch.isIdle else { return lastSent }
            var covered = max(watch.after, min(state.distributed, state.received))
            if let dropped = watch.firstDropped { covered = min(covered, dropped - 1) }
            return max(lastSent, covered)
        }
    }

    /// The position to resume after that the ERROR ending `watch` carries, from its task or from outside it (a
    /// shutdown's grace running out): what its task has queued, and once live, what the hub has distributed since.
    func endPosition(of watch: Watch) -> UInt64 {
        let (covered, live) = watch.progress
        return live ? coveredPosition(of: watch, lastSent: covered) : covered
    }

    func recordSent(_ count: Int) {
        state.withLockedValue { $0.eventsSent += Int64(count) }
    }

    /// A live event reached its connection's outbound queue: `lag` after the hub offered it to the watch.
    func recordSent(streamedAfter lag: Duration) {
        state.withLockedValue {
            $0.eventsSent += 1
            $0.streamed.record(lag)
        }
    }

    /// STATS entries (README "STATS").
    func statEntries() -> [StatEntry] {
        let state = state.withLockedValue { $0 }
        let average = state.batches == 0 ? 0 : Double(state.matchNanosTotal) / Double(state.batches) / 1000
        return [
            StatEntry(name: "watches.open", value: .integer(Int64(state.openWatches))),
            StatEntry(name: "watches.queries", value: .integer(Int64(state.registrations.count))),
            StatEntry(name: "watches.events_sent", value: .integer(state.eventsSent)),
            StatEntry(name: "watches.events_dropped", value: .integer(state.eventsDropped)),
            StatEntry(name: "watches.cutoffs", value: .integer(state.cutoffs)),
            StatEntry(name: "watches.position", value: .integer(Int64(state.distributed))),
            StatEntry(name: "watches.match_batches", value: .integer(state.batches)),
            StatEntry(name: "watches.match_changes", value: .integer(state.changesMatched)),
            StatEntry(name: "watches.match_pairs", value: .integer(state.pairsEvaluated)),
            StatEntry(name: "watches.match_micros_per_batch", value: .double(average)),
            StatEntry(name: "watches.match_micros_max", value: .integer(state.matchNanosMax / 1000)),
            StatEntry(name: "watches.commits_held", value: .integer(state.commitsHeld)),
            StatEntry(name: "watches.commit_held_micros", value: .integer(state.commitHeldNanos / 1000)),
        ] + state.waited.entries("watches.lag.queued") + state.matched.entries("watches.lag.matched")
            + state.snippetsBuilt.entries("watches.lag.snippets") + state.offered.entries("watches.lag.offered")
            + state.streamed.entries("watches.lag.streamed")
    }
}

/// One WATCH stream's server side: its position, its bounded buffer of events waiting for the connection, and why
/// it ended. The hub fills the buffer; the stream's task (``ServerContext``) empties it into the connection.
final class Watch: Sendable {
    /// Why a watch stopped.
    enum End: Sendable, Equatable {
        /// The buffer filled: the client reads too slowly.
        case cutOff
        /// The client sent CANCEL.
        case cancelled
        /// The server is shutting down (GOAWAY).
        case shuttingDown
        /// The connection is gone.
        case gone
    }

    enum Offer {
        case accepted, ignored, dropped
        /// Queued on the connection at once (see ``goLive(_:)``); flush the connection after the batch.
        case sent(Connection)
        case cutOff(dropped: Int)
    }

    enum Next: Sendable {
        case event(QueuedWatchEvent)
        case ended(End)
    }

    private struct State {
        var buffer: [QueuedWatchEvent] = []
        var head = 0
        var end: End?
        var waiter: CheckedContinuation<Next, Never>?
        var taking = false
        /// Set once the stream's task sends live events: the hub may then queue them on the connection itself.
        var sink: WatchSink?
        /// Position of the last event the hub queued on the connection itself.
        var lastSentDirectly: UInt64 = 0
        /// The hub no longer holds it (its stream ended, or it was cut off): offers are ignored.
        var unregistered = false
        /// The first event offered after the watch ended (never sent): the watch covers only what precedes it,
        /// however far the hub has distributed since.
        var firstDropped: UInt64?
        /// Where the stream's task stands: every change up to it has been queued for the client or did not
        /// concern the watch (the live part beyond it is the hub's: ``WatchHub/endPosition(of:)``).
        var covered: UInt64 = 0
    }

    let queryID: StandingQueryID
    /// Live events are those with positions above this (the hub's position when the watch was taken up).
    let after: UInt64
    let includeArticle: Bool
    /// Whether the client asked for `unmatched` events.
    let reportUnmatched: Bool
    let capacity: Int
    /// Inline in the object, not a separate lock box: the hub offers an event to each of thousands of mostly cold
    /// watches, and a box of its own was a second cache miss per offer (most of the offers' time in the profile).
    private let state = Mutex(State())

    init(queryID: StandingQueryID, after: UInt64, includeArticle: Bool, reportUnmatched: Bool, capacity: Int) {
        self.queryID = queryID
        self.after = after
        self.includeArticle = includeArticle
        self.reportUnmatched = reportUnmatched
        self.capacity = capacity
    }

    /// The hub offers an event, `payload` its encoded WATCH_EVENT (called under the hub lock).
    func offer(_ event: QueuedWatchEvent, payload: ByteBuffer) -> Offer {
        guard event.message.position > after else { return .ignored }
        let (result, waiter): (Offer, CheckedContinuation<Next, Never>?) = state.withLock { state in
            if state.unregistered { return (.ignored, nil) }
            guard state.end == nil else {
                if state.firstDropped == nil { state.firstDropped = event.message.position }
                return (.dropped, nil)
            }
            // Nothing waits before it and the connection has room: queued at once, with no task switch (the
            // stream's task stays parked until the connection is full or the watch ends).
            if let sink = state.sink, state.head == state.buffer.count, !state.taking,
                sink.connection.queueWatchEventIfRoom(payload, requestID: sink.requestID)
            {
                state.lastSentDirectly = event.message.position
                return (.sent(sink.connection), nil)
            }
            if let waiter = state.waiter {
                state.waiter = nil
                state.taking = true
                return (.accepted, waiter)
            }
            if state.buffer.count - state.head >= capacity {
                // Slow consumer: drop what waits and hold nothing more for it (PROTOCOL.md §5.19 rule 7).
                let dropped = state.buffer.count - state.head + 1
                state.buffer = []
                state.head = 0
                state.end = .cutOff
                return (.cutOff(dropped: dropped), nil)
            }
            state.buffer.append(event)
            return (.accepted, nil)
        }
        waiter?.resume(returning: .event(event))
        return result
    }

    /// The hub let go of this watch (called under the hub lock): events it planned for it before are ignored.
    func unregistered() {
        state.withLock { $0.unregistered = true }
    }

    /// The stream's task has replayed what it had to and sends live events from now on: the hub may queue
    /// events on `sink` itself while nothing waits in the buffer (the task sends what does).
    func goLive(_ sink: WatchSink) {
        state.withLock { $0.sink = sink }
    }

    /// Position of the last event the hub queued on the connection itself (0 if none).
    var lastSentDirectly: UInt64 { state.withLock { $0.lastSentDirectly } }

    /// Ends the watch (cancel, shutdown, connection gone); the stream's task wakes and finishes it.
    func end(_ reason: End) {
        let waiter: CheckedContinuation<Next, Never>? = state.withLock { state in
            guard state.end == nil else { return nil }
            state.end = reason
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: .ended(reason))
    }

    /// Why it ended, if it did.
    var endReason: End? { state.withLock { $0.end } }

    /// Whether nothing waits in the buffer and the stream's task is not holding an event it took.
    var isIdle: Bool { state.withLock { $0.buffer.count == $0.head && !$0.taking && $0.end != .cutOff } }

    /// Records where the stream's task stands (see `State.covered`).
    func cover(_ position: UInt64) {
        state.withLock { $0.covered = position }
    }

    /// Where the stream's task stands, and whether it sends live events yet.
    var progress: (covered: UInt64, live: Bool) { state.withLock { ($0.covered, $0.sink != nil) } }

    /// Position of the first event the hub offered after the watch ended, if any.
    var firstDropped: UInt64? { state.withLock { $0.firstDropped } }

    /// The stream's task: the next event, waiting for one; or why the watch ended (what is still buffered then is
    /// not sent: the end's position says where to resume).
    func next() async -> Next {
        await withCheckedContinuation { (continuation: CheckedContinuation<Next, Never>) in
            let ready: Next? = state.withLock { state in
                state.taking = false
                if let end = state.end { return .ended(end) }
                if state.head < state.buffer.count {
                    let event = state.buffer[state.head]
                    state.head += 1
                    if state.head > 256, state.head * 2 > state.buffer.count {
                        state.buffer.removeFirst(state.head)
                        state.head = 0
                    }
                    state.taking = true
                    return .event(event)
                }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// The stream's task finished with the event it took at `position`: handed to the connection, or not
    /// (the stream stopped), in which case the watch covers only what precedes it.
    func sent(_ position: UInt64, delivered: Bool) {
        state.withLock { state in
            state.taking = false
            if !delivered, state.firstDropped.map({ position < $0 }) ?? true { state.firstDropped = position }
        }
    }
}

/// Where the hub queues a live watch's events itself: its connection and stream.
struct WatchSink: Sendable {
    let connection: Connection
    let requestID: RequestID
}

/// An event for the watches it concerns: its message, and its snippet when the query asks for one (built by the
/// hub before the event is offered; a stream task builds one still pending). One reference however many watches
/// it goes to: as a value, each delivery and each buffered copy retained every string of its hit.
///
/// `@unchecked Sendable`: `offered` is set by the hub under its lock before the event is offered to any watch, and
/// only read after a watch's lock handed it over.
final class QueuedWatchEvent: @unchecked Sendable {
    let message: WatchEventMessage
    let snippet: PendingSnippet?
    /// When the hub offered it (for STATS `watches.lag.streamed`).
    var offered: ContinuousClock.Instant

    init(_ message: WatchEventMessage, snippet: PendingSnippet? = nil) {
        self.message = message
        self.snippet = snippet
        offered = .now
    }

    /// The message to send, with its snippet.
    func built() -> WatchEventMessage {
        guard let snippet else { return message }
        var message = message
        let (text, highlights) = snippet.build()
        message.hit?.snippet = text
        message.hit?.highlights = highlights
        return message
    }
}

/// Durations in power-of-two microsecond buckets: cheap to record under the hub lock, precise enough to say which
/// stage of delivery the latency comes from (STATS `watches.lag.<stage>_p50_micros`, `_p99_micros`, `_max_micros`).
struct LagHistogram: Sendable {
    private var buckets = [Int64](repeating: 0, count: 40)
    private var count: Int64 = 0
    private var maxMicros: Int64 = 0

    mutating func record(_ duration: Duration) {
        let micros = max(0, duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000)
        let bucket = micros == 0 ? 0 : min(buckets.count - 1, 64 - micros.leadingZeroBitCount)
        buckets[bucket] += 1
        count += 1
        maxMicros = max(maxMicros, micros)
    }

    /// The upper bound of the bucket holding the `fraction` quantile.
    func quantile(_ fraction: Double) -> Int64 {
        guard count > 0 else { return 0 }
        let rank = Int64((Double(count) * fraction).rounded(.up))
        var seen: Int64 = 0
        for (bucket, n) in buckets.enumerated() {
            seen += n
            if seen >= rank { return min(maxMicros, bucket == 0 ? 0 : (1 << bucket) - 1) }
        }
        return maxMicros
    }

    func entries(_ name: String) -> [StatEntry] {
        [
            StatEntry(name: name + "_p50_micros", value: .integer(quantile(0.5))),
            StatEntry(name: name + "_p99_micros", value: .integer(quantile(0.99))),
            StatEntry(name: name + "_max_micros", value: .integer(maxMicros)),
        ]
    }
}

/// The committed batches the watch hub has not distributed yet, and the rule that holds the next commit: while a
/// batch other than the latest has waited for longer than ``budget``, or more than ``maxBatches`` wait. A hub that
/// keeps within the budget never holds a commit, so matching overlaps the next commits instead of taking turns
/// with them (holding whenever the hub was one batch behind cost about a tenth of the ingest time at 10,000
/// watches), and delivery latency stays bounded by the budget plus a batch's matching.
struct HubBacklog: Sendable {
    /// How long the oldest batch may wait for the watches before commits are held.
    static let budget = Duration.milliseconds(20)
    /// Most batches waiting for the watches before commits are held, however young (each holds its articles).
    static let maxBatches = 8

    /// Each waiting batch's last position and when it was handed over, oldest first.
    private var batches: [(position: UInt64, handed: ContinuousClock.Instant)] = []

    var count: Int { batches.count }

    /// A committed batch ending at `position` was handed to the hub.
    mutating func handed(upTo position: UInt64, at instant: ContinuousClock.Instant) {
        batches.append((position, instant))
    }

    /// Every batch up to `position` reached the watches.
    mutating func distributed(upTo position: UInt64) {
        batches.removeFirst(batches.prefix { $0.position <= position }.count)
    }

    /// Whether the next commit waits for the hub.
    func mustHoldCommits(now: ContinuousClock.Instant) -> Bool {
        guard batches.count >= 2 else { return false }
        return batches.count > Self.maxBatches || now - batches[0].handed > Self.budget
    }
}
