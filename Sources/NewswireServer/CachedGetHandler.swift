import NIOCore
import NewswireModel
import NewswireProtocol

/// Answers GETs of cached records on the event loop, in the channel pipeline, before frames reach the
/// connection's task: no task hop, no queue, and one write per read burst for all the answers it produced.
///
/// Everything it cannot answer alone goes on to the connection unchanged: other opcodes, cache misses, frames
/// before the handshake's WELCOME is written, requests the connection must refuse (draining, duplicate id, no
/// read access), and every frame while the socket is not writable (so a client that stops reading is throttled
/// by the connection's bounded queue, as before).
final class CachedGetHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Frame
    typealias InboundOut = Frame
    typealias OutboundOut = ByteBuffer

    private let server: ServerContext
    private var connection: Connection?
    private var handshake: Handshake?
    private var encoder = FrameEncoder(compression: .disabled)
    /// Answers of the current read burst. Reused across bursts: once the socket took the previous write, the
    /// storage is uniquely referenced again and `clear()` keeps it, so a steady stream allocates nothing here.
    private var pending = ByteBuffer()
    private var answered = 0
    private var bytesIn = 0
    private var payloadBytes = 0

    init(server: ServerContext) {
        self.server = server
    }

    /// Called on the event loop once WELCOME has been handed to the channel, so no answer can overtake it.
    func enable(connection: Connection, handshake: Handshake) {
        self.connection = connection
        self.handshake = handshake
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard frame.opcode == .get, let connection, let handshake, context.channel.isWritable,
            !frame.wasCompressed || handshake.welcome.compression != .none,
            !frame.requestID.isServerInitiated,
            let idBytes = Self.idBytes(ofPlainGet: frame.payload),
            let entry = server.recordCache.entry(forIDBytes: idBytes),
            connection.admitsImmediateAnswer(frame.requestID)
        else {
            context.fireChannelRead(data)
            return
        }
        let payload: OutboundPayload
        if handshake.welcome.compression == .zlib,
            entry.payload.readableBytes >= Int(handshake.welcome.compressionThreshold),
            let compressed = entry.compressed
        {
            payload = .precompressed(zlib: compressed, uncompressedLength: UInt32(entry.payload.readableBytes))
        } else {
            payload = .plain(entry.payload)
        }
        encoder.encode(OutboundFrame(opcode: .article, requestID: frame.requestID, payload: payload), into: &pending)
        answered += 1
        bytesIn += FrameHeader.length + Int(frame.header.payloadLength)
        payloadBytes += entry.payload.readableBytes
    }

    /// The id bytes of a GET payload in its canonical form, field 1 only with a one-byte length
    /// (`0x0A len id`, PROTOCOL.md §5.8); nil for anything else, which the connection decodes in full. A hit in the
    /// cache proves the bytes are a stored, valid id.
    static func idBytes(ofPlainGet payload: ByteBuffer) -> ByteBuffer? {
        let start = payload.readerIndex
        guard payload.readableBytes >= 2,
            payload.getInteger(at: start, as: UInt8.self) == 0x0A,
            let length = payload.getInteger(at: start + 1, as: UInt8.self), length < 0x80,
            payload.readableBytes == 2 + Int(length)
        else { return nil }
        return payload.getSlice(at: start + 2, length: Int(length))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if pending.readableBytes > 0 {
            let wire = pending.readableBytes
            context.writeAndFlush(wrapOutboundOut(pending), promise: nil)
            pending.clear()
            // Counters once per burst rather than once per request (each takes a lock).
            server.statistics.recordBytesIn(bytesIn)
            server.statistics.recordBytesOut(wire: wire, uncompressedPayload: payloadBytes)
            server.statistics.recordRequests(opcode: .get, outcome: "ok", count: answered)
            answered = 0
            bytesIn = 0
            payloadBytes = 0
        }
        context.fireChannelReadComplete()
    }
}
