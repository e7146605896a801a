import NewswireProtocol

/// Everything `newswired` can be told at start. Every default is what `swift run newswired` uses.
public struct ServerConfiguration: Sendable {
    /// Address to listen on. Default `127.0.0.1` (loopback only: exposing the server is an explicit choice).
    public var host: String = "127.0.0.1"
    /// Port to listen on; `0` asks the OS for a free port (tests). Default `7411`.
    public var port: Int = 7411
    /// Where the store, index snapshot and logs live. Default `./newswire-data`.
    public var dataDirectory: String = "newswire-data"
    /// Pages ingested on first start (when the store is empty). Default `seeds`; nil disables.
    public var seedsDirectory: String? = "seeds"
    /// Token required for writes (INGEST, PUT, DELETE); nil leaves writes open (only sensible on loopback).
    public var writeToken: String?
    /// Token required for reads; nil leaves reads open.
    public var readToken: String?
    /// Serve TLS with this certificate and key (`newswired --tls-cert/--tls-key`); nil serves plain TCP.
    public var tls: TLS?
    /// Per-connection and server-wide limits.
    public var limits = Limits()
    /// Requests slower than this are logged at `notice` with their latency.
    public var slowRequestThreshold: Duration = .milliseconds(250)

    /// Where the server's certificate chain and private key are (PEM files). See SECURITY.md "TLS".
    public struct TLS: Sendable, Hashable {
        /// PEM file with the server certificate first, then any intermediates.
        public var certificateChainPath: String
        /// PEM file with the certificate's private key (keep it readable by the server's user only).
        public var privateKeyPath: String

        /// Creates TLS settings from file paths (read when the server starts).
        public init(certificateChainPath: String, privateKeyPath: String) {
            self.certificateChainPath = certificateChainPath
            self.privateKeyPath = privateKeyPath
        }
    }

    /// Limits the server enforces (see proto-docs/PROTOCOL.md "Limits").
    public struct Limits: Sendable {
        /// Connections served at once; further ones get an OVERLOADED error and are closed.
        public var maxConnections: Int = NewswireProtocol.Limits.defaultMaxConnections
        /// Largest frame payload (the bytes after the 12-byte header, as on the wire) accepted from a client.
        public var maxFrameBytes: Int = Int(NewswireProtocol.Limits.defaultMaxFrameLength)
        /// Largest payload a compressed frame may inflate to.
        public var maxDecompressedBytes: Int = Int(NewswireProtocol.Limits.defaultMaxDecompressedLength)
        /// Requests one connection may have in flight; the next gets OVERLOADED (retryable).
        public var maxInFlightPerConnection: Int = Int(NewswireProtocol.Limits.defaultMaxInFlight)
        /// Answer bytes one connection may hold, queued and unsent: above it the server produces no more answers
        /// for it (single answers become a retryable OVERLOADED, streams wait, reading stops), so a client that
        /// pipelines without reading costs bounded memory.
        public var maxQueuedResponseBytes: Int = NewswireProtocol.Limits.defaultMaxQueuedBytesPerConnection
        /// Answer bytes all connections together may hold, queued and unsent: many slow readers cannot add up to
        /// more than this.
        public var maxQueuedResponseBytesTotal: Int = NewswireProtocol.Limits.defaultMaxQueuedBytesTotal
        /// Bytes of large request frames (payload over 4 KiB) all connections together may hold, counted by the
        /// header's declared length from the header until the request is answered (a stream: until it starts): a
        /// frame that would pass it is refused (OVERLOADED, retryable, and the connection closes), so neither peers
        /// trickling big frames nor peers pipelining them can pin connections × in-flight requests × the frame
        /// limit of memory.
        public var maxLargeRequestBytesTotal: Int = NewswireProtocol.Limits.defaultMaxLargeRequestBytesTotal
        /// Bytes of encoded records kept in memory for GET (each record costs about 1.6× its JSON size: its plain
        /// and its zlib ARTICLE frame). 1 GiB holds about 380,000 corpus articles; a GET that misses reads SQLite
        /// and costs ten times the CPU of a hit.
        public var recordCacheBytes: Int = 1 << 30
        /// Payloads at least this large are compressed when the client accepts zlib.
        public var compressionThreshold: Int = Int(NewswireProtocol.Limits.defaultCompressionThreshold)
        /// A connection that sends nothing for this long, with nothing in flight, is closed (GOAWAY TIMEOUT).
        public var idleTimeout: Duration = .seconds(NewswireProtocol.Limits.defaultIdleTimeoutSeconds)
        /// Requests refused UNAUTHORISED on one connection before the server closes it (the last refusal says
        /// so), so one connection cannot hammer protected operations: guessing tokens costs a new connection (and
        /// a handshake) every few guesses. Honest clients that lack a token stop long before this.
        public var maxAuthFailuresPerConnection: Int = NewswireProtocol.Limits.defaultMaxAuthFailures
        /// A connection must complete HELLO (and the TLS handshake, with TLS) within this time.
        public var handshakeTimeout: Duration = .seconds(NewswireProtocol.Limits.defaultHandshakeTimeoutSeconds)
        /// On shutdown, in-flight requests get this long to finish before they are told to retry.
        public var shutdownGracePeriod: Duration = .seconds(10)
        /// After GOAWAY (shutdown or idle timeout) a connection is read at least this long, unless the client closes
        /// it first or the grace period is shorter, so that what the client sent before GOAWAY reached it is
        /// answered SHUTTING_DOWN (PROTOCOL.md §6.4).
        public var goAwayLinger: Duration = .milliseconds(Int64(NewswireProtocol.Limits.goAwayLingerMillis))
        /// Searches whose estimated work is at most this many units (one unit is about one posting visited, 4–30
        /// ns) run on the request's own task; larger ones on a worker thread. The hop to a worker and back costs
        /// about 30 µs of CPU, more than most small searches; 0 sends every search to a worker.
        public var inlineSearchWork: Int = 8_000
        /// Threads live queries are matched, their snippets built and their events encoded on (nil: one fewer than
        /// the usable cores, at least one, so that the group commit keeps a core while the watches are served).
        public var watchThreads: Int?
        /// WATCH streams open at once on the server, all connections together: one more is answered OVERLOADED
        /// (retryable), so watches cannot grow memory past about this many times a watch's few tens of KiB.
        public var maxWatches: Int = NewswireProtocol.Limits.defaultMaxWatches

        /// Creates the default limits.
        public init() {}
    }

    /// Creates the default configuration.
    public init() {}
}

extension ServerConfiguration: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The configuration with both tokens redacted, so logging or printing it never leaks them (SECURITY.md).
    public var description: String {
        "ServerConfiguration(host: \(host), port: \(port), dataDirectory: \(dataDirectory), "
            + "writeToken: \(writeToken == nil ? "none" : "<redacted>"), "
            + "readToken: \(readToken == nil ? "none" : "<redacted>"), tls: \(tls == nil ? "off" : "on"))"
    }

    public var debugDescription: String { description }

    /// Mirrors (`dump`, `print` in debuggers) show the redacted description only.
    public var customMirror: Mirror { Mirror(self, children: ["description": description]) }
}
