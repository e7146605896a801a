import ArticleExtraction
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NewswireEngine
import NewswireModel
import NewswireProtocol
// Only for the parse errors of live queries' standing queries (see ``protocolError(for:)``).
import NewswireSearch

/// libdeflate compressors shared by the worker threads: each call borrows one (allocating one only when every
/// compressor is busy), so there are never more than the threads compressing at once.
final class CompressorPool: Sendable {
    let idle = NIOLockedValueBox<[PayloadCompressor]>([])

    /// A zlib stream of `payload`, or nil when compressing does not make it smaller.
    func compress(_ payload: ByteBuffer) -> ByteBuffer? {
        let compressor = idle.withLockedValue { $0.popLast() } ?? PayloadCompressor()
        defer { idle.withLockedValue { $0.append(compressor) } }
        return compressor.compress(payload)
    }
}

/// What every connection shares: the engine, the parser, limits, tokens, caches and counters.
final class ServerContext: Sendable {
    let configuration: ServerConfiguration
    let engine: NewswireEngine
    let extractor: ArticleExtractor
    let statistics = ServerStatistics()
    let recordCache: RecordCache
    let handshakePolicy: HandshakePolicy
    /// The rules every connection's state machine applies (handshake, tokens, auth-failure cap).
    let connectionRules: ServerConnectionStateMachine.Configuration
    /// Answer bytes queued and unsent across all connections (SECURITY.md "Limits").
    let responseBudget: ServerByteBudget
    /// Large request frames from their header until their request is answered, all connections
    /// (``ServerConfiguration/Limits/maxLargeRequestBytesTotal``).
    let largeRequestBudget: ServerByteBudget
    /// How long a connection keeps draining the peer's input after its last answers left, before it is closed.
    let lingerTimeout = TimeAmount.seconds(2)
    /// How long a connection may take, once its close is decided, to send its last answers.
    let closeTimeout = TimeAmount.seconds(10)
    /// The same before a handshake completed, when there is nothing worth waiting for.
    let handshakeCloseTimeout = TimeAmount.seconds(1)
    /// Engine calls (CPU-heavy search and parsing, fsync-bound writes) run here, never on an event loop nor on
    /// Swift's cooperative pool, whose few threads must stay free for connection tasks.
    let threadPool: NIOThreadPool
    /// INGEST and PUT writes go through it: concurrent writes share one transaction, fsync and index segment.
    let committer: GroupCommitter
    /// Compressors for answers compressed on the worker thread that produced them (search results).
    let compressors = CompressorPool()
    /// Live queries: the standing queries of every WATCH, fed by the engine's committed changes.
    let watches: WatchHub
    let logger: Logger
    /// Counts the requests in flight on every open connection; the server installs it (it owns the connections).
    let requestsInFlightSource = NIOLockedValueBox<(@Sendable () -> Int)?>(nil)
    /// Requests accepted and not yet answered to the end, on all connections (STATS `requests.in_flight`).
    var requestsInFlight: Int { requestsInFlightSource.withLockedValue { $0 }?() ?? 0 }

    init(
        configuration: ServerConfiguration, engine: NewswireEngine, extractor: ArticleExtractor,
        threadPool: NIOThreadPool, logger: Logger
    ) {
        self.configuration = configuration
        self.engine = engine
        self.extractor = extractor
        self.threadPool = threadPool
        self.committer = GroupCommitter(engine: engine)
        self.watches = WatchHub(
            engine: engine, logger: logger, workers: configuration.limits.watchThreads,
            maxWatches: configuration.limits.maxWatches)
        self.logger = logger
        self.recordCache = RecordCache(capacityBytes: configuration.limits.recordCacheBytes)
        let limits = configuration.limits
        self.handshakePolicy = HandshakePolicy(
            serverName: "newswired/\(NewswireServer.version)",
            compressionThreshold: UInt32(clamping: limits.compressionThreshold),
            limits: FrameLimits(
                maxFrameLength: UInt32(clamping: limits.maxFrameBytes),
                maxDecompressedLength: UInt32(clamping: limits.maxDecompressedBytes)),
            maxInFlight: UInt32(clamping: limits.maxInFlightPerConnection))
        self.responseBudget = ServerByteBudget(limit: limits.maxQueuedResponseBytesTotal)
        self.largeRequestBudget = ServerByteBudget(limit: limits.maxLargeRequestBytesTotal)
        let writeToken = configuration.writeToken
        let readToken = configuration.readToken
        self.connectionRules = ServerConnectionStateMachine.Configuration(
            policy: handshakePolicy, maxAuthFailures: limits.maxAuthFailuresPerConnection,
            access: { token in Self.access(forToken: token, writeToken: writeToken, readToken: readToken) })
        observeClusterWrites()
    }

    // MARK: Access

    /// The access a HELLO token grants. A wrong token is not refused at the handshake (PROTOCOL.md §6.3): the
    /// connection simply gets no more access than none, and learns so from its first refused request. The write
    /// token grants reads too.
    static func access(
        forToken token: String?, writeToken: String?, readToken: String?
    ) -> ServerConnectionStateMachine.Access {
        if writeToken == nil, readToken == nil { return .write }
        if let token, !token.isEmpty {
            if let writeToken, constantTimeEquals(token, writeToken) { return .write }
            if let readToken, constantTimeEquals(token, readToken) { return writeToken == nil ? .write : .read }
        }
        return readToken == nil ? .read : .none
    }

    // MARK: Dispatch

    /// Runs one admitted request and sends its response frames through `connection`.
    /// `writeTicket` (writes only) orders the write's hand-over to the committer with the connection's others.
    func respond(
        to request: Request, requestID: RequestID, connection: Connection, writeTicket: WriteTicket? = nil
    ) async throws {
        let started = ContinuousClock.now
        let opcode = request.opcode
        func done(_ response: Response) {
            connection.complete(requestID, with: response, opcode: opcode, started: started)
        }
        switch request {
        case .ping(let ping):
            done(.pong(ping))

        case .get(let get):
            try await waitForPosition(get.minPosition)
            // A GET the connection's fast path did not take (it carried min_position, or came in the handshake's
            // burst) is still answered from the record cache: what the cache holds is at least as new as every
            // change this node applied, so it is never older than the position just waited for.
            if let handshake = connection.handshake, let entry = recordCache.entry(for: get.id) {
                connection.completeWithCachedRecord(requestID, entry: entry, handshake: handshake)
                return
            }
            // The epoch before the read: a write invalidating this id after the read makes the fill a no-op.
            let epoch = recordCache.epoch
            let article = try await onPool { try self.engine.article(id: get.id) }
            guard let article else { throw notFound(get.id) }
            let entry = recordCache.insert(article, readAt: epoch)
            if let handshake = connection.handshake {
                connection.completeWithCachedRecord(requestID, entry: entry, handshake: handshake)
            } else {
                done(.article(ArticleMessage(article)))
            }

        case .getMany(let message):
            try checkBatch(message.ids.count, what: "GET_MANY ids")
            try await waitForPosition(message.minPosition)
            try await streamArticles(ids: message.ids, requestID: requestID, connection: connection, done: done)

        case .search(let search):
            try checkSearch(search)
            try await waitForPosition(search.minPosition)
            // Encoded and compressed where the search ran: the connection's writer only copies bytes.
            let zlibThreshold = connection.handshake.flatMap(RecordCache.Entry.zlibThreshold(for:))
            // A small search runs on this task: the hop to a worker thread and back (a hand-off, two thread
            // wake-ups) costs about as much CPU as the search. Larger ones go to the pool, so a heavy query never
            // holds one of the few threads connection tasks run on.
            let prepared: PreparedSearch
            do {
                prepared = try engine.prepareSearch(search)
            } catch {
                throw protocolError(for: error)
            }
            let payload: OutboundPayload
            if prepared.estimatedWork <= configuration.limits.inlineSearchWork {
                payload = encodedAnswer(.searchResult(engine.search(prepared)), zlibThreshold: zlibThreshold)
            } else {
                payload = try await onPool {
                    self.encodedAnswer(.searchResult(self.engine.search(prepared)), zlibThreshold: zlibThreshold)
                }
            }
            connection.complete(requestID, payload: payload, answer: .searchResult, opcode: opcode, started: started)

        case .related(let related):
            guard (0...Limits.maxRelatedLimit).contains(related.limit) else {
                throw ProtocolError(
                    code: .limitExceeded,
                    message: "RELATED limit \(related.limit) is outside 0...\(Limits.maxRelatedLimit)")
            }
            let hits = try await onPool { try self.engine.related(to: related.id, limit: related.limit) }
            done(.relatedResult(SearchPage(total: hits.count, hits: hits)))

        case .ingest(let ingest):
            let bytes = Array(ingest.page.readableBytesView)
            let article: Article
            do {
                article = try await onPool {
                    try self.extractor.extract(bytes, url: ingest.url, charsetHint: ingest.charset)
                }
            } catch let error as ExtractionError {
                throw ProtocolError(code: .parseFailed, message: "page not ingested: \(error.message)")
            }
            if ingest.dryRun {
                done(.ingestResult(IngestResultMessage(record: ArticleRecord(article), outcome: .notStored)))
                return
            }
            // Stored, the record may gain the id of the article it duplicates.
            let record = ArticleRecord(article)
            try checkWriteAnswerFits(
                .ingestResult(IngestResultMessage(record: record, outcome: .notStored)),
                plus: 1 + 2 + Limits.maxIDLength + 2, connection: connection, what: "INGEST of this page")
            let outcome = try await write([article], ticket: writeTicket)[0]
            var stored = article
            stored.duplicateOf = outcome.duplicateOf
            // Encoded again only when it did gain one.
            let storedRecord = stored.duplicateOf == article.duplicateOf ? record : ArticleRecord(stored)
            done(.ingestResult(IngestResultMessage(record: storedRecord, outcome: storeOutcome(outcome))))

        case .put(let put):
            try checkBatch(put.records.count, what: "PUT records")
            var articles: [Article] = []
            var rejected: [RecordRejection] = []
            for (index, record) in put.records.enumerated() {
                do {
                    let article = try record.decode()
                    if let reason = Self.invalidReason(article) {
                        rejected.append(RecordRejection(index: index, id: article.id, reason: reason))
                    } else {
                        articles.append(article)
                    }
                } catch {
                    rejected.append(RecordRejection(index: index, id: nil, reason: error.message))
                }
            }
            // The answer's size is known before the write, but for its counts and position: taken at their largest.
            var largest = PutResultMessage(
                created: put.records.count, updated: put.records.count, unchanged: put.records.count,
                rejected: rejected)
            largest.commitPosition = .max
            try checkWriteAnswerFits(
                .putResult(largest), connection: connection, what: "PUT of \(put.records.count) records")
            let outcomes = try await write(articles, ticket: writeTicket)
            var result = PutResultMessage(created: 0, updated: 0, unchanged: 0, rejected: rejected)
            for outcome in outcomes {
                switch outcome.outcome {
                case .created: result.created += 1
                case .updated: result.updated += 1
                case .unchanged: result.unchanged += 1
                }
            }
            result.commitPosition = commitPosition
            done(.putResult(result))

        case .delete(let delete):
            try checkBatch(delete.ids.count, what: "DELETE ids")
            // Through the group committer, ordered with the puts: one transaction, all ids or none (§5.14).
            let ids = delete.ids
            // Which ids are missing is known only inside the transaction: the answer is taken at its largest, every
            // id missing.
            var largest = DeleteResultMessage(deleted: ids.count, missing: ids)
            largest.commitPosition = .max
            try checkWriteAnswerFits(
                .deleteResult(largest), connection: connection, what: "DELETE of \(ids.count) ids")
            recordCache.invalidate(ids)
            let existed: [Bool]
            do {
                let committer = committer
                existed = try await Self.handOver(writeTicket) { committer.submitDelete(ids, completion: $0) }
            } catch {
                throw protocolError(for: error)
            }
            recordCache.invalidate(ids)
            let missing = zip(ids, existed).filter { !$0.1 }.map(\.0)
            var answer = DeleteResultMessage(deleted: ids.count - missing.count, missing: missing)
            answer.commitPosition = commitPosition
            done(.deleteResult(answer))

        case .scan(let scan):
            // A stream holds its own state, not its request frame: the frame's budget comes back as it starts.
            connection.releaseRequestBytes(requestID)
            try await streamScan(scan, requestID: requestID, connection: connection, done: done)

        case .stats:
            let engineStats = try await onPool { try self.engine.stats() }
            done(.stats(StatsMessage(entries: statEntries(engineStats))))

        case .watch(let watch):
            // A watch may live for days: its frame (a long query can take 12 KiB) must not hold the request budget.
            connection.releaseRequestBytes(requestID)
            try await streamWatch(watch, requestID: requestID, connection: connection)

        case .hello, .cancel:
            // Handled by the connection's read loop; never dispatched.
            throw ProtocolError(code: .protocolError, message: "\(opcode) cannot be dispatched")
        }
    }

    func onPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        do {
            return try await threadPool.runIfActive(work)
        } catch {
            throw protocolError(for: error)
        }
    }

    /// `response` encoded, and compressed when the connection agreed on zlib from `zlibThreshold` bytes and
    /// compressing makes it smaller (PROTOCOL.md §10). Runs where the search ran (a worker thread, or the request
    /// task for a small one), with libdeflate (``compressors``).
    func encodedAnswer(_ response: Response, zlibThreshold: Int?) -> OutboundPayload {
        var buffer = ByteBuffer()
        if case .searchResult(let page) = response {
            // Sized once: growing by doubling to a ~5 KB page reallocates and copies half a dozen times.
            buffer.reserveCapacity(page.estimatedEncodedSize)
        }
        response.encode(into: &buffer)
        if let zlibThreshold, buffer.readableBytes >= zlibThreshold, let zlib = compressors.compress(buffer) {
            return .precompressed(zlib: zlib, uncompressedLength: UInt32(buffer.readableBytes))
        }
        return .plain(buffer)
    }

    /// The protocol error to answer an engine failure (or a live query's malformed standing query) with; other
    /// errors pass through.
    func protocolError(for error: any Error) -> any Error {
        switch error {
        case let error as QueryError:  // WatchHub parses standing queries with NewswireSearch itself
            return ProtocolError(
                code: .badQuery,
                message: "bad query at character \(error.position): \(error.message)")
        case let error as EngineError:
            switch error.code {
            case .notFound: return ProtocolError(code: .notFound, message: error.message)
            case .invalidArgument, .badQuery: return ProtocolError(code: .badQuery, message: error.message)
            case .closed: return ProtocolError(code: .shuttingDown, message: "server is shutting down; retry")
            case .storeFull:
                // The client hears of it; the operator must too, since only freeing space ends it.
                logger.error("a write found the store full", metadata: ["newswire_error": "\(error.message)"])
                return ProtocolError(
                    code: .storageFull, message: error.message,
                    retryAfterMillis: ProtocolLimits.storageFullRetryAfterMillis)
            case .storeDamaged:
                logger.error("the store's database is damaged", metadata: ["newswire_error": "\(error.message)"])
                return ProtocolError(code: .internal, message: error.message, isRetryable: false)
            default: return ProtocolError(code: .internal, message: error.message)
            }
        default:
            return error
        }
    }

    /// Stores articles through the group committer (acknowledged once their batch is durable); the record cache
    /// forgets them before the write is acknowledged (a cluster node's cache holds the new versions instead,
    /// filled at commit: ``observeClusterWrites()``).
    /// Hands a write to the committer (`submit` queues it with its completion) in its turn (`ticket`), or at once
    /// without one, and returns its outcome; SHUTTING_DOWN when shutdown's grace ended before its turn came.
    static func handOver<T: Sendable>(
        _ ticket: WriteTicket?,
        _ submit: @escaping @Sendable (_ completion: @escaping @Sendable (Result<T, any Error>) -> Void) -> Void
    ) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let submission: @Sendable () -> Void = { submit { continuation.resume(with: $0) } }
            guard let ticket else { return submission() }
            ticket.submit(submission, ifAbandoned: { continuation.resume(throwing: notRunAtShutdown) })
        }
    }

    /// A write abandoned at the end of shutdown's grace, before it was handed to the committer.
    static let notRunAtShutdown = ProtocolError(
        code: .shuttingDown, message: "server shut down before this write ran; retry on a new connection")

    func write(_ articles: [Article], ticket: WriteTicket? = nil) async throws -> [PutOutcome] {
        guard !articles.isEmpty else { return [] }
        recordCache.invalidate(articles.map(\.id))
        let outcomes: [PutOutcome]
        do {
            let committer = committer
            outcomes = try await Self.handOver(ticket) { committer.submit(articles, completion: $0) }
        } catch {
            throw protocolError(for: error)
        }
        if !engine.followsSharedStore { recordCache.invalidate(articles.map(\.id)) }
        return outcomes
    }

    func storeOutcome(_ outcome: PutOutcome) -> StoreOutcome {
        switch outcome.outcome {
        case .created: .created
        case .updated: .updated
        case .unchanged: .unchanged
        }
    }

    static func invalidReason(_ article: Article) -> String? {
        if article.id.rawValue.isEmpty { return "empty id" }
        if article.id.rawValue.utf8.count > Limits.maxIDLength { return "id longer than \(Limits.maxIDLength) bytes" }
        if article.title.isEmpty && article.paragraphs.isEmpty { return "no title and no body" }
        return nil
    }

    func notFound(_ id: ArticleID) -> ProtocolError {
        ProtocolError(code: .notFound, message: "no article with id \(id) (ids are case-sensitive)")
    }

    /// PROTOCOL.md §3.5: a write whose answer might not fit the client's max frame length is refused before
    /// anything is written, so LIMIT_EXCEEDED on a write always means nothing changed (sent after the commit, it
    /// told the client its write had failed when it had not). `largest` is the answer at its largest, `plus` bytes
    /// it may still grow by.
    func checkWriteAnswerFits(_ largest: Response, plus: Int = 0, connection: Connection, what: String) throws {
        var buffer = ByteBuffer()
        largest.encode(into: &buffer)
        let bytes = buffer.readableBytes + plus
        let limit = connection.clientMaxFrameLength
        guard bytes > limit else { return }
        throw ProtocolError(
            code: .limitExceeded,
            message: "\(what) was not run: its answer could take \(bytes) bytes, more than the \(limit) your HELLO "
                + "accepts per frame; nothing was written (send less per request, or a larger max_frame_length)")
    }

    func checkBatch(_ count: Int, what: String) throws {
        guard count <= ProtocolLimits.maxBatchCount else {
            throw ProtocolError(
                code: .limitExceeded,
                message: "\(count) \(what) in one request; the limit is \(ProtocolLimits.maxBatchCount): split it")
        }
    }

    func checkSearch(_ search: SearchRequest) throws {
        guard search.offset >= 0, search.limit >= 0 else {
            throw ProtocolError(code: .badQuery, message: "offset and limit must not be negative")
        }
        guard search.limit <= ProtocolLimits.maxBatchCount else {
            throw ProtocolError(
                code: .limitExceeded,
                message: "search limit \(search.limit) is above \(ProtocolLimits.maxBatchCount); page with offset")
        }
        guard search.text.unicodeScalars.count <= Limits.maxQueryLength else {
            throw ProtocolError(
                code: .badQuery,
                message: "query of \(search.text.unicodeScalars.count) characters; the limit is \(Limits.maxQueryLength)")
        }
    }

    func statEntries(_ engine: EngineStats) -> [StatEntry] {
        var entries: [StatEntry] = [
            StatEntry(name: "server.version", value: .text(NewswireServer.version)),
            StatEntry(name: "articles.count", value: .integer(Int64(engine.articleCount))),
            StatEntry(name: "articles.duplicates", value: .integer(Int64(engine.duplicateCount))),
            StatEntry(name: "store.sequence", value: .integer(Int64(engine.storeSequence))),
            StatEntry(name: "index.snapshot_sequence", value: .integer(Int64(engine.snapshotSequence))),
            // Why the last background snapshot failed (a full disk…), empty once one succeeds: a restart replays
            // the store from the older snapshot meanwhile.
            StatEntry(name: "index.snapshot_error", value: .text(engine.lastSnapshotError ?? "")),
            StatEntry(name: "index.segments", value: .integer(Int64(engine.indexSegments))),
            StatEntry(name: "index.startup", value: .text(engine.startup.description)),
        ] + clusterStatEntries(engine)
        let commits = committer.counters
        entries.append(StatEntry(name: "writes.commits", value: .integer(Int64(commits.batches))))
        entries.append(StatEntry(name: "writes.requests", value: .integer(Int64(commits.writes))))
        entries += statistics.entries()
        entries += recordCache.statEntries()
        let (queued, peak) = responseBudget.usage
        entries.append(StatEntry(name: "responses.queued_bytes", value: .integer(Int64(queued))))
        entries.append(StatEntry(name: "responses.queued_bytes_peak", value: .integer(Int64(peak))))
        let (large, largePeak) = largeRequestBudget.usage
        entries.append(StatEntry(name: "requests.large_bytes", value: .integer(Int64(large))))
        entries.append(StatEntry(name: "requests.large_bytes_peak", value: .integer(Int64(largePeak))))
        entries.append(StatEntry(name: "requests.in_flight", value: .integer(Int64(requestsInFlight))))
        entries += watches.statEntries()
        return entries
    }
}

/// Compares two secrets in time that depends only on their lengths, not on where they differ.
func constantTimeEquals(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8)
    let y = Array(b.utf8)
    var difference = UInt8(truncatingIfNeeded: x.count ^ y.count)
    let count = max(x.count, y.count)
    for i in 0..<count {
        let left = i < x.count ? x[i] : 0
        let right = i < y.count ? y[i] : 0
        difference |= left ^ right
    }
    return difference == 0 && x.count == y.count
}

extension SearchPage {
    /// About the bytes of this page's SEARCH_RESULT payload (a little over, never far under): the strings' UTF-8
    /// plus a few dozen bytes of tags, lengths, score, time and highlight offsets per hit.
    fileprivate var estimatedEncodedSize: Int {
        var size = 32
        for hit in hits {
            size += 48 + hit.id.rawValue.utf8.count + hit.title.utf8.count + (hit.source?.utf8.count ?? 0)
                + hit.snippet.utf8.count + 4 * hit.highlights.count
        }
        for facet in facets {
            size += 8
            for count in facet.counts { size += 16 + count.value.utf8.count }
        }
        return size
    }
}
