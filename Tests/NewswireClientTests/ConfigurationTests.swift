import NIOCore
import NIOPosix
import NewswireModel
import NewswireProtocol
import NewswireServer
import NewswireTestSupport
import Testing

@testable import NewswireClient

@Suite("Client configuration")
struct ConfigurationTests {
    @Test("one host and port is one endpoint; several endpoints get one connection each by default")
    func endpoints() {
        let single = NewswireClient.Configuration(host: "10.0.0.1", port: 7500)
        #expect(single.endpoints == [NewswireClient.Endpoint(host: "10.0.0.1", port: 7500)])
        #expect(single.host == "10.0.0.1" && single.port == 7500 && single.connections == 1)
        let cluster = NewswireClient.Configuration(
            endpoints: [.init(host: "a"), .init(host: "b"), .init(host: "c", port: 7412)])
        #expect(cluster.connections == 3)
        #expect(cluster.description.contains("a:7411, b:7411, c:7412"))
    }
}

@Suite("Client connection state machine")
struct ClientStateMachineTests {
    typealias Machine = ClientConnectionStateMachine<Int>

    static func frame(_ response: Response, id: RequestID, more: Bool = false) -> Frame {
        var encoder = FrameEncoder(compression: .disabled)
        var wire = ByteBuffer()
        encoder.encode(OutboundFrame(response, requestID: id, moreToFollow: more), into: &wire)
        var decoder = NewswireFrameDecoder()
        return try! decoder.decode(buffer: &wire)!
    }

    static func ready() -> Machine {
        var machine = Machine(hello: HelloMessage(clientName: "t", compressions: []))
        let welcome = WelcomeMessage(
            version: 1, serverName: "s", compression: .none, compressionThreshold: 1024,
            maxFrameLength: Limits.defaultMaxFrameLength, maxDecompressedLength: Limits.defaultMaxDecompressedLength,
            maxInFlight: 8)
        _ = machine.frameReceived(frame(.welcome(welcome), id: RequestID(0)))
        return machine
    }

    @Test("a compressed WELCOME, or a compressed frame when WELCOME chose no compression, fails the connection")
    func compressionNotAgreed() {
        func compressed(_ response: Response, id: RequestID) -> Frame {
            var frame = Self.frame(response, id: id)
            frame.header.flags.insert(.compressed)
            return frame
        }
        let welcome = WelcomeMessage(version: 1, serverName: "s", compression: .zlib)
        var greeting = Machine(hello: HelloMessage(clientName: "t", compressions: [.zlib]))
        guard case .failConnection(let error, handshakePending: true, _) = greeting.frameReceived(
            compressed(.welcome(welcome), id: RequestID(0)))
        else {
            Issue.record("a compressed WELCOME must fail the handshake")
            return
        }
        #expect(error.code == .protocolViolation)

        var machine = Self.ready()  // WELCOME chose no compression
        #expect(machine.requestSent(RequestID(1), pending: 1) == nil)
        guard case .failConnection(let violation, _, let requests) = machine.frameReceived(
            compressed(.pong(PingMessage()), id: RequestID(1)))
        else {
            Issue.record("a compressed frame without compression must fail the connection")
            return
        }
        #expect(violation.code == .protocolViolation && requests == [1])
    }

    @Test("a stream's frames are collected until the final one; an ERROR ends a request")
    func streamsAndErrors() {
        var machine = Self.ready()
        #expect(machine.acceptsRequests)
        #expect(machine.requestSent(RequestID(1), pending: 1) == nil)
        #expect(machine.requestSent(RequestID(2), pending: 2) == nil)
        let first = ScanBatchMessage(ids: ["a"])
        let last = ScanBatchMessage(ids: ["b"])
        guard case .none = machine.frameReceived(Self.frame(.scanBatch(first), id: RequestID(1), more: true)) else {
            Issue.record("a non-final frame completes nothing")
            return
        }
        guard case .succeed(1, let responses) = machine.frameReceived(Self.frame(.scanBatch(last), id: RequestID(1)))
        else {
            Issue.record("the final frame completes the stream")
            return
        }
        #expect(responses == [.scanBatch(first), .scanBatch(last)])
        let notFound = ProtocolError(code: .notFound, message: "no", requestID: RequestID(2))
        guard case .fail(2, let error) = machine.frameReceived(Self.frame(.error(notFound), id: RequestID(2))) else {
            Issue.record("an ERROR fails its request")
            return
        }
        #expect(error.code == .notFound && !error.isRetryable)
        #expect(machine.inFlightCount == 0)
    }

    @Test("GOAWAY: no new requests, those in flight still answered; a dropped connection fails them retryably")
    func goAwayAndFailure() {
        var machine = Self.ready()
        _ = machine.requestSent(RequestID(5), pending: 5)
        guard case .goingAway = machine.frameReceived(
            Self.frame(.goAway(GoAwayMessage(code: .shuttingDown, message: "bye", graceMillis: 10)), id: .connection))
        else {
            Issue.record("GOAWAY is reported")
            return
        }
        #expect(!machine.acceptsRequests)
        #expect(machine.requestSent(RequestID(6), pending: 6)?.isRetryable == true)
        guard case .failConnection(let error, false, let requests) = machine.failConnection(
            NewswireClientError(code: .connectionClosed, message: "gone", isRetryable: true))
        else {
            Issue.record("closing fails what is in flight")
            return
        }
        #expect(requests == [5] && error.isRetryable)
    }
}

/// A node that completes the handshake, then drops the connection when a request arrives: a cluster node dying
/// with requests in flight.
final class DyingNode: ChannelInboundHandler, Sendable {
    typealias InboundIn = Frame

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard frame.opcode == .hello else {
            context.close(promise: nil)
            return
        }
        var encoder = FrameEncoder(compression: .disabled)
        var buffer = context.channel.allocator.buffer(capacity: 64)
        let welcome = WelcomeMessage(
            version: 1, serverName: "dying", compression: .none, compressionThreshold: 1024,
            maxFrameLength: Limits.defaultMaxFrameLength, maxDecompressedLength: Limits.defaultMaxDecompressedLength,
            maxInFlight: 8)
        encoder.encode(.welcome(welcome), requestID: RequestID(0), into: &buffer)
        context.writeAndFlush(NIOAny(buffer), promise: nil)
    }
}

@Suite("Client failover across endpoints", .serialized)
struct FailoverTests {
    static let article = Article(id: ArticleID("fo-1"), title: "故障转移", paragraphs: ["正文。"])

    @Test("a port where another service answers (HTTP) is named as not a Newswire server, not retried")
    func notANewswireServer() async throws {
        let http = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(HTTPLikeService())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(http.localAddress?.port)
        let client = NewswireClient(configuration: .init(host: "127.0.0.1", port: port, maxRetries: 2))
        do {
            _ = try await client.ping()
            Issue.record("PING answered by an HTTP service")
        } catch let error as NewswireClientError {
            #expect(error.code == .protocolViolation && !error.isRetryable, "\(error)")
            #expect(
                error.message.hasPrefix("127.0.0.1:\(port) does not answer as a Newswire server")
                    && error.message.hasSuffix("check the host and port"), "\(error.message)")
        }
        await client.shutdown()
        try await http.close()
    }

    @Test("a node that is down is skipped, and requests in flight on a node that dies are sent to another")
    func failover() async throws {
        let server = try await TestServer.start(prepare: { engine in _ = try engine.put([Self.article]) })
        let dying = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(NewswireFrameDecoder()))
                    try channel.pipeline.syncOperations.addHandler(DyingNode())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        // A port with nothing listening: a node that is down.
        let down = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let downPort = try #require(down.localAddress?.port)
        try await down.close()

        let dyingPort = try #require(dying.localAddress?.port)
        // The dying node first: the first request goes there, is dropped with the connection, and is retried on
        // the live node; the node that is down is skipped.
        let client = NewswireClient(
            configuration: .init(
                endpoints: [
                    .init(host: "127.0.0.1", port: dyingPort), .init(host: "127.0.0.1", port: downPort),
                    .init(host: "127.0.0.1", port: server.port),
                ], connections: 1, maxRetries: 4))
        let fetched = try await client.article(id: Self.article.id)
        #expect(fetched == Self.article)
        // Later calls keep working while the dead nodes are out.
        for _ in 0..<5 { #expect(try await client.article(id: Self.article.id).id == Self.article.id) }
        await client.shutdown()
        try await dying.close()
        try await server.stop()
    }
}

/// Answers whatever arrives as a web server would, then closes.
private final class HTTPLikeService: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let answer = context.channel.allocator.buffer(string: "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        let channel = context.channel
        context.writeAndFlush(NIOAny(answer)).whenComplete { _ in channel.close(promise: nil) }
    }
}
