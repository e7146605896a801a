import Foundation
import NewswireClient
import NewswireEngine
import NewswireServer
import NewswireTestSupport
import Testing

/// `client.watch` over real sockets: a live query that resumes by itself.
@Suite("Live queries through the client", .serialized, .timeLimit(.minutes(5)))
struct WatchClientTests {
    /// Article `n`: matches the query "能源" when `matching`.
    static func article(_ n: Int, matching: Bool, version: Int = 0) -> Article {
        Article(
            id: ArticleID("watch-\(n)"), title: matching ? "能源合作 \(n)" : "体育新闻 \(n)",
            publishedAt: PublishedTime(secondsSinceEpoch: 1_710_000_000 + Int64(n), utcOffsetSeconds: 28_800),
            source: "测试来源", paragraphs: ["第\(n)篇，第\(version)版。"], language: "zh")
    }

    /// Puts articles through the engine; returns the positions of those that changed (each write takes the next).
    static func put(_ articles: [Article], engine: NewswireEngine) throws -> [UInt64] {
        let before = try engine.latestPosition()
        let outcomes = try engine.put(articles)
        var position = before
        return outcomes.map { outcome in
            guard outcome.outcome != .unchanged else { return 0 }
            position += 1
            return position
        }
    }

    @Test("watch events resume across a graceful restart: the GOAWAY position, the feed, then live; none twice")
    func resumesAcrossRestart() async throws {
        let dataDirectory = TemporaryDirectory()
        let first = try await TestServer.start(dataDirectory: dataDirectory.path)
        let port = first.port
        let directory = dataDirectory.path
        let store = first.engine.storeIdentifier
        let start = NewswireClient.WatchPosition(sequence: try first.engine.latestPosition(), store: store)
        let client = first.client()
        var events = client.watch("能源", from: .after(start)).makeAsyncIterator()

        // Written before the iterator first asks (it registers the watch then): replayed from the feed. A resumed
        // replay cannot tell what the client saw match before, so articles that do not match come as unmatched.
        let positions = try Self.put((0..<6).map { Self.article($0, matching: $0 % 2 == 0) }, engine: first.engine)
        for n in 0..<6 {
            let event = try #require(try await events.next())
            #expect(event.kind == (n % 2 == 0 ? .changed : .unmatched) && event.hit.id == ArticleID("watch-\(n)"))
            #expect(event.position == NewswireClient.WatchPosition(sequence: positions[n], store: store))
            #expect(event.hit.title == (n % 2 == 0 ? "能源合作 \(n)" : "体育新闻 \(n)"))
        }
        // Restart: the server drains (the watch ends SHUTTING_DOWN with its position); writes made while it is
        // down are only in the store's change feed.
        try await first.stop()
        var offline: [UInt64] = []
        let second = try await TestServer.start(dataDirectory: directory, port: port, prepare: { engine in
            offline = try Self.put(
                [Self.article(1, matching: true, version: 1), Self.article(2, matching: true, version: 1)]
                    + (6..<9).map { Self.article($0, matching: $0 != 7) }, engine: engine)
        })
        // Replayed from the feed (kind changed, or unmatched), in position order.
        var replayed: [(UInt64, String, NewswireClient.WatchEvent.Kind)] = []
        for _ in 0..<5 {
            let event = try #require(try await events.next())
            replayed.append((event.position.sequence, event.hit.id.rawValue, event.kind))
        }
        #expect(replayed.map(\.0) == offline)
        #expect(replayed.map(\.1) == ["watch-1", "watch-2", "watch-6", "watch-7", "watch-8"])
        #expect(replayed.map(\.2) == [.changed, .changed, .changed, .unmatched, .changed])
        // Live again on the second server: an update and a deletion.
        let live = try Self.put([Self.article(4, matching: true, version: 2)], engine: second.engine)
        _ = try second.engine.delete(ids: [ArticleID("watch-0")])
        let updated = try #require(try await events.next())
        #expect(updated.kind == .updated && updated.position.sequence == live[0] && updated.hit.id == "watch-4")
        let deleted = try #require(try await events.next())
        #expect(deleted.kind == .deleted && deleted.position.sequence == live[0] + 1 && deleted.hit.id == "watch-0")
        #expect(events.position == deleted.position)
        await client.shutdown()
        try await second.stop()
        withExtendedLifetime(dataDirectory) {}
    }

    @Test("a bad query and a position from another store throw; cancelling the task ends the watch")
    func errorsAndCancellation() async throws {
        let server = try await TestServer.start()
        let client = server.client()
        var bad = client.watch("\"疆电入川").makeAsyncIterator()
        await #expect(throws: NewswireClientError.self) { _ = try await bad.next() }
        var foreign = client.watch(
            "能源", from: .after(NewswireClient.WatchPosition(sequence: 0, store: "another-store"))
        ).makeAsyncIterator()
        do {
            _ = try await foreign.next()
            Issue.record("a position from another store was accepted")
        } catch let error as NewswireClientError {
            #expect(error.code == .unknownPosition)
        }
        // A watch whose task is cancelled while it waits ends (nil) and the server forgets it.
        let start = NewswireClient.WatchPosition(sequence: try server.engine.latestPosition())
        let (received, receivedContinuation) = AsyncStream<ArticleID>.makeStream()
        let watching = Task {
            var iterator = client.watch("能源", from: .after(start)).makeAsyncIterator()
            var seen: [ArticleID] = []
            while let event = try await iterator.next() {
                seen.append(event.hit.id)
                receivedContinuation.yield(event.hit.id)
            }
            return seen
        }
        _ = try Self.put([Self.article(1, matching: true)], engine: server.engine)
        var receivedIterator = received.makeAsyncIterator()
        #expect(await receivedIterator.next() == "watch-1")
        watching.cancel()
        #expect(try await watching.value == ["watch-1"])
        while try await Self.stat(client, "watches.open") != 0 {}
        await client.shutdown()
        try await server.stop()
    }

    static func stat(_ client: NewswireClient, _ name: String) async throws -> Int64 {
        let stats = try await client.stats()
        if case .integer(let value)? = stats[name] { return value }
        return -1
    }
}
