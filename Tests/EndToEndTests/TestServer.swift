import ArticleExtraction
import Foundation
import Logging
import NIOCore
import NewswireClient
import NewswireEngine
import NewswireServer
import ServiceLifecycle

/// A real `NewswireServer` on 127.0.0.1 (port 0 unless told otherwise) over a temporary data directory.
final class TestServer: Sendable {
    let dataDirectory: String
    let port: Int
    let engine: NewswireEngine
    private let group: ServiceGroup
    private let runTask: Task<Void, any Error>

    private init(dataDirectory: String, port: Int, engine: NewswireEngine, group: ServiceGroup, runTask: Task<Void, any Error>) {
        self.dataDirectory = dataDirectory
        self.port = port
        self.engine = engine
        self.group = group
        self.runTask = runTask
    }

    /// Starts a server; `dataDirectory` nil makes a fresh temporary one.
    static func start(
        dataDirectory: String? = nil, port: Int = 0, configure: (inout ServerConfiguration) -> Void = { _ in }
    ) async throws -> TestServer {
        let directory = dataDirectory ?? makeTemporaryDirectory()
        var configuration = ServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = port
        configuration.dataDirectory = directory
        configuration.seedsDirectory = nil
        configure(&configuration)
        let engine = try NewswireEngine.open(dataDirectory: directory)
        var logger = Logger(label: "test-server")
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
        guard let address = await iterator.next(), let boundPort = address.port else {
            runTask.cancel()
            throw ServerError(message: "test server did not start")
        }
        return TestServer(dataDirectory: directory, port: boundPort, engine: engine, group: group, runTask: runTask)
    }

    /// A client for this server.
    func client(
        token: String? = nil, compression: Bool = true, connections: Int = 1, maxRetries: Int = 2,
        requestTimeout: Duration = .seconds(20)
    ) -> NewswireClient {
        NewswireClient(
            configuration: .init(
                host: "127.0.0.1", port: port, token: token, compression: compression,
                requestTimeout: requestTimeout, connections: connections, maxRetries: maxRetries))
    }

    /// Graceful shutdown (as on SIGTERM); returns once the server has drained and closed its engine.
    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await runTask.value
    }

    static func makeTemporaryDirectory() -> String {
        let path = NSTemporaryDirectory() + "newswire-e2e-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

/// The repository root (for seeds/).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// The seed page shipped in seeds/.
func seedPage() throws -> [UInt8] {
    let seeds = repositoryRoot.appendingPathComponent("seeds")
    let name = try FileManager.default.contentsOfDirectory(atPath: seeds.path).filter { !$0.hasPrefix(".") }.sorted()[0]
    return [UInt8](try Data(contentsOf: seeds.appendingPathComponent(name)))
}

/// A small synthetic article for load-style tests.
func syntheticArticle(_ n: Int) -> Article {
    Article(
        id: ArticleID("synthetic-\(n)"), title: "第\(n)号测试文章 四川 新疆", publishedAt: PublishedTime(
            secondsSinceEpoch: 1_700_000_000 + Int64(n) * 3600, utcOffsetSeconds: PublishedTime.chinaStandardOffset),
        source: n % 2 == 0 ? "测试来源甲" : "测试来源乙",
        paragraphs: ["这是第\(n)篇用于端到端测试的文章，内容涉及能源合作与产业协作。", "Paragraph \(n) mentions Chengdu and energy."],
        language: "zh")
}
