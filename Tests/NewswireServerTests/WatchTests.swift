import NIOCore
import NewswireEngine
import NewswireModel
import NewswireProtocol
import NewswireSearch
import NewswireServer
import NewswireTestSupport
import Testing

/// What a watcher should see, computed without the server: every change with its feed position, and for each
/// query whether SEARCH over an index holding only that article returns it (PROTOCOL.md §5.19 rule 2).
struct WatchOracle {
    struct Change {
        var position: UInt64
        var id: ArticleID
        var kind: WatchEventKind
        var article: Article?
        /// For an update: the version it replaced.
        var previous: Article? = nil
    }

    struct Event: Hashable, CustomStringConvertible {
        var position: UInt64
        var kind: WatchEventKind
        var id: ArticleID
        var description: String { "\(position) \(kind) \(id)" }
    }

    var position: UInt64
    var changes: [Change] = []
    /// Each id's stored version.
    var current: [ArticleID: Article] = [:]

    /// Puts `articles` through the engine and records what changed, at which position.
    mutating func put(_ articles: [Article], engine: NewswireEngine) throws {
        let outcomes = try engine.put(articles)
        for (article, outcome) in zip(articles, outcomes) where outcome.outcome != .unchanged {
            position += 1
            var stored = article
            stored.duplicateOf = outcome.duplicateOf
            changes.append(
                Change(
                    position: position, id: article.id, kind: outcome.outcome == .created ? .new : .updated,
                    article: stored, previous: current[article.id]))
            current[article.id] = stored
        }
    }

    mutating func delete(_ ids: [ArticleID], engine: NewswireEngine) throws {
        for (id, existed) in zip(ids, try engine.delete(ids: ids)) where existed {
            position += 1
            changes.append(Change(position: position, id: id, kind: .deleted, article: nil))
            current[id] = nil
        }
    }

    static func matches(_ article: Article, _ watch: WatchMessage) -> Bool {
        let index = SearchIndex()
        index.upsert(article)
        let request = SearchRequest(
            text: watch.text, sources: watch.sources, publishedFrom: watch.publishedFrom,
            publishedBefore: watch.publishedBefore, limit: 1, includeSnippets: false)
        return ((try? index.search(request))?.total ?? 0) == 1
    }

    /// The live events for `watch` after position `after`: with `report_unmatched`, an update whose previous
    /// version matched and whose new one does not comes as `unmatched`.
    func live(_ watch: WatchMessage, after: UInt64) -> [Event] {
        changes.filter { $0.position > after }.compactMap { change in
            if let article = change.article {
                if Self.matches(article, watch) { return Event(position: change.position, kind: change.kind, id: change.id) }
                guard watch.reportUnmatched, let previous = change.previous, Self.matches(previous, watch) else { return nil }
                return Event(position: change.position, kind: .unmatched, id: change.id)
            }
            return Event(position: change.position, kind: .deleted, id: change.id)
        }
    }

    /// The events a resume after `after` replays from the compacted feed up to `upTo`: each id's latest change in
    /// (after, upTo], as `changed` when it matches, `deleted` when it is a deletion (rule 5); with
    /// `report_unmatched`, as `unmatched` when it does not match (rule 3: the feed cannot tell what matched before).
    func replay(_ watch: WatchMessage, after: UInt64, upTo: UInt64) -> [Event] {
        var latest: [ArticleID: Change] = [:]
        for change in changes where change.position > after && change.position <= upTo { latest[change.id] = change }
        return latest.values.sorted { $0.position < $1.position }.compactMap { change in
            if let article = change.article {
                if Self.matches(article, watch) { return Event(position: change.position, kind: .changed, id: change.id) }
                return watch.reportUnmatched ? Event(position: change.position, kind: .unmatched, id: change.id) : nil
            }
            return Event(position: change.position, kind: .deleted, id: change.id)
        }
    }
}

/// Articles from a small vocabulary, so that every query matches some and misses others.
enum WatchCorpus {
    static let words = ["能源", "电网", "特高压工程", "合作", "grid", "economy", "疆电入川", "水利"]
    static let sources = ["新华社", "央视网", "人民网"]

    static func article(_ n: Int, version: Int = 0, seed: Int) -> Article {
        var generator = SplitMix(seed: UInt64(seed &* 7919 &+ n &* 31 &+ version))
        func pick() -> String { words[Int(generator.next() % UInt64(words.count))] }
        let title = "\(pick()) \(n)"
        let body = (0..<4).map { _ in "\(pick())，\(pick())" }.joined(separator: "。")
        return Article(
            id: ArticleID("w-\(n)"), title: title,
            publishedAt: PublishedTime(secondsSinceEpoch: 1_710_000_000 + Int64(n) * 3600, utcOffsetSeconds: 28_800),
            source: sources[Int(generator.next() % UInt64(sources.count))], paragraphs: [body, "v\(version)"],
            language: "zh")
    }

    static let queries: [WatchMessage] = [
        WatchMessage(text: "能源"),
        WatchMessage(text: "特高压工程 电网"),
        WatchMessage(text: "grid OR 水利"),
        WatchMessage(text: "合作 -economy"),
        WatchMessage(text: "title:疆电入川"),
        WatchMessage(text: "能源", sources: ["新华社"]),
    ]
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A raw peer for WATCH streams: sends frames written from the spec and sorts what comes back by request id.
final class WatchPeer {
    let raw: RawConnection
    private(set) var started: [UInt32: WatchEventMessage] = [:]
    private(set) var events: [UInt32: [WatchEventMessage]] = [:]
    private(set) var ends: [UInt32: ProtocolError] = [:]
    private(set) var others: [Frame] = []

    /// `maxFrameLength`: announced in HELLO (0: the default).
    init(port: Int, receiveBufferBytes: Int32? = nil, maxFrameLength: UInt32 = 0) throws {
        raw = try RawConnection(port: port, receiveBufferBytes: receiveBufferBytes)
        raw.send(requestBytes([(.hello(HelloMessage(clientName: "watch-test", maxFrameLength: maxFrameLength)), 0)]))
        guard try raw.receive(1).first?.opcode == .welcome else {
            throw TestConnectionError(description: "no WELCOME")
        }
    }

    func send(_ request: Request, id: UInt32) { raw.send(requestBytes([(request, id)])) }

    /// Sends CANCEL for watch `id` and reads until its end arrives.
    func cancel(_ id: UInt32) throws {
        send(.cancel, id: id)
        try read { $0.ends[id] != nil }
    }

    /// Opens a watch and waits for its STARTED event (the watch is registered from then on).
    @discardableResult
    func watch(_ message: WatchMessage, id: UInt32) throws -> WatchEventMessage {
        send(.watch(message), id: id)
        try read { $0.started[id] != nil || $0.ends[id] != nil }
        guard let started = started[id] else {
            throw TestConnectionError(description: "WATCH \(id) ended: \(ends[id].map { "\($0)" } ?? "?")")
        }
        return started
    }

    /// Reads frames until `done` holds (or the server goes quiet / closes: then it throws).
    func read(until done: (WatchPeer) -> Bool) throws {
        while !done(self) {
            guard let frame = try raw.receive(1).first else {
                throw TestConnectionError(description: "the server closed or went quiet")
            }
            let id = frame.requestID.rawValue
            switch try Response(frame: frame) {
            case .watchEvent(let event):
                #expect(frame.hasMoreToFollow, "WATCH_EVENT without more-to-follow")
                if event.kind == .started { started[id] = event } else { events[id, default: []].append(event) }
            case .error(let error):
                ends[id] = error
            default:
                others.append(frame)
            }
        }
    }

    /// The events of watch `id`, as oracle events.
    func observed(_ id: UInt32) -> [WatchOracle.Event] {
        (events[id] ?? []).map { WatchOracle.Event(position: $0.position, kind: $0.kind, id: $0.hit?.id ?? "") }
    }

    func sawDeletion(of sentinel: ArticleID, on id: UInt32) -> Bool {
        events[id]?.last.map { $0.kind == .deleted && $0.hit?.id == sentinel } ?? false
    }
}

extension ServerOverLoopback {
    @Suite("Server: WATCH streams (PROTOCOL.md §5.19)", .serialized)
    struct WatchTests {
        static let sentinel = ArticleID("sentinel")

        /// Writes a final article and deletes it: the deletion reaches every watch, after everything before it.
        static func fence(_ oracle: inout WatchOracle, engine: NewswireEngine, _ sentinel: ArticleID = sentinel) throws {
            try oracle.put([Article(id: sentinel, title: "fence", paragraphs: ["fence"])], engine: engine)
            try oracle.delete([sentinel], engine: engine)
        }

        /// With the default hub threads (one on a two-core machine), and with three, so that a large commit is
        /// split across matchers and put back in commit order on every machine.
        @Test(
            "events equal the oracle's matches for inserts, updates and deletes, in commit order, on one connection",
            arguments: [nil, 3] as [Int?])
        func eventsEqualOracle(watchThreads: Int?) async throws {
            try await withLoopbackServer(articles: 0, configure: { $0.limits.watchThreads = watchThreads }) { server in
                try await runBlocking {
                    let peer = try WatchPeer(port: server.port)
                    var oracle: WatchOracle?
                    for (index, query) in WatchCorpus.queries.enumerated() {
                        let started = try peer.watch(query, id: UInt32(10 + index))
                        #expect(started.store == server.engine.storeIdentifier)
                        if oracle == nil { oracle = WatchOracle(position: started.position) }
                        #expect(started.position == oracle!.position)
                    }
                    var writes = oracle!
                    var generator = SplitMix(seed: 42)
                    for round in 0..<12 {
                        let batch = (0..<8).map { _ in
                            let n = Int(generator.next() % 40)
                            return WatchCorpus.article(n, version: round, seed: 42)
                        }
                        try writes.put(batch, engine: server.engine)
                        if round % 3 == 2 {
                            let ids = (0..<3).map { _ in ArticleID("w-\(generator.next() % 40)") }
                            try writes.delete(ids, engine: server.engine)
                        }
                        // An unchanged re-put takes no position and sends nothing.
                        try writes.put([batch[0]], engine: server.engine)
                    }
                    // Large commits are split across matchers, one part per hub thread, and put back in commit order.
                    try writes.put((0..<160).map { WatchCorpus.article($0 % 60, version: 100 + $0 / 60, seed: 42) }, engine: server.engine)
                    try Self.fence(&writes, engine: server.engine)
                    let ids = (0..<WatchCorpus.queries.count).map { UInt32(10 + $0) }
                    try peer.read { peer in ids.allSatisfy { peer.sawDeletion(of: Self.sentinel, on: $0) } }
                    var total = 0
                    for (index, query) in WatchCorpus.queries.enumerated() {
                        let expected = writes.live(query, after: writes.changes.first!.position - 1)
                        #expect(peer.observed(UInt32(10 + index)) == expected, "query \(query.text)")
                        total += expected.filter { $0.kind != .deleted }.count
                    }
                    #expect(total > 20, "the write sequence should match the queries often")
                    // Hits are SEARCH's hits: snippets on request, highlights inside them.
                    let hit = try #require(peer.events[10]?.first { $0.kind == .new }?.hit)
                    #expect(hit.snippet.isEmpty)  // include_snippets was not asked for
                }
            }
        }

        @Test("watches of one query with different options each get their own form of every event of a batch")
        func optionsPerWatchInOneBatch() async throws {
            try await withLoopbackServer(articles: 0) { server in
                try await runBlocking {
                    let peer = try WatchPeer(port: server.port)
                    // The same query four ways, and a second query highlighting other terms: the server encodes
                    // each distinct event once and hands it to every watch that gets that form.
                    let forms: [(id: UInt32, message: WatchMessage)] = [
                        (20, WatchMessage(text: "能源")),
                        (21, WatchMessage(text: "能源", includeArticle: true)),
                        (22, WatchMessage(text: "能源", includeSnippets: true)),
                        (23, WatchMessage(text: "能源", includeArticle: true, includeSnippets: true)),
                        (24, WatchMessage(text: "能源", includeSnippets: true, snippetLength: 40)),
                        (25, WatchMessage(text: "能源 电网", includeSnippets: true)),
                    ]
                    var oracle: WatchOracle?
                    for (id, message) in forms {
                        let started = try peer.watch(message, id: id)
                        if oracle == nil { oracle = WatchOracle(position: started.position) }
                    }
                    var writes = oracle!
                    // One commit: every event of the batch goes through one hand-over.
                    try writes.put((0..<24).map { WatchCorpus.article($0, seed: 7) }, engine: server.engine)
                    try Self.fence(&writes, engine: server.engine)
                    try peer.read { peer in forms.allSatisfy { peer.sawDeletion(of: Self.sentinel, on: $0.id) } }
                    for (id, message) in forms {
                        let expected = writes.live(message, after: writes.changes.first!.position - 1)
                        #expect(peer.observed(id) == expected, "watch \(id)")
                        for event in peer.events[id] ?? [] where event.kind == .new {
                            let hit = try #require(event.hit)
                            #expect((event.record != nil) == message.includeArticle, "watch \(id) \(hit.id)")
                            // The hit is SEARCH's for that article (less the score).
                            let page = try server.engine.search(
                                SearchRequest(
                                    text: message.text, limit: 100, includeSnippets: message.includeSnippets,
                                    snippetLength: message.snippetLength == 0
                                        ? Limits.defaultSnippetLength : message.snippetLength))
                            let searched = page.hits.first { $0.id == hit.id }
                            #expect(hit.snippet == searched?.snippet ?? "", "watch \(id) \(hit.id)")
                            #expect(hit.highlights == searched?.highlights ?? [], "watch \(id) \(hit.id)")
                            #expect(hit.title == searched?.title, "watch \(id) \(hit.id)")
                        }
                    }
                    #expect((peer.events[23] ?? []).contains { !($0.hit?.snippet.isEmpty ?? true) })
                }
            }
        }

        @Test("watches of equal queries share one registration; ending some leaves the others every event")
        func equalQueriesShareARegistration() async throws {
            try await withLoopbackServer(articles: 0) { server in
                try await runBlocking {
                    let peer = try WatchPeer(port: server.port)
                    let other = try WatchPeer(port: server.port)
                    let query = WatchMessage(text: "能源", includeSnippets: true)
                    let started = try peer.watch(query, id: 40)
                    try peer.watch(WatchMessage(text: "能源", includeArticle: true, includeSnippets: true), id: 41)
                    try other.watch(query, id: 50)
                    // Another snippet length is another registration (its events differ).
                    try other.watch(WatchMessage(text: "能源", includeSnippets: true, snippetLength: 40), id: 51)
                    var stats = try Self.stats(peer, id: 300)
                    #expect(stats["watches.open"] == 4 && stats["watches.queries"] == 2)
                    var writes = WatchOracle(position: started.position)
                    try writes.put((0..<24).map { WatchCorpus.article($0, seed: 9) }, engine: server.engine)
                    try Self.fence(&writes, engine: server.engine)
                    try peer.read { peer in [40, 41].allSatisfy { peer.sawDeletion(of: Self.sentinel, on: $0) } }
                    try other.read { other in [50, 51].allSatisfy { other.sawDeletion(of: Self.sentinel, on: $0) } }
                    let first = writes.live(query, after: started.position)
                    #expect(first.contains { $0.kind == .new }, "the batch should match the query")
                    #expect(peer.observed(40) == first && peer.observed(41) == first)
                    #expect(other.observed(50) == first && other.observed(51) == first)
                    #expect(peer.events[41]?.first { $0.kind == .new }?.record != nil)
                    #expect(peer.events[40]?.first { $0.kind == .new }?.record == nil)
                    // One watch of the shared registration cancelled, one on its own connection closed.
                    try peer.cancel(40)
                    try other.cancel(51)
                    stats = try Self.stats(peer, id: 301)
                    #expect(stats["watches.open"] == 2 && stats["watches.queries"] == 1)
                    let middle = writes.position
                    try writes.put((24..<48).map { WatchCorpus.article($0, seed: 9) }, engine: server.engine)
                    try Self.fence(&writes, engine: server.engine, "sentinel-2")
                    try peer.read { $0.sawDeletion(of: "sentinel-2", on: 41) }
                    try other.read { $0.sawDeletion(of: "sentinel-2", on: 50) }
                    let all = writes.live(query, after: started.position)
                    #expect(all.count > first.count + 1, "the second batch should match the query")
                    #expect(peer.observed(41) == all && other.observed(50) == all)
                    #expect(peer.observed(40) == first && other.observed(51) == first, "events after the end")
                    #expect(all.contains { $0.position > middle && $0.kind == .new })
                    // 50 is left alone in the registration (no article asked): its events take the sole-watch path.
                    try peer.cancel(41)
                    let late = writes.position
                    try writes.put((48..<72).map { WatchCorpus.article($0, seed: 9) }, engine: server.engine)
                    try Self.fence(&writes, engine: server.engine, "sentinel-3")
                    try other.read { $0.sawDeletion(of: "sentinel-3", on: 50) }
                    let last = writes.live(query, after: started.position)
                    #expect(last.contains { $0.position > late && $0.kind == .new }, "the third batch should match")
                    #expect(other.observed(50) == last)
                    #expect(peer.observed(41) == all, "events after the end")
                    try other.cancel(50)
                    stats = try Self.stats(peer, id: 302)
                    #expect(stats["watches.open"] == 0 && stats["watches.queries"] == 0)
                }
            }
        }

        @Test("resume after a dropped connection: no gap, no duplicate; the replay is the compacted feed")
        func resumeAfterDrop() async throws {
            try await withLoopbackServer(articles: 0) { server in
                try await runBlocking {
                    let query = WatchMessage(text: "能源 OR 电网", includeArticle: true)
                    var first: WatchPeer? = try WatchPeer(port: server.port)
                    let started = try first!.watch(query, id: 1)
                    var writes = WatchOracle(position: started.position)
                    for n in 0..<30 { try writes.put([WatchCorpus.article(n, seed: 7)], engine: server.engine) }
                    try Self.fence(&writes, engine: server.engine)
                    try first!.read { $0.sawDeletion(of: Self.sentinel, on: 1) }
                    let all = first!.observed(1)
                    #expect(all == writes.live(query, after: started.position))
                    // The client processed only part of it, then lost the connection.
                    let kept = Array(all.prefix(all.count / 2))
                    let resumeAfter = kept.last!.position
                    first = nil  // closes the socket
                    // Written while it was away: updates of ids it saw, new ids, a deletion.
                    let gapStart = writes.position
                    for n in 20..<45 { try writes.put([WatchCorpus.article(n, version: 1, seed: 7)], engine: server.engine) }
                    try writes.delete([ArticleID("w-3"), ArticleID("w-25")], engine: server.engine)
                    let gapEnd = writes.position

                    let second = try WatchPeer(port: server.port)
                    var resume = query
                    resume.start = .afterPosition
                    resume.position = resumeAfter
                    resume.store = started.store
                    let restarted = try second.watch(resume, id: 1)
                    #expect(restarted.position == resumeAfter)
                    // Live writes after the resume.
                    for n in 45..<55 { try writes.put([WatchCorpus.article(n, seed: 7)], engine: server.engine) }
                    try Self.fence(&writes, engine: server.engine, "sentinel-2")
                    try second.read(until: { $0.sawDeletion(of: "sentinel-2", on: 1) })
                    let replayed = second.observed(1)
                    let expected = writes.replay(query, after: resumeAfter, upTo: gapEnd) + writes.live(query, after: gapEnd)
                    #expect(replayed == expected)
                    #expect(gapStart > resumeAfter)
                    // No duplicate and no gap: positions strictly increase, and every id the oracle's final state
                    // matches is covered by the union of what the client kept and what the resume sent.
                    let positions = (kept + replayed).map(\.position)
                    #expect(positions == positions.sorted() && Set(positions).count == positions.count)
                    // Articles come with new/changed events when asked for.
                    #expect(second.events[1]!.filter { $0.kind == .changed }.allSatisfy { $0.record != nil })
                }
            }
        }

        @Test("unmatched: a watcher's view built from its events equals SEARCH after updates, live and after a resume")
        func unmatchedKeepsViewsExact() async throws {
            try await withLoopbackServer(articles: 0) { server in
                try await runBlocking {
                    let queries = WatchCorpus.queries.map { query in
                        var query = query
                        query.reportUnmatched = true
                        return query
                    }
                    let peer = try WatchPeer(port: server.port)
                    var writes: WatchOracle?
                    for (index, query) in queries.enumerated() {
                        let started = try peer.watch(query, id: UInt32(20 + index))
                        if writes == nil { writes = WatchOracle(position: started.position) }
                    }
                    var oracle = writes!
                    let startedAt = oracle.position
                    // Versions of 30 ids: each update rewrites the text, so matches come and go.
                    var generator = SplitMix(seed: 5)
                    for round in 0..<10 {
                        let batch = (0..<6).map { _ in WatchCorpus.article(Int(generator.next() % 30), version: round, seed: 5) }
                        try oracle.put(batch, engine: server.engine)
                        if round % 4 == 3 { try oracle.delete([ArticleID("w-\(generator.next() % 30)")], engine: server.engine) }
                    }
                    try Self.fence(&oracle, engine: server.engine)
                    let ids = queries.indices.map { UInt32(20 + $0) }
                    try peer.read { peer in ids.allSatisfy { peer.sawDeletion(of: Self.sentinel, on: $0) } }
                    var unmatched = 0
                    for (index, query) in queries.enumerated() {
                        let observed = peer.observed(UInt32(20 + index))
                        #expect(observed == oracle.live(query, after: startedAt), "query \(query.text)")
                        #expect(try Self.searchIDs(query, server.engine) == Self.view(observed), "query \(query.text)")
                        unmatched += observed.filter { $0.kind == .unmatched }.count
                    }
                    #expect(unmatched > 5, "the updates should make queries stop matching often")

                    // A watcher resumes after a gap in which articles it saw stopped matching.
                    let query = queries[0]
                    let kept = peer.observed(20)
                    let resumeAfter = oracle.position
                    for n in 0..<30 { try oracle.put([WatchCorpus.article(n, version: 50, seed: 5)], engine: server.engine) }
                    let gapEnd = oracle.position
                    let second = try WatchPeer(port: server.port)
                    var resume = query
                    resume.start = .afterPosition
                    resume.position = resumeAfter
                    _ = try second.watch(resume, id: 1)
                    try Self.fence(&oracle, engine: server.engine, "sentinel-2")
                    try second.read { $0.sawDeletion(of: "sentinel-2", on: 1) }
                    let replayed = second.observed(1)
                    #expect(replayed == oracle.replay(query, after: resumeAfter, upTo: gapEnd) + oracle.live(query, after: gapEnd))
                    #expect(try Self.searchIDs(query, server.engine) == Self.view(kept + replayed))
                }
            }
        }

        /// The ids a client shows after applying `events` in order.
        static func view(_ events: [WatchOracle.Event]) -> Set<ArticleID> {
            var shown: Set<ArticleID> = []
            for event in events {
                switch event.kind {
                case .deleted, .unmatched: shown.remove(event.id)
                default: shown.insert(event.id)
                }
            }
            return shown
        }

        /// The ids SEARCH returns for the watch's query over the whole store.
        static func searchIDs(_ watch: WatchMessage, _ engine: NewswireEngine) throws -> Set<ArticleID> {
            let page = try engine.search(
                SearchRequest(
                    text: watch.text, sources: watch.sources, publishedFrom: watch.publishedFrom,
                    publishedBefore: watch.publishedBefore, limit: 1000, includeSnippets: false))
            return Set(page.hits.map(\.id))
        }

        @Test("a watcher that does not read is cut off with bounded server memory, then resumes without a gap")
        func slowConsumerCutOff() async throws {
            let budget = 64 << 10
            try await withLoopbackServer(articles: 0, configure: { $0.limits.maxQueuedResponseBytes = budget }) {
                server in
                try await runBlocking {
                    let slow = try WatchPeer(port: server.port, receiveBufferBytes: 4096)
                    let query = WatchMessage(text: "", includeArticle: true, bufferEvents: 16)
                    let started = try slow.watch(query, id: 5)
                    var writes = WatchOracle(position: started.position)
                    // Every article matches the empty query, and each event carries its ~40 KB article: live
                    // events go straight to the connection while it has room, so the watch's own buffer only
                    // fills once the kernel's socket buffers (megabytes on loopback) and the connection's budget
                    // are full; large events get there in a few rounds.
                    let observer = try WatchPeer(port: server.port)
                    var round: UInt32 = 1000
                    func cutoffs() throws -> Int64 {
                        round += 1
                        return try Self.stats(observer, id: round)["watches.cutoffs"] ?? -1
                    }
                    var n = 0
                    // Nothing is read from `slow` meanwhile; write until the server cuts it off.
                    while try cutoffs() == 0 {
                        try writes.put((0..<20).map { Self.largeArticle(n + $0) }, engine: server.engine)
                        n += 20
                        #expect(n < 2_000, "never cut off")
                        if n >= 2_000 { return }
                    }
                    let stats = try Self.stats(observer, id: 99)
                    #expect(stats["watches.events_dropped"]! > 0)
                    #expect(stats["responses.queued_bytes_peak"]! <= Int64(budget + 64 << 10), "server memory grew")
                    // Now it reads: what was queued, then OVERLOADED with the position to resume after.
                    try slow.read { $0.ends[5] != nil }
                    let end = try #require(slow.ends[5])
                    #expect(end.code == .overloaded && end.isRetryable)
                    let resumeAfter = try #require(end.position)
                    let received = slow.observed(5)
                    #expect(received == writes.live(query, after: started.position).filter { $0.position <= resumeAfter })
                    #expect(received.last.map { $0.position == resumeAfter } ?? (resumeAfter == started.position))
                    // Resume on the same connection: the rest, replayed, nothing twice.
                    var resume = query
                    resume.start = .afterPosition
                    resume.position = resumeAfter
                    resume.store = started.store
                    resume.bufferEvents = 0
                    try slow.watch(resume, id: 6)
                    try Self.fence(&writes, engine: server.engine, "sentinel-2")
                    try slow.read(until: { $0.sawDeletion(of: "sentinel-2", on: 6) })
                    let upTo = writes.position - 2
                    let rest = slow.observed(6)
                    let expectedPositions = writes.live(query, after: resumeAfter).map(\.position)
                    #expect(rest.map(\.position) == expectedPositions)
                    #expect(rest.filter { $0.position <= upTo }.allSatisfy { $0.kind == .changed || $0.kind == .new })
                }
            }
        }

        @Test("a shutdown with no grace ends a watch waiting for room SHUTTING_DOWN, with the position to resume after")
        func shutdownWithoutGraceGivesThePosition() async throws {
            let server = try await LoopbackServer.start(articles: 0) {
                $0.limits.maxQueuedResponseBytes = 64 << 10
                $0.limits.shutdownGracePeriod = .zero
            }
            var writes = WatchOracle(position: 0)
            // ~6 MB of replay for a peer with a 4 KB receive buffer that has not read yet: the watch's task waits
            // for room in the connection's budget when the shutdown comes, and the grace's end answers it.
            try writes.put((0..<150).map { Self.largeArticle($0) }, engine: server.engine)
            let stopping = try await runBlocking {
                let slow = try WatchPeer(port: server.port, receiveBufferBytes: 4096)
                var query = WatchMessage(text: "", includeArticle: true)
                query.start = .beginning
                let started = try slow.watch(query, id: 1)
                let stopping = Task { try await server.stop() }
                try slow.read { $0.ends[1] != nil }
                let end = try #require(slow.ends[1])
                #expect(end.code == .shuttingDown && end.isRetryable)
                let position = try #require(end.position, "SHUTTING_DOWN without the position to resume after")
                // Every change up to the position reached the client, in order, and none after it.
                let received = slow.observed(1)
                #expect(started.position == 0)
                #expect(received.map(\.position) == Array(stride(from: 1, through: position, by: 1)))
                return stopping
            }
            try await stopping.value
        }

        /// An article of ~40 KB (an event carrying it stays under the connection's 64 KB budget in
        /// ``slowConsumerCutOff``).
        static func largeArticle(_ n: Int) -> Article {
            var article = LoopbackServer.article(n)
            article.paragraphs = (0..<16).map { paragraph in
                String(repeating: "第\(n)篇第\(paragraph)段：能源合作、电网建设与区域协作的长篇报道。", count: 28)
            }
            return article
        }

        static func stats(_ peer: WatchPeer, id: UInt32) throws -> [String: Int64] {
            let before = peer.others.count
            peer.send(.stats, id: id)
            try peer.read { $0.others.count > before }
            guard case .stats(let stats) = try Response(frame: peer.others.last!) else { return [:] }
            var values: [String: Int64] = [:]
            for entry in stats.entries { if case .integer(let value) = entry.value { values[entry.name] = value } }
            return values
        }

        @Test("a WATCH is never a slow request, however long it lasts; every other request over the threshold is")
        func watchesAreNotSlowRequests() async throws {
            // Threshold zero: every answered request is over it, so requests.slow must equal the requests answered
            // other than WATCH, in one STATS snapshot.
            try await withLoopbackServer(articles: 3, configure: { $0.slowRequestThreshold = .zero }) { server in
                try await runBlocking {
                    let peer = try WatchPeer(port: server.port)
                    let answers = peer.others.count
                    peer.send(.ping(PingMessage()), id: 5)
                    try peer.read { $0.others.count > answers }
                    _ = try peer.watch(WatchMessage(text: "能源"), id: 10)
                    try peer.cancel(10)
                    var id: UInt32 = 20
                    var stats = try Self.stats(peer, id: id)
                    // Answers reach us before the server counts them: ask until the PING and the watch are counted.
                    while (stats["requests.watch.cancelled"] != 1 || stats["requests.ping.ok"] != 1) && id < 60 {
                        id += 1
                        stats = try Self.stats(peer, id: id)
                    }
                    #expect(stats["requests.watch.cancelled"] == 1, "\(stats)")
                    let notRequests: Set<String> = [
                        "requests.slow", "requests.in_flight", "requests.large_bytes", "requests.large_bytes_peak",
                        "requests.hello.ok",  // the handshake is counted, not timed
                    ]
                    let answered = stats.filter {
                        $0.key.hasPrefix("requests.") && !notRequests.contains($0.key) && !$0.key.hasPrefix("requests.watch.")
                    }
                    #expect(answered.values.reduce(0, +) > 0, "\(stats)")
                    #expect(stats["requests.slow"] == answered.values.reduce(0, +), "\(stats)")
                }
            }
        }

        @Test("bad WATCH frames get the documented errors and the connection keeps serving")
        func badWatches() async throws {
            try await withLoopbackServer(articles: 3) { server in
                try await runBlocking {
                    let peer = try WatchPeer(port: server.port)
                    let latest = try server.engine.latestPosition()
                    let store = server.engine.storeIdentifier
                    let cases: [(WatchMessage, ProtocolError.Code)] = [
                        (WatchMessage(text: "\"疆电入川"), .badQuery),
                        (WatchMessage(text: "-上海"), .badQuery),
                        (WatchMessage(text: String(repeating: "能", count: Limits.maxQueryLength + 1)), .badQuery),
                        (WatchMessage(text: "能源", bufferEvents: Limits.maxWatchBufferEvents + 1), .limitExceeded),
                        (WatchMessage(text: "能源", bufferEvents: Int.max), .limitExceeded),
                        (
                            WatchMessage(
                                text: "能源", start: .afterPosition, position: 1, store: "another-store-identifier"),
                            .unknownPosition
                        ),
                        (WatchMessage(text: "能源", start: .afterPosition, position: latest + 5, store: store), .unknownPosition),
                        (WatchMessage(text: "能源", start: .afterPosition, position: latest + 5), .unknownPosition),
                    ]
                    for (index, (message, code)) in cases.enumerated() {
                        let id = UInt32(100 + index)
                        peer.send(.watch(message), id: id)
                        try peer.read { $0.ends[id] != nil }
                        #expect(peer.ends[id]?.code == code, "case \(index): \(peer.ends[id].map { "\($0)" } ?? "")")
                        #expect(peer.started[id] == nil, "case \(index) started")
                        #expect(peer.ends[id]?.position == nil)
                    }
                    // buffer_events beyond what the server reads (2^64-1 reads as 2^63-1) is not named as 2^63-1.
                    #expect(peer.ends[104]?.message.contains("buffer_events 2^63-1 or more is above") == true)
                    // An unknown start is malformed (hand-written payload: text "a", start 3).
                    peer.raw.send(ConnectionRulesTests.rawFrame(.watch, id: 200, payload: [0x0A, 0x01, 0x61, 0x28, 0x03]))
                    try peer.read { $0.ends[200] != nil }
                    #expect(peer.ends[200]?.code == .malformedMessage)
                    // The connection still serves: a valid watch starts, and CANCEL ends it with its position.
                    let started = try peer.watch(WatchMessage(text: "能源"), id: 201)
                    try peer.cancel(201)
                    #expect(peer.ends[201]?.code == .cancelled)
                    #expect(peer.ends[201]?.position == started.position)
                    #expect(try Self.stats(peer, id: 300)["watches.open"] == 0)
                }
            }
        }

        @Test("an event larger than the client's max_frame_length ends the watch LIMIT_EXCEEDED with the position to resume after, live and in a replay")
        func oversizedEventEndsWithItsPosition() async throws {
            try await withLoopbackServer(articles: 0) { server in
                try await runBlocking {
                    let peer = try WatchPeer(port: server.port, maxFrameLength: 65_536)
                    try peer.watch(WatchMessage(text: "能源", includeArticle: true), id: 1)
                    _ = try server.engine.put([LoopbackServer.article(1)])
                    let small = try server.engine.latestPosition()
                    var large = LoopbackServer.article(2)
                    large.paragraphs = [String(repeating: "能源合作推动区域电力互联互通，绿色发展成效明显。", count: 1_300)]  // ~90 KB
                    _ = try server.engine.put([large])
                    try peer.read { $0.ends[1] != nil }
                    #expect(peer.events[1]?.map(\.position) == [small])
                    #expect(peer.ends[1]?.code == .limitExceeded)
                    // §5.19 rule 7: after STARTED, the ending ERROR says where to resume (after the last event sent).
                    #expect(peer.ends[1]?.position == small)

                    // The same from a replay of the feed.
                    let replaying = try WatchPeer(port: server.port, maxFrameLength: 65_536)
                    try replaying.watch(WatchMessage(text: "能源", start: .beginning, includeArticle: true), id: 2)
                    try replaying.read { $0.ends[2] != nil }
                    #expect(replaying.events[2]?.map(\.position) == [small])
                    #expect(replaying.ends[2]?.code == .limitExceeded)
                    #expect(replaying.ends[2]?.position == small)
                }
            }
        }

        @Test("past the server's watch limit a WATCH is OVERLOADED (retryable), on any connection; an ended watch frees its place")
        func watchLimit() async throws {
            try await withLoopbackServer(articles: 0, configure: { $0.limits.maxWatches = 2 }) { server in
                try await runBlocking {
                    let first = try WatchPeer(port: server.port)
                    let second = try WatchPeer(port: server.port)
                    try first.watch(WatchMessage(text: "能源"), id: 1)
                    try second.watch(WatchMessage(text: "电网"), id: 1)
                    // A third, even of a query already registered, on either connection.
                    for (peer, id) in [(first, UInt32(2)), (second, UInt32(3))] {
                        peer.send(.watch(WatchMessage(text: "能源")), id: id)
                        try peer.read { $0.ends[id] != nil }
                        #expect(peer.started[id] == nil)
                        #expect(peer.ends[id]?.code == .overloaded, "\(peer.ends[id].map { "\($0)" } ?? "")")
                        #expect(peer.ends[id]?.retryAfterMillis == 1000)
                        #expect(peer.ends[id]?.message.contains("--max-watches") == true)
                    }
                    try first.cancel(1)
                    try second.watch(WatchMessage(text: "能源"), id: 4)
                    #expect(try Self.stats(second, id: 300)["watches.open"] == 2)
                }
            }
        }
    }
}
