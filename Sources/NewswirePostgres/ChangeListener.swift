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
///
/// A notification carries the position it announces, and a wait names the position the caller has applied: a
/// notification that arrived while the caller was still reading the feed (before it called `wait` again) is not
/// lost, since its position is above the caller's. Counting wake-ups alone would lose it and leave the follower a
/// whole poll interval behind at the end of every burst of writes.
final class ChangeListener: Sendable {
    private let pool: PostgresConnectionPool
    private let logger: Logger
    private let condition = NSCondition()
    private let state = NIOLockedValueBox(State())

    private struct State {
        var connection: PostgresConnection?
        var generation = 0
        /// The highest position a notification announced.
        var notifiedSequence: UInt64 = 0
        /// The `after` of the last wait that returned at once because of `notifiedSequence`; a second wait with
        /// the same position (the caller could not apply the change: the store is failing over) waits normally,
        /// so a failing follower does not spin.
        var returnedEarlyFor: UInt64?
        var closed = false
        /// Positions announced and when each announcement arrived, oldest first (for the feed lag in stats).
        var announcements: [(sequence: UInt64, at: ContinuousClock.Instant)] = []
    }

    /// Announcements kept for the lag: one per commit, so this many covers far more than a follower is ever
    /// behind; when more arrive the oldest go, and the lag falls back to the caller's estimate.
    static let announcementLimit = 16_384

    /// When the first announcement of a position above `sequence` arrived: the commit of the oldest change after
    /// `sequence` (announcements arrive as their commits become visible). Forgets announcements up to `sequence`.
    func firstAnnouncement(after sequence: UInt64) -> ContinuousClock.Instant? {
        state.withLockedValue { state in
            let done = state.announcements.prefix { $0.sequence <= sequence }.count
            if done > 0 { state.announcements.removeFirst(done) }
            return state.announcements.first?.at
        }
    }

    /// The positions announced above `sequence`, ascending, at most `limit` (see
    /// ``NewswireStore/SharedArticleStore/announcedPositions(after:limit:)``).
    /// Empty while the listening connection is down: commits meanwhile are announced to nobody, so a page cut at
    /// an announcement could end before changes nobody will announce.
    func announcedPositions(after sequence: UInt64, limit: Int) -> [UInt64] {
        state.withLockedValue { state in
            guard let connection = state.connection, !connection.isClosed, !state.closed else { return [] }
            // Ascending (only a position above the highest so far is kept), so the first one above `sequence` is
            // found by bisection: a follower asks once per page, and the list holds thousands while it is behind.
            var low = 0
            var high = state.announcements.count
            while low < high {
                let middle = (low + high) / 2
                if state.announcements[middle].sequence <= sequence { low = middle + 1 } else { high = middle }
            }
            return state.announcements[low...].prefix(limit).map(\.sequence)
        }
    }

    /// The highest position a notification announced (tests wait for one to arrive).
    var notifiedSequence: UInt64 { state.withLockedValue { $0.notifiedSequence } }

    /// The highest position a notification announced, while the listening connection is up (nil while it is
    /// not: commits meanwhile are announced to nobody).
    var announcedSequence: UInt64? {
        state.withLockedValue { state in
            guard let connection = state.connection, !connection.isClosed, !state.closed else { return nil }
            return state.notifiedSequence
        }
    }

    /// Whether the listening connection is up.
    var isListening: Bool { state.withLockedValue { $0.connection.map { !$0.isClosed } ?? false } }

    init(pool: PostgresConnectionPool, logger: Logger) {
        self.pool = pool
        self.logger = logger
    }

    /// Waits until a notification announces a position above `sequence` (at once when one already did), another
    /// wake-up arrives, or `timeout` passes. (Re)connects the listener first when needed; a failed connection
    /// attempt only makes this call a plain timed wait.
    func wait(after sequence: UInt64, timeout: Duration) {
        let deadline = Date().addingTimeInterval(Double(timeout.milliseconds) / 1_000)
        let start =
            pool.configuration.listensForChanges
            ? ensureListening(deadline: deadline) : state.withLockedValue { $0.generation }
        let announced = state.withLockedValue { state -> Bool in
            guard state.notifiedSequence > sequence, state.returnedEarlyFor != sequence else { return false }
            state.returnedEarlyFor = sequence
            return true
        }
        if announced { return }
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
            // A short wait does not cut a connection attempt shorter than any other store connection's.
            let remaining = max(Double(pool.configuration.connectTimeout.milliseconds) / 1_000, deadline.timeIntervalSinceNow)
            let connection = try pool.connectToPrimary(
                deadline: .now + .milliseconds(Int64(remaining * 1_000)))
            connection.addListener(channel: PostgresArticleStore.notificationChannel) { [weak self] _, notification in
                self?.notify(announcing: UInt64(notification.payload))
            }
            do {
                try StoreConnection(
                    connection: connection, queryTimeout: pool.configuration.connectTimeout, logger: logger
                ).query("LISTEN newswire_changes")
            } catch {
                // A connection dropped open leaks its socket (and PostgresNIO asserts on it in debug builds).
                try? connection.close().wait()
                throw error
            }
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

    private func notify(announcing sequence: UInt64? = nil) {
        condition.lock()
        state.withLockedValue {
            $0.generation &+= 1
            if let sequence {
                if sequence > $0.notifiedSequence {
                    if $0.announcements.count >= Self.announcementLimit { $0.announcements.removeFirst() }
                    $0.announcements.append((sequence, .now))
                }
                $0.notifiedSequence = max($0.notifiedSequence, sequence)
            }
        }
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
