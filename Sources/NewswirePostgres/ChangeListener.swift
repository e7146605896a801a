import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO

/// Wakes followers when a writer commits: a connection to the primary that LISTENs on
/// ``PostgresArticleStore/notificationChannel``.
///
/// Notifications are only a hint: a follower reads the change feed after every wake-up and after every timeout,
/// so a notification lost while the listener reconnects (the primary died) costs at most one poll interval.
final class ChangeListener: Sendable {
    private let pool: PostgresConnectionPool
    private let logger: Logger
    private let condition = NSCondition()
    private let state = NIOLockedValueBox(State())

    private struct State {
        var connection: PostgresConnection?
        var generation = 0
        var closed = false
    }

    init(pool: PostgresConnectionPool, logger: Logger) {
        self.pool = pool
        self.logger = logger
    }

    /// Waits until a notification arrives or `timeout` passes. (Re)connects the listener first when needed; a
    /// failed connection attempt only makes this call a plain timed wait.
    func wait(timeout: Duration) {
        let deadline = Date().addingTimeInterval(Double(timeout.milliseconds) / 1_000)
        let start =
            pool.configuration.listensForChanges
            ? ensureListening(deadline: deadline) : state.withLockedValue { $0.generation }
        condition.lock()
        defer { condition.unlock() }
        while state.withLockedValue({ $0.generation == start && !$0.closed }) {
            if !condition.wait(until: deadline) { return }
        }
    }

    /// The generation seen before waiting.
    private func ensureListening(deadline: Date) -> Int {
        let (current, generation) = state.withLockedValue { ($0.connection, $0.generation) }
        if let current, !current.isClosed { return generation }
        if state.withLockedValue({ $0.closed }) { return generation }
        do {
            let remaining = max(0.05, deadline.timeIntervalSinceNow)
            let connection = try pool.connectToPrimary(
                deadline: .now + .milliseconds(Int64(remaining * 1_000)))
            connection.addListener(channel: PostgresArticleStore.notificationChannel) { [weak self] _, _ in
                self?.notify()
            }
            try StoreConnection(
                connection: connection, queryTimeout: pool.configuration.connectTimeout, logger: logger
            ).query("LISTEN newswire_changes")
            let replaced = state.withLockedValue { state -> PostgresConnection? in
                if state.closed { return connection }
                defer { state.connection = connection }
                return state.connection
            }
            try? replaced?.close().wait()
            connection.closeFuture.whenComplete { [weak self] _ in self?.notify() }
        } catch {
            logger.debug("change listener not connected", metadata: ["newswire_error": "\(error)"])
        }
        return generation
    }

    private func notify() {
        condition.lock()
        state.withLockedValue { $0.generation &+= 1 }
        condition.broadcast()
        condition.unlock()
    }

    func close() {
        let connection = state.withLockedValue { state -> PostgresConnection? in
            state.closed = true
            defer { state.connection = nil }
            return state.connection
        }
        try? connection?.close().wait()
        notify()
    }
}
