import NIOCore
import NIOSSL
import NewswireModel
import NewswireProtocol

/// What the client asks its channel handler to do (always on the channel's event loop).
enum ClientCommand: Sendable {
    /// Send a request and complete the promise with every frame of its response.
    case request(Request, RequestID, timeout: TimeAmount, promise: EventLoopPromise<[Response]>)
    /// Give up on a request: fail its promise and tell the server to stop (CANCEL).
    case cancel(RequestID, NewswireClientError)
}

/// The client's protocol engine on one connection: sends HELLO, applies the negotiated compression, matches
/// response frames to requests by id (responses may come in any order), collects streamed responses, and fails
/// every waiting request with a clear error when the connection goes away.
final class ClientChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = Frame
    typealias OutboundIn = ClientCommand
    typealias OutboundOut = ByteBuffer

    private struct Pending {
        var promise: EventLoopPromise<[Response]>
        var collected: [Response] = []
        var timeout: Scheduled<Void>?
    }

    private let hello: HelloMessage
    private let handshakePromise: EventLoopPromise<Handshake>
    private let goingAway: ConnectionFlags
    private var encoder = FrameEncoder(compression: .disabled)
    private var handshake: Handshake?
    private var pending: [RequestID: Pending] = [:]
    private var failure: NewswireClientError?

    init(hello: HelloMessage, handshakePromise: EventLoopPromise<Handshake>, flags: ConnectionFlags) {
        self.hello = hello
        self.handshakePromise = handshakePromise
        self.goingAway = flags
    }

    func channelActive(context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: 128)
        encoder.encode(.hello(hello), requestID: RequestID(0), into: &buffer)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard handshake != nil else { return readHandshake(context: context, frame: frame) }
        if frame.requestID == .connection {
            return readConnectionFrame(context: context, frame: frame)
        }
        guard var entry = pending[frame.requestID] else { return }  // cancelled or timed out: drop it
        let response: Response
        do {
            response = try Response(frame: frame)
        } catch {
            return fail(
                context: context,
                NewswireClientError(
                    code: .protocolViolation, message: "server sent an undecodable \(frame.opcode) frame: \(error)"))
        }
        if case .error(let error) = response {
            pending[frame.requestID] = nil
            entry.timeout?.cancel()
            entry.promise.fail(NewswireClientError(server: error))
            return
        }
        entry.collected.append(response)
        if frame.hasMoreToFollow {
            pending[frame.requestID] = entry
        } else {
            pending[frame.requestID] = nil
            entry.timeout?.cancel()
            entry.promise.succeed(entry.collected)
        }
    }

    private func readHandshake(context: ChannelHandlerContext, frame: Frame) {
        do {
            switch try Response(frame: frame) {
            case .welcome(let welcome):
                let settled = try hello.accept(welcome)
                handshake = settled
                encoder.compression = settled.compression
                handshakePromise.succeed(settled)
            case .error(let error):
                fail(context: context, Self.handshakeError(error))
            default:
                fail(
                    context: context,
                    NewswireClientError(
                        code: .protocolViolation, message: "server answered HELLO with \(frame.opcode), not WELCOME"))
            }
        } catch {
            fail(context: context, Self.handshakeError(error))
        }
    }

    private static func handshakeError(_ error: ProtocolError) -> NewswireClientError {
        if error.code == .unauthorised { return NewswireClientError(server: error) }
        return NewswireClientError(
            code: .connectionFailed, message: "handshake refused: \(error.code.name): \(error.message)",
            isRetryable: error.isRetryable, serverError: error)
    }

    private func readConnectionFrame(context: ChannelHandlerContext, frame: Frame) {
        switch try? Response(frame: frame) {
        case .goAway:
            // In-flight requests are still answered; new ones go to a new connection.
            goingAway.markGoingAway()
        case .error(let error):
            fail(context: context, NewswireClientError(server: error))
        default:
            break
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .request(let request, let requestID, let timeout, let responsePromise):
            if let failure {
                responsePromise.fail(failure)
                promise?.succeed()
                return
            }
            var buffer = context.channel.allocator.buffer(capacity: 256)
            encoder.encode(request, requestID: requestID, into: &buffer)
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let scheduled = context.eventLoop.scheduleTask(in: timeout) {
                let (handler, context) = loopBound.value
                handler.cancel(
                    context: context, requestID,
                    NewswireClientError(
                        code: .timeout,
                        message: "no answer to \(request.opcode) within \(timeout.nanoseconds / 1_000_000) ms",
                        isRetryable: true))
            }
            pending[requestID] = Pending(promise: responsePromise, timeout: scheduled)
            context.write(wrapOutboundOut(buffer), promise: promise)
        case .cancel(let requestID, let error):
            cancel(context: context, requestID, error)
            promise?.succeed()
        }
    }

    private func cancel(context: ChannelHandlerContext, _ requestID: RequestID, _ error: NewswireClientError) {
        guard let entry = pending.removeValue(forKey: requestID) else { return }
        entry.timeout?.cancel()
        entry.promise.fail(error)
        guard context.channel.isActive else { return }
        var buffer = context.channel.allocator.buffer(capacity: FrameHeader.length)
        encoder.encode(.cancel, requestID: requestID, into: &buffer)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        failAll(NewswireClientError(code: .connectionClosed, message: "connection closed", isRetryable: true))
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(
            NewswireClientError(
                code: .connectionClosed, message: "the server closed the connection before answering",
                isRetryable: true))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let clientError: NewswireClientError
        if let error = error as? ProtocolError {
            clientError = NewswireClientError(
                code: .protocolViolation, message: "bad frame from the server: \(error)", serverError: error)
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
        fail(context: context, clientError)
    }

    private func fail(context: ChannelHandlerContext, _ error: NewswireClientError) {
        failAll(error)
        context.close(promise: nil)
    }

    private func failAll(_ error: NewswireClientError) {
        let firstFailure = failure == nil
        if firstFailure { failure = error }
        goingAway.markGoingAway()
        if handshake == nil, firstFailure { handshakePromise.fail(error) }
        let entries = pending
        pending.removeAll()
        for entry in entries.values {
            entry.timeout?.cancel()
            entry.promise.fail(error)
        }
    }
}
