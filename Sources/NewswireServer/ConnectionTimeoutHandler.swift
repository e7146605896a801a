import NIOCore
import NewswireProtocol

/// Closes connections that do not say HELLO in time, or go quiet for longer than the idle timeout, after telling
/// the peer why with an ERROR TIMEOUT frame (PROTOCOL.md §7.1). Sits after the frame decoder.
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
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        handshakeDeadline = context.eventLoop.scheduleTask(in: timeout) { [self] in
            guard !sawFrame else { return }
            Self.closeWithTimeout(
                context: loopBound.value,
                message: "no HELLO within \(timeout.nanoseconds / 1_000_000) ms of connecting; send HELLO first")
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
            Self.closeWithTimeout(context: context, message: "connection idle for too long; closing it")
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private static func closeWithTimeout(context: ChannelHandlerContext, message: String) {
        var encoder = FrameEncoder(compression: .disabled)
        var buffer = context.channel.allocator.buffer(capacity: 128)
        encoder.encode(
            .error(ProtocolError(code: .timeout, message: message, requestID: .connection)),
            requestID: .connection, into: &buffer)
        let channel = context.channel
        channel.writeAndFlush(buffer).whenComplete { _ in channel.close(promise: nil) }
        // The write never completes when it cannot leave: under TLS before the TLS handshake finished (the TLS
        // handler holds it), or to a peer that reads nothing. Close anyway, so a stalled peer cannot keep the slot.
        channel.eventLoop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
    }
}
