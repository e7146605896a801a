import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A connection to the primary as the store uses it: every query's wait is bounded.
///
/// PostgresNIO answers a query only while its channel handler is in the pipeline. A query written after the
/// channel closed (the primary died between a check of `isClosed` and the write, or a ROLLBACK after a lost
/// query) reaches no handler, and its future is never completed: a caller blocked in `wait()` would hang
/// forever with the event loop idle. So a query is issued on the connection's event loop, where a channel that
/// is still active still has its handler, and fails as a lost connection when the channel is already closed.
/// A query that gets no answer within the query timeout (a host gone without closing its sockets, a commit
/// waiting for a synchronous standby that does not come back) closes the connection and fails the same way;
/// the pool then looks for the primary again and reruns the call.
struct StoreConnection: Sendable {
    let connection: PostgresConnection
    let queryTimeout: Duration
    let logger: Logger

    /// Runs `query` and waits for all its rows, or throws ``PostgresConnectionLost`` (see above).
    @discardableResult
    func query(_ query: PostgresQuery) throws -> PostgresQueryResult {
        try Self.run(query, on: connection, timeout: queryTimeout, logger: logger).wait()
    }

    /// The future of `query` on `connection`, failed with ``PostgresConnectionLost`` when the connection is
    /// closed already or when no answer comes within `timeout` (then the connection is closed too).
    static func run(
        _ query: PostgresQuery, on connection: PostgresConnection, timeout: Duration, logger: Logger
    ) -> EventLoopFuture<PostgresQueryResult> {
        let eventLoop = connection.eventLoop
        return eventLoop.flatSubmit {
            guard !connection.isClosed else {
                return eventLoop.makeFailedFuture(PostgresConnectionLost(reason: "the connection was closed"))
            }
            let promise = eventLoop.makePromise(of: PostgresQueryResult.self)
            let timer = eventLoop.scheduleTask(in: .nanoseconds(Int64(timeout.nanoseconds))) {
                promise.fail(
                    PostgresConnectionLost(
                        reason: "no answer within \(timeout); closed the connection"))
                connection.close().whenComplete { _ in }
            }
            connection.query(query, logger: logger).whenComplete { result in
                timer.cancel()
                promise.completeWith(result)
            }
            return promise.futureResult
        }
    }
}

/// A connection that was closed under a query, or did not answer it in time: the call is rerun on the primary
/// found again (``PostgresConnectionPool/isConnectionLoss(_:)``).
struct PostgresConnectionLost: Error, CustomStringConvertible {
    var reason: String
    var description: String { reason }
}

extension PostgresConnection {
    /// Opens a TCP connection with keepalive probes, then the PostgreSQL session on it; each step within
    /// `connectTimeout`.
    ///
    /// Keepalive matters for connections that sit idle (pooled ones, the change listener's): a primary host that
    /// vanished without closing its sockets (power loss, a partition) is noticed after about
    /// ``keepaliveIdleSeconds`` + ``keepaliveIntervalSeconds`` × ``keepaliveProbes`` seconds instead of never.
    static func connectWithKeepalive(
        to host: PostgresStoreURL.Host, url: PostgresStoreURL, connectTimeout: Duration, id: Int,
        on eventLoop: any EventLoop, logger: Logger
    ) throws -> PostgresConnection {
        let timeout = TimeAmount.nanoseconds(Int64(connectTimeout.nanoseconds))
        let channel = try openChannel(to: host, connectTimeout: connectTimeout, on: eventLoop)
        var configuration = PostgresConnection.Configuration(
            establishedChannel: channel, username: url.username, password: url.password, database: url.database)
        configuration.options.connectTimeout = timeout
        do {
            return try PostgresConnection.connect(on: eventLoop, configuration: configuration, id: id, logger: logger)
                .wait()
        } catch {
            channel.close(promise: nil)
            throw error
        }
    }

    /// The TCP connection under a store connection, keepalive on.
    static func openChannel(to host: PostgresStoreURL.Host, connectTimeout: Duration, on eventLoop: any EventLoop)
        throws -> any Channel
    {
        try ClientBootstrap(group: eventLoop)
            .connectTimeout(.nanoseconds(Int64(connectTimeout.nanoseconds)))
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelOption(.tcpOption(NIOBSDSocket.Option(rawValue: TCP_KEEPIDLE)), value: keepaliveIdleSeconds)
            .channelOption(.tcpOption(NIOBSDSocket.Option(rawValue: TCP_KEEPINTVL)), value: keepaliveIntervalSeconds)
            .channelOption(.tcpOption(NIOBSDSocket.Option(rawValue: TCP_KEEPCNT)), value: keepaliveProbes)
            .connect(host: host.name, port: host.port)
            .wait()
    }

    static let keepaliveIdleSeconds: SocketOptionValue = 10
    static let keepaliveIntervalSeconds: SocketOptionValue = 5
    static let keepaliveProbes: SocketOptionValue = 3
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
