import NIOCore
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
        var encoder = FrameEncoder(compression: .disabled)
        var buffer = context.channel.allocator.buffer(capacity: 128)
        encoder.encode(response, requestID: .connection, into: &buffer)
        let channel = context.channel
        channel.writeAndFlush(buffer).whenComplete { _ in channel.close(promise: nil) }
        // The write never completes when it cannot leave: under TLS before the TLS handshake finished (the TLS
        // handler holds it), or to a peer that reads nothing. Close anyway, so a stalled peer cannot keep the slot.
        channel.eventLoop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
    }
}
