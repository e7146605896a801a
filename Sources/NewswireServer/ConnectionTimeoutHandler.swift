import NIOCore
import NewswireModel
import NewswireProtocol

/// Closes connections that do not say HELLO in time (after an ERROR TIMEOUT) or go quiet for longer than the idle
/// timeout (after a GOAWAY TIMEOUT), as PROTOCOL.md §6.1 and §6.4 say. Sits after the frame decoder.
final class ConnectionTimeoutHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Frame
    typealias InboundOut = Frame

    private let handshakeTimeout: TimeAmount
    private var handshakeDeadline: Scheduled<Void>?
    private var sawFrame = false

    init(handshakeTimeout: TimeAmount) {
        self.handshakeTimeout = handshakeTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let timeout = handshakeTimeout
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        handshakeDeadline = context.eventLoop.scheduleTask(in: timeout) {
            let (handler, context) = loopBound.value
            guard !handler.sawFrame else { return }
            Self.close(
                context: context,
                with: .error(
                    ProtocolError(
                        code: .timeout,
                        message: "no HELLO within \(timeout.nanoseconds / 1_000_000) ms of connecting; send HELLO first",
                        requestID: .connection)))
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        handshakeDeadline?.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !sawFrame {
            sawFrame = true
            handshakeDeadline?.cancel()
            handshakeDeadline = nil
        }
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            Self.close(
                context: context,
                with: .goAway(GoAwayMessage(code: .timeout, message: "connection idle for too long; closing it")))
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private static func close(context: ChannelHandlerContext, with response: Response) {
        context.channel.sendFinalFrameAndClose(response)
    }
}

extension Channel {
    /// Sends one uncompressed server-initiated frame (request id 0xFFFFFFFF) and closes the connection.
    ///
    /// The write never completes when it cannot leave: under TLS before the TLS handshake finished (the TLS handler
    /// holds it), or to a peer that reads nothing. The connection is closed after `bound` anyway, so a stalled peer
    /// cannot keep its slot. Safe to call from any thread.
    func sendFinalFrameAndClose(_ response: Response, bound: TimeAmount = .seconds(1)) {
        var encoder = FrameEncoder(compression: .disabled)
        var buffer = allocator.buffer(capacity: 128)
        encoder.encode(response, requestID: .connection, into: &buffer)
        writeAndFlush(buffer).whenComplete { _ in self.close(promise: nil) }
        eventLoop.scheduleTask(in: bound) { self.close(promise: nil) }
    }
}
