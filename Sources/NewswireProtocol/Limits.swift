/// Protocol versions (PROTOCOL.md §8).
public enum ProtocolVersion {
    /// The version this codec speaks best.
    public static let current: UInt8 = 1
    /// Every version this codec speaks.
    public static let supported: ClosedRange<UInt8> = 1...1
    /// The version HELLO, WELCOME and handshake errors always carry in their header, whatever is negotiated, so
    /// peers of any version can start a conversation (PROTOCOL.md §6.1).
    public static let handshake: UInt8 = 1
}

/// Limits and their defaults (PROTOCOL.md §9). Each is enforced where it is named.
public enum ProtocolLimits {
    /// §3.1: the fixed header size.
    public static let headerLength = FrameHeader.length
    /// §9: default largest payload (bytes on the wire after the header) a peer accepts: 16 MiB.
    public static let defaultMaxFrameLength: UInt32 = 16 << 20
    /// §9: default largest payload after inflating a compressed frame: 64 MiB.
    public static let defaultMaxDecompressedLength: UInt32 = 64 << 20
    /// §9: the smallest max frame length a peer may announce (HELLO and WELCOME must always fit): 64 KiB.
    public static let minimumMaxFrameLength: UInt32 = 64 << 10
    /// §9: default number of requests a client may have in flight on one connection.
    public static let defaultMaxInFlight: UInt32 = 128
    /// §10: payloads shorter than this are sent uncompressed by default (zlib gains little below ~1 KiB).
    public static let defaultCompressionThreshold: UInt32 = 1024
    /// §9: most ids in one GET_MANY or DELETE, records in one PUT, hits in one SEARCH page.
    public static let maxBatchCount = 10_000
    /// §5.2: a varint is at most 10 bytes.
    public static let maxVarintLength = 10
}

/// The limits one side enforces on frames it receives.
public struct FrameLimits: Sendable, Hashable {
    /// Largest on-wire payload accepted; checked as soon as a header is read, before buffering the payload.
    public var maxFrameLength: UInt32
    /// Largest uncompressed payload accepted; checked against the declared length before inflating.
    public var maxDecompressedLength: UInt32
    /// Versions accepted in frame headers.
    public var supportedVersions: ClosedRange<UInt8>

    /// Creates limits; defaults are the spec's.
    public init(
        maxFrameLength: UInt32 = ProtocolLimits.defaultMaxFrameLength,
        maxDecompressedLength: UInt32 = ProtocolLimits.defaultMaxDecompressedLength,
        supportedVersions: ClosedRange<UInt8> = ProtocolVersion.supported
    ) {
        self.maxFrameLength = maxFrameLength
        self.maxDecompressedLength = maxDecompressedLength
        self.supportedVersions = supportedVersions
    }

    /// The spec's defaults.
    public static let `default` = FrameLimits()
}
