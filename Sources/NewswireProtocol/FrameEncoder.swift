import NIOCore

/// When to compress outgoing frames (PROTOCOL.md §10). Decided by the handshake: see ``Handshake``.
public struct CompressionSettings: Sendable, Hashable {
    /// The agreed algorithm; ``CompressionAlgorithm/none`` disables compression.
    public var algorithm: CompressionAlgorithm
    /// Payloads shorter than this many bytes are sent uncompressed.
    public var threshold: UInt32
    /// zlib level 1 (fastest) ... 9 (smallest). Default 1: on the news corpus it is within 1-3% of level 6 in size,
    /// and zlib deflates a 7.4 KB search page twice as fast (28.5k vs 13.8k/s measured in C on the dev machine).
    public var level: Int32

    /// Creates settings.
    public init(
        algorithm: CompressionAlgorithm, threshold: UInt32 = ProtocolLimits.defaultCompressionThreshold,
        level: Int32 = 1
    ) {
        self.algorithm = algorithm
        self.threshold = threshold
        self.level = min(9, max(1, level))
    }

    /// No compression (the state of every connection before the handshake completes).
    public static let disabled = CompressionSettings(algorithm: .none)
    /// zlib above the default threshold.
    public static let zlib = CompressionSettings(algorithm: .zlib)
}

/// A payload ready to frame: plain message bytes, or a zlib stream compressed earlier (e.g. a cached record).
public enum OutboundPayload: Sendable, Hashable {
    /// Message bytes; the encoder compresses them when its settings say so.
    case plain(ByteBuffer)
    /// A complete zlib stream (from ``FrameEncoder/compressPayload(_:)``) of `uncompressedLength` bytes, sent as is.
    /// Only for connections whose handshake agreed on zlib: the encoder does not inflate it for other peers.
    case precompressed(zlib: ByteBuffer, uncompressedLength: UInt32)
}

/// One frame to write: what ``NewswireFrameEncoder`` accepts on a channel.
public struct OutboundFrame: Sendable, Hashable {
    /// The operation.
    public var opcode: Opcode
    /// The request id (a client's id, or ``RequestID/connection`` for server-initiated frames).
    public var requestID: RequestID
    /// Set ``FrameFlags/moreToFollow`` on every frame of a stream but the last. ``FrameFlags/compressed`` is
    /// managed by the encoder.
    public var flags: FrameFlags
    /// The payload.
    public var payload: OutboundPayload
    /// The header version; HELLO/WELCOME use ``ProtocolVersion/handshake``.
    public var version: UInt8

    /// Creates a frame from a pre-encoded payload.
    public init(
        opcode: Opcode, requestID: RequestID, flags: FrameFlags = [], payload: OutboundPayload,
        version: UInt8 = ProtocolVersion.current
    ) {
        self.opcode = opcode
        self.requestID = requestID
        self.flags = flags
        self.payload = payload
        self.version = version
    }

    /// Creates a frame carrying a request.
    public init(_ request: Request, requestID: RequestID) {
        var buffer = ByteBuffer()
        request.encode(into: &buffer)
        let version = request.opcode == .hello ? ProtocolVersion.handshake : ProtocolVersion.current
        self.init(opcode: request.opcode, requestID: requestID, payload: .plain(buffer), version: version)
    }

    /// Creates a frame carrying a response; `moreToFollow` marks a non-final frame of a stream.
    public init(_ response: Response, requestID: RequestID, moreToFollow: Bool = false) {
        var buffer = ByteBuffer()
        response.encode(into: &buffer)
        let version = response.opcode == .welcome ? ProtocolVersion.handshake : ProtocolVersion.current
        self.init(
            opcode: response.opcode, requestID: requestID, flags: moreToFollow ? .moreToFollow : [],
            payload: .plain(buffer), version: version)
    }
}

/// Writes frames, compressing payloads per ``compression`` with one deflate stream reused for every frame.
///
/// One encoder per connection and direction; not thread-safe (use it from one task or event loop).
public struct FrameEncoder {
    /// Compression for frames written from now on; set it from the handshake result.
    public var compression: CompressionSettings {
        didSet {
            if deflater?.level != compression.level { deflater = nil }
        }
    }
    private var deflater: Deflater?
    private var scratch: ByteBuffer

    /// Creates an encoder; compression starts disabled, as the spec requires before the handshake.
    public init(compression: CompressionSettings = .disabled) {
        self.compression = compression
        self.scratch = ByteBuffer()
    }

    /// Writes one frame whose payload `writePayload` appends, compressing it when the settings say so and
    /// compression actually saves bytes.
    public mutating func encode(
        opcode: Opcode, requestID: RequestID, flags: FrameFlags = [], version: UInt8 = ProtocolVersion.current,
        into out: inout ByteBuffer, writePayload: (inout ByteBuffer) -> Void
    ) {
        let headerIndex = out.writerIndex
        FrameHeader(version: version, flags: [], opcode: opcode, requestID: requestID, payloadLength: 0)
            .write(into: &out)
        let payloadIndex = out.writerIndex
        writePayload(&out)
        finish(
            flags: flags.subtracting(.compressed), headerIndex: headerIndex, payloadIndex: payloadIndex, out: &out)
    }

    /// Writes one frame from an ``OutboundFrame``.
    public mutating func encode(_ frame: OutboundFrame, into out: inout ByteBuffer) {
        switch frame.payload {
        case .plain(let payload):
            encode(
                opcode: frame.opcode, requestID: frame.requestID, flags: frame.flags, version: frame.version,
                into: &out
            ) { $0.writeImmutableBuffer(payload) }
        case .precompressed(let zlib, let uncompressedLength):
            let flags = frame.flags.union(.compressed)
            FrameHeader(
                version: frame.version, flags: flags, opcode: frame.opcode, requestID: frame.requestID,
                payloadLength: UInt32(4 + zlib.readableBytes)
            ).write(into: &out)
            out.writeInteger(uncompressedLength, endianness: .big)
            out.writeImmutableBuffer(zlib)
        }
    }

    /// Writes a request frame.
    public mutating func encode(_ request: Request, requestID: RequestID, into out: inout ByteBuffer) {
        let version = request.opcode == .hello ? ProtocolVersion.handshake : ProtocolVersion.current
        encode(opcode: request.opcode, requestID: requestID, version: version, into: &out) {
            request.encode(into: &$0)
        }
    }

    /// Writes a response frame; `moreToFollow` marks a non-final frame of a stream.
    public mutating func encode(
        _ response: Response, requestID: RequestID, moreToFollow: Bool = false, into out: inout ByteBuffer
    ) {
        let version = response.opcode == .welcome ? ProtocolVersion.handshake : ProtocolVersion.current
        encode(
            opcode: response.opcode, requestID: requestID, flags: moreToFollow ? .moreToFollow : [],
            version: version, into: &out
        ) { response.encode(into: &$0) }
    }

    /// Compresses a payload once so it can be cached and sent many times as ``OutboundPayload/precompressed``.
    /// Returns nil when compression would not make it smaller.
    public mutating func compressPayload(_ payload: ByteBuffer) -> ByteBuffer? {
        var output = ByteBuffer()
        deflaterForCurrentLevel().compress(payload, into: &output)
        return output.readableBytes + 4 < payload.readableBytes ? output : nil
    }

    private mutating func deflaterForCurrentLevel() -> Deflater {
        if let deflater { return deflater }
        let created = Deflater(level: compression.level)
        deflater = created
        return created
    }

    private mutating func finish(flags: FrameFlags, headerIndex: Int, payloadIndex: Int, out: inout ByteBuffer) {
        var flags = flags
        var payloadLength = out.writerIndex - payloadIndex
        if compression.algorithm == .zlib, payloadLength >= Int(compression.threshold) {
            let payload = out.getSlice(at: payloadIndex, length: payloadLength)!
            scratch.clear()
            deflaterForCurrentLevel().compress(payload, into: &scratch)
            // Send compressed only when it saves bytes (the 4-byte length prefix included).
            if scratch.readableBytes + 4 < payloadLength {
                out.moveWriterIndex(to: payloadIndex)
                out.writeInteger(UInt32(payloadLength), endianness: .big)
                out.writeBuffer(&scratch)
                flags.insert(.compressed)
                payloadLength = out.writerIndex - payloadIndex
            }
        }
        out.setInteger(flags.rawValue, at: headerIndex + 1)
        out.setInteger(UInt32(payloadLength), at: headerIndex + 8, endianness: .big)
    }
}

/// A channel handler encoder for ``OutboundFrame``s: `MessageToByteHandler(NewswireFrameEncoder())`.
///
/// Change compression after the handshake through the handler-independent ``FrameEncoder`` instead when the
/// connection logic writes bytes itself; this handler compresses with the settings it was created with,
/// and only frames the caller has not marked `precompressed`.
public final class NewswireFrameEncoder: MessageToByteEncoder {
    /// Frames to write.
    public typealias OutboundIn = OutboundFrame

    /// The underlying encoder; its ``FrameEncoder/compression`` can be changed between writes on the channel's
    /// event loop (e.g. right after WELCOME is written or read).
    public var encoder: FrameEncoder

    /// Creates a handler encoder.
    public init(compression: CompressionSettings = .disabled) {
        encoder = FrameEncoder(compression: compression)
    }

    /// Writes one frame.
    public func encode(data: OutboundFrame, out: inout ByteBuffer) {
        encoder.encode(data, into: &out)
    }
}
