import Foundation
import Logging

/// Every connection is an open file: a process whose open-file limit is below `--max-connections` fails to accept
/// the connections above it (EMFILE), and clients wait in the listen backlog. As Redis does, the server raises its
/// soft limit as far as the hard limit allows and, when that is still too low, serves fewer connections and says so.
enum OpenFileLimit {
    /// Files the server holds besides connections: the store's database, WAL and shared memory, the index
    /// snapshot, the data directory lock, logs, event-loop and thread-pool descriptors, PostgreSQL connections.
    static let reserved = 64

    /// What was found and done, for the log.
    struct Outcome: Equatable {
        /// The soft limit found.
        var before: UInt64
        /// The soft limit now (raised when it was lower than wanted and the hard limit allowed).
        var after: UInt64
        /// The hard limit.
        var hard: UInt64
        /// Descriptors wanted: `--max-connections` plus ``reserved``.
        var wanted: UInt64
        /// Whether `after` covers `wanted`.
        var isEnough: Bool { after >= wanted }
    }

    /// Raises the soft open-file limit towards `maxConnections` + ``reserved`` (never lowers it).
    static func raise(forConnections maxConnections: Int) -> Outcome? {
        var limits = rlimit()
        guard getrlimit(RLIMIT_NOFILE_CONSTANT, &limits) == 0 else { return nil }
        let wanted = UInt64(max(0, maxConnections)) + UInt64(reserved)
        let before = UInt64(limits.rlim_cur)
        let hard = UInt64(limits.rlim_max)
        var after = before
        if before < wanted {
            let target = min(wanted, hard)
            var raised = limits
            raised.rlim_cur = rlim_t(target)
            if setrlimit(RLIMIT_NOFILE_CONSTANT, &raised) == 0 { after = target }
        }
        return Outcome(before: before, after: after, hard: hard, wanted: wanted)
    }

    /// The connections the server may serve at once under `outcome`'s limit: `requested`, or fewer when the limit
    /// leaves no file for them (at least one). Above it a connection is answered OVERLOADED and closed, instead of
    /// waiting unaccepted in the listen backlog for a file descriptor.
    static func connections(_ requested: Int, under outcome: Outcome) -> Int {
        guard !outcome.isEnough else { return requested }
        return max(1, min(requested, Int(clamping: outcome.after) - reserved))
    }

    /// Below this many open files the server cannot start at all: the store, the event loops' epoll and eventfd
    /// descriptors and the listening socket need them (SwiftNIO stops the process when it cannot make an event
    /// loop, so the check comes first).
    static let minimumToStart: UInt64 = 32

    /// Raises the limit; returns the connections to serve at once, saying so when it is fewer than asked. Throws
    /// when the limit is too low to start.
    static func raiseAndReport(forConnections maxConnections: Int, logger: Logger) throws -> Int {
        guard let outcome = raise(forConnections: maxConnections) else { return maxConnections }
        guard outcome.after >= minimumToStart else {
            throw StartupError(
                message: "the open-file limit (\(outcome.after), hard limit \(outcome.hard)) is too low to start "
                    + "(it needs \(minimumToStart) at least, and \(reserved) + --max-connections to serve them all); "
                    + "raise it (ulimit -n, LimitNOFILE=)")
        }
        if outcome.after > outcome.before {
            logger.info("raised the open-file limit from \(outcome.before) to \(outcome.after)")
        }
        let served = connections(maxConnections, under: outcome)
        if served < maxConnections {
            let message =
                "the open-file limit (\(outcome.after), hard limit \(outcome.hard)) leaves room for \(served) "
                + "connections, not --max-connections \(maxConnections) (+ \(reserved) files for the store and "
                + "the server): serving \(served) at once, further ones get OVERLOADED; raise the limit "
                + "(ulimit -n, LimitNOFILE=) to serve more"
            logger.warning("\(message)")
        }
        return served
    }

    #if os(Linux)
    private static let RLIMIT_NOFILE_CONSTANT = Int32(RLIMIT_NOFILE.rawValue)
    #else
    private static let RLIMIT_NOFILE_CONSTANT = RLIMIT_NOFILE
    #endif
}
