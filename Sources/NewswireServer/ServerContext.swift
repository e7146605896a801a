import ArticleExtraction
import Logging
import NIOCore
import NIOPosix
import NewswireEngine
import NewswireModel
import NewswireProtocol
import NewswireSearch
import NewswireStore

/// What every connection shares: the engine, the parser, limits, tokens, caches and counters.
final class ServerContext: Sendable {
    let configuration: ServerConfiguration
    let engine: NewswireEngine
    let extractor: ArticleExtractor
    let statistics = ServerStatistics()
    let recordCache: RecordCache
    let handshakePolicy: HandshakePolicy
    /// Engine calls (CPU-heavy search and parsing, fsync-bound writes) run here, never on an event loop nor on
    /// Swift's cooperative pool, whose few threads must stay free for connection tasks.
    let threadPool: NIOThreadPool
    /// INGEST and PUT writes go through it: concurrent writes share one transaction, fsync and index segment.
    let committer: GroupCommitter
    let logger: Logger

    init(
        configuration: ServerConfiguration, engine: NewswireEngine, extractor: ArticleExtractor,
        threadPool: NIOThreadPool, logger: Logger
    ) {
        self.configuration = configuration
        self.engine = engine
        self.extractor = extractor
        self.threadPool = threadPool
        self.committer = GroupCommitter(engine: engine)
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
        observeClusterWrites()
    }

    // MARK: Access

    /// The access a HELLO token grants. A wrong token is not refused at the handshake (PROTOCOL.md §6.3): the
    /// connection simply gets no more access than none, and learns so from its first refused request.
    func accessLevel(forToken token: String?) -> AccessLevel {
        let writeToken = configuration.writeToken
        let readToken = configuration.readToken
        if writeToken == nil, readToken == nil { return .write }
        if let token, !token.isEmpty {
            if let writeToken, constantTimeEquals(token, writeToken) { return .write }
            if let readToken, constantTimeEquals(token, readToken) { return writeToken == nil ? .write : .read }
        }
        return readToken == nil ? .read : AccessLevel.none
    }

    /// Nil when `access` allows `request`, else the UNAUTHORISED error to answer with.
    func authorise(_ request: Request, access: AccessLevel) -> ProtocolError? {
        let needed: AccessLevel
        switch request {
        case .ingest, .put, .delete: needed = .write
        case .ping: return nil  // liveness checks never need a token (PROTOCOL.md §6.3)
        default: needed = .read
        }
        if needed == .write, configuration.writeToken != nil, access < .write {
            return ProtocolError(
                code: .unauthorised,
                message: "\(request.opcode) needs the write token; connect with --token (or NEWSWIRE_TOKEN)")
        }
        if needed == .read, configuration.readToken != nil, access < .read {
            return ProtocolError(
                code: .unauthorised, message: "this server requires a read token; connect with --token")
        }
        return nil
    }

    // MARK: Dispatch

    /// Runs one admitted request and sends its response frames through `connection`.
    func respond(to request: Request, requestID: RequestID, connection: Connection) async throws {
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
            let generation = engine.appliedChangesGeneration
            let article = try await onPool { try self.engine.article(id: get.id) }
            guard let article else { throw notFound(get.id) }
            let entry = cacheRecord(article, readAtGeneration: generation)
            if let handshake = connection.handshake {
                connection.completeWithCachedRecord(requestID, entry: entry, handshake: handshake)
            } else {
                done(.article(ArticleMessage(article)))
            }

        case .getMany(let message):
            try checkBatch(message.ids.count, what: "GET_MANY ids")
            try await streamArticles(ids: message.ids, requestID: requestID, connection: connection, done: done)

        case .search(let search):
            try checkSearch(search)
            let page = try await onPool { try self.engine.search(search) }
            done(.searchResult(page))

        case .related(let related):
            guard (0...1000).contains(related.limit) else {
                throw ProtocolError(
                    code: .limitExceeded, message: "RELATED limit \(related.limit) is outside 0...1000")
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
            let outcome = try await write([article])[0]
            var stored = article
            stored.duplicateOf = outcome.duplicateOf
            done(.ingestResult(IngestResultMessage(record: ArticleRecord(stored), outcome: storeOutcome(outcome))))

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
            let outcomes = try await write(articles)
            var result = PutResultMessage(created: 0, updated: 0, unchanged: 0, rejected: rejected)
            for outcome in outcomes {
                switch outcome.outcome {
                case .inserted: result.created += 1
                case .updated: result.updated += 1
                case .unchanged: result.unchanged += 1
                }
            }
            result.commitPosition = commitPosition
            done(.putResult(result))

        case .delete(let delete):
            try checkBatch(delete.ids.count, what: "DELETE ids")
            let ids = delete.ids
            let missing: [ArticleID] = try await onPool {
                var missing: [ArticleID] = []
                for id in ids where try !self.engine.delete(id: id) { missing.append(id) }
                return missing
            }
            recordCache.invalidate(ids)
            var answer = DeleteResultMessage(deleted: ids.count - missing.count, missing: missing)
            answer.commitPosition = commitPosition
            done(.deleteResult(answer))

        case .scan(let scan):
            try await streamScan(scan, requestID: requestID, connection: connection, done: done)

        case .stats:
            let engineStats = try await onPool { try self.engine.stats() }
            done(.stats(StatsMessage(entries: statEntries(engineStats))))

        case .hello, .cancel:
            // Handled by the connection's read loop; never dispatched.
            throw ProtocolError(code: .protocolError, message: "\(opcode) cannot be dispatched")
        }
    }

    private func onPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        do {
            return try await threadPool.runIfActive(work)
        } catch {
            throw protocolError(for: error)
        }
    }

    /// The protocol error to answer an engine, query or store failure with; other errors pass through.
    private func protocolError(for error: any Error) -> any Error {
        switch error {
        case let error as QueryError:
            return ProtocolError(
                code: .badQuery,
                message: "bad query at character \(error.position): \(error.message)")
        case let error as EngineError:
            switch error.code {
            case .notFound: return ProtocolError(code: .notFound, message: error.message)
            case .invalidArgument: return ProtocolError(code: .badQuery, message: error.message)
            case .closed: return ProtocolError(code: .shuttingDown, message: "server is shutting down; retry")
            default: return ProtocolError(code: .internal, message: error.message)
            }
        case let error as StoreError:
            return ProtocolError(code: .internal, message: "store error: \(error.message)")
        default:
            return error
        }
    }

    /// Stores articles through the group committer (acknowledged once their batch is durable); the record cache
    /// forgets them before the write is acknowledged.
    private func write(_ articles: [Article]) async throws -> [PutOutcome] {
        guard !articles.isEmpty else { return [] }
        recordCache.invalidate(articles.map(\.id))
        let outcomes: [PutOutcome]
        do {
            outcomes = try await committer.put(articles)
        } catch {
            throw protocolError(for: error)
        }
        recordCache.invalidate(articles.map(\.id))
        return outcomes
    }

    private func storeOutcome(_ outcome: PutOutcome) -> StoreOutcome {
        switch outcome.outcome {
        case .inserted: .created
        case .updated: .updated
        case .unchanged: .unchanged
        }
    }

    static func invalidReason(_ article: Article) -> String? {
        if article.id.rawValue.isEmpty { return "empty id" }
        if article.id.rawValue.utf8.count > 1024 { return "id longer than 1024 bytes" }
        if article.title.isEmpty && article.paragraphs.isEmpty { return "no title and no body" }
        return nil
    }

    private func notFound(_ id: ArticleID) -> ProtocolError {
        ProtocolError(code: .notFound, message: "no article with id \(id) (ids are case-sensitive)")
    }

    private func checkBatch(_ count: Int, what: String) throws {
        guard count <= ProtocolLimits.maxBatchCount else {
            throw ProtocolError(
                code: .limitExceeded,
                message: "\(count) \(what) in one request; the limit is \(ProtocolLimits.maxBatchCount): split it")
        }
    }

    private func checkSearch(_ search: SearchRequest) throws {
        guard search.offset >= 0, search.limit >= 0 else {
            throw ProtocolError(code: .badQuery, message: "offset and limit must not be negative")
        }
        guard search.limit <= ProtocolLimits.maxBatchCount else {
            throw ProtocolError(
                code: .limitExceeded,
                message: "search limit \(search.limit) is above \(ProtocolLimits.maxBatchCount); page with offset")
        }
        guard search.text.unicodeScalars.count <= 4096 else {
            throw ProtocolError(
                code: .badQuery,
                message: "query of \(search.text.unicodeScalars.count) characters; the limit is 4096")
        }
    }

    /// Largest payload per stream frame: the client's max frame with headroom for framing fields.
    private func streamFrameBudget(_ connection: Connection) -> Int {
        let clientMax = Int(connection.handshake?.clientMaxFrameLength ?? ProtocolLimits.defaultMaxFrameLength)
        return max(16 << 10, min(clientMax, 1 << 20) - 1024)
    }

    private func streamArticles(
        ids: [ArticleID], requestID: RequestID, connection: Connection, done: (Response) -> Void
    ) async throws {
        let budget = streamFrameBudget(connection)
        var records: [ArticleRecord] = []
        var missing: [ArticleID] = []
        var bytes = 0
        var start = 0
        while start < ids.count {
            let chunk = Array(ids[start..<min(ids.count, start + 256)])
            start += chunk.count
            let found = try await onPool { try self.engine.articles(ids: chunk) }
            for (id, article) in zip(chunk, found) {
                guard let article else {
                    missing.append(id)
                    continue
                }
                let record = ArticleRecord(article)
                if bytes + record.bytes.readableBytes > budget, !records.isEmpty {
                    let sent = await connection.sendPartial(
                        .articles(ArticlesMessage(records: records, missing: missing)), requestID: requestID)
                    if !sent { return try finishCancelled(requestID, connection: connection, done: done) }
                    records.removeAll()
                    missing.removeAll()
                    bytes = 0
                }
                records.append(record)
                bytes += record.bytes.readableBytes
            }
        }
        done(.articles(ArticlesMessage(records: records, missing: missing)))
    }

    private func streamScan(
        _ scan: ScanMessage, requestID: RequestID, connection: Connection, done: (Response) -> Void
    ) async throws {
        let order: NewswireStore.ScanOrder = scan.order == .byID ? .id : .publishedAscending
        var cursor: ScanCursor?
        if scan.cursor.readableBytes > 0 {
            let token = String(buffer: scan.cursor)
            guard let parsed = ScanCursor(token: token), parsed.order == order else {
                throw ProtocolError(
                    code: .badQuery, message: "SCAN cursor is not one this server issued for a \(scan.order) scan")
            }
            cursor = parsed
        } else if order == .publishedAscending, let from = scan.publishedFrom {
            cursor = ScanCursor(order: order, id: ArticleID(""), publishedKey: from.secondsSinceEpoch - 1)
        }
        guard scan.limit >= 0 else { throw ProtocolError(code: .badQuery, message: "SCAN limit must not be negative") }
        let budget = streamFrameBudget(connection)
        var remaining = scan.limit == 0 ? Int.max : scan.limit
        var records: [ArticleRecord] = []
        var ids: [ArticleID] = []
        var bytes = 0
        var last: ScanCursor?
        var exhausted = false
        func inRange(_ article: Article) -> Bool {
            if let from = scan.publishedFrom, (article.publishedAt ?? from) < from || article.publishedAt == nil {
                return false
            }
            if let before = scan.publishedBefore, let at = article.publishedAt, at >= before { return false }
            if scan.publishedBefore != nil, article.publishedAt == nil { return false }
            return true
        }
        scanning: while remaining > 0 {
            if connection.isCancelled(requestID) { return try finishCancelled(requestID, connection: connection, done: done) }
            let pageSize = min(remaining, 500)
            let after = cursor
            let page = try await onPool { try self.engine.scan(order: order, after: after, limit: pageSize) }
            for article in page.articles {
                last = ScanCursor(order: order, id: article.id, publishedKey: ScanCursor.publishedKey(of: article))
                if order == .publishedAscending, let before = scan.publishedBefore, let at = article.publishedAt,
                    at >= before
                {
                    exhausted = true
                    break scanning
                }
                guard inRange(article) else { continue }
                let size: Int
                if scan.idsOnly {
                    ids.append(article.id)
                    size = article.id.rawValue.utf8.count + 2
                } else {
                    let record = ArticleRecord(article)
                    records.append(record)
                    size = record.bytes.readableBytes
                }
                bytes += size
                remaining -= 1
                if bytes > budget {
                    let sent = await connection.sendPartial(
                        .scanBatch(ScanBatchMessage(records: records, ids: ids)), requestID: requestID)
                    if !sent { return try finishCancelled(requestID, connection: connection, done: done) }
                    records.removeAll()
                    ids.removeAll()
                    bytes = 0
                }
                if remaining == 0 { break scanning }
            }
            guard let next = page.next, !page.articles.isEmpty else {
                exhausted = true
                break
            }
            cursor = next
        }
        var nextCursor = ByteBuffer()
        if !exhausted, let last { nextCursor.writeString(last.token) }
        done(.scanBatch(ScanBatchMessage(records: records, ids: ids, nextCursor: nextCursor)))
    }

    private func finishCancelled(_ requestID: RequestID, connection: Connection, done: (Response) -> Void) throws {
        throw ProtocolError(code: .cancelled, message: "stream cancelled by the client")
    }

    private func statEntries(_ engine: EngineStats) -> [StatEntry] {
        var entries: [StatEntry] = [
            StatEntry(name: "server.version", value: .text(NewswireServer.version)),
            StatEntry(name: "articles.count", value: .integer(Int64(engine.articleCount))),
            StatEntry(name: "articles.duplicates", value: .integer(Int64(engine.duplicateCount))),
            StatEntry(name: "store.sequence", value: .integer(Int64(engine.storeSequence))),
            StatEntry(name: "index.snapshot_sequence", value: .integer(Int64(engine.snapshotSequence))),
            StatEntry(name: "index.startup", value: .text(engine.startup.description)),
        ] + clusterStatEntries(engine)
        let commits = committer.counters
        entries.append(StatEntry(name: "writes.commits", value: .integer(Int64(commits.batches))))
        entries.append(StatEntry(name: "writes.requests", value: .integer(Int64(commits.writes))))
        entries += statistics.entries()
        entries += recordCache.statEntries()
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
