import NIOCore
import NewswireModel
import NewswireProtocol

/// The watchers of `newswire bench watch`: many WATCH streams over a few connections, each event noted with its
/// arrival time, read by a lean channel handler (frames split in place, only each event's position, kind and hit
/// id decoded, no task per watcher) so that the load generator, on the same cores as the server it measures,
/// costs as little as it can. `newswire bench watch --client-library` runs the same load through
/// ``NewswireClient``'s `watch` instead, to measure what the client library adds.
///
/// Every watch starts at the feed's end (start 0). A watch is over when it sees the deletion of the `fence`
/// article: the writer deletes it after its last write, so each watch has by then received every event of the
/// run.
public final class WatchLoad: Sendable {
    /// An event that arrived: the article it is about and when (``WatchLoad/now()``'s clock).
    public struct Arrival: Sendable {
        public var id: ArticleID
        public var nanos: UInt64

        public init(id: ArticleID, nanos: UInt64) {
            self.id = id
            self.nanos = nanos
        }
    }

    private struct Connected: Sendable {
        var channel: any Channel
        var handler: NIOLoopBound<WatchLoadHandler>
        var started: EventLoopFuture<Void>
        var finished: EventLoopFuture<Void>
    }

    private let connections: [Connected]

    private init(connections: [Connected]) {
        self.connections = connections
    }

    /// The clock arrivals are stamped with (monotonic, nanoseconds): stamp acknowledgements with it too.
    public static func now() -> UInt64 { monotonicNanos() }

    /// Opens `ceil(queries.count / perConnection)` connections to `host:port` and sends one WATCH per query
    /// (start now; with snippets when `includeSnippets`); returns once every connection is past its handshake.
    public static func start(
        host: String, port: Int, token: String?, queries: [String], includeSnippets: Bool, perConnection: Int,
        fence: ArticleID, group: any EventLoopGroup
    ) async throws -> WatchLoad {
        let perConnection = max(1, perConnection)
        var connected: [Connected] = []
        do {
            for first in stride(from: 0, to: queries.count, by: perConnection) {
                let mine = Array(queries[first..<min(queries.count, first + perConnection)])
                connected.append(
                    try await connect(
                        host: host, port: port, token: token, queries: mine, includeSnippets: includeSnippets,
                        fence: fence, eventLoop: group.next()))
            }
        } catch {
            for connection in connected { connection.channel.close(promise: nil) }
            throw error
        }
        return WatchLoad(connections: connected)
    }

    /// Returns once every watch got its STARTED event (the server registered it), or throws the first failure.
    public func started() async throws {
        for connection in connections { try await connection.started.get() }
    }

    /// Returns, once every watch saw the fence's deletion, the arrivals of all watches (fence events excluded),
    /// or throws the first failure (an ERROR that ended a watch, a closed connection, a malformed frame).
    public func finished() async throws -> [Arrival] {
        var arrivals: [Arrival] = []
        for connection in connections {
            try await connection.finished.get()
            let handler = connection.handler
            arrivals += try await connection.channel.eventLoop.submit { handler.value.takeArrivals() }.get()
        }
        return arrivals
    }

    /// Closes every connection.
    public func close() async {
        for connection in connections { try? await connection.channel.close() }
    }

    private static func connect(
        host: String, port: Int, token: String?, queries: [String], includeSnippets: Bool, fence: ArticleID,
        eventLoop: any EventLoop
    ) async throws -> Connected {
        let handshake = eventLoop.makePromise(of: Void.self)
        let started = eventLoop.makePromise(of: Void.self)
        let finished = eventLoop.makePromise(of: Void.self)
        let hello = HelloMessage(clientName: "newswire-bench-watch/0.1", compressions: [], token: token)
        var encoder = FrameEncoder()
        var watches = ByteBuffer()
        for (index, query) in queries.enumerated() {
            encoder.encode(
                .watch(WatchMessage(text: query, start: .now, includeSnippets: includeSnippets)),
                requestID: RequestID(UInt32(index + 1)), into: &watches)
        }
        let frames = watches
        let handler = try await eventLoop.submit {
            NIOLoopBound(
                WatchLoadHandler(
                    hello: hello, watches: frames, queries: queries, fence: fence, handshake: handshake,
                    started: started, finished: finished), eventLoop: eventLoop)
        }.get()
        let channel = try await connectLoadChannel(
            handler, host: host, port: port, eventLoop: eventLoop, timeoutMillis: 10_000, handshake: handshake,
            connectFailed: { failure in
                for promise in [handshake, started, finished] { promise.fail(failure) }
            })
        return Connected(channel: channel, handler: handler, started: started.futureResult, finished: finished.futureResult)
    }
}

/// One connection's watches (see ``WatchLoad``). Request id `i + 1` is the watch of `queries[i]`.
final class WatchLoadHandler: LoadChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum Phase {
        case connecting, handshaking, watching, finished
    }

    private let hello: HelloMessage
    private let watches: ByteBuffer
    private let queries: [String]
    private let fence: ArticleID
    private let handshake: EventLoopPromise<Void>
    private let startedPromise: EventLoopPromise<Void>
    private let finishedPromise: EventLoopPromise<Void>
    private let maxFrameLength = Int(ProtocolLimits.defaultMaxFrameLength)

    private var phase = Phase.connecting
    private var received = ReceivedFrames()
    private var started: [Bool]
    private var startedCount = 0
    private var done: [Bool]
    private var doneCount = 0
    private var arrivals: [WatchLoad.Arrival] = []

    init(
        hello: HelloMessage, watches: ByteBuffer, queries: [String], fence: ArticleID,
        handshake: EventLoopPromise<Void>, started: EventLoopPromise<Void>, finished: EventLoopPromise<Void>
    ) {
        self.hello = hello
        self.watches = watches
        self.queries = queries
        self.fence = fence
        self.handshake = handshake
        self.startedPromise = started
        self.finishedPromise = finished
        self.started = Array(repeating: false, count: queries.count)
        self.done = Array(repeating: false, count: queries.count)
    }

    func takeArrivals() -> [WatchLoad.Arrival] {
        defer { arrivals = [] }
        return arrivals
    }

    func channelActive(context: ChannelHandlerContext) {
        phase = .handshaking
        context.writeAndFlush(wrapOutboundOut(ReceivedFrames.hello(hello, allocator: context.channel.allocator)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        received.append(&incoming)
        let now = monotonicNanos()  // one stamp per read: the events in it arrived together
        loop: while phase != .finished {
            switch received.next(maxLength: maxFrameLength) {
            case .incomplete:
                break loop
            case .oversized(let length):
                fail("server sent a frame of \(length) bytes, above the \(maxFrameLength)-byte limit")
                context.close(promise: nil)
                return
            case .frame(let header):
                let payload = received.payload(header)
                received.consume(header)
                frame(
                    flags: header.flags, opcode: header.opcode, requestID: Int(header.requestID), payload: payload,
                    now: now, context: context)
            }
        }
        received.compact()
    }

    private func frame(
        flags: FrameFlags, opcode: Opcode, requestID: Int, payload: ByteBuffer, now: UInt64,
        context: ChannelHandlerContext
    ) {
        if phase == .handshaking {
            welcome(opcode: opcode, payload: payload, context: context)
            return
        }
        guard flags.isEmpty || flags == .moreToFollow else {
            fail("unexpected frame flags \(flags.rawValue) (the watch connection asked for no compression)")
            return
        }
        guard opcode == .watchEvent else {
            var detail = "\(opcode)"
            if case .error(let error)? = try? Response.decode(opcode: opcode, payload: payload) {
                detail = "\(error.code.name): \(error.message)"
            }
            let watch = requestID >= 1 && requestID <= queries.count ? "watch \(queries[requestID - 1].debugDescription)" : "the connection"
            fail("\(watch) ended: \(detail)")
            return
        }
        guard requestID >= 1, requestID <= queries.count else {
            fail("WATCH_EVENT for request id \(requestID), which no watch has")
            return
        }
        let event: WatchEventSummary
        do {
            event = try WatchEventSummary(decoding: payload)
        } catch {
            fail("malformed WATCH_EVENT: \(error)")
            return
        }
        let watch = requestID - 1
        if event.kind == .started {
            if !started[watch] {
                started[watch] = true
                startedCount += 1
                if startedCount == queries.count { startedPromise.succeed() }
            }
            return
        }
        guard let id = event.id else { return }
        if id == fence {
            if event.kind == .deleted, !done[watch] {
                done[watch] = true
                doneCount += 1
                if doneCount == queries.count {
                    phase = .finished
                    finishedPromise.succeed()
                }
            }
            return
        }
        if event.kind == .new || event.kind == .updated { arrivals.append(.init(id: id, nanos: now)) }
    }

    private func welcome(opcode: Opcode, payload: ByteBuffer, context: ChannelHandlerContext) {
        do {
            switch try Response.decode(opcode: opcode, payload: payload) {
            case .welcome(let welcome):
                _ = try hello.accept(welcome)
                let limit = welcome.maxInFlight == 0 ? Int(ProtocolLimits.defaultMaxInFlight) : Int(welcome.maxInFlight)
                guard queries.count <= limit else {
                    fail(
                        "the server allows \(limit) streams per connection, fewer than the \(queries.count) watches asked",
                        serverRefused: true)
                    return
                }
                phase = .watching
                handshake.succeed()
                context.writeAndFlush(wrapOutboundOut(watches), promise: nil)
            case .error(let error):
                fail("server refused the handshake: \(error.code.name): \(error.message)", serverRefused: true)
            default:
                fail("expected WELCOME, got \(opcode)")
            }
        } catch {
            fail("malformed WELCOME: \(error)")
        }
    }

    func fail(_ message: String) { fail(message, serverRefused: false) }

    func fail(_ message: String, serverRefused: Bool) {
        guard phase != .finished else { return }
        let error = LoadConfigurationError(message, serverRefused: serverRefused)
        if phase != .watching { handshake.fail(error) }
        if startedCount < queries.count { startedPromise.fail(error) }
        finishedPromise.fail(error)
        phase = .finished
    }
}
