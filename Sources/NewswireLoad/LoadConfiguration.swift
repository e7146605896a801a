import NewswireProtocol

/// One server a run loads.
public struct LoadNode: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
    /// `host:port`, `[v6]:port`.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Everything one bench run needs. Defaults match `newswire bench` without flags.
public struct LoadConfiguration: Sendable {
    /// Server host.
    public var host: String = "127.0.0.1"
    /// Server port.
    public var port: Int = 7411
    /// Further servers (cluster nodes): the connections are spread round-robin over the first (``host``,
    /// ``port``) and these, and a run fails when one of them cannot be reached (it would load fewer nodes than
    /// asked without saying so).
    public var otherNodes: [LoadNode] = []
    /// Every server the run loads, the first (``host``, ``port``) first.
    public var nodes: [LoadNode] { [LoadNode(host: host, port: port)] + otherNodes }
    /// Token sent in HELLO (nil: none).
    public var token: String?
    /// Offer zlib in HELLO (the server then compresses large responses).
    public var compression: Bool = true
    /// Connections opened to the server.
    public var connections: Int = 50
    /// Requests kept in flight per connection (closed loop), or the most in flight per connection (open loop).
    /// Capped by the server's announced max in flight.
    public var pipeline: Int = 1
    /// Measured run length (closed and open loop). Ignored when ``requests`` is set in closed loop.
    public var duration: Duration = .seconds(10)
    /// Closed loop: stop after this many measured requests (split evenly over connections) instead of a duration.
    public var requests: Int?
    /// Open loop: requests per second over all connections; nil runs closed loop.
    public var rate: Double?
    /// Run this long before measuring; its requests are answered but not recorded.
    public var warmup: Duration = .seconds(1)
    /// Share of each operation.
    public var mix: OperationMix = .only(.get)
    /// How GET and RELATED pick ids.
    public var keys: KeyDistribution = .uniform
    /// Queries for SEARCH, used in random order.
    public var queries: [String] = []
    /// Hits per SEARCH.
    public var searchLimit: Int = 10
    /// Whether each SEARCH asks for every facet (source, month, person) over the whole result set.
    public var searchFacets = false
    /// Hits per RELATED.
    public var relatedLimit: Int = 10
    /// Most ids fetched by SCAN for GET and RELATED.
    public var maxIDs: Int = 100_000
    /// Event-loop threads of the load generator.
    public var threads: Int = 1
    /// Seed for operation and id choice (each connection derives its own).
    public var seed: UInt64 = 42
    /// Hard cap on a `--requests` run, so it ends even against a stalled server.
    public var timeLimit: Duration = .seconds(300)
    /// After sending stops, how long to wait for outstanding answers before counting them as `NO_RESPONSE`.
    public var drainTimeout: Duration = .seconds(5)
    /// Time allowed to connect and complete the handshake.
    public var connectTimeout: Duration = .seconds(10)
    /// When set, the target is a Redis-compatible server spoken to in RESP: GET of the keys `key:%012d` for
    /// 0..<N (the key space of `redis-benchmark -r N`), with the same connections, closed loop, key choice and
    /// timing code as a Newswire run, so both servers' latencies are measured by one definition.
    public var respKeys: Int?
    /// Process ids of server processes whose CPU time is sampled over the measured window (from /proc).
    public var serverPIDs: [Int32] = []

    /// Creates the default configuration.
    public init() {}

    /// Checks ranges and combinations; the error says which flag to change.
    public func validate() throws(LoadConfigurationError) {
        for node in nodes where !(1...65535).contains(node.port) {
            throw LoadConfigurationError("--port \(node.port) is not a TCP port")
        }
        guard (1...10_000).contains(connections) else {
            throw LoadConfigurationError("--connections \(connections) is outside 1...10000")
        }
        guard (1...4096).contains(pipeline) else {
            throw LoadConfigurationError("--pipeline \(pipeline) is outside 1...4096")
        }
        guard duration > .zero || (requests != nil && rate == nil) else {
            throw LoadConfigurationError("--duration must be positive")
        }
        guard duration <= .seconds(86_400) else { throw LoadConfigurationError("--duration is above one day") }
        guard warmup >= .zero else { throw LoadConfigurationError("--warmup must not be negative") }
        if let requests {
            guard requests > 0 else { throw LoadConfigurationError("--requests must be positive") }
            guard rate == nil else {
                throw LoadConfigurationError(
                    "--requests is for closed loop; with --rate the run length is --duration")
            }
        }
        if let rate {
            guard rate > 0, rate.isFinite, rate <= 10_000_000 else {
                throw LoadConfigurationError("--rate \(rate) is outside (0, 10,000,000] requests/s")
            }
        }
        guard (1...256).contains(threads) else { throw LoadConfigurationError("--threads \(threads) is outside 1...256") }
        guard maxIDs > 0 else { throw LoadConfigurationError("--max-ids must be positive") }
        // The server's own bound on hits per SEARCH and RELATED (past it the answer is LIMIT_EXCEEDED).
        let hitLimit = ProtocolLimits.maxBatchCount
        guard (0...hitLimit).contains(searchLimit), (0...hitLimit).contains(relatedLimit) else {
            throw LoadConfigurationError("--search-limit and --related-limit must be within 0...\(hitLimit)")
        }
        if let respKeys {
            guard respKeys > 0 else { throw LoadConfigurationError("--resp-keys must be positive") }
            guard mix == .only(.get) else {
                throw LoadConfigurationError("--resp-keys sends GET only; drop --mix")
            }
            guard rate == nil else { throw LoadConfigurationError("--resp-keys runs closed loop only; drop --rate") }
        }
        if mix.contains(.search), queries.isEmpty {
            throw LoadConfigurationError(
                "the mix includes search but no queries were given; pass --queries FILE (one query per line)")
        }
    }
}
