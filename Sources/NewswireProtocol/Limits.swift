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

/// Every limit of the protocol and its reference server, named once (PROTOCOL.md §9). The server's defaults, the
/// client's, the CLI's and the documentation's tables all read these; a test compares the tables with them.
public enum Limits {
    /// §3.1: the fixed header size.
    public static let headerLength = FrameHeader.length
    /// §9: default largest payload (bytes after the 12-byte header, as on the wire) a peer accepts: 16 MiB.
    public static let defaultMaxFrameLength: UInt32 = 16 << 20
    /// §9: default largest payload after inflating a compressed frame: 64 MiB.
    public static let defaultMaxDecompressedLength: UInt32 = 64 << 20
    /// §9: the smallest max frame length a peer may announce (HELLO and WELCOME must always fit): 64 KiB.
    public static let minimumMaxFrameLength: UInt32 = 64 << 10
    /// §9: default number of requests a client may have in flight on one connection.
    public static let defaultMaxInFlight: UInt32 = 128
    /// §9, §10: payloads at least this large are compressed when zlib was agreed (zlib gains little below ~1 KiB).
    public static let defaultCompressionThreshold: UInt32 = 1024
    /// §9: most ids in one GET_MANY or DELETE, records in one PUT, hits in one SEARCH page.
    public static let maxBatchCount = 10_000
    /// §5.2: a varint is at most 10 bytes.
    public static let maxVarintLength = 10
    /// §9: longest SEARCH query text, in Unicode scalars (else BAD_QUERY).
    public static let maxQueryLength = 4096
    /// §5.11, §9: most hits one RELATED may ask for (else LIMIT_EXCEEDED).
    public static let maxRelatedLimit = 1000
    /// §5.11: hits a RELATED with limit 0 gets.
    public static let defaultRelatedLimit = 10
    /// §5.6: snippet length, in characters, a SEARCH with snippet_length 0 gets.
    public static let defaultSnippetLength = 120
    /// §5.6: values per facet a SEARCH with facet_limit 0 gets.
    public static let defaultFacetLimit = 10
    /// §5.5, §9: longest article id, in UTF-8 bytes (a longer one is rejected as INVALID_RECORD).
    public static let maxIDLength = 1024
    /// §6.3, §9: requests refused UNAUTHORISED on one connection before the server answers the last one and closes.
    public static let defaultMaxAuthFailures = 10
    /// §9: handshake timeout (no HELLO), seconds.
    public static let defaultHandshakeTimeoutSeconds = 10
    /// §9: idle timeout (no frames and nothing in flight), seconds.
    public static let defaultIdleTimeoutSeconds = 300
    /// §6.4: how long a connection that was sent GOAWAY keeps being read, at least, before it closes (unless the
    /// client closes it first or a shutdown's grace period is shorter), in milliseconds: a request the client sent
    /// before GOAWAY reached it arrives within a round trip and is answered `SHUTTING_DOWN`, not lost with the
    /// connection.
    public static let goAwayLingerMillis = 1_000
    /// §5.17: longest ERROR message, in UTF-8 bytes (a longer one is cut and ends with "…").
    public static let maxErrorMessageBytes = 1_024
    /// §9: connections a server serves at once.
    public static let defaultMaxConnections = 1024
    /// §9: answer bytes one connection may have queued, unsent, before the server stops producing answers for it.
    public static let defaultMaxQueuedBytesPerConnection = 8 << 20
    /// §9: answer bytes all connections together may have queued, unsent.
    public static let defaultMaxQueuedBytesTotal = 256 << 20
    /// §9: bytes of request frames with payloads over ``largeRequestFrameBytes`` that all connections together
    /// may hold, from their header until their request is answered; past it a frame is refused `OVERLOADED` and
    /// its connection closed.
    public static let defaultMaxLargeRequestBytesTotal = 256 << 20
    /// §9: request frames with larger payloads count against ``defaultMaxLargeRequestBytesTotal``. Small enough that
    /// what is not counted (a connection's in-flight requests of at most this size: 128 × 4 KiB) stays small at the
    /// connection limit; GETs, SEARCHes and PINGs are far below it, so their path never touches the budget.
    public static let largeRequestFrameBytes = 4 << 10
    /// §3.5: largest stream frame the reference server sends, whatever larger limit the client announced (smaller
    /// frames reach the client sooner and bound the memory of a stream in progress).
    public static let maxStreamFrameLength = 1 << 20
    /// §5.19: events a watch may have waiting (matched, not yet handed to its connection) when WATCH says 0.
    public static let defaultWatchBufferEvents = 1024
    /// §5.19: the largest WATCH `buffer_events`; more is LIMIT_EXCEEDED.
    public static let maxWatchBufferEvents = 65_536
    /// §9: WATCH streams open on a server at once, all connections together (each costs some tens of KiB: its
    /// registration, its compiled query and its event buffer); past it a WATCH is answered `OVERLOADED`.
    public static let defaultMaxWatches = 65_536
    /// §7.3: the `retry_after_ms` hint sent with OVERLOADED.
    public static let overloadedRetryAfterMillis: UInt32 = 10
    /// §7.3: the `retry_after_ms` hint sent with STORAGE_FULL: freeing space takes an operator, not a moment.
    public static let storageFullRetryAfterMillis: UInt32 = 1_000
}

/// The former name of ``Limits``.
public typealias ProtocolLimits = Limits

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
        maxFrameLength: UInt32 = Limits.defaultMaxFrameLength,
        maxDecompressedLength: UInt32 = Limits.defaultMaxDecompressedLength,
        supportedVersions: ClosedRange<UInt8> = ProtocolVersion.supported
    ) {
        self.maxFrameLength = maxFrameLength
        self.maxDecompressedLength = maxDecompressedLength
        self.supportedVersions = supportedVersions
    }

    /// The spec's defaults.
    public static let `default` = FrameLimits()
}
