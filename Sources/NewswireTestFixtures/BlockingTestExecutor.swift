import Foundation

/// Runs `body`, which blocks (waits on threads, child processes, a store's synchronous calls), on a thread of its
/// own instead of one of Swift concurrency's cooperative threads.
///
/// Swift Testing runs every test of the process in parallel on the cooperative pool, which has one thread per core.
/// A test that blocks one of those threads for seconds (a PostgreSQL cluster starting, a follower catching up)
/// starves every async test beside it: their loopback servers stop answering, and they fail on timeouts that have
/// nothing to do with what they test. The body still runs inside the calling task (a task-executor preference), so
/// `#expect` and `#require` are attributed to the running test as usual.
public func runBlocking<T: Sendable>(_ body: () throws -> T) async throws -> T {
    let executor = DedicatedThreadExecutor()
    defer { executor.shutdown() }
    return try await withTaskExecutorPreference(executor) {
        try body()
    }
}

/// Runs an async `body` whose code blocks between its awaits (blocking socket reads from a test peer) with a thread
/// of its own as its preferred executor, so the servers it talks to keep the cooperative pool. Tasks the server
/// started before are not affected.
public func runBlockingAsync<T: Sendable>(_ body: () async throws -> T) async throws -> T {
    let executor = DedicatedThreadExecutor()
    defer { executor.shutdown() }
    return try await withTaskExecutorPreference(executor) {
        try await body()
    }
}

/// A task executor backed by threads of its own that run the jobs enqueued on it, in order of arrival, until shut
/// down. One thread for a blocking test body; a small pool for an in-process server (see `TestServer`).
public final class DedicatedThreadExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var stopping = false

    /// - Parameters:
    ///   - threads: how many threads run jobs.
    ///   - name: the threads' name in a thread dump (Linux keeps 15 characters; a longer name is refused).
    public init(threads: Int = 1, name: String = "nw-blocking") {
        for _ in 0..<max(1, threads) {
            let thread = Thread { [self] in run() }
            thread.name = String(name.prefix(15))
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        condition.lock()
        jobs.append(unowned)
        condition.signal()
        condition.unlock()
    }

    /// Lets the threads finish the jobs they have and exit.
    public func shutdown() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while jobs.isEmpty && !stopping { condition.wait() }
            if jobs.isEmpty {
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
