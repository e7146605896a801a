import NIOCore

/// A frame's operation code (PROTOCOL.md §4). Responses carry their request's opcode with bit 15 set.
public struct Opcode: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    /// The 16-bit value on the wire.
    public var rawValue: UInt16
    /// Wraps a wire value (unknown values are representable so they can be reported).
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// Client hello: version range, name, compressions, token.
    public static let hello = Opcode(rawValue: 0x0001)
    /// Liveness check with an opaque echo.
    public static let ping = Opcode(rawValue: 0x0002)
    /// One article by id.
    public static let get = Opcode(rawValue: 0x0003)
    /// Several articles by id (streamed response).
    public static let getMany = Opcode(rawValue: 0x0004)
    /// Full-text search.
    public static let search = Opcode(rawValue: 0x0005)
    /// Articles related to one article.
    public static let related = Opcode(rawValue: 0x0006)
    /// Raw page bytes to parse and store.
    public static let ingest = Opcode(rawValue: 0x0007)
    /// Structured records to store.
    public static let put = Opcode(rawValue: 0x0008)
    /// Remove articles by id.
    public static let delete = Opcode(rawValue: 0x0009)
    /// Walk the store by date or id (streamed response).
    public static let scan = Opcode(rawValue: 0x000A)
    /// Server counters.
    public static let stats = Opcode(rawValue: 0x000B)
    /// Stop the stream whose request id this frame carries.
    public static let cancel = Opcode(rawValue: 0x000C)
    /// A standing query: a stream of matching changes (PROTOCOL.md §5.19).
    public static let watch = Opcode(rawValue: 0x000D)

    /// Server reply to HELLO.
    public static let welcome = Opcode(rawValue: 0x8001)
    /// Reply to PING.
    public static let pong = Opcode(rawValue: 0x8002)
    /// Reply to GET.
    public static let article = Opcode(rawValue: 0x8003)
    /// Reply to GET_MANY (one or more frames).
    public static let articles = Opcode(rawValue: 0x8004)
    /// Reply to SEARCH.
    public static let searchResult = Opcode(rawValue: 0x8005)
    /// Reply to RELATED.
    public static let relatedResult = Opcode(rawValue: 0x8006)
    /// Reply to INGEST.
    public static let ingestResult = Opcode(rawValue: 0x8007)
    /// Reply to PUT.
    public static let putResult = Opcode(rawValue: 0x8008)
    /// Reply to DELETE.
    public static let deleteResult = Opcode(rawValue: 0x8009)
    /// Reply to SCAN (one or more frames).
    public static let scanBatch = Opcode(rawValue: 0x800A)
    /// Reply to STATS.
    public static let statsResult = Opcode(rawValue: 0x800B)
    /// One frame of a WATCH stream.
    public static let watchEvent = Opcode(rawValue: 0x800D)
    /// An error answering a request, or a connection-level error.
    public static let error = Opcode(rawValue: 0x8000)
    /// Server-initiated: the server is going away.
    public static let goAway = Opcode(rawValue: 0x80FF)

    /// True for server-to-client opcodes (bit 15 set).
    public var isResponse: Bool { rawValue & 0x8000 != 0 }

    /// The spec's name, e.g. `GET_MANY`; `0xNNNN` for opcodes this version does not know.
    public var name: String {
        switch self {
        case .hello: "HELLO"
        case .ping: "PING"
        case .get: "GET"
        case .getMany: "GET_MANY"
        case .search: "SEARCH"
        case .related: "RELATED"
        case .ingest: "INGEST"
        case .put: "PUT"
        case .delete: "DELETE"
        case .scan: "SCAN"
        case .stats: "STATS"
        case .cancel: "CANCEL"
        case .watch: "WATCH"
        case .welcome: "WELCOME"
        case .pong: "PONG"
        case .article: "ARTICLE"
        case .articles: "ARTICLES"
        case .searchResult: "SEARCH_RESULT"
        case .relatedResult: "RELATED_RESULT"
        case .ingestResult: "INGEST_RESULT"
        case .putResult: "PUT_RESULT"
        case .deleteResult: "DELETE_RESULT"
        case .scanBatch: "SCAN_BATCH"
        case .statsResult: "STATS_RESULT"
        case .watchEvent: "WATCH_EVENT"
        case .error: "ERROR"
        case .goAway: "GOAWAY"
        default: "0x" + String(rawValue, radix: 16, uppercase: true)
        }
    }

    /// The spec's name or the value, for logs and error text.
    public var description: String { name }
}

/// A request id chosen by the client; its response frames carry the same id (PROTOCOL.md §3.3).
///
/// Clients use `0...0x7FFF_FFFF`. Ids with bit 31 set are reserved for server-initiated frames
/// (``connection`` for GOAWAY and connection-level errors).
public struct RequestID: RawRepresentable, Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The 32-bit value on the wire.
    public var rawValue: UInt32
    /// Wraps a wire value.
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Wraps a wire value.
    public init(_ rawValue: UInt32) { self.rawValue = rawValue }

    /// The id of server-initiated frames not tied to a request: GOAWAY and connection-level ERRORs.
    public static let connection = RequestID(rawValue: 0xFFFF_FFFF)
    /// The largest id a client may use.
    public static let maxClient = RequestID(rawValue: 0x7FFF_FFFF)

    /// True for the reserved server-initiated range (bit 31 set).
    public var isServerInitiated: Bool { rawValue & 0x8000_0000 != 0 }

    /// The next client id after this one, wrapping from ``maxClient`` back to 0.
    public var nextClientID: RequestID { RequestID(rawValue: rawValue >= Self.maxClient.rawValue ? 0 : rawValue + 1) }

    /// Orders ids numerically.
    public static func < (lhs: RequestID, rhs: RequestID) -> Bool { lhs.rawValue < rhs.rawValue }
    /// The spec's name or the value, for logs and error text.
    public var description: String { String(rawValue) }
}

/// Frame flags (PROTOCOL.md §3.2). Bits 2–7 are reserved: senders write 0, receivers reject frames that set
/// them (a new flag may change how the payload is read, so ignoring it would be unsafe).
public struct FrameFlags: OptionSet, Sendable, Hashable {
    /// The 8-bit value on the wire.
    public var rawValue: UInt8
    /// Wraps a wire value.
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// The payload is `u32 uncompressed length` followed by a zlib (RFC 1950) stream.
    public static let compressed = FrameFlags(rawValue: 0x01)
    /// More frames follow for this request id; the last frame of a response clears it.
    public static let moreToFollow = FrameFlags(rawValue: 0x02)

    /// Every flag v1 defines.
    public static let known: FrameFlags = [.compressed, .moreToFollow]
}

/// The fixed 12-byte frame header (PROTOCOL.md §3.1), all integers big-endian.
///
/// ```
/// 0        1        2                 4                                 8                                12
/// +--------+--------+--------+--------+--------+--------+--------+--------+--------+--------+--------+--------+
/// |version | flags  |      opcode     |            request id             |          payload length           |
/// +--------+--------+--------+--------+--------+--------+--------+--------+--------+--------+--------+--------+
/// ```
public struct FrameHeader: Sendable, Hashable {
    /// Size of the header on the wire.
    public static let length = 12
    /// Where the big-endian request id starts within the header (after version, flags and opcode).
    public static let requestIDOffset = 4

    /// Protocol version of this frame.
    public var version: UInt8
    /// Flags (compression, more-to-follow).
    public var flags: FrameFlags
    /// The operation.
    public var opcode: Opcode
    /// The request this frame belongs to.
    public var requestID: RequestID
    /// Payload bytes following the header on the wire (after compression, when compressed).
    public var payloadLength: UInt32

    /// Creates a header.
    public init(
        version: UInt8 = ProtocolVersion.current, flags: FrameFlags = [], opcode: Opcode, requestID: RequestID,
        payloadLength: UInt32
    ) {
        self.version = version
        self.flags = flags
        self.opcode = opcode
        self.requestID = requestID
        self.payloadLength = payloadLength
    }

    /// Writes the 12 header bytes.
    public func write(into buffer: inout ByteBuffer) {
        buffer.writeMultipleIntegers(
            version, flags.rawValue, opcode.rawValue, requestID.rawValue, payloadLength, endianness: .big)
    }

    /// Reads a header if 12 bytes are readable (without validating it); nil otherwise.
    public static func peek(_ buffer: ByteBuffer) -> FrameHeader? {
        guard
            let (version, flags, opcode, requestID, length) = buffer.getMultipleIntegers(
                at: buffer.readerIndex, endianness: .big, as: (UInt8, UInt8, UInt16, UInt32, UInt32).self)
        else { return nil }
        return FrameHeader(
            version: version, flags: FrameFlags(rawValue: flags), opcode: Opcode(rawValue: opcode),
            requestID: RequestID(rawValue: requestID), payloadLength: length)
    }
}

/// A decoded frame: the header and the payload, already inflated when the frame was compressed.
///
/// ``header``'s flags still say whether the frame arrived compressed (so a connection can refuse compression
/// before the handshake agreed on it) and whether more frames follow.
public struct Frame: Sendable, Hashable {
    /// The header as received (``FrameHeader/payloadLength`` is the on-wire length).
    public var header: FrameHeader
    /// The message bytes (uncompressed).
    public var payload: ByteBuffer

    /// Creates a frame.
    public init(header: FrameHeader, payload: ByteBuffer) {
        self.header = header
        self.payload = payload
    }

    /// The operation.
    public var opcode: Opcode { header.opcode }
    /// The request id.
    public var requestID: RequestID { header.requestID }
    /// Whether more frames follow for this request id.
    public var hasMoreToFollow: Bool { header.flags.contains(.moreToFollow) }
    /// Whether the frame arrived compressed.
    public var wasCompressed: Bool { header.flags.contains(.compressed) }
    /// Whether this frame ends its request: an ERROR, or any frame without more-to-follow (PROTOCOL.md §3.5).
    public var endsRequest: Bool { opcode == .error || !hasMoreToFollow }
}
