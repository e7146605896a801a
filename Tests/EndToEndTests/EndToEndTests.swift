import ArticleExtraction
import Foundation
import NIOCore
import NewswireClient
import NewswireEngine
import NewswireProtocol
import NewswireServer
import NewswireStore
import NewswireTestSupport
import Testing

@Suite("End to end over 127.0.0.1", .timeLimit(.minutes(5)))
struct EndToEndTests {
    @Test("seed: ingest, search with exact highlight, GET equals parse --json, survives restart")
    func seedRoundTrip() async throws {
        let page = try seedPage()
        let parsed = try ArticleExtractor().extract(page)
        let directory = TemporaryDirectory()
        let server = try await TestServer.start(dataDirectory: directory.path)
        let client = server.client()

        let ingested = try await client.ingest(page: page)
        #expect(ingested.outcome == .created)
        #expect(ingested.article == parsed)
        #expect(try await client.ingest(page: page).outcome == .unchanged)

        let results = try await client.search(SearchRequest(text: "疆电入川"))
        #expect(results.total == 1)
        let hit = try #require(results.hits.first)
        #expect(hit.id == parsed.id)
        #expect(hit.title == "新疆党政代表团赴四川省学习考察")
        #expect(!hit.highlights.isEmpty)
        let scalars = Array(hit.snippet.unicodeScalars)
        for range in hit.highlights {
            var matched = ""
            matched.unicodeScalars.append(contentsOf: scalars[range.start..<range.end])
            #expect(matched == "疆电入川")
        }

        let fetched = try await client.article(id: parsed.id)
        #expect(ArticleJSON.encode(fetched) == ArticleJSON.encode(parsed))
        await client.shutdown()
        try await server.stop()

        let restarted = try await TestServer.start(dataDirectory: directory.path)
        let again = restarted.client()
        #expect(try await again.article(id: parsed.id) == parsed)
        #expect(try await again.search(SearchRequest(text: "疆电入川")).hits.map(\.id) == [parsed.id])
        await again.shutdown()
        try await restarted.stop()
        withExtendedLifetime(directory) {}
    }

    @Test("1,000 pipelined requests on one connection are all answered and matched", arguments: [true, false])
    func pipelining(compression: Bool) async throws {
        let server = try await TestServer.start()
        let client = server.client(compression: compression, connections: 1)
        let articles = (0..<200).map(syntheticArticle)
        let put = try await client.put(articles)
        #expect(put.created == 200)

        try await withThrowingTaskGroup(of: Bool.self) { group in
            for n in 0..<1000 {
                group.addTask {
                    switch n % 4 {
                    case 0:
                        let id = ArticleID("synthetic-\(n % 200)")
                        return try await client.article(id: id).id == id
                    case 1:
                        let page = try await client.search(SearchRequest(text: "第\(n % 200)号测试文章", limit: 5))
                        return page.hits.first?.id == ArticleID("synthetic-\(n % 200)")
                    case 2:
                        let (found, missing) = try await client.articles(ids: [
                            ArticleID("synthetic-\(n % 200)"), ArticleID("absent-\(n)"),
                        ])
                        return found.map(\.id) == [ArticleID("synthetic-\(n % 200)")] && missing == [ArticleID("absent-\(n)")]
                    default:
                        _ = try await client.ping()
                        return true
                    }
                }
            }
            var answered = 0
            for try await matched in group {
                #expect(matched)
                answered += 1
            }
            #expect(answered == 1000)
        }
        let stats = try await client.stats()
        #expect(stats["connections.accepted"] == .integer(1))
        await client.shutdown()
        try await server.stop()
    }

    @Test("a search answers the same whether it runs on the request's task or on a worker thread")
    func searchesAnswerTheSameInlineAndOnThePool() async throws {
        let inline = try await TestServer.start { $0.limits.inlineSearchWork = .max }
        let pooled = try await TestServer.start { $0.limits.inlineSearchWork = 0 }
        let articles = (0..<120).map(syntheticArticle)
        let clients = [inline.client(), pooled.client()]
        for client in clients { _ = try await client.put(articles) }
        let requests = [
            SearchRequest(text: "第7号测试文章"), SearchRequest(text: "能源 合作", limit: 20, facets: [.source, .month]),
            SearchRequest(text: "四川 OR chengdu", offset: 5, limit: 7), SearchRequest(text: "title:新疆 -第3号"),
            SearchRequest(text: "没有这个词"),
        ]
        for request in requests {
            var pages: [SearchPage] = []
            for client in clients {
                var page = try await client.search(request)
                page.tookMicros = 0
                pages.append(page)
            }
            #expect(pages[0] == pages[1], "\(request.text)")
            #expect(pages[0].total > 0 || request.text == "没有这个词")
        }
        await expectClientError(.badQuery) { _ = try await clients[0].search(SearchRequest(text: "\"unterminated")) }
        await expectClientError(.badQuery) { _ = try await clients[1].search(SearchRequest(text: "\"unterminated")) }
        for client in clients { await client.shutdown() }
        try await inline.stop()
        try await pooled.stop()
    }

    @Test("SCAN streams every record in date and id order, in batches, within a date range")
    func scanStreams() async throws {
        let server = try await TestServer.start()
        let client = server.client()
        let articles = (0..<600).map(syntheticArticle)
        #expect(try await client.put(articles).created == 600)

        var byDate: [ArticleID] = []
        for try await article in client.scan(order: .byDate, batchSize: 250) {
            #expect(article.title == articles[byDate.count].title)
            byDate.append(article.id)
        }
        #expect(byDate == articles.map(\.id))  // synthetic articles are an hour apart, in order

        var ids: [ArticleID] = []
        for try await id in client.scanIDs(order: .byID, batchSize: 333) { ids.append(id) }
        #expect(ids == articles.map(\.id).sorted())

        let from = articles[100].publishedAt!
        let before = articles[250].publishedAt!
        var ranged: [ArticleID] = []
        for try await article in client.scan(order: .byDate, from: from, before: before, batchSize: 64) {
            ranged.append(article.id)
        }
        #expect(ranged == articles[100..<250].map(\.id))

        // Cancelling the iterating task ends the scan with a cancellation error, not a hang.
        let task = Task {
            var seen = 0
            for try await _ in client.scan(order: .byID, batchSize: 1) {
                seen += 1
                if seen == 3 { withUnsafeCurrentTask { $0?.cancel() } }
            }
            return seen
        }
        do {
            let seen = try await task.value
            Issue.record("scan finished after \(seen) records despite cancellation")
        } catch let error as NewswireClientError {
            #expect(error.code == .cancelled)
        }
        await client.shutdown()
        try await server.stop()
    }

    @Test("writes need the token; bad query and missing id get their codes")
    func errorsAndAuthorisation() async throws {
        let server = try await TestServer.start { $0.writeToken = "s3cret-token" }
        let anonymous = server.client(maxRetries: 0)
        let page = try seedPage()

        await expectClientError(.unauthorised) { _ = try await anonymous.ingest(page: page) }
        await expectClientError(.unauthorised) { _ = try await anonymous.put([syntheticArticle(1)]) }
        await expectClientError(.unauthorised) { _ = try await anonymous.delete(id: "synthetic-1") }
        #expect(try await anonymous.search(SearchRequest(text: "疆电入川")).total == 0)
        #expect(try await anonymous.stats()["articles.count"] == .integer(0))

        // A wrong token is no error at the handshake (PROTOCOL.md §6.3): reads work, writes are refused.
        let wrong = server.client(token: "wrong-token", maxRetries: 0)
        _ = try await wrong.ping()
        await expectClientError(.unauthorised) { _ = try await wrong.put([syntheticArticle(2)]) }

        let writer = server.client(token: "s3cret-token")
        #expect(try await writer.ingest(page: page).outcome == .created)
        await expectClientError(.badQuery) { _ = try await anonymous.search(SearchRequest(text: "\"unterminated")) }
        await expectClientError(.notFound) { _ = try await anonymous.article(id: "no-such-article") }
        await expectClientError(.notFound) { _ = try await anonymous.related(to: "no-such-article") }
        await expectClientError(.parseFailed) { _ = try await writer.ingest(page: [0x89, 0x50, 0x4E, 0x47, 0, 0, 0, 0]) }

        for client in [anonymous, wrong, writer] { await client.shutdown() }
        try await server.stop()
    }

    @Test("a client whose server goes away gets a clear error and reconnects when it returns")
    func reconnects() async throws {
        let directory = TemporaryDirectory()
        let first = try await TestServer.start(dataDirectory: directory.path)
        let port = first.port
        let client = first.client(maxRetries: 0, requestTimeout: .seconds(5))
        _ = try await client.ping()
        try await first.stop()

        do {
            _ = try await client.ping()
            Issue.record("ping succeeded with the server down")
        } catch let error as NewswireClientError {
            #expect([.connectionFailed, .connectionClosed].contains(error.code))
            #expect(error.message.contains("\(port)") || error.code == .connectionClosed)
        }

        let second = try await TestServer.start(dataDirectory: directory.path, port: port)
        // Polled until the client's backoff lets it reconnect (bounded generously for a busy machine).
        var reconnected = false
        let deadline = ContinuousClock.now + .seconds(30)
        while !reconnected, ContinuousClock.now < deadline {
            do {
                _ = try await client.ping()
                reconnected = true
            } catch {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        #expect(reconnected)
        await client.shutdown()
        try await second.stop()
        withExtendedLifetime(directory) {}
    }

    @Test("a background snapshot that fails is in STATS (index.snapshot_error) until one succeeds")
    func snapshotErrorInStats() async throws {
        let server = try await TestServer.start(openEngine: { path in
            try NewswireEngine(
                store: SQLiteArticleStore(directory: path), indexSnapshotPath: path + "/missing-directory/index.snapshot")
        })
        server.engine.waitForBackgroundWork()
        let client = server.client()
        guard case .text(let error)? = try await client.stats()["index.snapshot_error"] else {
            Issue.record("no index.snapshot_error in STATS")
            return
        }
        #expect(error.contains("missing-directory"), "\(error)")
        await client.shutdown()
        try? await server.stop()  // its final snapshot fails too
    }

    @Test("a write that finds the disk full is STORAGE_FULL: nothing acknowledged is lost, reads go on, a retry with room succeeds")
    func storageFull() async throws {
        let directory = TemporaryDirectory()
        // A real SQLITE_FULL: the store's database may not grow past 1 MB, as on a disk with that much room.
        let server = try await TestServer.start(dataDirectory: directory.path) { _ in } openEngine: { path in
            var configuration = NewswireEngine.Configuration()
            configuration.store.maximumDatabaseBytes = 1 << 20
            return try NewswireEngine.open(dataDirectory: path, configuration: configuration)
        }
        let client = server.client(maxRetries: 0)
        func bulky(_ n: Int) -> Article {
            var article = syntheticArticle(n)
            article.paragraphs = (0..<40).map { "第\(n)篇第\($0)段：" + String(repeating: "电网建设\(n)", count: 12) }
            return article
        }
        var acknowledged: [Article] = []
        var refused: [Article]?
        for batch in 0..<400 where refused == nil {
            let articles = (0..<4).map { bulky(batch * 4 + $0) }
            do {
                _ = try await client.put(articles)
                acknowledged += articles
            } catch let error as NewswireClientError {
                #expect(error.code == .storageFull, "\(error)")
                #expect(error.isRetryable)
                #expect(error.serverError?.retryAfterMillis == ProtocolLimits.storageFullRetryAfterMillis)
                #expect(error.message.contains("free space"), "\(error.message)")
                refused = articles
            }
        }
        let stillRefused = try #require(refused, "1 MB never filled up")
        #expect(acknowledged.count >= 8)
        // Every acknowledged article is there and searchable, none of the refused batch; the server still answers.
        for article in acknowledged.prefix(20) + acknowledged.suffix(4) {
            // As stored: the bulky articles are near-duplicates of each other, so `duplicateOf` is set.
            let fetched = try await client.article(id: article.id)
            #expect(fetched.title == article.title && fetched.paragraphs == article.paragraphs)
        }
        #expect(try await client.search(SearchRequest(text: "电网建设", limit: 0)).total == acknowledged.count)
        #expect(try await client.stats()["articles.count"] == .integer(Int64(acknowledged.count)))
        for article in stillRefused {
            await #expect(throws: NewswireClientError.self) { try await client.article(id: article.id) }
        }
        await client.shutdown()
        try await server.stop()

        // Room again (the limit lifted, as after freeing disk space): the refused write goes through.
        let roomy = try await TestServer.start(dataDirectory: directory.path)
        let again = roomy.client(maxRetries: 0)
        let result = try await again.put(stillRefused)
        #expect(result.created == stillRefused.count)
        #expect(try await again.search(SearchRequest(text: "电网建设", limit: 0)).total == acknowledged.count + stillRefused.count)
        await again.shutdown()
        try await roomy.stop()
        withExtendedLifetime(directory) {}
    }

    @Test("a request larger than the server's frame limits fails alone, before it is sent; the connection goes on")
    func oversizedRequestFailsAlone() async throws {
        let server = try await TestServer.start {
            $0.limits.maxFrameBytes = 64 * 1024
            $0.limits.maxDecompressedBytes = 96 * 1024
        }
        let bulky = { (n: Int, bytes: Int) in
            Article(
                id: ArticleID("bulky-\(n)"), title: "大", paragraphs: [String(repeating: "码", count: bytes / 3)])
        }
        for compression in [false, true] {
            let client = server.client(compression: compression, connections: 1, maxRetries: 0)
            _ = try await client.ping()
            // A request in flight on the same connection while the oversized one is refused.
            async let searched = client.search(SearchRequest(text: "大", limit: 0))
            // Uncompressed: 200 KB is past the 64 KB frame limit. Compressed (the text is one character repeated):
            // the frame is small, but 200 KB inflated is past the 96 KB decompressed limit.
            do {
                _ = try await client.put([bulky(1, 200_000)])
                Issue.record("an oversized PUT was sent (compression \(compression))")
            } catch let error as NewswireClientError {
                #expect(error.code == .limitExceeded && !error.isRetryable, "\(error)")
                #expect(error.serverError == nil, "refused by the client, not the server: \(error)")
                let limit = compression ? "98304 per uncompressed payload" : "65536 per frame"
                #expect(error.message.contains("the PUT request is") && error.message.contains(limit), "\(error.message)")
            }
            _ = try await searched
            // The connection survived: the next request on it is answered.
            #expect(try await client.put([bulky(compression ? 3 : 2, 10_000)]).created == 1)
            _ = try await client.ping()
            await client.shutdown()
        }
        try await server.stop()
    }

    @Test("a test server removes the data directory it made, and leaves a given one to its owner")
    func testServerCleansUp() async throws {
        let made = try await TestServer.start()
        let client = made.client()
        _ = try await client.ping()
        await client.shutdown()
        #expect(FileManager.default.fileExists(atPath: made.dataDirectory + "/articles.sqlite"))
        try await made.stop()
        #expect(!FileManager.default.fileExists(atPath: made.dataDirectory))

        let directory = TemporaryDirectory()
        let given = try await TestServer.start(dataDirectory: directory.path)
        try await given.stop()
        #expect(FileManager.default.fileExists(atPath: directory.file("articles.sqlite")))
    }

    @Test("graceful shutdown answers every in-flight request or tells it to retry")
    func gracefulShutdownWithRequestsInFlight() async throws {
        let server = try await TestServer.start { $0.limits.shutdownGracePeriod = .seconds(5) }
        let client = server.client(connections: 4, maxRetries: 0, requestTimeout: .seconds(30))
        _ = try await client.put((0..<300).map(syntheticArticle))

        let outcomes = OutcomeCounter()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for n in 0..<400 {
                group.addTask {
                    do {
                        _ = try await client.search(SearchRequest(text: "测试 能源 \(n % 300)", limit: 50, facets: [.source, .month]))
                        outcomes.record("ok")
                    } catch let error as NewswireClientError {
                        outcomes.record(error.isRetryable && error.code != .timeout ? "retry" : "bad:\(error)")
                    }
                }
            }
            group.addTask {
                try await Task.sleep(for: .milliseconds(30))
                try await server.stop()
            }
            try await group.waitForAll()
        }
        let counts = outcomes.counts()
        let unexpected = counts.filter { $0.key != "ok" && $0.key != "retry" }
        #expect(unexpected.isEmpty, "unexpected outcomes: \(unexpected)")
        #expect(counts.values.reduce(0, +) == 400)
        await client.shutdown()
    }
}

/// PROTOCOL.md §6.4: GOAWAY does not close the connection under a request the client sent before it saw the
/// GOAWAY. The linger is set far beyond the test so that only the client's close can end it: the request sent after
/// reading GOAWAY must be answered SHUTTING_DOWN, however slowly the machine runs.
@Suite("GOAWAY: requests that cross it", .timeLimit(.minutes(5)))
struct GoAwayLingerTests {
    @Test("shutdown: a request sent after GOAWAY is answered SHUTTING_DOWN; the client's close ends the linger")
    func requestAfterShutdownGoAway() async throws {
        let server = try await TestServer.start {
            $0.limits.goAwayLinger = .seconds(3_600)
            $0.limits.shutdownGracePeriod = .seconds(3_600)
        }
        let connection = try await RawConnection.handshaken(port: server.port)
        let stopping = Task { try await server.stop() }
        try await Self.crossGoAway(connection, goAwayCode: .shuttingDown, with: .ping(PingMessage()))
        try await stopping.value
    }

    @Test("idle timeout: a request sent after GOAWAY TIMEOUT is answered SHUTTING_DOWN")
    func requestAfterIdleGoAway() async throws {
        let server = try await TestServer.start {
            $0.limits.idleTimeout = .seconds(1)
            $0.limits.goAwayLinger = .seconds(3_600)
        }
        let connection = try await RawConnection.handshaken(port: server.port)
        try await Self.crossGoAway(connection, goAwayCode: .timeout, with: .stats)
        try await server.stop()
    }

    /// Reads the GOAWAY (with `goAwayCode`), sends `request` after it, expects SHUTTING_DOWN on an open connection,
    /// then closes the connection (which ends the linger).
    static func crossGoAway(
        _ connection: RawConnection, goAwayCode: ProtocolError.Code, with request: Request
    ) async throws {
        let goAway = try #require(try await connection.nextFrame(within: .seconds(60)))
        guard case .goAway(let message) = try Response(frame: goAway) else {
            Issue.record("expected GOAWAY, got \(goAway.opcode)")
            return
        }
        #expect(message.code == goAwayCode)
        let id = try await connection.send(request)
        let error = try await connection.nextError(within: .seconds(60))
        #expect(error.code == .shuttingDown && error.isRetryable && error.requestID == id)
        #expect(!connection.isClosed)
        await connection.close()
    }
}

@Suite("Half-closed connections", .timeLimit(.minutes(5)))
struct HalfCloseTests {
    @Test("§2: a client that shuts down its sending side after its requests gets every answer, then the close")
    func answersAfterHalfClose() async throws {
        let server = try await TestServer.start()
        let client = server.client()
        _ = try await client.put([Article(id: ArticleID("half-1"), title: "半关闭", paragraphs: ["正文"])])
        let connection = try await RawConnection.handshaken(port: server.port)
        let get = try await connection.send(.get(GetMessage(id: ArticleID("half-1"))))
        let stats = try await connection.send(.stats)
        let missing = try await connection.send(.get(GetMessage(id: ArticleID("absent"))))
        try await connection.closeSending()
        var answers: [RequestID: Response] = [:]
        while answers.count < 3 {
            let frame = try #require(try await connection.nextFrame(within: .seconds(60)), "closed before answering")
            answers[frame.requestID] = try Response(frame: frame)
        }
        guard case .article(let article) = answers[get] else {
            Issue.record("expected ARTICLE, got \(String(describing: answers[get]))")
            return
        }
        #expect(try article.record.decode().title == "半关闭")
        if case .stats = answers[stats] {} else { Issue.record("expected STATS_RESULT") }
        if case .error(let error) = answers[missing] { #expect(error.code == .notFound) } else {
            Issue.record("expected NOT_FOUND")
        }
        #expect(try await connection.waitUntilClosed(within: .seconds(60)))
        await client.shutdown()
        try await server.stop()
    }

    @Test("a WATCH whose client leaves ends CANCELLED with its position, and STATS counts it so, not as a shutdown")
    func watchEndsWhenItsClientLeaves() async throws {
        let server = try await TestServer.start()
        let connection = try await RawConnection.handshaken(port: server.port)
        let watch = try await connection.send(.watch(WatchMessage(text: "能源")))
        guard case .watchEvent(let started) = try await connection.nextResponse(within: .seconds(60)) else {
            Issue.record("expected the STARTED event")
            return
        }
        try await connection.closeSending()
        let end = try await connection.nextError(within: .seconds(60))
        #expect(end.requestID == watch && end.code == .cancelled && end.position == started.position)
        let probe = try await RawConnection.handshaken(port: server.port)
        var cancelled: Int64?
        var shuttingDown: Int64?
        // Counted just after the ERROR is queued: asked until it shows (bounded).
        for _ in 0..<1_000 where cancelled == nil {
            _ = try await probe.send(.stats)
            guard case .stats(let stats) = try await probe.nextResponse(within: .seconds(60)) else { break }
            for entry in stats.entries {
                guard case .integer(let value) = entry.value else { continue }
                if entry.name == "requests.watch.cancelled" { cancelled = value }
                if entry.name == "requests.watch.shutting_down" { shuttingDown = value }
            }
        }
        #expect(cancelled == 1)
        #expect(shuttingDown == nil)
        await probe.close()
        try await server.stop()
    }
}

extension HalfCloseTests {
    @Test("a WATCH sent together with the half-close still ends CANCELLED, and the connection closes")
    func watchSentWithTheHalfCloseEnds() async throws {
        let server = try await TestServer.start()
        // The WATCH and the end of input arrive in one read, so the read loop ends before the watch's task has
        // registered its watch: the order that once left the watch (and the connection) open for good.
        for _ in 0..<20 {
            let connection = try await RawConnection.handshaken(port: server.port)
            let watch = try await connection.send(.watch(WatchMessage(text: "能源")))
            try await connection.closeSending()
            var end: ProtocolError?
            while end == nil {
                let frame = try #require(
                    try await connection.nextFrame(within: .seconds(60)), "closed without ending the watch")
                #expect(frame.requestID == watch)
                switch try Response(frame: frame) {
                case .watchEvent(let event): #expect(event.kind == .started)
                case .error(let error): end = error
                default: Issue.record("unexpected \(frame.opcode)")
                }
            }
            #expect(end?.code == .cancelled && end?.position != nil)
            #expect(try await connection.waitUntilClosed(within: .seconds(60)))
        }
        try await server.stop()
    }
}

/// Expects `body` to throw a ``NewswireClientError`` with `code`.
func expectClientError(
    _ code: NewswireClientError.Code, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> Void
) async {
    do {
        try await body()
        Issue.record("expected \(code), got success", sourceLocation: sourceLocation)
    } catch let error as NewswireClientError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected \(code), got \(error)", sourceLocation: sourceLocation)
    }
}

/// Thread-safe outcome counter.
final class OutcomeCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [String: Int] = [:]
    func record(_ key: String) {
        lock.lock()
        values[key, default: 0] += 1
        lock.unlock()
    }
    func counts() -> [String: Int] {
        lock.lock()
        defer { lock.unlock() }
        return values
    }
}

@Test("the DocC getting-started article shows the compiled example verbatim")
func gettingStartedArticleMatchesExample() throws {
    let example = try String(
        contentsOf: repositoryRoot.appendingPathComponent("Examples/ClientQuickStart/main.swift"), encoding: .utf8)
    let article = try String(
        contentsOf: repositoryRoot.appendingPathComponent(
            "Sources/NewswireClient/NewswireClient.docc/GettingStarted.md"), encoding: .utf8)
    #expect(article.contains("```swift\n" + example + "```"))
}
