import NIOCore
import NewswireModel
import NewswireProtocol

/// Tells the connection's state machine when its handshake timeout (from accept) fires; the state machine decides
/// what happens (PROTOCOL.md §6.3). Sits after the frame decoder. The idle timeout (§6.4) is kept by
/// ``CachedGetHandler``, the first handler to see every read.
final class ConnectionTimeoutHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Frame
    typealias InboundOut = Frame

    private let handshakeTimeout: TimeAmount
    private let connection: Connection
    private var handshakeDeadline: Scheduled<Void>?

    init(handshakeTimeout: TimeAmount, connection: Connection) {
        self.handshakeTimeout = handshakeTimeout
        self.connection = connection
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let timeout = handshakeTimeout
        let connection = self.connection
        handshakeDeadline = context.eventLoop.scheduleTask(in: timeout) {
            connection.handshakeTimedOut(after: timeout)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        handshakeDeadline?.cancel()
    }

    func channelInactive(context: ChannelHandlerContext) {
        handshakeDeadline?.cancel()
        context.fireChannelInactive()
    }

}

extension Channel {
    /// Sends one uncompressed server-initiated frame (request id 0xFFFFFFFF) and closes the connection: for
    /// connections refused before they are served (over the connection limit, or during shutdown).
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
