import Foundation
import Logging
import NIOCore
import NewswireEngine
import NewswireModel
import NewswireServer
import ServiceLifecycle
import Testing

@testable import NewswireLoad

/// A real server on 127.0.0.1, port 0, over a temporary data directory holding `articles` synthetic articles.
final class LoopbackServer: Sendable {
    let port: Int
    private let group: ServiceGroup
    private let runTask: Task<Void, any Error>
    private let directory: String

    private init(port: Int, group: ServiceGroup, runTask: Task<Void, any Error>, directory: String) {
        self.port = port
        self.group = group
        self.runTask = runTask
        self.directory = directory
    }

    static func start(articles: Int) async throws -> LoopbackServer {
        let directory = NSTemporaryDirectory() + "newswire-load-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var configuration = ServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.dataDirectory = directory
        configuration.seedsDirectory = nil
        let engine = try NewswireEngine.open(dataDirectory: directory)
        _ = try engine.put((0..<articles).map(article))
        var logger = Logger(label: "load-test-server")
        logger.logLevel = .critical
        let (addresses, continuation) = AsyncStream<SocketAddress>.makeStream()
        let server = NewswireServer(
            configuration: configuration, engine: engine, logger: logger,
            onListening: { address in
                continuation.yield(address)
                continuation.finish()
            })
        let group = ServiceGroup(services: [server], logger: logger)
        let runTask = Task { try await group.run() }
        var iterator = addresses.makeAsyncIterator()
        guard let address = await iterator.next(), let port = address.port else {
            runTask.cancel()
            throw LoadConfigurationError("test server did not start")
        }
        return LoopbackServer(port: port, group: group, runTask: runTask, directory: directory)
    }

    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await runTask.value
        try? FileManager.default.removeItem(atPath: directory)
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
        configuration.duration = .milliseconds(800)
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
        #expect(result.requests > 100)
        #expect(Set(result.operations.keys) == ["get", "search", "ping"])
        #expect(result.operations.values.reduce(0) { $0 + $1.count } == result.requests)
        #expect(result.latency.count == result.requests)
        #expect(result.serviceTime == nil)
        #expect(result.measuredSeconds > 0.7 && result.measuredSeconds < 5)
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

        #expect(result.errors == [:])
        // Due times are start + k/2000 s; the window [start+0.2 s, start+0.7 s) holds k = 400...1399.
        #expect(result.requests == 1000)
        #expect(result.serviceTime?.count == 1000)
        #expect(result.compressionRatio == 1)
        #expect(result.latency.p50 >= result.serviceTime!.p50)
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
