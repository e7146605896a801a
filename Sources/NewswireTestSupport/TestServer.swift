import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NewswireEngine
import NewswireServer
import NewswireTestFixtures
import ServiceLifecycle

/// A real `NewswireServer` on 127.0.0.1 (port 0 unless told otherwise) over a data directory, run in a
/// `ServiceGroup` as `newswired` runs it, for end-to-end, load and hardening tests.
public final class TestServer: Sendable {
    /// The data directory (a fresh temporary one unless given).
    public let dataDirectory: String
    /// The port the server listens on.
    public let port: Int
    /// The server's engine.
    public let engine: NewswireEngine
    /// The server itself (its counters are what STATS reports).
    public let server: NewswireServer
    private let group: ServiceGroup
    private let runTask: Task<Void, any Error>
    private let servingExecutor: DedicatedThreadExecutor
    private let removesDirectory: Bool

    private init(
        dataDirectory: String, port: Int, engine: NewswireEngine, server: NewswireServer, group: ServiceGroup,
        runTask: Task<Void, any Error>, servingExecutor: DedicatedThreadExecutor, removesDirectory: Bool
    ) {
        self.dataDirectory = dataDirectory
        self.port = port
        self.engine = engine
        self.server = server
        self.group = group
        self.runTask = runTask
        self.servingExecutor = servingExecutor
        self.removesDirectory = removesDirectory
    }

    /// Starts a server and returns once it listens.
    ///
    /// - Parameters:
    ///   - dataDirectory: a directory the caller owns (a test that restarts a server passes the same one again,
    ///     e.g. a `TemporaryDirectory`'s); nil makes a fresh temporary one, removed by ``stop()``.
    ///   - logger: the server's logger; default: only critical messages.
    ///   - configure: adjusts the configuration (host 127.0.0.1, no seeds, spec limits except a 60 s handshake
    ///     deadline); the trailing closure.
    ///   - prepare: runs on the open engine before the server starts (e.g. to load articles).
    ///   - openEngine: opens the engine on the data directory (a cluster node's engine over PostgreSQL); default
    ///     `NewswireEngine.open(dataDirectory:)`.
    public static func start(
        dataDirectory: String? = nil, port: Int = 0, logger: Logger? = nil,
        configure: (inout ServerConfiguration) -> Void = { _ in },
        prepare: (NewswireEngine) throws -> Void = { _ in },
        openEngine: ((String) throws -> NewswireEngine)? = nil
    ) async throws -> TestServer {
        let directory = dataDirectory ?? makeTemporaryDirectory()
        var configuration = ServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = port
        configuration.dataDirectory = directory
        configuration.seedsDirectory = nil
        // A client started as a subprocess on a loaded machine can take longer than the spec's 10 s to say HELLO;
        // the tests of the deadline itself set their own.
        configuration.limits.handshakeTimeout = .seconds(60)
        configure(&configuration)
        // A directory made here is gone again if the server does not start.
        var started = false
        defer { if !started, dataDirectory == nil { try? FileManager.default.removeItem(atPath: directory) } }
        let engine = try openEngine?(directory) ?? NewswireEngine.open(dataDirectory: directory)
        do { try prepare(engine) } catch {
            try? engine.close()
            throw error
        }
        let logger = logger ?? {
            var quiet = Logger(label: "test-server")
            quiet.logLevel = .critical
            return quiet
        }()
        let (addresses, continuation) = AsyncStream<SocketAddress>.makeStream()
        let server = NewswireServer(
            configuration: configuration, engine: engine, logger: logger,
            onListening: { address in
                continuation.yield(address)
                continuation.finish()
            })
        // As newswired runs them: the engine first, so it stops after the server has drained.
        let group = ServiceGroup(services: [engine, server], logger: logger)
        // The server's tasks (every connection's reader, writer and requests) run on threads of their own, as two
        // cores would run them in `newswired`. On the test process's cooperative pool they would share its two
        // threads with every other test: two long synchronous tests (a whole-corpus oracle loop, a fuzzing loop)
        // would stop every in-process server for as long as they run, and the tests talking to those servers would
        // fail on timeouts unrelated to what they test.
        let servingExecutor = DedicatedThreadExecutor(threads: 2, name: "nw-test-server")
        let runTask = Task(executorPreference: servingExecutor) {
            defer { continuation.finish() }
            try await group.run()
        }
        var iterator = addresses.makeAsyncIterator()
        guard let address = await iterator.next(), let boundPort = address.port else {
            defer { servingExecutor.shutdown() }
            try await runTask.value  // the reason it did not start
            throw ServerError(message: "test server did not start")
        }
        started = true
        return TestServer(
            dataDirectory: directory, port: boundPort, engine: engine, server: server, group: group, runTask: runTask,
            servingExecutor: servingExecutor, removesDirectory: dataDirectory == nil)
    }

    /// Graceful shutdown (as on SIGTERM); returns once the server has drained and the engine has closed (saving its
    /// snapshot). Throws if the server's or the engine's run failed. A data directory the server made itself is
    /// removed, whether or not the run failed; a given one is left to its owner.
    public func stop() async throws {
        await group.triggerGracefulShutdown()
        defer {
            servingExecutor.shutdown()
            if removesDirectory { try? FileManager.default.removeItem(atPath: dataDirectory) }
        }
        try await runTask.value
    }

    /// A fresh empty directory under the system temporary directory, removed when the test process exits if it is
    /// still there (a test that stops its server from a `Task` in a `defer` can end the process before the stop).
    public static func makeTemporaryDirectory() -> String {
        let path = NSTemporaryDirectory() + "newswire-test-server-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        LeftoverDirectories.shared.add(path)
        return path
    }
}

/// Directories to remove when the process exits, if nothing removed them before.
private final class LeftoverDirectories: Sendable {
    static let shared: LeftoverDirectories = {
        atexit { LeftoverDirectories.shared.removeAll() }
        return LeftoverDirectories()
    }()

    private let paths = NIOLockedValueBox<[String]>([])

    func add(_ path: String) { paths.withLockedValue { $0.append(path) } }

    func removeAll() {
        for path in paths.withLockedValue({ $0 }) { try? FileManager.default.removeItem(atPath: path) }
    }
}
