import Dispatch
import Metrics
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus

/// Serves a Prometheus registry in the text exposition format on `GET /metrics` over HTTP/1.1, and nothing else:
/// any other path is 404, any other method 405. One request per connection (`Connection: close`), which every
/// scraper handles; the port is for monitoring only, never for the Newswire protocol.
public final class MetricsEndpoint: Sendable {
    /// The registry served (and given to swift-metrics by ``bootstrapMetrics(registry:)``).
    public let registry: PrometheusCollectorRegistry
    /// The port actually bound (useful with port 0).
    public let port: Int
    private let channel: any Channel
    private let open: NIOLockedValueBox<Int>

    /// Connections being served now (those closed at once for the limit not counted).
    public var openConnections: Int { open.withLockedValue { $0 } }

    private init(registry: PrometheusCollectorRegistry, channel: any Channel, port: Int, open: NIOLockedValueBox<Int>) {
        self.registry = registry
        self.channel = channel
        self.port = port
        self.open = open
    }

    /// Makes `registry` the process's swift-metrics backend: counters, gauges and timers created afterwards
    /// (the server creates its own on start) are exported. Call once, before the server starts.
    public static func bootstrapMetrics(registry: PrometheusCollectorRegistry) {
        var factory = PrometheusMetricsFactory(registry: registry)
        // Request latencies: 50 µs to 10 s, roughly ×2.5 per bucket (a cached GET to a slow search or ingest).
        factory.defaultDurationHistogramBuckets = [
            .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1),
            .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5),
            .seconds(10),
        ]
        MetricsSystem.bootstrap(factory)
    }

    /// Connections served at once by default: scrapers make one at a time, and the process's descriptors beyond
    /// the protocol's connections are few (`newswired` keeps 64 for its files and this port).
    public static let defaultMaxConnections = 16

    /// Binds `host:port` and serves `registry`; `refresh` runs before each scrape (to update gauges read from
    /// elsewhere), off the event loop's hot path but on it, so keep it cheap. `configureListener` adds handlers to
    /// the listening channel (the server's handling of `accept` failures). A connection that sends or receives
    /// nothing for `idleTimeout` is closed; one accepted while `maxConnections` are open is closed at once, so
    /// peers holding this port's sockets cannot take the descriptors the server's files need.
    public static func start(
        host: String, port: Int, registry: PrometheusCollectorRegistry,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        refresh: @escaping @Sendable () -> Void = {},
        configureListener: @escaping @Sendable (any Channel) throws -> Void = { _ in },
        idleTimeout: TimeAmount = .seconds(30),
        maxConnections: Int = defaultMaxConnections
    ) async throws -> MetricsEndpoint {
        let open = NIOLockedValueBox(0)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try configureListener(channel) }
            }
            .childChannelInitializer { channel in
                let admitted = open.withLockedValue { count in
                    guard count < maxConnections else { return false }
                    count += 1
                    return true
                }
                guard admitted else {
                    return channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(CloseWhenActive())
                    }
                }
                channel.closeFuture.whenComplete { _ in open.withLockedValue { $0 -= 1 } }
                return channel.eventLoop.makeCompletedFuture {
                    // A scrape takes milliseconds: a connection silent this long is a peer holding a socket open.
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(allTimeout: idleTimeout))
                    try channel.pipeline.syncOperations.addHandler(CloseWhenIdle())
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(
                        ScrapeHandler(registry: registry, refresh: refresh))
                }
            }
            .bind(host: host, port: port).get()
        return MetricsEndpoint(
            registry: registry, channel: channel, port: channel.localAddress?.port ?? port, open: open)
    }

    /// Stops listening.
    public func stop() async {
        try? await channel.close()
    }

    /// The exposition text of `registry` (what a scrape returns).
    public static func exposition(of registry: PrometheusCollectorRegistry) -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(16 << 10)
        registry.emit(into: &buffer)
        return buffer
    }
}

/// Answers one HTTP request per connection.
private final class ScrapeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let registry: PrometheusCollectorRegistry
    private let refresh: @Sendable () -> Void
    private var head: HTTPRequestHead?

    init(registry: PrometheusCollectorRegistry, refresh: @escaping @Sendable () -> Void) {
        self.registry = registry
        self.refresh = refresh
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            respond(to: head, context: context)
        }
    }

    /// Where scrapes refresh and render, one at a time: a refresh may block (a cluster node asks its database for
    /// the store's position), which must never happen on an event loop — NIO traps a blocking wait there, and the
    /// loop's other connections would stall behind it.
    private static let scrapes = DispatchQueue(label: "newswire.metrics.scrape")

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        if path != "/metrics" {
            Self.send(.notFound, Array("only /metrics is served here\n".utf8), to: head, context: context)
        } else if head.method != .GET && head.method != .HEAD {
            Self.send(.methodNotAllowed, Array("use GET /metrics\n".utf8), to: head, context: context)
        } else {
            let (registry, refresh, eventLoop) = (self.registry, self.refresh, context.eventLoop)
            let boundContext = NIOLoopBound(context, eventLoop: eventLoop)
            Self.scrapes.async {
                refresh()
                let body = MetricsEndpoint.exposition(of: registry)
                eventLoop.execute {
                    Self.send(
                        .ok, body, contentType: "text/plain; version=0.0.4; charset=utf-8", to: head,
                        context: boundContext.value)
                }
            }
        }
    }

    private static func send(
        _ status: HTTPResponseStatus, _ body: [UInt8], contentType: String = "text/plain; charset=utf-8",
        to head: HTTPRequestHead, context: ChannelHandlerContext
    ) {
        var body = body
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.count))
        headers.add(name: "Connection", value: "close")
        if head.method == .HEAD { body = [] }
        context.write(
            NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
            promise: nil)
        if !body.isEmpty {
            context.write(
                NIOAny(HTTPServerResponsePart.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        let channel = context.channel
        context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}

/// Closes the connection on the idle event of the `IdleStateHandler` before it.
private final class CloseWhenIdle: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}

/// Closes a connection as soon as it is active: one past the endpoint's connection limit.
private final class CloseWhenActive: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    func channelActive(context: ChannelHandlerContext) {
        context.close(promise: nil)
    }
}
