import Foundation
import NewswireClient
import NewswireEngine
import NewswireModel
import NewswirePostgres
import NewswireProtocol
import NewswireServer
import NewswireTestSupport
import Testing

/// Two `newswired` nodes on one PostgreSQL, spoken to through the client.
@Suite(
    "Cluster nodes over the protocol",
    .enabled(if: TemporaryPostgres.isAvailable, "skipped: \(TemporaryPostgres.unavailableReason ?? "")"))
struct ClusterNodeTests {
    static func node(_ url: String) async throws -> TestServer {
        try await TestServer.start(openEngine: { directory in
            try NewswireEngine.open(store: PostgresArticleStore(url: url), dataDirectory: directory)
        })
    }

    @Test("a node serves another node's writes once it applied them: GET (its record cache included), SEARCH, STATS")
    func nodesServeEachOthersWrites() async throws {
        // The first caller starts the shared PostgreSQL server (initdb): it blocks, so not on the cooperative pool.
        let url = try await runBlocking { try SharedTestPostgres.freshDatabaseURL() }
        let a = try await Self.node(url)
        let b = try await Self.node(url)
        let clientA = a.client()
        let clientB = b.client()
        var article = syntheticArticle(1)
        _ = try await clientA.put([article])
        #expect(try await runBlocking { try b.engine.waitUntilApplied(try a.engine.latestPosition(), timeout: .seconds(30)) })
        #expect(try await clientB.article(id: article.id).title == article.title)  // now in B's record cache
        // A changes it: B must stop serving its cached copy once it applied the change.
        article.title = "第1号测试文章 改过的标题"
        _ = try await clientA.put([article])
        #expect(try await runBlocking { try b.engine.waitUntilApplied(try a.engine.latestPosition(), timeout: .seconds(30)) })
        #expect(try await clientB.article(id: article.id).title == article.title)
        #expect(try await clientB.search(SearchRequest(text: "改过的标题", limit: 5)).hits.map(\.id) == [article.id])
        #expect(try await clientA.delete(id: article.id))
        #expect(try await runBlocking { try b.engine.waitUntilApplied(try a.engine.latestPosition(), timeout: .seconds(30)) })
        await #expect(throws: (any Error).self) { _ = try await clientB.article(id: article.id) }
        let stats = try await clientB.stats().entries
        let kind = stats.first { $0.name == "store.kind" }?.value
        #expect(kind.map { "\($0)".contains("postgres") } == true, "store.kind is \(String(describing: kind))")
        #expect(stats.contains { $0.name == "feed.lag_changes" })
        await clientA.shutdown()
        await clientB.shutdown()
        try await a.stop()
        try await b.stop()
    }

    @Test("a watch on one node gets the writes another node commits, as its follower applies them, in feed order")
    func watchFollowsTheFeed() async throws {
        // The first caller starts the shared PostgreSQL server (initdb): it blocks, so not on the cooperative pool.
        let url = try await runBlocking { try SharedTestPostgres.freshDatabaseURL() }
        let a = try await Self.node(url)
        let b = try await Self.node(url)
        let clientA = a.client()
        let clientB = b.client()
        let start = NewswireClient.WatchPosition(
            sequence: try a.engine.latestPosition(), store: b.engine.storeIdentifier)
        // The watch is taken up (B's STATS say so) before A writes: every change then reaches it live, through
        // B's follower applying the shared feed.
        let (received, receivedContinuation) = AsyncStream<NewswireClient.WatchEvent>.makeStream()
        let watching = Task {
            var events = clientB.watch("能源合作", from: .after(start)).makeAsyncIterator()
            while let event = try await events.next() { receivedContinuation.yield(event) }
        }
        while try await clientB.stats()["watches.open"] != .integer(1) {}
        // B applies each write before A makes the next one: the feed is compacted, so a follower that first reads
        // it after the update would see only the latest version of synthetic-1 (one event, not two).
        func applied(_ position: UInt64) async throws {
            #expect(try await runBlocking { try b.engine.waitUntilApplied(position, timeout: .seconds(60)) })
        }
        var article = syntheticArticle(1)
        let created = try #require(try await clientA.put([article, syntheticArticle(2)]).commitPosition)
        try await applied(created)
        article.title = "第1号测试文章 能源合作 第二版"
        let updated = try #require(try await clientA.put([article]).commitPosition)
        try await applied(updated)
        let deleted = try #require(try await clientA.delete(ids: [ArticleID("synthetic-2")]).commitPosition)
        var seen: [(UInt64, String, String)] = []
        for await event in received {
            seen.append((event.position.sequence, event.kind.rawValue, event.hit.id.rawValue))
            if seen.count == 4 { break }
        }
        watching.cancel()
        #expect(seen.map(\.0) == [created - 1, created, updated, deleted])
        #expect(seen.map(\.1) == ["new", "new", "updated", "deleted"])
        #expect(seen.map(\.2) == ["synthetic-1", "synthetic-2", "synthetic-1", "synthetic-2"])
        await clientA.shutdown()
        await clientB.shutdown()
        try await a.stop()
        try await b.stop()
    }

    @Test(
        "a WATCH resuming after a position the store has not reached is UNKNOWN_POSITION on a cluster node too",
        .timeLimit(.minutes(2)))
    func watchFromAheadOfTheStore() async throws {
        let url = try await runBlocking { try SharedTestPostgres.freshDatabaseURL() }
        let node = try await Self.node(url)
        let client = node.client()
        let written = try #require(try await client.put([syntheticArticle(1)]).commitPosition)
        // Before: the node waited for the position (OVERLOADED after 5 s, retried for ever by the client), and
        // once later writes reached it, replayed from there, skipping the changes up to it.
        let ahead = NewswireClient.WatchPosition(sequence: written + 5, store: node.engine.storeIdentifier)
        await expectClientError(.unknownPosition) {
            var events = client.watch("测试", from: .after(ahead)).makeAsyncIterator()
            _ = try await events.next()
        }
        await client.shutdown()
        try await node.stop()
    }
}

/// Reads on a cluster node come from memory: another node's write reaches this node's record cache with the feed.
@Suite(
    "Cluster node reads from memory",
    .enabled(if: TemporaryPostgres.isAvailable, "skipped: \(TemporaryPostgres.unavailableReason ?? "")"))
struct ClusterMemoryReadTests {
    @Test("a node answers GET for another node's write from memory: with PostgreSQL gone, the GET still answers")
    func getWithoutStore() async throws {
        let server = try await runBlocking { try TemporaryPostgres() }
        let database = try await runBlocking { try server.createDatabase("memoryreads") }
        let url = try PostgresStoreURL(parsing: server.url(database: database))
        // A short failover timeout: once PostgreSQL is gone, the nodes' followers and shutdown give up quickly.
        let configuration = PostgresArticleStore.Configuration(failoverTimeout: .seconds(2))
        func node() async throws -> TestServer {
            try await TestServer.start(openEngine: { directory in
                try NewswireEngine.open(
                    store: PostgresArticleStore(url: url, configuration: configuration), dataDirectory: directory)
            })
        }
        let a = try await node()
        let b = try await node()
        let writer = a.client()
        let article = syntheticArticle(11)
        let position = try #require(try await writer.put([article]).commitPosition)
        #expect(try await runBlocking { try b.engine.waitUntilApplied(position, timeout: .seconds(60)) })
        try await runBlocking { try server.kill9() }
        let reader = b.client()
        #expect(try await reader.article(id: article.id) == article)
        reader.readsReflect(position: position)  // a read carrying the position is answered from memory too
        #expect(try await reader.article(id: article.id) == article)
        await writer.shutdown()
        await reader.shutdown()
        try? await a.stop()
        try? await b.stop()
    }
}

/// Monitoring polls STATS through an outage of the store too.
@Suite(
    "Cluster node STATS without the store",
    .enabled(if: TemporaryPostgres.isAvailable, "skipped: \(TemporaryPostgres.unavailableReason ?? "")"))
struct ClusterStatsWithoutStoreTests {
    @Test("with PostgreSQL down, STATS answers from what the node knows and says why in store.error; once it is back, store.error is empty again")
    func statsDuringOutage() async throws {
        let server = try await runBlocking { try TemporaryPostgres() }
        let database = try await runBlocking { try server.createDatabase("statsoutage") }
        let url = try PostgresStoreURL(parsing: server.url(database: database))
        // An hour: a STATS that waited for the failover instead of answering would hang the test.
        let configuration = PostgresArticleStore.Configuration(failoverTimeout: .seconds(3_600))
        let node = try await TestServer.start(openEngine: { directory in
            try NewswireEngine.open(
                store: PostgresArticleStore(url: url, configuration: configuration), dataDirectory: directory)
        })
        let client = node.client()
        let position = try #require(try await client.put([syntheticArticle(21), syntheticArticle(22)]).commitPosition)
        #expect(try await client.stats()["store.error"] == .text(""))
        try await runBlocking { try server.stop() }
        let stats = try await client.stats()
        guard case .text(let why)? = stats["store.error"] else {
            Issue.record("no store.error: \(stats.entries)")
            return
        }
        #expect(why.contains("PostgreSQL"), "\(why)")
        #expect(stats["store.sequence"] == .integer(Int64(position)))
        #expect(stats["feed.applied_sequence"] == .integer(Int64(position)))
        #expect(stats["feed.lag_changes"] == .integer(0))
        #expect(stats["articles.count"] == .integer(2))
        try await runBlocking { try server.start() }
        // The first STATS after the restart may still find the pool's connection to the stopped server.
        var recovered = false
        for _ in 0..<30 where !recovered {
            recovered = try await client.stats()["store.error"] == .text("")
        }
        #expect(recovered)
        await client.shutdown()
        try await node.stop()
    }
}

/// A node's own writes go into its record cache at commit: its GETs after a write do not read PostgreSQL either.
@Suite(
    "Cluster node reads its own writes from memory",
    .enabled(if: TemporaryPostgres.isAvailable, "skipped: \(TemporaryPostgres.unavailableReason ?? "")"))
struct ClusterOwnWriteReadTests {
    @Test("a node answers GET for its own writes from memory, as stored (update and duplicate verdict included): with PostgreSQL gone, the GET still answers")
    func ownWritesWithoutStore() async throws {
        let server = try await runBlocking { try TemporaryPostgres() }
        let database = try await runBlocking { try server.createDatabase("ownwrites") }
        let url = try PostgresStoreURL(parsing: server.url(database: database))
        let configuration = PostgresArticleStore.Configuration(failoverTimeout: .seconds(2))
        let node = try await TestServer.start(openEngine: { directory in
            try NewswireEngine.open(
                store: PostgresArticleStore(url: url, configuration: configuration), dataDirectory: directory)
        })
        let client = node.client()
        var original = syntheticArticle(21)
        _ = try await client.put([original])
        original.title = "第21号测试文章 第二版"
        #expect(try await client.put([original]).updated == 1)  // the cached copy is the new version
        var copy = original
        copy.id = ArticleID("synthetic-21-copy")
        var unrelated = syntheticArticle(22)
        unrelated.paragraphs = ["与其他文章无关的一段文字：气象观测与农业生产。"]
        _ = try await client.put([copy, unrelated])  // one batch: the copy's verdict is decided by the engine
        try await runBlocking { try server.kill9() }
        #expect(try await client.article(id: original.id) == original)
        var storedCopy = copy
        storedCopy.duplicateOf = original.id
        #expect(try await client.article(id: copy.id) == storedCopy)
        #expect(try await client.article(id: unrelated.id) == unrelated)
        await client.shutdown()
        try? await node.stop()
    }
}

@Suite(
    "Read-your-writes across cluster nodes",
    .enabled(if: TemporaryPostgres.isAvailable, "skipped: \(TemporaryPostgres.unavailableReason ?? "")"))
struct ReadYourWritesTests {
    @Test("a write's commit position makes a lagging node wait until it applied the write before answering GET, SEARCH and GET_MANY")
    func lateNodeWaitsForPosition() async throws {
        // The first caller starts the shared PostgreSQL server (initdb): it blocks, so not on the cooperative pool.
        let url = try await runBlocking { try SharedTestPostgres.freshDatabaseURL() }
        let a = try await ClusterNodeTests.node(url)
        // Node B never wakes on notifications and polls once an hour: it stays behind unless a read makes it
        // catch up, which is the interleaving this test needs.
        let b = try await TestServer.start(openEngine: { directory in
            try NewswireEngine.open(
                store: PostgresArticleStore(url: PostgresStoreURL(parsing: url), configuration: .init(listensForChanges: false)),
                dataDirectory: directory, configuration: .init(followPollInterval: .seconds(3_600)))
        })
        let writer = a.client()
        var article = syntheticArticle(7)
        let first = try await writer.put([article])
        let reader = b.client()
        reader.readsReflect(position: try #require(first.commitPosition))
        #expect(try await reader.article(id: article.id).title == article.title)  // B caught up for this read
        article.title = "第7号测试文章 第二版"
        let second = try await writer.put([article])
        let position = try #require(second.commitPosition)
        #expect(position > (first.commitPosition ?? 0))
        // Without the position, B still answers from its state before the update (it has not applied it)...
        let unaware = b.client()
        #expect(try await unaware.article(id: article.id).title != article.title)
        #expect(b.engine.appliedSequence < position)
        // ...with it, B waits until it applied the update.
        reader.readsReflect(position: position)
        #expect(try await reader.article(id: article.id).title == article.title)
        #expect(b.engine.appliedSequence >= position)
        // SEARCH carries the position too: B's index is behind a third version until a read makes it catch up.
        article.title = "第7号测试文章 第三版 zqthird"
        let third = try #require(try await writer.put([article]).commitPosition)
        #expect(try await unaware.search(SearchRequest(text: "zqthird", limit: 5)).hits.isEmpty)
        #expect(b.engine.appliedSequence < third)
        reader.readsReflect(position: third)
        #expect(try await reader.search(SearchRequest(text: "zqthird", limit: 5)).hits.map(\.id) == [article.id])
        #expect(b.engine.appliedSequence >= third)
        // So does GET_MANY.
        article.title = "第7号测试文章 第四版"
        let fourth = try #require(try await writer.put([article]).commitPosition)
        #expect(b.engine.appliedSequence < fourth)
        reader.readsReflect(position: fourth)
        #expect(try await reader.articles(ids: [article.id]).articles.map(\.title) == [article.title])
        #expect(b.engine.appliedSequence >= fourth)
        for client in [writer, reader, unaware] { await client.shutdown() }
        try await a.stop()
        try await b.stop()
    }
}
