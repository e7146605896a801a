@_exported import NewswireModel
import Logging
import NIOCore
import NIOPosix
import NewswireProtocol

/// An async client for a Newswire server (`newswired`).
///
/// Connections are opened lazily, kept in a small pool and shared by every call: many requests are in flight on
/// one connection at once (pipelined, matched by request id). With several endpoints (cluster nodes), a node that
/// cannot be reached or drops its connection is taken out for a backoff, and the requests that were in flight on
/// it are sent again to another (every Newswire request is idempotent). Retryable server answers (OVERLOADED,
/// SHUTTING_DOWN) are retried a few times. Cancelling the calling task cancels its request.
///
/// ```swift
/// let client = NewswireClient(configuration: .init(host: "127.0.0.1", port: 7411))
/// let page = try await client.search(SearchRequest(text: "疆电入川", limit: 5))
/// for hit in page.hits { print(hit.id, hit.title) }
/// await client.shutdown()
/// ```
public final class NewswireClient: Sendable {
    /// Where a server listens.
    public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
        /// Host name or address.
        public var host: String
        /// Port.
        public var port: Int

        /// Creates an endpoint.
        public init(host: String, port: Int = 7411) {
            self.host = host
            self.port = port
        }

        public var description: String { "\(host):\(port)" }
    }

    /// How to reach the server and how patient to be.
    public struct Configuration: Sendable {
        /// The servers to use, in order of preference: connections go to the first one that is up; one that
        /// fails is skipped (with backoff) while the others serve. At least one.
        public var endpoints: [Endpoint]
        /// The first endpoint's host. Default `127.0.0.1`.
        public var host: String {
            get { endpoints[0].host }
            set { endpoints[0].host = newValue }
        }
        /// The first endpoint's port. Default `7411`.
        public var port: Int {
            get { endpoints[0].port }
            set { endpoints[0].port = newValue }
        }
        /// Token sent in HELLO (needed for writes, and for reads on servers with a read token).
        public var token: String?
        /// Offer zlib compression. Default true.
        public var compression: Bool
        /// Time allowed to connect and complete the handshake. Default 5 s.
        public var connectTimeout: Duration
        /// Time allowed for each request's complete answer. Default 30 s.
        public var requestTimeout: Duration
        /// Connections in the pool. Default 1 (one connection carries many pipelined requests).
        public var connections: Int
        /// Retries of a request that failed retryably (overloaded, shutting down, connection dropped). Default 2.
        public var maxRetries: Int
        /// Sent in HELLO, shown in server logs.
        public var clientName: String
        /// Connect with TLS and verify the server's certificate; nil (the default) speaks plain TCP.
        public var tls: TLS?

        /// Creates a configuration for one server; every parameter has the documented default.
        public init(
            host: String = "127.0.0.1", port: Int = 7411, token: String? = nil, compression: Bool = true,
            connectTimeout: Duration = .seconds(5), requestTimeout: Duration = .seconds(30), connections: Int = 1,
            maxRetries: Int = 2, clientName: String = "newswire-swift/0.1", tls: TLS? = nil
        ) {
            self.init(
                endpoints: [Endpoint(host: host, port: port)], token: token, compression: compression,
                connectTimeout: connectTimeout, requestTimeout: requestTimeout, connections: connections,
                maxRetries: maxRetries, clientName: clientName, tls: tls)
        }

        /// Creates a configuration for several servers (the nodes of a cluster), in order of preference. With
        /// several endpoints, `connections` defaults to one per endpoint, so a failed node's requests have
        /// another connection to go to at once.
        public init(
            endpoints: [Endpoint], token: String? = nil, compression: Bool = true,
            connectTimeout: Duration = .seconds(5), requestTimeout: Duration = .seconds(30), connections: Int? = nil,
            maxRetries: Int = 2, clientName: String = "newswire-swift/0.1", tls: TLS? = nil
        ) {
            precondition(!endpoints.isEmpty, "NewswireClient.Configuration needs at least one endpoint")
            self.endpoints = endpoints
            let connections = connections ?? endpoints.count
            self.token = token
            self.compression = compression
            self.connectTimeout = connectTimeout
            self.requestTimeout = requestTimeout
            self.connections = connections
            self.maxRetries = maxRetries
            self.clientName = clientName
            self.tls = tls
        }
    }

    /// TLS settings. The server's certificate is always verified: its chain must lead to a trusted root and it
    /// must name the host the client connects to in its subject alternative names: the DNS name, or the IP address
    /// actually connected to.
    public struct TLS: Sendable, Hashable {
        /// A PEM file of CA certificates to trust instead of the system's roots (a private CA or a self-signed
        /// server certificate). Default nil: the system trust store.
        public var trustRootsPath: String?
        /// The name to verify the certificate against and send as SNI, when it differs from
        /// ``Configuration/host`` (e.g. connecting by address to a server whose certificate names a host).
        public var serverHostname: String?

        /// Creates TLS settings; the defaults trust the system's roots and verify ``Configuration/host``.
        public init(trustRootsPath: String? = nil, serverHostname: String? = nil) {
            self.trustRootsPath = trustRootsPath
            self.serverHostname = serverHostname
        }
    }

    /// The configuration the client was created with.
    public let configuration: Configuration
    let pool: ConnectionPool
    let logger: Logger
    let positions = FeedPositionTracker()

    /// Creates a client. Nothing connects until the first call.
    ///
    /// - Parameter logger: where connects, failovers and retries are logged (metadata keys `newswire_…`); by
    ///   default nothing is logged.
    public init(
        configuration: Configuration, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "newswire-client", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.configuration = configuration
        self.logger = logger
        self.pool = ConnectionPool(configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger)
    }

    /// Closes all connections. Calls made afterwards fail with ``NewswireClientError/Code/clientShutDown``.
    public func shutdown() async {
        await pool.shutdown()
    }

    // MARK: Calls

    /// Round-trip time of a PING.
    public func ping() async throws -> Duration {
        let start = ContinuousClock.now
        _ = try await call(.ping(PingMessage()))
        return ContinuousClock.now - start
    }

    /// The article with `id`; throws ``NewswireClientError/Code/notFound`` when there is none.
    public func article(id: ArticleID) async throws -> Article {
        let get = GetMessage(id: id, minPosition: positions.minimumForReads)
        guard case .article(let message) = try await single(.get(get)) else {
            throw unexpected("GET")
        }
        return try decode(message.record)
    }

    /// The articles with these ids (in request order) and the ids that have none.
    public func articles(ids: [ArticleID]) async throws -> (articles: [Article], missing: [ArticleID]) {
        var articles: [Article] = []
        var missing: [ArticleID] = []
        for start in stride(from: 0, to: ids.count, by: ProtocolLimits.maxBatchCount) {
            let chunk = Array(ids[start..<min(ids.count, start + ProtocolLimits.maxBatchCount)])
            let getMany = GetManyMessage(ids: chunk, minPosition: positions.minimumForReads)
            for response in try await call(.getMany(getMany)) {
                guard case .articles(let message) = response else { throw unexpected("GET_MANY") }
                for record in message.records { articles.append(try decode(record)) }
                missing += message.missing
            }
        }
        return (articles, missing)
    }

    /// Runs a search (query language: README "Query language"); throws ``NewswireClientError/Code/badQuery``
    /// for a malformed query, with the position in the message.
    public func search(_ request: SearchRequest) async throws -> SearchPage {
        var request = request
        request.minPosition = max(request.minPosition ?? 0, positions.minimumForReads ?? 0).nonZero
        guard case .searchResult(let page) = try await single(.search(request)) else { throw unexpected("SEARCH") }
        return page
    }

    /// Articles related to `id` (more like this), best first.
    public func related(to id: ArticleID, limit: Int = 10) async throws -> [SearchHit] {
        guard case .relatedResult(let page) = try await single(.related(RelatedMessage(id: id, limit: limit))) else {
            throw unexpected("RELATED")
        }
        return page.hits
    }

    /// Sends a raw page (HTML or a text dump, any supported charset) for the server to parse and store.
    /// Throws ``NewswireClientError/Code/parseFailed`` when it holds no recognisable article.
    public func ingest(
        page: [UInt8], url: String? = nil, charset: String? = nil, dryRun: Bool = false
    ) async throws -> IngestResult {
        let message = IngestMessage(page: ByteBuffer(bytes: page), url: url, charset: charset, dryRun: dryRun)
        guard case .ingestResult(let result) = try await single(.ingest(message)) else { throw unexpected("INGEST") }
        return IngestResult(article: try decode(result.record), outcome: StoreOutcome(result.outcome))
    }

    /// Stores structured records (upsert by id), in batches that fit the server's limits.
    public func put(_ articles: [Article]) async throws -> PutResult {
        var total = PutResult()
        var start = 0
        while start < articles.count {
            // Keep each PUT well under the default 16 MiB frame limit.
            var end = start
            var bytes = 0
            var records: [ArticleRecord] = []
            while end < articles.count, records.count < 1000, bytes < 4 << 20 {
                let record = ArticleRecord(articles[end])
                bytes += record.bytes.readableBytes
                records.append(record)
                end += 1
            }
            guard case .putResult(let result) = try await single(.put(PutMessage(records: records))) else {
                throw unexpected("PUT")
            }
            positions.acknowledged(result.commitPosition)
            if let position = result.commitPosition { total.commitPosition = max(total.commitPosition ?? 0, position) }
            total.created += result.created
            total.updated += result.updated
            total.unchanged += result.unchanged
            total.rejected += result.rejected.map {
                PutResult.Rejection(index: $0.index + start, id: $0.id, reason: $0.reason)
            }
            start = end
        }
        return total
    }

    /// Deletes one article; returns false when there was none with that id.
    @discardableResult
    public func delete(id: ArticleID) async throws -> Bool {
        try await delete(ids: [id]).deleted == 1
    }

    /// Deletes articles by id.
    public func delete(ids: [ArticleID]) async throws -> DeleteResult {
        guard case .deleteResult(let result) = try await single(.delete(DeleteMessage(ids: ids))) else {
            throw unexpected("DELETE")
        }
        positions.acknowledged(result.commitPosition)
        return DeleteResult(deleted: result.deleted, missing: result.missing, commitPosition: result.commitPosition)
    }

    /// The server's statistics.
    public func stats() async throws -> Stats {
        guard case .stats(let stats) = try await single(.stats) else { throw unexpected("STATS") }
        return Stats(
            entries: stats.entries.map { entry in
                switch entry.value {
                case .integer(let value): (entry.name, .integer(value))
                case .double(let value): (entry.name, .double(value))
                case .text(let value): (entry.name, .text(value))
                }
            })
    }

    /// Every stored article in `order` (optionally within a publication range), fetched `batchSize` at a time as
    /// the sequence is iterated.
    public func scan(
        order: ScanOrder = .byDate, from: PublishedTime? = nil, before: PublishedTime? = nil, batchSize: Int = 500
    ) -> ArticleScan {
        ArticleScan(
            client: self,
            message: ScanMessage(
                order: order.wire, cursor: ByteBuffer(), publishedFrom: from, publishedBefore: before,
                limit: max(1, batchSize), idsOnly: false),
            extract: { client, records, _ in try records.map { try client.decode($0) } })
    }

    /// Every stored article id in `order`, fetched in batches.
    public func scanIDs(order: ScanOrder = .byID, batchSize: Int = 5000) -> ArticleIDScan {
        ArticleIDScan(
            client: self,
            message: ScanMessage(
                order: order.wire, cursor: ByteBuffer(), publishedFrom: nil, publishedBefore: nil,
                limit: max(1, batchSize), idsOnly: true),
            extract: { _, _, ids in ids })
    }

    // MARK: Plumbing

    /// One batch of a scan and the cursor to continue from (empty when done).
    func scanBatch(_ message: ScanMessage) async throws -> (records: [ArticleRecord], ids: [ArticleID], next: ByteBuffer) {
        var records: [ArticleRecord] = []
        var ids: [ArticleID] = []
        var next = ByteBuffer()
        for response in try await call(.scan(message)) {
            guard case .scanBatch(let batch) = response else { throw unexpected("SCAN") }
            records += batch.records
            ids += batch.ids
            next = batch.nextCursor
        }
        return (records, ids, next)
    }

    private func single(_ request: Request) async throws -> Response {
        let responses = try await call(request)
        guard responses.count == 1 else { throw unexpected(request.opcode.name) }
        return responses[0]
    }

    /// Sends a request on a pooled connection, retrying retryable failures with backoff.
    func call(_ request: Request) async throws -> [Response] {
        var attempt = 0
        while true {
            do {
                try Task.checkCancellation()
                let connection = try await pool.connection()
                return try await connection.send(request, timeout: configuration.requestTimeout)
            } catch let error as NewswireClientError {
                // A refused connect is not retried here (the pool already backs off between connects), except
                // when the server itself refused it retryably: OVERLOADED at its connection limit, SHUTTING_DOWN.
                let refusedRetryably = error.code == .connectionFailed && error.serverError?.isRetryable == true
                // With several endpoints, a node that cannot be reached is skipped by the pool: try another.
                let anotherNode = error.code == .connectionFailed && configuration.endpoints.count > 1
                guard error.isRetryable, error.code != .timeout,
                    error.code != .connectionFailed || refusedRetryably || anotherNode,
                    attempt < configuration.maxRetries
                else { throw error }
                attempt += 1
                logger.debug(
                    "retrying request",
                    metadata: [
                        "newswire_opcode": "\(request.opcode)", "newswire_attempt": "\(attempt)",
                        "newswire_error": "\(error)",
                    ])
                let hinted = error.serverError?.retryAfterMillis.map { Int($0) } ?? 0
                try await Task.sleep(for: .milliseconds(max(hinted, 25 << attempt)))
            } catch is CancellationError {
                throw NewswireClientError(code: .cancelled, message: "\(request.opcode) cancelled by the caller")
            }
        }
    }

    func decode(_ record: ArticleRecord) throws -> Article {
        do {
            return try record.decode()
        } catch {
            throw NewswireClientError(
                code: .protocolViolation, message: "server sent a record this client cannot decode: \(error)")
        }
    }

    private func unexpected(_ operation: String) -> NewswireClientError {
        NewswireClientError(code: .protocolViolation, message: "unexpected response to \(operation)")
    }
}

extension NewswireClient.Configuration: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The configuration with the token redacted, so logging or printing it never leaks it.
    public var description: String {
        "NewswireClient.Configuration(endpoints: \(endpoints.map(\.description).joined(separator: ", ")), "
            + "token: \(token == nil ? "none" : "<redacted>"), "
            + "tls: \(tls == nil ? "off" : "on"), connections: \(connections), maxRetries: \(maxRetries))"
    }

    public var debugDescription: String { description }

    /// Mirrors (`dump`, debuggers) show the redacted description only.
    public var customMirror: Mirror { Mirror(self, children: ["description": description]) }
}
