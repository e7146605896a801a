import Foundation
import Logging
import NIOCore
import NewswireClient
import NewswireEngine
import NewswireModel
import NewswireServer
import NewswireTestSupport
import ServiceLifecycle
import Testing

@testable import NewswireLoad

/// Articles and a loopback server for the bench tests.
enum LoopbackServer {
    /// A server on 127.0.0.1, port 0, holding `articles` synthetic articles.
    static func start(articles: Int) async throws -> TestServer {
        try await TestServer.start(prepare: { engine in _ = try engine.put((0..<articles).map(article)) })
    }

    static func article(_ n: Int) -> Article {
        Article(
            id: ArticleID("load-\(n)"), title: "第\(n)号压力测试文章 能源合作",
            publishedAt: PublishedTime(secondsSinceEpoch: 1_700_000_000 + Int64(n) * 3600, utcOffsetSeconds: 28_800),
            source: "测试来源",
            paragraphs: [
                String(repeating: "这是用于负载测试的第\(n)篇文章，内容涉及能源合作与产业协作。", count: 20),
                "Paragraph \(n) mentions Chengdu and energy.",
            ], language: "zh")
    }
}

@Suite("Bench against a loopback server", .serialized)
struct LoopbackTests {
    @Test("closed loop: every request answered, ids from SCAN, bytes and compression counted")
    func closedLoop() async throws {
        let server = try await LoopbackServer.start(articles: 50)
        var configuration = LoadConfiguration()
        configuration.port = server.port
        configuration.connections = 4
        configuration.pipeline = 8
        configuration.warmup = .milliseconds(200)
        // A request count, not a time window: how many answers fit in a window depends on the machine.
        configuration.requests = 400
        configuration.mix = try OperationMix(parsing: "get=8,search=1,ping=1")
        configuration.queries = ["能源", "Chengdu"]
        configuration.keys = .zipf(exponent: 0.99)
        let result = try await LoadGenerator.run(configuration)
        try await server.stop()

        #expect(result.errors == [:])
        #expect(result.connectionFailures == [])
        #expect(result.connections == 4)
        #expect(result.pipeline == 8)
        #expect(result.idCount == 50)
        #expect(result.requests == 400)
        #expect(Set(result.operations.keys) == ["get", "search", "ping"])
        #expect(result.operations.values.reduce(0) { $0 + $1.count } == result.requests)
        #expect(result.latency.count == result.requests)
        #expect(result.serviceTime == nil)
        #expect(result.measuredSeconds > 0)
        // The articles' repeated paragraphs compress: GET answers travel as zlib.
        #expect(result.compressionRatio > 2)
        #expect(result.bytesReceivedUncompressed > result.bytesReceived)
        #expect(result.bytesSent > result.requests * 12)
    }

    @Test("open loop: exactly the scheduled requests of the measured window are sent and answered")
    func openLoop() async throws {
        let server = try await LoopbackServer.start(articles: 20)
        var configuration = LoadConfiguration()
        configuration.port = server.port
        configuration.connections = 4
        configuration.pipeline = 16
        configuration.rate = 2000
        configuration.warmup = .milliseconds(200)
        configuration.duration = .milliseconds(500)
        configuration.compression = false
        let result = try await LoadGenerator.run(configuration)
        try await server.stop()

        // Due times are start + k/2000 s; the window [start+0.2 s, start+0.7 s) holds k = 400...1399. Each of
        // them is answered, or (on a machine too busy to keep 64 requests in flight) counted as NOT_SENT: none
        // is lost, whatever the machine's speed.
        let notSent = result.errors["NOT_SENT", default: 0]
        #expect(result.errors.keys.allSatisfy { $0 == "NOT_SENT" }, "\(result.errors)")
        #expect(result.requests + notSent == 1000)
        #expect(result.serviceTime?.count == result.requests)
        #expect(result.compressionRatio == 1)
        #expect(result.latency.p50 >= result.serviceTime!.p50)
    }

    @Test("open loop faster than one connection can go: the run ends with its duration, the requests it could not send are NOT_SENT")
    func openLoopOverCapacity() async throws {
        let server = try await LoopbackServer.start(articles: 1)
        var configuration = LoadConfiguration()
        configuration.port = server.port
        configuration.mix = .only(.ping)
        configuration.connections = 1
        configuration.pipeline = 1
        // A request every microsecond on one connection with one in flight: no loopback round trip is that short,
        // so most of them fall due while the slot is busy.
        configuration.rate = 1_000_000
        configuration.warmup = .zero
        configuration.duration = .milliseconds(200)
        let result = try await LoadGenerator.run(configuration)
        try await server.stop()
        let notSent = result.errors["NOT_SENT", default: 0]
        #expect(result.errors.keys.allSatisfy { $0 == "NOT_SENT" }, "\(result.errors)")
        // Every scheduled request of the window is answered or NOT_SENT; before, the backlog was sent after the
        // duration (for seconds) and none was NOT_SENT.
        #expect(result.requests + notSent == 200_000)
        #expect(notSent > 0)
    }

    @Test("after GOAWAY a connection sends nothing more: at most the requests already in flight get SHUTTING_DOWN")
    func goAwayStopsSending() async throws {
        let server = try await LoopbackServer.start(articles: 1)
        var configuration = LoadConfiguration()
        configuration.port = server.port
        configuration.mix = .only(.ping)
        configuration.connections = 2
        configuration.pipeline = 4
        configuration.warmup = .zero
        configuration.duration = .seconds(600)
        let run = Task { try await LoadGenerator.run(configuration) }
        // Shut the server down once the bench is sending (GOAWAY on both connections).
        let client = NewswireClient(configuration: .init(host: "127.0.0.1", port: server.port))
        while true {
            if case .integer(let pings)? = try await client.stats()["requests.ping.ok"], pings > 200 { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        await client.shutdown()
        try await server.stop()
        let result = try await run.value
        #expect(result.errors["GOAWAY"] == 2, "\(result.errors)")
        #expect(result.errors["SHUTTING_DOWN", default: 0] <= 8, "\(result.errors)")
        #expect(result.requests > 0)
    }

    @Test("an unreachable server is a clear error, not a hang")
    func unreachable() async throws {
        var configuration = LoadConfiguration()
        configuration.port = 1
        configuration.mix = .only(.ping)
        configuration.connections = 1
        configuration.duration = .milliseconds(100)
        await #expect(throws: LoadConfigurationError.self) { try await LoadGenerator.run(configuration) }
    }
}
