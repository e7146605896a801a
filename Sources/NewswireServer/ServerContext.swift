import ArticleExtraction
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NewswireEngine
import NewswireModel
import NewswireProtocol
import NewswireSearch
import NewswireStore

/// libdeflate compressors shared by the worker threads: each call borrows one (allocating one only when every
/// compressor is busy), so there are never more than the threads compressing at once.
final class CompressorPool: Sendable {
    private let idle = NIOLockedValueBox<[PayloadCompressor]>([])

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
    let responseBudget: ResponseBudget
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
        self.watches = WatchHub(engine: engine, logger: logger)
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
        self.responseBudget = ResponseBudget(limit: limits.maxQueuedResponseBytesTotal)
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
            // Encoded and compressed on the worker with the search: the connection's writer only copies bytes.
            let zlibThreshold = connection.handshake.flatMap(RecordCache.Entry.zlibThreshold(for:))
            let payload = try await onPool {
                let page = try self.engine.search(search)
                return self.encodedAnswer(.searchResult(page), zlibThreshold: zlibThreshold)
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
            // Through the group committer, ordered with the puts: one transaction, all ids or none (§5.14).
            let ids = delete.ids
            recordCache.invalidate(ids)
            let existed: [Bool]
            do {
                existed = try await committer.delete(ids)
            } catch {
                throw protocolError(for: error)
            }
            recordCache.invalidate(ids)
            let missing = zip(ids, existed).filter { !$0.1 }.map(\.0)
            var answer = DeleteResultMessage(deleted: ids.count - missing.count, missing: missing)
            answer.commitPosition = commitPosition
            done(.deleteResult(answer))

        case .scan(let scan):
            try await streamScan(scan, requestID: requestID, connection: connection, done: done)

        case .stats:
            let engineStats = try await onPool { try self.engine.stats() }
            done(.stats(StatsMessage(entries: statEntries(engineStats))))

        case .watch(let watch):
            try await streamWatch(watch, requestID: requestID, connection: connection)

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

    /// `response` encoded, and compressed when the connection agreed on zlib from `zlibThreshold` bytes and
    /// compressing makes it smaller (PROTOCOL.md §10). Runs on a worker thread, with libdeflate (``compressors``).
    private func encodedAnswer(_ response: Response, zlibThreshold: Int?) -> OutboundPayload {
        var buffer = ByteBuffer()
        response.encode(into: &buffer)
        if let zlibThreshold, buffer.readableBytes >= zlibThreshold, let zlib = compressors.compress(buffer) {
            return .precompressed(zlib: zlib, uncompressedLength: UInt32(buffer.readableBytes))
        }
        return .plain(buffer)
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
        if article.id.rawValue.utf8.count > Limits.maxIDLength { return "id longer than \(Limits.maxIDLength) bytes" }
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
        guard search.text.unicodeScalars.count <= Limits.maxQueryLength else {
            throw ProtocolError(
                code: .badQuery,
                message: "query of \(search.text.unicodeScalars.count) characters; the limit is \(Limits.maxQueryLength)")
        }
    }

    private func streamArticles(
        ids: [ArticleID], requestID: RequestID, connection: Connection, done: (Response) -> Void
    ) async throws {
        // Each frame is cut before it would pass the budget, counting every field's framing (§3.5).
        let budget = connection.streamFramePayloadBudget
        var records: [ArticleRecord] = []
        var missing: [ArticleID] = []
        var bytes = 0
        var start = 0
        while start < ids.count {
            // Room for the frame is reserved before its records are read: a slow reader's stream waits here.
            guard try await connection.awaitStreamRoom(requestID) else {
                return try finishCancelled(requestID, connection: connection, done: done)
            }
            let chunk = Array(ids[start..<min(ids.count, start + 256)])
            start += chunk.count
            let found = try await onPool { try self.engine.articles(ids: chunk) }
            for (id, article) in zip(chunk, found) {
                let record = article.map(ArticleRecord.init)
                let size = Self.fieldSize(record?.bytes.readableBytes ?? id.rawValue.utf8.count)
                if bytes + size > budget, !(records.isEmpty && missing.isEmpty) {
                    let sent = try await connection.sendPartial(
                        .articles(ArticlesMessage(records: records, missing: missing)), requestID: requestID)
                    if !sent { return try finishCancelled(requestID, connection: connection, done: done) }
                    records.removeAll()
                    missing.removeAll()
                    bytes = 0
                }
                if let record { records.append(record) } else { missing.append(id) }
                bytes += size
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
        let budget = connection.streamFramePayloadBudget
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
            // Room for the next frame is reserved before the page is read: a slow reader's stream waits here.
            guard try await connection.awaitStreamRoom(requestID) else {
                return try finishCancelled(requestID, connection: connection, done: done)
            }
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
                let record = scan.idsOnly ? nil : ArticleRecord(article)
                let size = Self.fieldSize(record?.bytes.readableBytes ?? article.id.rawValue.utf8.count)
                // Cut before the frame would pass the budget (§3.5: no frame above the client's limit).
                if bytes + size > budget, !(records.isEmpty && ids.isEmpty) {
                    let sent = try await connection.sendPartial(
                        .scanBatch(ScanBatchMessage(records: records, ids: ids)), requestID: requestID)
                    if !sent { return try finishCancelled(requestID, connection: connection, done: done) }
                    records.removeAll()
                    ids.removeAll()
                    bytes = 0
                }
                if let record { records.append(record) } else { ids.append(article.id) }
                bytes += size
                remaining -= 1
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

    // MARK: Live queries

    /// Runs one WATCH stream (PROTOCOL.md §5.19): checks it, registers its standing query, sends STARTED, replays
    /// the change feed after its position (when resuming), then sends live events until it ends, and ends it with
    /// an ERROR carrying the position to resume after.
    private func streamWatch(
        _ request: WatchMessage, requestID: RequestID, connection: Connection
    ) async throws {
        guard request.text.unicodeScalars.count <= Limits.maxQueryLength else {
            throw ProtocolError(
                code: .badQuery,
                message: "query of \(request.text.unicodeScalars.count) characters; the limit is \(Limits.maxQueryLength)")
        }
        guard request.bufferEvents <= Limits.maxWatchBufferEvents else {
            throw ProtocolError(
                code: .limitExceeded,
                message: "WATCH buffer_events \(request.bufferEvents) is above \(Limits.maxWatchBufferEvents); ask for "
                    + "less (0 is the server default, \(Limits.defaultWatchBufferEvents))")
        }
        let storeIdentifier = engine.storeIdentifier
        if request.start == .afterPosition, let store = request.store, store != storeIdentifier {
            throw ProtocolError(
                code: .unknownPosition,
                message: "WATCH position \(request.position) belongs to store \(store), not to this server's store "
                    + "\(storeIdentifier); start again from now or from the beginning")
        }
        let query = StandingQuery(
            text: request.text, sources: request.sources, publishedFrom: request.publishedFrom,
            publishedBefore: request.publishedBefore, includeSnippets: request.includeSnippets,
            snippetLength: request.snippetLength == 0 ? Limits.defaultSnippetLength : request.snippetLength)
        let capacity = request.bufferEvents == 0 ? Limits.defaultWatchBufferEvents : request.bufferEvents
        if request.start == .afterPosition, engine.followsSharedStore {
            // A cluster node that has not applied the position yet waits for it, as GET's min_position does.
            try await waitForPosition(request.position)
        }
        let watch: Watch
        do {
            watch = try watches.register(query, includeArticle: request.includeArticle, capacity: capacity)
        } catch {
            throw protocolError(for: error)
        }
        defer { watches.remove(watch) }
        // Where replay starts: the request's position, the beginning, or nothing to replay (start now).
        var covered: UInt64
        switch request.start {
        case .afterPosition:
            guard request.position <= watch.after else {
                throw ProtocolError(
                    code: .unknownPosition,
                    message: "WATCH position \(request.position) is ahead of this store's latest position "
                        + "\(watch.after) (a store restored from an older backup?); start again from now or from "
                        + "the beginning")
            }
            covered = request.position
        case .beginning: covered = 0
        default: covered = watch.after
        }
        connection.attach(watch, to: requestID)
        defer { connection.detach(requestID) }
        func end(_ reason: Watch.End?, replayed: Bool) throws -> Never {
            let position = replayed ? watches.coveredPosition(of: watch, lastSent: covered) : covered
            switch reason ?? watch.endReason ?? .gone {
            case .cutOff:
                throw ProtocolError(
                    code: .overloaded,
                    message: "this watch's \(capacity) buffered events were not read in time; it was cut off: "
                        + "resume after position \(position)", retryAfterMillis: 100, position: position)
            case .cancelled:
                throw ProtocolError(code: .cancelled, message: "watch cancelled by the client", position: position)
            case .shuttingDown, .gone:
                throw ProtocolError(
                    code: .shuttingDown,
                    message: "server is shutting down; resume after position \(position) on a new connection",
                    position: position)
            }
        }
        let started = WatchEventMessage(position: covered, kind: .started, store: storeIdentifier)
        guard try await connection.sendWatchEvent(started, requestID: requestID) else {
            try end(nil, replayed: false)
        }
        // Replay: the compacted feed from `covered` up to where live delivery took over.
        if covered < watch.after {
            let replay = StandingQueryMatcher()
            do {
                _ = try replay.register(query)
            } catch {
                throw protocolError(for: error)
            }
            while covered < watch.after {
                if let reason = watch.endReason { try end(reason, replayed: false) }
                let from = covered
                let page = try await onPool { try self.engine.changes(after: from, limit: 512) }
                let changes = page.filter { $0.sequence <= watch.after }.map(CommittedChange.init(feed:))
                if changes.isEmpty { break }
                let result = replay.match(
                    changes.map { $0.article.map(ArticleChange.inserted) ?? .deleted($0.id) })
                var matched: [Int: SearchHit] = [:]
                for match in result.matches where match.kind != .stoppedMatching { matched[match.change] = match.hit }
                for (index, change) in changes.enumerated() {
                    let event: WatchEventMessage
                    if change.kind == .deleted {
                        event = WatchEventMessage(
                            position: change.position, kind: .deleted,
                            hit: SearchHit(id: change.id, title: "", source: nil, publishedAt: nil, score: 0))
                    } else if let hit = matched[index] {
                        event = WatchEventMessage(
                            position: change.position, kind: .changed, hit: hit,
                            record: request.includeArticle ? change.article.map(ArticleRecord.init) : nil)
                    } else {
                        continue
                    }
                    guard try await connection.sendWatchEvent(event, requestID: requestID) else {
                        try end(nil, replayed: false)
                    }
                    watches.recordSent(1)
                    covered = change.position
                }
                covered = max(covered, min(page.last!.sequence, watch.after))
                if page.count < 512 { break }
            }
            covered = watch.after
        }
        // Live.
        while true {
            switch await watch.next() {
            case .ended(let reason):
                try end(reason, replayed: true)
            case .event(let event):
                let delivered = try await connection.sendWatchEvent(event, requestID: requestID)
                watch.sent()
                guard delivered else { try end(nil, replayed: true) }
                watches.recordSent(1)
                covered = event.position
            }
        }
    }

    /// Bytes a LEN field of `length` bytes takes in a message: tag, length varint, bytes.
    static func fieldSize(_ length: Int) -> Int {
        1 + (length < 1 << 7 ? 1 : length < 1 << 14 ? 2 : length < 1 << 21 ? 3 : length < 1 << 28 ? 4 : 5) + length
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
        let (queued, peak) = responseBudget.usage
        entries.append(StatEntry(name: "responses.queued_bytes", value: .integer(Int64(queued))))
        entries.append(StatEntry(name: "responses.queued_bytes_peak", value: .integer(Int64(peak))))
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
