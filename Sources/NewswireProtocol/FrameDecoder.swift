import NIOCore
import Synchronization

/// Splits a byte stream into ``Frame``s, enforcing ``FrameLimits`` and inflating compressed payloads.
///
/// Use it in a pipeline as `ByteToMessageHandler(NewswireFrameDecoder())`, or call ``decode(buffer:)``
/// directly. Every failure is a ``ProtocolError`` whose code is frame-level (the connection must be closed
/// after sending it back, PROTOCOL.md §7.1) and that carries the offending frame's request id when the header
/// was readable.
///
/// The decoder checks a header as soon as its 12 bytes arrive: an oversized length, an unknown version or a
/// reserved flag is rejected before any of the payload is buffered. A compressed frame's declared length is
/// checked before inflating, and inflation writes into one buffer of exactly that size.
///
/// With a ``CompressionGate`` (a server's connection), a compressed frame that arrives while the gate is shut
/// (before WELCOME has gone out, or on a connection whose WELCOME chose no compression) is `PROTOCOL_ERROR` as soon
/// as its header is read, before any of it is buffered or inflated (PROTOCOL.md §6.3, §10).
public struct NewswireFrameDecoder: NIOSingleStepByteToMessageDecoder {
    /// Decoded frames.
    public typealias InboundOut = Frame

    /// The limits enforced on incoming frames.
    public var limits: FrameLimits
    /// Whether compressed frames may arrive yet (nil: always, as for a client reading a server's frames).
    public let compressionGate: CompressionGate?
    let inflater = Inflater()
    private let allocator = ByteBufferAllocator()

    /// Creates a decoder with its own inflate stream; with `compressionGate`, compressed frames are refused while
    /// the gate is shut.
    public init(limits: FrameLimits = .default, compressionGate: CompressionGate? = nil) {
        self.limits = limits
        self.compressionGate = compressionGate
    }

    /// Decodes one frame if a complete one is buffered.
    public mutating func decode(buffer: inout ByteBuffer) throws(ProtocolError) -> Frame? {
        guard let header = FrameHeader.peek(buffer) else { return nil }
        try validate(header)
        let total = FrameHeader.length + Int(header.payloadLength)
        guard buffer.readableBytes >= total else { return nil }
        buffer.moveReaderIndex(forwardBy: FrameHeader.length)
        var payload = buffer.readSlice(length: Int(header.payloadLength))!
        if header.flags.contains(.compressed) {
            payload = try inflate(payload, header: header)
        }
        return Frame(header: header, payload: payload)
    }

    /// At end of input: decodes what is complete; a partial frame is left for the handler to report.
    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws(ProtocolError) -> Frame? {
        try decode(buffer: &buffer)
    }

    private func validate(_ header: FrameHeader) throws(ProtocolError) {
        guard limits.supportedVersions.contains(header.version) else {
            throw ProtocolError(
                code: .unsupportedVersion,
                message: "frame has protocol version \(header.version); this peer speaks "
                    + "\(limits.supportedVersions.lowerBound)...\(limits.supportedVersions.upperBound)",
                requestID: header.requestID, supportedVersions: limits.supportedVersions)
        }
        guard header.flags.isSubset(of: .known) else {
            throw ProtocolError(
                code: .protocolError,
                message: "frame sets reserved flag bits 0x"
                    + String(header.flags.subtracting(.known).rawValue, radix: 16, uppercase: true)
                    + " (v1 defines only 0x01 compressed and 0x02 more-to-follow)",
                requestID: header.requestID)
        }
        guard header.payloadLength <= limits.maxFrameLength else {
            throw ProtocolError(
                code: .frameTooLarge,
                message: "\(header.opcode) frame declares a \(header.payloadLength)-byte payload; the limit is "
                    + "\(limits.maxFrameLength) bytes (split the request or use a streaming operation)",
                requestID: header.requestID)
        }
        if header.flags.contains(.compressed), header.payloadLength < 4 {
            throw ProtocolError(
                code: .protocolError,
                message: "compressed frame has a \(header.payloadLength)-byte payload; it must start with a "
                    + "4-byte uncompressed length",
                requestID: header.requestID)
        }
        if header.flags.contains(.compressed), let compressionGate, !compressionGate.isOpen {
            throw ProtocolError(
                code: .protocolError,
                message: "compressed \(header.opcode) frame before WELCOME agreed on compression (HELLO is never "
                    + "compressed, and nothing is until WELCOME chose zlib)",
                requestID: header.requestID)
        }
    }

    private func inflate(_ payload: ByteBuffer, header: FrameHeader) throws(ProtocolError) -> ByteBuffer {
        var payload = payload
        let declared = payload.readInteger(endianness: .big, as: UInt32.self)!
        guard declared <= limits.maxDecompressedLength else {
            throw ProtocolError(
                code: .decompressedTooLarge,
                message: "compressed \(header.opcode) frame declares \(declared) bytes uncompressed; the limit is "
                    + "\(limits.maxDecompressedLength) bytes",
                requestID: header.requestID)
        }
        do {
            return try inflater.decompress(payload, declaredLength: Int(declared), allocator: allocator)
        } catch {
            throw error.with(requestID: header.requestID)
        }
    }
}

/// Whether a connection's peer may send compressed frames yet: shut until the WELCOME that chose compression has
/// been written, and for good when it chose none. Shared by the connection (which opens it) and its frame decoder
/// (which reads it on the event loop).
public final class CompressionGate: Sendable {
    private let open = Atomic<Bool>(false)

    /// A shut gate.
    public init() {}

    /// Whether compressed frames are accepted.
    public var isOpen: Bool { open.load(ordering: .acquiring) }

    /// From now on compressed frames are accepted.
    public func openGate() {
        open.store(true, ordering: .releasing)
    }
}
