import Dispatch
import Foundation
import NewswireProtocol
import NewswireTestSupport
import Testing

/// The whole test run is one process whose Swift-concurrency pool has one thread per core, and Swift Testing runs
/// every test on it in parallel. In-process servers must not depend on that pool: when other tests hold all of its
/// threads with long synchronous work (a whole-corpus oracle loop, a fuzzing loop), a server sharing the pool stops
/// answering, and tests talking to it fail on timeouts that have nothing to do with what they test.
@Suite("Test servers and the cooperative pool")
struct TestServerIsolationTests {
    @Test("a test server answers while every thread of the cooperative pool is blocked by other work")
    func answersWhileThePoolIsBlocked() async throws {
        let server = try await TestServer.start()
        let width = ProcessInfo.processInfo.activeProcessorCount
        let started = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        // Detached tasks run on the global cooperative pool: `width` of them, each holding its thread until
        // released, take every thread it has.
        for _ in 0..<width {
            Task.detached {
                started.signal()
                release.wait()
            }
        }
        let answer: Opcode? = try await runBlocking {
            defer { for _ in 0..<width { release.signal() } }
            // The pool is shared with the rest of the run: the blockers start once the tests ahead of them yield.
            for _ in 0..<width {
                guard started.wait(timeout: .now() + 300) == .success else { return nil }
            }
            let connection = try RawConnection(port: server.port)
            connection.send(
                requestBytes([(.hello(HelloMessage(clientName: "pool-test")), 0), (.ping(PingMessage()), 1)]))
            return try connection.receive(2).last?.opcode
        }
        try await server.stop()
        #expect(answer == .pong, "the server did not answer while the cooperative pool was blocked")
    }
}
