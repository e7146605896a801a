import NewswireProtocol

/// Why a client call failed: a stable ``Code`` to switch on, whether retrying may help, and a message that says
/// what happened and what to do.
///
/// Server errors keep the server's code name (`NOT_FOUND`, `BAD_QUERY`, `UNAUTHORISED`, …, see
/// PROTOCOL.md §7) and the full ``ProtocolError`` in ``serverError``; failures the client detects itself have codes
/// of their own (``Code/connectionFailed``, ``Code/timeout``, …).
public struct NewswireClientError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable error code. New codes may be added; switch with a `default`.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// The code's name, e.g. `NOT_FOUND` or `CONNECTION_FAILED`.
        public var rawValue: String
        /// Wraps a name.
        public init(rawValue: String) { self.rawValue = rawValue }

        /// The server could not be reached (refused, unreachable, handshake failed).
        public static let connectionFailed = Code(rawValue: "CONNECTION_FAILED")
        /// The connection dropped before the response arrived.
        public static let connectionClosed = Code(rawValue: "CONNECTION_CLOSED")
        /// No response within the request timeout.
        public static let timeout = Code(rawValue: "TIMEOUT")
        /// The calling task was cancelled.
        public static let cancelled = Code(rawValue: "CANCELLED")
        /// The server sent something this client cannot understand.
        public static let protocolViolation = Code(rawValue: "PROTOCOL_VIOLATION")
        /// The client was shut down.
        public static let clientShutDown = Code(rawValue: "CLIENT_SHUT_DOWN")
        /// Server: no article with that id.
        public static let notFound = Code(rawValue: "NOT_FOUND")
        /// Server: a token is missing or wrong.
        public static let unauthorised = Code(rawValue: "UNAUTHORISED")
        /// Server: the query (or an option) is malformed.
        public static let badQuery = Code(rawValue: "BAD_QUERY")
        /// Server: the page could not be parsed.
        public static let parseFailed = Code(rawValue: "PARSE_FAILED")
        /// Server: a request exceeds a limit.
        public static let limitExceeded = Code(rawValue: "LIMIT_EXCEEDED")
        /// Server: too busy; retry later.
        public static let overloaded = Code(rawValue: "OVERLOADED")
        /// Server: a WATCH position belongs to another store or is ahead of its feed; start again.
        public static let unknownPosition = Code(rawValue: "UNKNOWN_POSITION")
        /// Server: shutting down; retry (on a new connection).
        public static let shuttingDown = Code(rawValue: "SHUTTING_DOWN")
        /// Server: a write found its store full (disk full); nothing of it was stored. Retry once space is freed.
        public static let storageFull = Code(rawValue: "STORAGE_FULL")

        public var description: String { rawValue }
    }

    /// What kind of failure.
    public var code: Code
    /// What happened and what to do.
    public var message: String
    /// Whether sending the request again may succeed.
    public var isRetryable: Bool
    /// The server's error, when the server reported the failure.
    public var serverError: ProtocolError?

    /// Creates an error.
    public init(code: Code, message: String, isRetryable: Bool = false, serverError: ProtocolError? = nil) {
        self.code = code
        self.message = message
        self.isRetryable = isRetryable
        self.serverError = serverError
    }

    /// Wraps an error frame from the server.
    public init(server error: ProtocolError) {
        self.init(
            code: Code(rawValue: error.code.name), message: error.message, isRetryable: error.isRetryable,
            serverError: error)
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
