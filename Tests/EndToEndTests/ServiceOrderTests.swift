import Foundation
import Logging
import NIOCore
import NewswireEngine
import NewswireServer
import NewswireTestSupport
import ServiceLifecycle
import Testing

@Suite("Engine and server as services", .timeLimit(.minutes(5)))
struct ServiceOrderTests {
    static var quiet: Logger {
        var logger = Logger(label: "service-order-test")
        logger.logLevel = .critical
        return logger
    }

    /// Runs `services` in a ServiceGroup until `server` listens, then shuts the group down gracefully.
    static func runUntilListening(_ makeServer: (@escaping @Sendable (SocketAddress) -> Void) -> NewswireServer,
        alongside others: [any Service]) async throws
    {
        let (addresses, continuation) = AsyncStream<SocketAddress>.makeStream()
        let server = makeServer { address in
            continuation.yield(address)
            continuation.finish()
        }
        let group = ServiceGroup(services: others + [server], logger: quiet)
        let run = Task { try await group.run() }
        var iterator = addresses.makeAsyncIterator()
        #expect(await iterator.next() != nil, "the server did not start")
        await group.triggerGracefulShutdown()
        try await run.value
    }

    @Test("the server never closes the engine it was handed; the engine's own service closes it, saving its snapshot")
    func engineOutlivesServer() async throws {
        let directory = TestServer.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let engine = try await runBlocking { try NewswireEngine.open(dataDirectory: directory) }
        var configuration = ServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.dataDirectory = directory
        configuration.seedsDirectory = nil

        // The server alone in its group: after its graceful shutdown the engine still takes writes.
        try await Self.runUntilListening(
            { NewswireServer(configuration: configuration, engine: engine, logger: Self.quiet, onListening: $0) },
            alongside: [])
        let outcome = try await runBlocking { try engine.put([syntheticArticle(1)]) }
        #expect(outcome.map(\.outcome) == [.created])

        // As newswired runs them: the engine first, so it is stopped after the server, and closes.
        try await Self.runUntilListening(
            { NewswireServer(configuration: configuration, engine: engine, logger: Self.quiet, onListening: $0) },
            alongside: [engine])
        let refusal = try await runBlocking { () -> EngineError? in
            do {
                _ = try engine.put([syntheticArticle(2)])
                return nil
            } catch let error as EngineError {
                return error
            }
        }
        #expect(refusal?.code == .closed, "a put after the group stopped: \(String(describing: refusal))")
        // Closing saved the snapshot (covering the write) and released the directory: it reopens from it.
        let reopened = try await runBlocking { try NewswireEngine.open(dataDirectory: directory) }
        #expect(reopened.startup.source == .snapshot && reopened.startup.replayedChanges == 0)
        #expect(try await runBlocking { try reopened.article(id: syntheticArticle(1).id) } != nil)
        try await runBlocking { try reopened.close() }
    }
}
