/// An error as the protocol reports it: a stable numeric code from the spec's table (PROTOCOL.md §7), whether
/// retrying the same request may succeed, and a human message saying what failed and what to do.
///
/// The codec throws it for bad input; ERROR frames carry it on the wire (``Response/error(_:)``).
public struct ProtocolError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable numeric error code. Unknown codes from newer peers decode fine and keep their number.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// The number on the wire.
        public var rawValue: UInt32
        /// Wraps a wire number.
        public init(rawValue: UInt32) { self.rawValue = rawValue }

        // Frame-level: the stream cannot be trusted any more; the connection closes (PROTOCOL.md §7.1).
        /// Bytes that are not a valid frame: bad reserved flags, wrong frame before the handshake, etc.
        public static let protocolError = Code(rawValue: 1)
        /// The frame's version is not one the receiver speaks; the error names the supported range.
        public static let unsupportedVersion = Code(rawValue: 2)
        /// The header declared a payload longer than the receiver's max frame length.
        public static let frameTooLarge = Code(rawValue: 3)
        /// A compressed payload is not a valid zlib stream, or inflates to a length other than declared.
        public static let decompressionFailed = Code(rawValue: 4)
        /// A compressed payload declared an uncompressed length above the receiver's limit.
        public static let decompressedTooLarge = Code(rawValue: 5)
        /// No frame within the handshake or idle timeout.
        public static let timeout = Code(rawValue: 6)

        // Request-level: the connection survives (PROTOCOL.md §7.2).
        /// The payload does not decode as the opcode's message (bad varint, invalid UTF-8, missing field…).
        public static let malformedMessage = Code(rawValue: 16)
        /// The opcode is not one the receiver implements.
        public static let unknownOpcode = Code(rawValue: 17)
        /// The request needs a token and none, or a wrong one, was given.
        public static let unauthorised = Code(rawValue: 18)
        /// No article has the requested id.
        public static let notFound = Code(rawValue: 19)
        /// The search query or a request option is invalid (the message says which part).
        public static let badQuery = Code(rawValue: 20)
        /// INGEST: the page could not be parsed into an article.
        public static let parseFailed = Code(rawValue: 21)
        /// PUT: a record is invalid (empty id, …).
        public static let invalidRecord = Code(rawValue: 22)
        /// A request exceeds a limit that is not a frame limit (batch size, search limit…).
        public static let limitExceeded = Code(rawValue: 23)
        /// The stream was cancelled by the client (final frame of a cancelled stream).
        public static let cancelled = Code(rawValue: 24)
        /// WATCH: the start position belongs to another store, is ahead of the store's feed, or is older than
        /// the feed reaches back (PROTOCOL.md §5.19).
        public static let unknownPosition = Code(rawValue: 25)

        // Transient: retrying later may succeed (PROTOCOL.md §7.3).
        /// Too many requests in flight on this connection, or the server is saturated.
        public static let overloaded = Code(rawValue: 32)
        /// The server is shutting down and did not run this request; retry on another connection.
        public static let shuttingDown = Code(rawValue: 33)
        /// An unexpected server failure.
        public static let `internal` = Code(rawValue: 34)
        /// A write found no room in the server's store (its disk, or its database server's, is full); nothing of
        /// the request was stored. Retry once space is freed.
        public static let storageFull = Code(rawValue: 35)

        /// Every code this version defines, in table order.
        public static let allKnown: [Code] = [
            .protocolError, .unsupportedVersion, .frameTooLarge, .decompressionFailed, .decompressedTooLarge,
            .timeout, .malformedMessage, .unknownOpcode, .unauthorised, .notFound, .badQuery, .parseFailed,
            .invalidRecord, .limitExceeded, .cancelled, .unknownPosition, .overloaded, .shuttingDown, .internal,
            .storageFull,
        ]

        /// The spec's name for the code, e.g. `FRAME_TOO_LARGE`; `CODE_n` for codes this version does not know.
        public var name: String {
            switch self {
            case .protocolError: "PROTOCOL_ERROR"
            case .unsupportedVersion: "UNSUPPORTED_VERSION"
            case .frameTooLarge: "FRAME_TOO_LARGE"
            case .decompressionFailed: "DECOMPRESSION_FAILED"
            case .decompressedTooLarge: "DECOMPRESSED_TOO_LARGE"
            case .timeout: "TIMEOUT"
            case .malformedMessage: "MALFORMED_MESSAGE"
            case .unknownOpcode: "UNKNOWN_OPCODE"
            case .unauthorised: "UNAUTHORISED"
            case .notFound: "NOT_FOUND"
            case .badQuery: "BAD_QUERY"
            case .parseFailed: "PARSE_FAILED"
            case .invalidRecord: "INVALID_RECORD"
            case .limitExceeded: "LIMIT_EXCEEDED"
            case .cancelled: "CANCELLED"
            case .unknownPosition: "UNKNOWN_POSITION"
            case .overloaded: "OVERLOADED"
            case .shuttingDown: "SHUTTING_DOWN"
            case .internal: "INTERNAL"
            case .storageFull: "STORAGE_FULL"
            default: "CODE_\(rawValue)"
            }
        }

        /// Whether the spec marks the code retryable (the default for ``ProtocolError/isRetryable``).
        public var isRetryableByDefault: Bool {
            self == .overloaded || self == .shuttingDown || self == .internal || self == .storageFull
                || self == .timeout
        }

        /// Whether the connection is closed after this error (codes 1–15 are frame-level, PROTOCOL.md §7.1).
        public var closesConnection: Bool { rawValue >= 1 && rawValue <= 15 }

        /// The spec's name or the value, for logs and error text.
        public var description: String { "\(name) (\(rawValue))" }
    }

    /// What kind of failure this is.
    public var code: Code
    /// Whether sending the same request again (after a pause, or to another connection) may succeed.
    public var isRetryable: Bool
    /// Human-readable: what failed, for which input, what to do.
    public var message: String
    /// The request the error answers, when known (nil for errors not tied to a frame, e.g. garbage input).
    public var requestID: RequestID?
    /// For ``Code/unsupportedVersion``: the versions the sender speaks.
    public var supportedVersions: ClosedRange<UInt8>?
    /// For retryable errors: a hint for how long to wait before retrying, in milliseconds.
    public var retryAfterMillis: UInt32?
    /// For an ERROR ending a WATCH stream: the feed position to resume after (PROTOCOL.md §5.19).
    public var position: UInt64?

    /// Creates an error; `isRetryable` defaults to the code's table value.
    public init(
        code: Code, message: String, isRetryable: Bool? = nil, requestID: RequestID? = nil,
        supportedVersions: ClosedRange<UInt8>? = nil, retryAfterMillis: UInt32? = nil, position: UInt64? = nil
    ) {
        self.code = code
        self.message = message
        self.isRetryable = isRetryable ?? code.isRetryableByDefault
        self.requestID = requestID
        self.supportedVersions = supportedVersions
        self.retryAfterMillis = retryAfterMillis
        self.position = position
    }

    /// The spec's name or the value, for logs and error text.
    public var description: String {
        var text = "\(code.name): \(message)"
        if let requestID { text += " [request \(requestID)]" }
        if let supportedVersions {
            text += " (supported versions \(supportedVersions.lowerBound)...\(supportedVersions.upperBound))"
        }
        return text
    }

    /// The same error attributed to a request.
    public func with(requestID: RequestID?) -> ProtocolError {
        var copy = self
        copy.requestID = requestID
        return copy
    }
}
