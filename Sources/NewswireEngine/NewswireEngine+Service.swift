import Foundation
import ServiceLifecycle

/// The engine as a swift-service-lifecycle `Service`: `newswired` runs it in one `ServiceGroup` with the server,
/// listed before it, so the engine is started first and, on graceful shutdown (SIGTERM/SIGINT), stopped last:
/// the server drains its connections (their writes still commit), then the engine saves its snapshot and closes.
///
/// The engine's background work does not run on `run()`'s task but on threads of its own, because every piece of
/// it blocks: a group commit waits on `fsync`, a snapshot writes and syncs a file of hundreds of MiB, a cluster
/// node's follower waits on the shared store's change notifications. On Swift's cooperative pool (one thread per
/// core) each would stall every connection task. Their lifetime is still the service's: ``close()``, which
/// `run()` ends with, waits for them.
extension NewswireEngine: Service {
    /// Waits for graceful shutdown (or cancellation), then closes the engine (see ``close()``): waits for a
    /// background snapshot, saves the final one and closes the store. Throws what closing throws.
    public func run() async throws {
        // Cancellation (another service of the group failed) closes too: a snapshot saved is a faster restart.
        try? await gracefulShutdown()
        try await closeOffPool()
    }

    /// ``close()`` on a thread of its own: it blocks on disk for as long as the final snapshot takes.
    func closeOffPool() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let thread = Thread { continuation.resume(with: Result { try self.close() }) }
            thread.name = "nw-engine-close"  // Linux thread names are at most 15 characters
            thread.start()
        }
    }
}
