import NIOCore
import NIOSSL
import NewswireModel
import NewswireProtocol

/// What the client asks its channel handler to do (always on the channel's event loop).
enum ClientCommand: Sendable {
    /// Send a request and complete the promise with every frame of its response.
    case request(Request, RequestID, timeout: TimeAmount, promise: EventLoopPromise<[Response]>)
    /// Send a request whose frames are handed to `onFrame` as they arrive (a WATCH); the promise completes when
    /// the stream ends. No timeout: such a stream runs until cancelled.
    case stream(Request, RequestID, onFrame: @Sendable (Response) -> Void, promise: EventLoopPromise<[Response]>)
    /// Give up on a request: fail its promise and tell the server to stop (CANCEL).
    case cancel(RequestID, NewswireClientError)
}

/// Runs one connection's ``ClientConnectionStateMachine``: sends HELLO, encodes requests with the negotiated
/// compression, feeds every frame, cancellation, timeout and close to the state machine, and completes promises
/// as it says.
final class ClientChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = Frame
    typealias OutboundIn = ClientCommand
    typealias OutboundOut = ByteBuffer

    struct Pending {
        var promise: EventLoopPromise<[Response]>
        var timeout: Scheduled<Void>?
        var onFrame: (@Sendable (Response) -> Void)? = nil
    }

    private var machine: ClientConnectionStateMachine<Pending>
    private let hello: HelloMessage
    private let handshakePromise: EventLoopPromise<Handshake>
    private let flags: ConnectionFlags
    private var encoder = FrameEncoder(compression: .disabled)
    /// Whether the connection runs over TLS (what a server that closes at once may be asking for, if not).
    private let usesTLS: Bool

    init(hello: HelloMessage, handshakePromise: EventLoopPromise<Handshake>, flags: ConnectionFlags, usesTLS: Bool) {
        self.hello = hello
        self.machine = ClientConnectionStateMachine(hello: hello)
        self.handshakePromise = handshakePromise
        self.flags = flags
        self.usesTLS = usesTLS
    }

    func channelActive(context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: 128)
        encoder.encode(.hello(hello), requestID: RequestID(0), into: &buffer)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        perform(machine.frameReceived(unwrapInboundIn(data)), context: context)
        // After GOAWAY the connection only finishes what it had in flight (new requests go to another one): once
        // nothing is left, close it, which also ends the server's linger at once (PROTOCOL.md §6.4).
        if case .goingAway = machine.state, machine.inFlightCount == 0 {
            context.close(promise: nil)
        }
    }

    private func perform(_ action: ClientConnectionStateMachine<Pending>.Action, context: ChannelHandlerContext) {
        switch action {
        case .none:
            break
        case .handshakeSucceeded(let handshake):
            encoder.compression = handshake.compression
            handshakePromise.succeed(handshake)
        case .succeed(let pending, let responses):
            pending.timeout?.cancel()
            pending.promise.succeed(responses)
        case .deliver(let pending, let response):
            pending.onFrame?(response)
        case .fail(let pending, let error):
            pending.timeout?.cancel()
            pending.promise.fail(error)
        case .goingAway:
            flags.markGoingAway()
        case .failConnection(let error, let handshakePending, let requests):
            flags.markGoingAway()
            if handshakePending { handshakePromise.fail(error) }
            for pending in requests {
                pending.timeout?.cancel()
                pending.promise.fail(error)
            }
            context.close(promise: nil)
        }
    }

    /// Registers `pending` with the state machine and writes the request; false (the request failed with the
    /// machine's refusal, nothing written) when the machine refuses it.
    @discardableResult
    private func send(
        _ request: Request, _ requestID: RequestID, _ pending: Pending, delivers: Bool,
        context: ChannelHandlerContext, promise: EventLoopPromise<Void>?
    ) -> Bool {
        var buffer = context.channel.allocator.buffer(capacity: 256)
        encoder.encode(request, requestID: requestID, into: &buffer)
        if let refusal = Self.exceedsServerLimits(buffer, request.opcode, state: machine.state)
            ?? machine.requestSent(requestID, pending: pending, delivers: delivers)
        {
            pending.promise.fail(refusal)
            promise?.succeed()
            return false
        }
        context.write(wrapOutboundOut(buffer), promise: promise)
        return true
    }

    /// A request frame larger than the server announced it accepts (WELCOME's frame and decompressed limits)
    /// fails here, alone: sent, it would make the server close the connection (FRAME_TOO_LARGE,
    /// DECOMPRESSED_TOO_LARGE, PROTOCOL.md §7.1) and fail every other request in flight on it.
    static func exceedsServerLimits(
        _ frame: ByteBuffer, _ opcode: Opcode, state: ClientConnectionStateMachine<Pending>.State
    ) -> NewswireClientError? {
        guard case .ready(let handshake) = state, let header = FrameHeader.peek(frame) else { return nil }
        let welcome = handshake.welcome
        var size = Int(header.payloadLength)
        var limit = Int(welcome.maxFrameLength)
        var what = "frame"
        if header.payloadLength <= welcome.maxFrameLength, header.flags.contains(.compressed),
            let uncompressed = frame.getInteger(at: frame.readerIndex + FrameHeader.length, as: UInt32.self)
        {
            (size, limit, what) = (Int(uncompressed), Int(welcome.maxDecompressedLength), "uncompressed payload")
        }
        guard size > limit else { return nil }
        return NewswireClientError(
            code: .limitExceeded,
            message: "the \(opcode) request is \(size) bytes; the server accepts \(limit) per \(what) (its "
                + "--max-frame-bytes / --max-decompressed-bytes): send less per request (a page that large cannot "
                + "be ingested there)")
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .request(let request, let requestID, let timeout, let responsePromise):
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let scheduled = context.eventLoop.scheduleTask(in: timeout) {
                let (handler, context) = loopBound.value
                handler.abandon(
                    context: context, requestID,
                    NewswireClientError(
                        code: .timeout,
                        message: "no answer to \(request.opcode) within \(timeout.nanoseconds / 1_000_000) ms",
                        isRetryable: true))
            }
            let pending = Pending(promise: responsePromise, timeout: scheduled)
            if !send(request, requestID, pending, delivers: false, context: context, promise: promise) { scheduled.cancel() }
        case .stream(let request, let requestID, let onFrame, let responsePromise):
            let pending = Pending(promise: responsePromise, timeout: nil, onFrame: onFrame)
            send(request, requestID, pending, delivers: true, context: context, promise: promise)
        case .cancel(let requestID, let error):
            abandon(context: context, requestID, error)
            promise?.succeed()
        }
    }

    /// The caller gave up (cancelled or timed out): fail the request and tell the server to stop it (CANCEL).
    private func abandon(context: ChannelHandlerContext, _ requestID: RequestID, _ error: NewswireClientError) {
        guard let pending = machine.requestAbandoned(requestID) else { return }
        pending.timeout?.cancel()
        pending.promise.fail(error)
        guard context.channel.isActive else { return }
        var buffer = context.channel.allocator.buffer(capacity: FrameHeader.length)
        encoder.encode(.cancel, requestID: requestID, into: &buffer)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        perform(
            machine.failConnection(
                NewswireClientError(code: .connectionClosed, message: "connection closed", isRetryable: true)),
            context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        let error: NewswireClientError
        if case .awaitingWelcome = machine.state {
            // Closed before any answer to HELLO: no Newswire server does that (a refusal is an ERROR frame). A TLS
            // server does, to a client speaking plain TCP.
            let peer = Self.peer(context)
            error = NewswireClientError(
                code: .connectionFailed,
                message: "\(peer) closed the connection without answering the handshake"
                    + (usesTLS
                        ? " (is it a Newswire server?)"
                        : "; if it serves TLS, connect with TLS (--tls, Configuration.tls)"),
                isRetryable: true)
        } else {
            error = NewswireClientError(
                code: .connectionClosed, message: "the server closed the connection before answering",
                isRetryable: true)
        }
        perform(machine.failConnection(error), context: context)
        context.fireChannelInactive()
    }

    /// `host:port` of the server, for messages about what answered there.
    private static func peer(_ context: ChannelHandlerContext) -> String {
        context.channel.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "the server"
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let clientError: NewswireClientError
        if let error = error as? ProtocolError, case .awaitingWelcome = machine.state {
            // The first bytes are not a frame: most likely another service on that port (HTTP, Redis, …).
            let peer = Self.peer(context)
            clientError = NewswireClientError(
                code: .protocolViolation,
                message: "\(peer) does not answer as a Newswire server (its first bytes are not a frame: \(error)); "
                    + "check the host and port", serverError: error)
        } else if let error = error as? ProtocolError {
            clientError = NewswireClientError(
                code: .protocolViolation, message: "bad frame from the server: \(error)", serverError: error)
        } else if error is NIOSSLError, "\(error)".contains("WRONG_VERSION_NUMBER") {
            // The server answered the TLS hello with something that is not TLS: a plain Newswire server.
            let peer = Self.peer(context)
            clientError = NewswireClientError(
                code: .connectionFailed,
                message: "\(peer) does not speak TLS (its answer to the TLS hello is not TLS): connect without TLS, "
                    + "or start the server with --tls-cert and --tls-key")
        } else if error is NIOSSLError || error is NIOSSLExtraError || error is BoringSSLError {
            // Not retryable: a certificate that fails verification will fail again.
            clientError = NewswireClientError(
                code: .connectionFailed,
                message: "TLS with the server failed: \(error); check that the server uses TLS (--tls-cert), that "
                    + "its certificate names the host you connect to, and pass its CA with --tls-ca")
        } else {
            clientError = NewswireClientError(
                code: .connectionClosed, message: "connection failed: \(error)", isRetryable: true)
        }
        perform(machine.failConnection(clientError), context: context)
    }
}
