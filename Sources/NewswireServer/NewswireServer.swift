import ArticleExtraction
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import NewswireEngine
import NewswireModel
import NewswireProtocol
import ServiceLifecycle

/// The Newswire service: listens on TCP, speaks the Newswire protocol (proto-docs/PROTOCOL.md) and serves the
/// engine's records and search.
///
/// Run it in a `ServiceGroup` after the engine it serves (itself a `Service`): on graceful shutdown (SIGTERM/SIGINT
/// there) the server stops accepting, sends GOAWAY on every connection, lets in-flight requests finish within the
/// grace period (then tells the rest to retry) and returns; the group then stops the engine, which saves the index
/// snapshot. The server never closes the engine it was handed.
public final class NewswireServer: Service, Sendable {
    /// The server's version string (WELCOME and STATS).
    public static let version = NewswireVersion.current

    let context: ServerContext
    private let eventLoopGroup: any EventLoopGroup
    private let onListening: @Sendable (SocketAddress) -> Void
    private let shutdownState = NIOLockedValueBox(ShutdownState())
    private let nextConnectionID = NIOLockedValueBox<UInt64>(0)

    private struct ShutdownState {
        var draining = false
        var connections: [UInt64: Connection] = [:]
    }

    /// Creates a server over an open engine.
    ///
    /// - Parameters:
    ///   - onListening: called once the socket is bound, with the real address (port 0 picks a free port).
    public init(
        configuration: ServerConfiguration, engine: NewswireEngine,
        extractor: ArticleExtractor = ArticleExtractor(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        threadPool: NIOThreadPool = .singleton,
        logger: Logger = Logger(label: "newswired"),
        onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }
    ) {
        self.context = ServerContext(
            configuration: configuration, engine: engine, extractor: extractor, threadPool: threadPool,
            logger: logger)
        self.eventLoopGroup = eventLoopGroup
        self.onListening = onListening
        context.requestsInFlightSource.withLockedValue { [shutdownState] source in
            source = {
                // Copied out first: a connection's lock is never taken under the registry's.
                let open = shutdownState.withLockedValue { Array($0.connections.values) }
                return open.reduce(0) { $0 + $1.requestsInFlight }
            }
        }
    }

    /// Serves until graceful shutdown (or cancellation), then drains connections and returns.
    public func run() async throws {
        let configuration = context.configuration
        let limits = configuration.limits
        let frameLimits = context.handshakePolicy.limits
        let handshakeTimeout = TimeAmount.nanoseconds(limits.handshakeTimeout.nanoseconds)
        let idleTimeout = TimeAmount.nanoseconds(limits.idleTimeout.nanoseconds)
        let tlsContext = try configuration.tls.map(Self.makeTLSContext)
        let serverContext = context
        // Accepted connections reach the serving loop through this stream rather than NIO's async server channel:
        // that one drops connections it accepted but had not handed out yet when the listener closes, and a
        // dropped NIOAsyncChannel traps ("Deinited NIOAsyncWriter without calling finish()", swift-nio #2813;
        // it did, in CI). This stream is finished only once the listener has closed, and it hands out everything
        // yielded before that; a connection whose set-up completes later fails its initializer, and the
        // bootstrap closes it before it ever becomes active.
        let (accepted, acceptedContinuation) = AsyncStream<(Connection, NIOAsyncChannel<Frame, ByteBuffer>)>
            .makeStream()
        let nextConnectionID = self.nextConnectionID
        let logger = context.logger
        let listener = try await ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 512)
            .serverChannelInitializer { channel in
                // Out of file descriptors, the listener would retry `accept` in a loop taking a whole core.
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(AcceptErrorHandler(logger: logger))
                }
            }
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            // A client that shuts down its sending side after its last request still gets its answers (PROTOCOL.md
            // §2): the end of input ends the read loop, and the connection closes once nothing is in flight.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let id = nextConnectionID.withLockedValue {
                        $0 += 1
                        return $0
                    }
                    let connection = Connection(id: id, context: serverContext, channel: channel)
                    let pipeline = channel.pipeline.syncOperations
                    if let tlsContext { try pipeline.addHandler(NIOSSLServerHandler(context: tlsContext)) }
                    try pipeline.addHandler(
                        CachedGetHandler(
                            server: serverContext, limits: frameLimits, connection: connection,
                            idleTimeout: idleTimeout, behindTLS: tlsContext != nil))
                    try pipeline.addHandler(
                        ByteToMessageHandler(
                            NewswireFrameDecoder(limits: frameLimits, compressionGate: connection.compressionGate)))
                    try pipeline.addHandler(
                        ConnectionTimeoutHandler(handshakeTimeout: handshakeTimeout, connection: connection))
                    let asyncChannel = try NIOAsyncChannel<Frame, ByteBuffer>(
                        wrappingChannelSynchronously: channel,
                        configuration: .init(inboundType: Frame.self, outboundType: ByteBuffer.self))
                    if case .terminated = acceptedContinuation.yield((connection, asyncChannel)) {
                        throw ChannelError.ioOnClosedChannel
                    }
                }
            }
            .bind(host: configuration.host, port: configuration.port)
            .get()
        listener.closeFuture.whenComplete { _ in acceptedContinuation.finish() }
        guard let address = listener.localAddress else {
            listener.close(promise: nil)
            throw ServerError(message: "the listening socket has no local address")
        }
        context.logger.notice(
            "listening",
            metadata: [
                "newswire_address": "\(Self.describe(address))", "newswire_data_dir": "\(configuration.dataDirectory)",
                "newswire_tls": "\(tlsContext != nil)",
            ])
        onListening(address)

        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for await (connection, channel) in accepted {
                    group.addTask { await self.serve(connection, channel) }
                }
                context.logger.debug("listener stopped")
            }
        } onGracefulShutdown: {
            self.beginShutdown(closing: listener)
        }
        listener.close(promise: nil)  // when the run was cancelled rather than shut down
        context.logger.notice("all connections closed")
    }

    /// `127.0.0.1:7411`, `[::1]:7411`: the listening address as users write it (not SwiftNIO's debug form).
    static func describe(_ address: SocketAddress) -> String {
        guard let ip = address.ipAddress, let port = address.port else { return "\(address)" }
        return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }

    /// Checks that `tls` can be served (files readable, PEM, the key belongs to the certificate), so a daemon can
    /// refuse before opening its store; throws ``ServerError`` naming the file and what to do.
    public static func checkTLS(_ tls: ServerConfiguration.TLS) throws {
        _ = try makeTLSContext(tls)
    }

    /// Loads the certificate chain and key; errors name the file and what to do.
    static func makeTLSContext(_ tls: ServerConfiguration.TLS) throws -> NIOSSLContext {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(tls.certificateChainPath)
        } catch {
            throw ServerError(
                message: "--tls-cert \(tls.certificateChainPath): cannot read a PEM certificate chain (\(error))")
        }
        guard !chain.isEmpty else {
            throw ServerError(message: "--tls-cert \(tls.certificateChainPath): the file holds no certificate")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: tls.privateKeyPath, format: .pem)
        } catch {
            throw ServerError(message: "--tls-key \(tls.privateKeyPath): cannot read a PEM private key (\(error))")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw ServerError(
                message: "cannot use --tls-cert \(tls.certificateChainPath) with --tls-key \(tls.privateKeyPath): "
                    + "\(error) (does the key belong to the certificate?)")
        }
    }

    private func beginShutdown(closing listener: any Channel) {
        context.logger.notice("graceful shutdown: no new connections; draining open ones")
        listener.close(promise: nil)
        let connections = shutdownState.withLockedValue { state in
            state.draining = true
            return Array(state.connections.values)
        }
        for connection in connections { connection.drain(grace: context.configuration.limits.shutdownGracePeriod) }
    }

    private func serve(_ connection: Connection, _ channel: NIOAsyncChannel<Frame, ByteBuffer>) async {
        let maxConnections = context.configuration.limits.maxConnections
        let id = connection.id
        let admitted: Bool? = shutdownState.withLockedValue { state in
            if state.draining { return nil }
            guard state.connections.count < maxConnections else { return false }
            state.connections[id] = connection
            return true
        }
        guard admitted == true else {
            context.statistics.connectionRejected()
            let error =
                admitted == nil
                ? ProtocolError(code: .shuttingDown, message: "server is shutting down", requestID: .connection)
                : ProtocolError(
                    code: .overloaded,
                    message: "server already has \(maxConnections) connections; retry later or reuse a connection",
                    requestID: .connection, retryAfterMillis: 100)
            // Through executeThenClose, which finishes the channel's async writer: a dropped NIOAsyncChannel
            // traps ("Deinited NIOAsyncWriter without calling finish()"). Bounded: a refused peer that reads
            // nothing cannot hold this task or its socket open.
            try? await channel.executeThenClose { _, _ in
                channel.channel.sendFinalFrameAndClose(.error(error))
                try? await channel.channel.closeFuture.get()
            }
            return
        }
        context.statistics.connectionOpened()
        await connection.run(channel)
        context.statistics.connectionClosed()
        shutdownState.withLockedValue { _ = $0.connections.removeValue(forKey: id) }
    }
}

/// A failure to start or run the server.
public struct ServerError: Error, Sendable, CustomStringConvertible {
    /// What went wrong and what to do.
    public var message: String
    /// Creates an error.
    public init(message: String) { self.message = message }
    public var description: String { message }
}
