import Dispatch
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NewswireStore
import PostgresNIO

/// Connections to the current primary of a host list, handed out to synchronous callers.
///
/// A connection goes only to a host that is not in recovery (`pg_is_in_recovery()` false): a standby is never a
/// write target. When a call loses its connection (the primary died, or was demoted and refuses writes), the pool
/// drops every idle connection, looks for the primary again from the host list, and reruns the call, until
/// ``PostgresArticleStore/Configuration/failoverTimeout`` has passed. That is what lets writes resume after
/// `pg_ctl promote` on a standby without restarting a node.
final class PostgresConnectionPool: Sendable {
    let url: PostgresStoreURL
    let configuration: PostgresArticleStore.Configuration
    let logger: Logger
    private let group: any EventLoopGroup
    private let slots: DispatchSemaphore
    private let state = NIOLockedValueBox(State())
    private let nextID = NIOLockedValueBox(0)

    private struct State {
        var idle: [PostgresConnection] = []
        /// Index in `url.hosts` of the host found to be primary last; tried first.
        var primaryIndex = 0
        var primaryDescription = "not connected yet"
        var closed = false
    }

    init(url: PostgresStoreURL, configuration: PostgresArticleStore.Configuration, logger: Logger) {
        self.url = url
        self.configuration = configuration
        self.logger = logger
        group = MultiThreadedEventLoopGroup.singleton
        slots = DispatchSemaphore(value: max(1, configuration.maximumConnections))
    }

    /// The host writes go to, for stats: `host:port (primary)`.
    var primaryDescription: String { state.withLockedValue { $0.primaryDescription } }

    /// Runs `body` on a connection to the primary. A lost connection reruns `body` on a new primary's connection
    /// (so `body` must be safe to rerun: every Newswire write is idempotent), until the failover timeout.
    func withConnection<T>(_ body: (StoreConnection) throws -> T) throws -> T {
        slots.wait()
        defer { slots.signal() }
        let deadline = ContinuousClock.now + configuration.failoverTimeout
        while true {
            let connection = try checkout(deadline: deadline)
            switch try run(body, on: connection, queryTimeout: configuration.queryTimeout) {
            case .success(let value):
                return value
            case .failure(let error):
                guard ContinuousClock.now < deadline else {
                    throw StoreError(
                        .cannotOpen,
                        "lost the connection to PostgreSQL (\(Self.describe(error))) and found no primary among "
                            + "\(url) within \(configuration.failoverTimeout); check that one host is up and not "
                            + "in recovery. If the primary is up, it may be waiting for a synchronous standby "
                            + "(synchronous_standby_names) that is down: a write given to it then commits once "
                            + "that standby is back, so do not take this error to mean nothing was stored")
                }
                logger.warning(
                    "lost the PostgreSQL connection; looking for the primary again",
                    metadata: ["newswire_error": "\(Self.describe(error))"])
            }
        }
    }

    /// Runs `body` once on a connection to the primary, giving up after about `bound` (a free slot, the primary
    /// found, the statement answered) instead of rerunning it until the failover timeout: for callers that would
    /// rather answer without the store than wait out a failover (stats).
    func withConnection<T>(within bound: Duration, _ body: (StoreConnection) throws -> T) throws -> T {
        let deadline = ContinuousClock.now + bound
        let nanoseconds = bound.components.seconds * 1_000_000_000 + bound.components.attoseconds / 1_000_000_000
        guard slots.wait(timeout: .now() + .nanoseconds(Int(nanoseconds))) == .success else {
            throw StoreError(
                .cannotOpen, "every connection to PostgreSQL (\(configuration.maximumConnections)) stayed busy for \(bound)")
        }
        defer { slots.signal() }
        let connection = try checkout(deadline: deadline)
        switch try run(body, on: connection, queryTimeout: min(bound, configuration.queryTimeout)) {
        case .success(let value):
            return value
        case .failure(let error):
            throw StoreError(.cannotOpen, "lost the connection to PostgreSQL (\(Self.describe(error)))")
        }
    }

    /// Runs `body` on `connection` and checks it back in, throwing a failure as a store error; when the
    /// connection was lost instead, drops it and every idle one (same dead primary) and returns the loss.
    private func run<T>(
        _ body: (StoreConnection) throws -> T, on connection: PostgresConnection, queryTimeout: Duration
    ) throws -> Result<T, any Error> {
        do {
            let value = try body(StoreConnection(connection: connection, queryTimeout: queryTimeout, logger: logger))
            checkin(connection)
            return .success(value)
        } catch {
            guard Self.isConnectionLoss(error) else {
                checkin(connection)
                throw Self.storeError(error)
            }
            discard(connection)
            forgetPrimary()
            return .failure(error)
        }
    }

    /// A new connection to the primary, outside the pool (the change listener keeps its own).
    func connectToPrimary(deadline: ContinuousClock.Instant) throws -> PostgresConnection {
        var attempts: [String] = []
        var pause = Duration.milliseconds(20)
        var warned = false
        while true {
            let start = state.withLockedValue { $0.closed ? -1 : $0.primaryIndex }
            guard start >= 0 else { throw StoreError(.cannotOpen, "the PostgreSQL store is closed") }
            attempts.removeAll()
            for offset in 0..<url.hosts.count {
                let index = (start + offset) % url.hosts.count
                let host = url.hosts[index]
                let connection: PostgresConnection
                do {
                    connection = try connect(to: host)
                } catch {
                    // A database or role that does not exist, or a refused login, will not change by waiting.
                    if let refusal = Self.permanentRefusal(error) {
                        throw StoreError(
                            .cannotOpen,
                            "PostgreSQL at \(host.name):\(host.port) refused \(url): \(Self.describe(error)); "
                                + refusal)
                    }
                    attempts.append("\(host.name):\(host.port) unreachable (\(Self.describe(error)))")
                    continue
                }
                do {
                    let rows = try StoreConnection(
                        connection: connection, queryTimeout: configuration.connectTimeout, logger: logger
                    ).query("SELECT pg_is_in_recovery()").rows
                    let inRecovery = try rows.first?.decode(Bool.self) ?? true
                    if !inRecovery {
                        state.withLockedValue {
                            $0.primaryIndex = index
                            $0.primaryDescription = "\(host.name):\(host.port) (primary)"
                        }
                        return connection
                    }
                    attempts.append("\(host.name):\(host.port) in recovery (a standby)")
                } catch {
                    attempts.append("\(host.name):\(host.port) failed (\(Self.describe(error)))")
                }
                try? connection.close().wait()
            }
            guard ContinuousClock.now + pause < deadline else {
                throw StoreError(
                    .cannotOpen,
                    "no writable PostgreSQL primary among \(url): \(attempts.joined(separator: "; ")); "
                        + "start PostgreSQL, or promote a standby, or fix the host list")
            }
            // Once per search: otherwise a mistyped host or a PostgreSQL not yet up is silence until the deadline.
            if !warned {
                warned = true
                logger.warning(
                    "no writable PostgreSQL primary yet; retrying for up to \(configuration.failoverTimeout)",
                    metadata: ["newswire_store": "\(url)", "newswire_error": "\(attempts.joined(separator: "; "))"])
            }
            Thread.sleep(forTimeInterval: Double(pause.milliseconds) / 1_000)
            pause = min(pause * 2, .milliseconds(500))
        }
    }

    private func connect(to host: PostgresStoreURL.Host) throws -> PostgresConnection {
        let id = nextID.withLockedValue {
            $0 += 1
            return $0
        }
        return try PostgresConnection.connectWithKeepalive(
            to: host, url: url, connectTimeout: configuration.connectTimeout, id: id, on: group.next(),
            logger: logger)
    }

    private func checkout(deadline: ContinuousClock.Instant) throws -> PostgresConnection {
        while let idle = try state.withLockedValue({ state -> PostgresConnection? in
            guard !state.closed else { throw StoreError(.cannotOpen, "the PostgreSQL store is closed") }
            return state.idle.popLast()
        }) {
            if !idle.isClosed { return idle }
            try? idle.close().wait()
        }
        return try connectToPrimary(deadline: deadline)
    }

    private func checkin(_ connection: PostgresConnection) {
        let keep = state.withLockedValue { state -> Bool in
            guard !state.closed, !connection.isClosed else { return false }
            state.idle.append(connection)
            return true
        }
        if !keep { try? connection.close().wait() }
    }

    private func discard(_ connection: PostgresConnection) {
        try? connection.close().wait()
    }

    /// After a lost connection every idle one is suspect (same dead primary): close them all.
    private func forgetPrimary() {
        let idle = state.withLockedValue { state -> [PostgresConnection] in
            defer { state.idle.removeAll() }
            state.primaryDescription = "looking for the primary"
            return state.idle
        }
        for connection in idle { try? connection.close().wait() }
    }

    func close() {
        let idle = state.withLockedValue { state -> [PostgresConnection] in
            state.closed = true
            defer { state.idle.removeAll() }
            return state.idle
        }
        for connection in idle { try? connection.close().wait() }
    }

    // MARK: Errors

    /// Whether `error` means the connection (or the primary behind it) is gone, so the call should be rerun on a
    /// newly found primary: the socket closed, the server shut down, or the host is now read-only (demoted).
    static func isConnectionLoss(_ error: any Error) -> Bool {
        if let error = error as? PSQLError {
            switch error.code {
            case .serverClosedConnection, .connectionError, .uncleanShutdown, .clientClosedConnection:
                return true
            case .server:
                let state = error.serverInfo?[.sqlState] ?? ""
                // 08: connection exception; 57P01-03: admin/crash shutdown, cannot connect now;
                // 25006: read-only transaction (this host is a standby now).
                return state.hasPrefix("08") || ["57P01", "57P02", "57P03", "25006"].contains(state)
            default:
                return false
            }
        }
        if let error = error as? PostgresTransactionFailure { return isConnectionLoss(error.underlying) }
        return error is PostgresConnectionLost || error is ChannelError || error is IOError
    }

    /// What to fix when a connection attempt failed for a reason waiting cannot cure (the server answered and
    /// refused), or nil for anything else (a host down, a timeout, a standby starting up).
    static func permanentRefusal(_ error: any Error) -> String? {
        guard let error = error as? PSQLError, let state = error.serverInfo?[.sqlState] else { return nil }
        switch state {
        case "3D000": return "the database does not exist; create it (createdb) or fix the /DB part of --store"
        case "28000", "28P01":
            return "the role or its password was refused; fix the user in --store, PGPASSWORD or ~/.pgpass, or "
                + "pg_hba.conf"
        default: return nil
        }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] {
                return "\(message) (SQLSTATE \(error.serverInfo?[.sqlState] ?? "?"))"
            }
            return "\(error.code)"
        }
        if let error = error as? PostgresTransactionFailure { return describe(error.underlying) }
        return "\(error)"
    }

    /// A store error for a failure that is not a lost connection (a bug, a constraint, a damaged record, a full
    /// disk: SQLSTATE 53100, ``StoreError/Code/full``).
    static func storeError(_ error: any Error) -> any Error {
        if let failure = error as? PostgresTransactionFailure { return storeError(failure.underlying) }
        guard let error = error as? PSQLError else { return error }
        if error.serverInfo?[.sqlState] == "53100" {
            return StoreError(
                .full, "no room to store the write: PostgreSQL's disk is full (\(describe(error))); nothing of it "
                    + "was stored; free space and retry")
        }
        return StoreError(.cannotOpen, "PostgreSQL refused the request: \(describe(error))")
    }
}

/// Wraps an error thrown inside a transaction after its ROLLBACK was attempted.
struct PostgresTransactionFailure: Error {
    var underlying: any Error
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000 + attoseconds / 1_000_000_000_000_000
    }
}
