import Foundation
import Testing

@testable import NewswireClient

@Suite("AsyncSemaphore")
struct AsyncSemaphoreTests {
    /// A cancellation that arrives before the acquire registers as a waiter must not be lost: the task here is
    /// cancelled before it calls `acquire()`, so the cancellation handler runs before the waiter exists. A lost
    /// cancellation shows as a parked waiter that a later `release()` wakes normally.
    @Test("a cancellation before the waiter is registered ends the acquire with CancellationError")
    func cancellationBeforeRegistration() async throws {
        let semaphore = AsyncSemaphore(permits: 0)
        let finished = FinishedFlag()
        let acquire = Task { () -> (any Error)? in
            withUnsafeCurrentTask { $0?.cancel() }
            defer { finished.set() }
            do {
                try await semaphore.acquire()
                return nil
            } catch {
                return error
            }
        }
        // Either the acquire ended, or it parked as a waiter (the lost cancellation); no timing involved.
        while !finished.isSet && semaphore.waiterCount == 0 { await Task.yield() }
        semaphore.release()  // wakes a parked waiter, if any
        let error = await acquire.value
        #expect(error is CancellationError, "acquire returned \(String(describing: error)) instead of cancelling")
        #expect(semaphore.waiterCount == 0)
    }

    @Test("a cancellation while waiting ends that acquire; the permit goes to the next waiter")
    func cancellationWhileWaiting() async throws {
        let semaphore = AsyncSemaphore(permits: 0)
        let first = Task { try await semaphore.acquire() }
        while semaphore.waiterCount < 1 { await Task.yield() }
        let second = Task { try await semaphore.acquire() }
        while semaphore.waiterCount < 2 { await Task.yield() }
        first.cancel()
        await #expect(throws: CancellationError.self) { try await first.value }
        semaphore.release()
        try await second.value
        #expect(semaphore.waiterCount == 0)
    }
}

/// A flag set once from another task.
private final class FinishedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false

    var isSet: Bool { lock.withLock { value } }

    func set() { lock.withLock { value = true } }
}
