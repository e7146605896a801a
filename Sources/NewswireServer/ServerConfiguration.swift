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
    /// Per-connection and server-wide limits.
    public var limits = Limits()
    /// Requests slower than this are logged at `notice` with their latency.
    public var slowRequestThreshold: Duration = .milliseconds(250)

    /// Limits the server enforces (see proto-docs/PROTOCOL.md "Limits").
    public struct Limits: Sendable {
        /// Connections served at once; further ones get an OVERLOADED error and are closed.
        public var maxConnections: Int = 1024
        /// Largest frame (header + payload, on the wire) accepted from a client.
        public var maxFrameBytes: Int = 16 << 20
        /// Largest payload a compressed frame may inflate to.
        public var maxDecompressedBytes: Int = 64 << 20
        /// Requests one connection may have in flight; the next gets OVERLOADED (retryable).
        public var maxInFlightPerConnection: Int = 128
        /// Response bytes a connection may have waiting to be written before it stops reading requests (a client
        /// that pipelines without reading is throttled instead of growing server memory).
        public var maxQueuedResponseBytes: Int = 8 << 20
        /// Bytes of encoded records kept in memory for GET.
        public var recordCacheBytes: Int = 256 << 20
        /// Payloads at least this large are compressed when the client accepts zlib.
        public var compressionThreshold: Int = 512
        /// A connection that sends nothing for this long is closed.
        public var idleTimeout: Duration = .seconds(300)
        /// A connection must complete HELLO within this time.
        public var handshakeTimeout: Duration = .seconds(10)
        /// On shutdown, in-flight requests get this long to finish before they are told to retry.
        public var shutdownGracePeriod: Duration = .seconds(10)

        /// Creates the default limits.
        public init() {}
    }

    /// Creates the default configuration.
    public init() {}
}
