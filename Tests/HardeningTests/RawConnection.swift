import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NewswireProtocol

/// A hostile or careless peer: a plain TCP connection that writes whatever bytes a test gives it and collects what
/// the server sends back, decoding frames with the real codec only when asked. Nothing here repairs the bytes.
final class RawConnection: Sendable {
    struct TimedOut: Error, CustomStringConvertible {
        var what: String
        var description: String { "timed out waiting for \(what)" }
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

    let channel: any Channel
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

    private init(channel: any Channel, state: NIOLockedValueBox<State>) {
        self.channel = channel
        self.state = state
    }

    /// Opens a TCP connection to the server on 127.0.0.1.
    static func connect(port: Int) async throws -> RawConnection {
        let state = NIOLockedValueBox(State())
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Collector(state: state))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return RawConnection(channel: channel, state: state)
    }

    /// Opens a connection and completes the handshake; `compression` offers zlib.
    static func handshaken(port: Int, token: String? = nil, compression: Bool = false) async throws -> RawConnection {
        let connection = try await connect(port: port)
        let welcome = try await connection.hello(token: token, compression: compression)
        guard case .welcome = welcome else { throw TimedOut(what: "WELCOME (got \(welcome))") }
        return connection
    }

    // MARK: Sending

    /// Writes raw bytes.
    func send(_ bytes: ByteBuffer) async throws {
        try await channel.writeAndFlush(bytes)
    }

    /// Writes raw bytes.
    func send(_ bytes: [UInt8]) async throws {
        try await send(ByteBuffer(bytes: bytes))
    }

    /// A fresh request id.
    func freshID() -> RequestID {
        nextID.withLockedValue { id in
            defer { id += 1 }
            return RequestID(id)
        }
    }

    /// Encodes `request` with the real encoder (uncompressed) and writes it; returns its id.
    @discardableResult
    func send(_ request: Request, id: RequestID? = nil) async throws -> RequestID {
        let requestID = id ?? freshID()
        try await send(Self.frame(request, id: requestID))
        return requestID
    }

    /// One request frame's bytes.
    static func frame(_ request: Request, id: RequestID) -> ByteBuffer {
        var encoder = FrameEncoder(compression: .disabled)
        var buffer = ByteBuffer()
        encoder.encode(request, requestID: id, into: &buffer)
        return buffer
    }

    /// A frame with a hand-made header and payload (any version, flags, opcode or length).
    static func rawFrame(
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

    /// Sends HELLO and returns the server's answer (WELCOME or ERROR).
    func hello(token: String? = nil, compression: Bool = false) async throws -> Response {
        try await send(
            .hello(HelloMessage(clientName: "hardening", compressions: compression ? [.zlib] : [], token: token)))
        return try await nextResponse()
    }

    // MARK: Receiving

    /// The next complete frame from the server; nil when the connection closed without one.
    func nextFrame(within timeout: Duration = .seconds(15)) async throws -> Frame? {
        let deadline = ContinuousClock.now + timeout
        while true {
            let (frame, closed) = try state.withLockedValue { state -> (Frame?, Bool) in
                let frame = try decoder.withLockedValue { try $0.decoder.decode(buffer: &state.received) }
                return (frame, state.closed)
            }
            if let frame { return frame }
            if closed { return nil }
            guard ContinuousClock.now < deadline else { throw TimedOut(what: "a frame") }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    /// The next frame as a response; throws when the connection closed first.
    func nextResponse(within timeout: Duration = .seconds(15)) async throws -> Response {
        guard let frame = try await nextFrame(within: timeout) else { throw TimedOut(what: "a response (closed)") }
        return try Response(frame: frame)
    }

    /// The next frame, which must be an ERROR; returns the error and the frame's request id.
    func nextError(within timeout: Duration = .seconds(15)) async throws -> ProtocolError {
        let response = try await nextResponse(within: timeout)
        guard case .error(let error) = response else { throw TimedOut(what: "an ERROR (got \(response))") }
        return error
    }

    /// Waits until the server has closed the connection (any frames still unread are discarded).
    /// Returns false on timeout.
    func waitUntilClosed(within timeout: Duration = .seconds(15)) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if state.withLockedValue({ $0.closed }) { return true }
            try await Task.sleep(for: .milliseconds(5))
        }
        return false
    }

    /// Bytes received from the server so far.
    var bytesReceived: Int { state.withLockedValue { $0.totalReceived } }

    /// Whether the server closed the connection.
    var isClosed: Bool { state.withLockedValue { $0.closed } }

    /// Closes this side.
    func close() async {
        try? await channel.close()
    }
}
