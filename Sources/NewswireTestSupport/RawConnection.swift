import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NewswireProtocol

/// A peer written from the spec alone, for the server, hardening and live-query tests: a plain TCP connection to
/// 127.0.0.1 that writes exactly the bytes a test gives it (nothing here repairs them) and collects what the server
/// sends back, decoding frames with the real codec only when asked.
///
/// It reads in one of two ways (``Reading``): as bytes arrive, or only when the test asks for a frame, so a test can
/// play a peer that stops reading and let the server's answers pile up in the socket buffers. Two interfaces share
/// the one connection: async calls for tests on the cooperative pool, and blocking ones (``init(port:receiveBufferBytes:)``,
/// ``send(_:)-(ByteBuffer)``, ``receive(_:)``, ``receiveUntilClosed()``) for tests that run on a blocking thread of
/// their own (`runBlocking`), never on the pool.
public final class RawConnection: Sendable {
    /// When the connection reads from its socket.
    public enum Reading: Sendable {
        /// As bytes arrive.
        case automatic
        /// Only while the test waits for a frame: until then the server's answers stay in the socket buffers.
        case manual
    }

    /// A wait that ran out, or a frame that was not the one expected.
    public struct TimedOut: Error, CustomStringConvertible {
        public var what: String
        public var description: String { "timed out waiting for \(what)" }
    }

    private struct State {
        var received = ByteBuffer()
        var closed = false
        var totalReceived = 0
    }

    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let state: NIOLockedValueBox<State>
        init(state: NIOLockedValueBox<State>) { self.state = state }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var bytes = unwrapInboundIn(data)
            state.withLockedValue { state in
                state.totalReceived += bytes.readableBytes
                state.received.writeBuffer(&bytes)
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            state.withLockedValue { $0.closed = true }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            // ECONNRESET and friends: the server hung up hard, which tests treat as closed.
            state.withLockedValue { $0.closed = true }
            context.close(promise: nil)
        }
    }

    /// The NIO channel (tests may close it or read its addresses).
    public let channel: any Channel
    /// How the connection reads.
    public let reading: Reading
    private let state: NIOLockedValueBox<State>
    /// Decodes what the server sent; limits far above the server's so this side never rejects an honest frame.
    private let decoder = NIOLockedValueBox(
        DecoderBox(
            decoder: NewswireFrameDecoder(limits: FrameLimits(maxFrameLength: 1 << 30, maxDecompressedLength: 1 << 30)))
    )

    /// The decoder owns a zlib stream; it is only ever touched under the lock.
    private struct DecoderBox: @unchecked Sendable {
        var decoder: NewswireFrameDecoder
    }
    private let nextID = NIOLockedValueBox<UInt32>(1)

    private init(channel: any Channel, state: NIOLockedValueBox<State>, reading: Reading) {
        self.channel = channel
        self.state = state
        self.reading = reading
    }

    deinit { channel.close(promise: nil) }

    private static func bootstrap(
        state: NIOLockedValueBox<State>, reading: Reading, receiveBufferBytes: Int32?
    ) -> ClientBootstrap {
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.autoRead, value: reading == .automatic)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Collector(state: state))
                }
            }
        if let receiveBufferBytes {
            // Set before connecting, so the window the server sees is the small one.
            bootstrap = bootstrap.channelOption(.socketOption(.so_rcvbuf), value: SocketOptionValue(receiveBufferBytes))
        }
        return bootstrap
    }

    /// Opens a TCP connection to the server on 127.0.0.1.
    public static func connect(
        port: Int, reading: Reading = .automatic, receiveBufferBytes: Int32? = nil
    ) async throws -> RawConnection {
        let state = NIOLockedValueBox(State())
        let channel = try await bootstrap(state: state, reading: reading, receiveBufferBytes: receiveBufferBytes)
            .connect(host: "127.0.0.1", port: port).get()
        return RawConnection(channel: channel, state: state, reading: reading)
    }

    /// Opens a connection and completes the handshake; `compression` offers zlib.
    public static func handshaken(port: Int, token: String? = nil, compression: Bool = false) async throws
        -> RawConnection
    {
        let connection = try await connect(port: port)
        let welcome = try await connection.hello(token: token, compression: compression)
        guard case .welcome = welcome else { throw TimedOut(what: "WELCOME (got \(welcome))") }
        return connection
    }

    /// Blocking: opens a connection that reads only while ``receive(_:)`` or ``receiveUntilClosed()`` waits
    /// (``Reading/manual``), with a receive buffer of `receiveBufferBytes` when given. Call it from a blocking
    /// test thread.
    public convenience init(port: Int, receiveBufferBytes: Int32? = nil) throws {
        let state = NIOLockedValueBox(State())
        let channel = try Self.bootstrap(state: state, reading: .manual, receiveBufferBytes: receiveBufferBytes)
            .connect(host: "127.0.0.1", port: port).wait()
        self.init(channel: channel, state: state, reading: .manual)
    }

    // MARK: Sending

    /// Writes raw bytes.
    public func send(_ bytes: ByteBuffer) async throws {
        try await channel.writeAndFlush(bytes)
    }

    /// Writes raw bytes.
    public func send(_ bytes: [UInt8]) async throws {
        try await send(ByteBuffer(bytes: bytes))
    }

    /// Blocking: writes raw bytes and waits until they are written (a closed connection drops them).
    public func send(_ bytes: ByteBuffer) {
        try? channel.writeAndFlush(bytes).wait()
    }

    /// A fresh request id.
    public func freshID() -> RequestID {
        nextID.withLockedValue { id in
            defer { id += 1 }
            return RequestID(id)
        }
    }

    /// Encodes `request` with the real encoder (uncompressed) and writes it; returns its id.
    @discardableResult
    public func send(_ request: Request, id: RequestID? = nil) async throws -> RequestID {
        let requestID = id ?? freshID()
        try await send(Self.frame(request, id: requestID))
        return requestID
    }

    /// One request frame's bytes.
    public static func frame(_ request: Request, id: RequestID) -> ByteBuffer {
        var encoder = FrameEncoder(compression: .disabled)
        var buffer = ByteBuffer()
        encoder.encode(request, requestID: id, into: &buffer)
        return buffer
    }

    /// A frame with a hand-made header and payload (any version, flags, opcode or length).
    public static func rawFrame(
        version: UInt8 = 1, flags: UInt8 = 0, opcode: UInt16, id: UInt32 = 1, payload: ByteBuffer,
        declaredLength: UInt32? = nil
    ) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeMultipleIntegers(
            version, flags, opcode, id, declaredLength ?? UInt32(payload.readableBytes), endianness: .big)
        var payload = payload
        buffer.writeBuffer(&payload)
        return buffer
    }

    /// Sends HELLO and returns the server's answer (WELCOME or ERROR). A server that refuses the connection
    /// (over its connection limit, shutting down) may answer and close before HELLO is sent: its answer is still
    /// read.
    public func hello(token: String? = nil, compression: Bool = false) async throws -> Response {
        do {
            try await send(
                .hello(HelloMessage(clientName: "hardening", compressions: compression ? [.zlib] : [], token: token)))
        } catch {
            guard state.withLockedValue({ $0.closed }) else { throw error }
        }
        return try await nextResponse()
    }

    // MARK: Receiving

    /// A frame already received, or nil; whether the connection has closed. In manual reading, asks the channel
    /// for more bytes when there is no frame yet.
    private func poll() throws -> (frame: Frame?, closed: Bool) {
        let (frame, closed) = try state.withLockedValue { state -> (Frame?, Bool) in
            let frame = try decoder.withLockedValue { try $0.decoder.decode(buffer: &state.received) }
            return (frame, state.closed)
        }
        if frame == nil, !closed, reading == .manual { channel.read() }
        return (frame, closed)
    }

    /// The next complete frame from the server; nil when the connection closed without one.
    public func nextFrame(within timeout: Duration = .seconds(15)) async throws -> Frame? {
        let deadline = ContinuousClock.now + timeout
        while true {
            let (frame, closed) = try poll()
            if let frame { return frame }
            if closed { return nil }
            guard ContinuousClock.now < deadline else { throw TimedOut(what: "a frame") }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    /// The next frame as a response; throws when the connection closed first.
    public func nextResponse(within timeout: Duration = .seconds(15)) async throws -> Response {
        guard let frame = try await nextFrame(within: timeout) else { throw TimedOut(what: "a response (closed)") }
        return try Response(frame: frame)
    }

    /// The next frame, which must be an ERROR; returns the error.
    public func nextError(within timeout: Duration = .seconds(15)) async throws -> ProtocolError {
        let response = try await nextResponse(within: timeout)
        guard case .error(let error) = response else { throw TimedOut(what: "an ERROR (got \(response))") }
        return error
    }

    /// Waits until the server has closed the connection (any frames still unread are discarded).
    /// Returns false on timeout.
    public func waitUntilClosed(within timeout: Duration = .seconds(15)) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if reading == .manual { channel.read() }
            if state.withLockedValue({ $0.closed }) { return true }
            try await Task.sleep(for: .milliseconds(5))
        }
        return false
    }

    /// How long a blocking receive waits for the next frame. Generous: on a cold debug build with both cores busy
    /// an answer can take seconds; a missing one still fails the test instead of hanging it.
    public static let blockingReceiveTimeout = Duration.seconds(60)

    /// Blocking: the next frame, nil when the connection closed, or `.timedOut` when none came in time.
    private func nextFrameBlocking() throws -> (frame: Frame?, timedOut: Bool) {
        let deadline = ContinuousClock.now + Self.blockingReceiveTimeout
        while true {
            let (frame, closed) = try poll()
            if let frame { return (frame, false) }
            if closed { return (nil, false) }
            if ContinuousClock.now >= deadline { return (nil, true) }
            usleep(1_000)
        }
    }

    /// Blocking: the next `count` frames (inflated), or fewer if the server closes or goes quiet for
    /// ``blockingReceiveTimeout``.
    public func receive(_ count: Int) throws -> [Frame] {
        var frames: [Frame] = []
        while frames.count < count, let frame = try nextFrameBlocking().frame { frames.append(frame) }
        return frames
    }

    /// Blocking: every frame until the server closes the connection (or goes quiet for ``blockingReceiveTimeout``),
    /// and whether it closed.
    public func receiveUntilClosed() throws -> (frames: [Frame], closed: Bool) {
        var frames: [Frame] = []
        while true {
            let (frame, timedOut) = try nextFrameBlocking()
            guard let frame else { return (frames, !timedOut) }
            frames.append(frame)
        }
    }

    /// Bytes received from the server so far.
    public var bytesReceived: Int { state.withLockedValue { $0.totalReceived } }

    /// Whether the server closed the connection.
    public var isClosed: Bool { state.withLockedValue { $0.closed } }

    /// Closes this side.
    public func close() async {
        try? await channel.close()
    }

    /// Shuts down the sending side only (TCP half-close): the server sees the end of input, and may still answer.
    public func closeSending() async throws {
        try await channel.close(mode: .output)
    }
}
