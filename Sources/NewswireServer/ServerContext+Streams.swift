import ArticleExtraction
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NewswireEngine
import NewswireModel
import NewswireProtocol

/// Streams of records (GET_MANY, SCAN): frames cut to the client's limit, each sent once the connection has room.
extension ServerContext {
    func streamArticles(
        ids: [ArticleID], requestID: RequestID, connection: Connection, done: (Response) -> Void
    ) async throws {
        var batch = StreamFrameBatch(budget: connection.streamFramePayloadBudget)
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
                if let full = batch.add(article.map(ArticleRecord.init), id: id) {
                    let sent = try await connection.sendPartial(
                        .articles(ArticlesMessage(records: full.records, missing: full.ids)), requestID: requestID)
                    if !sent { return try finishCancelled(requestID, connection: connection, done: done) }
                }
            }
        }
        // The final frame waits for room as the others do (PROTOCOL.md §9: streams wait); answered as a single
        // answer, it was refused OVERLOADED whenever a slow reader had left the connection's budget full.
        guard try await connection.awaitStreamRoom(requestID) else {
            return try finishCancelled(requestID, connection: connection, done: done)
        }
        done(.articles(ArticlesMessage(records: batch.records, missing: batch.ids)))
    }

    func streamScan(
        _ scan: ScanMessage, requestID: RequestID, connection: Connection, done: (Response) -> Void
    ) async throws {
        let order: RecordOrder = scan.order == .byID ? .id : .published
        var cursor: RecordCursor?
        if scan.cursor.readableBytes > 0 {
            let token = String(buffer: scan.cursor)
            guard let parsed = RecordCursor(token: token), parsed.order == order else {
                throw ProtocolError(
                    code: .badQuery, message: "SCAN cursor is not one this server issued for a \(scan.order) scan")
            }
            cursor = parsed
        } else if order == .published, let from = scan.publishedFrom {
            cursor = RecordCursor(publishedFrom: from)
        }
        guard scan.limit >= 0 else { throw ProtocolError(code: .badQuery, message: "SCAN limit must not be negative") }
        var batch = StreamFrameBatch(budget: connection.streamFramePayloadBudget)
        var remaining = scan.limit == 0 ? Int.max : scan.limit
        // After the last article sent: the cursor the final frame carries when more are left.
        var lastSent: RecordCursor?
        // §5.15: the cursor is non-empty only when the scan stopped at its limit with more to go, so once the limit
        // is reached the walk goes on until the next article in range is found (then there is more) or the walk
        // ends (then there is not).
        var more = false
        func inRange(_ article: Article) -> Bool {
            if let from = scan.publishedFrom, (article.publishedAt ?? from) < from || article.publishedAt == nil {
                return false
            }
            if let before = scan.publishedBefore, let at = article.publishedAt, at >= before { return false }
            if scan.publishedBefore != nil, article.publishedAt == nil { return false }
            return true
        }
        scanning: while true {
            // Room for the next frame is reserved before the page is read: a slow reader's stream waits here.
            guard try await connection.awaitStreamRoom(requestID) else {
                return try finishCancelled(requestID, connection: connection, done: done)
            }
            // Past the limit only one more article in range is looked for: small pages.
            let pageSize = remaining == 0 ? 64 : min(remaining, 500)
            let after = cursor
            let page = try await onPool { try self.engine.scan(order: order, after: after, limit: pageSize) }
            for article in page.articles {
                if order == .published, let before = scan.publishedBefore, let at = article.publishedAt,
                    at >= before
                {
                    break scanning
                }
                guard inRange(article) else { continue }
                if remaining == 0 {
                    more = true
                    break scanning
                }
                if let full = batch.add(scan.idsOnly ? nil : ArticleRecord(article), id: article.id) {
                    let sent = try await connection.sendPartial(
                        .scanBatch(ScanBatchMessage(records: full.records, ids: full.ids)), requestID: requestID)
                    if !sent { return try finishCancelled(requestID, connection: connection, done: done) }
                }
                lastSent = RecordCursor(after: article, order: order)
                remaining -= 1
            }
            guard let next = page.next, !page.articles.isEmpty else { break }
            cursor = next
        }
        // The final frame waits for room as the others do (see ``streamArticles``).
        guard try await connection.awaitStreamRoom(requestID) else {
            return try finishCancelled(requestID, connection: connection, done: done)
        }
        var nextCursor = ByteBuffer()
        if more, let lastSent { nextCursor.writeString(lastSent.token) }
        done(.scanBatch(ScanBatchMessage(records: batch.records, ids: batch.ids, nextCursor: nextCursor)))
    }

    func finishCancelled(_ requestID: RequestID, connection: Connection, done: (Response) -> Void) throws {
        throw ProtocolError(code: .cancelled, message: "stream cancelled by the client")
    }
}

/// The frames of a record stream (GET_MANY, SCAN): records, or bare ids where there is no record to send, gathered
/// until the next one would pass the client's frame budget. Each frame is cut before that, counting every field's
/// framing (PROTOCOL.md §3.5: no frame above the client's limit); a single field above the budget goes alone.
struct StreamFrameBatch {
    /// Payload bytes one frame may hold.
    let budget: Int
    /// The records gathered for the next frame.
    private(set) var records: [ArticleRecord] = []
    /// The bare ids gathered for the next frame (GET_MANY's missing ids, an ids-only SCAN's ids).
    private(set) var ids: [ArticleID] = []
    private var bytes = 0

    init(budget: Int) { self.budget = budget }

    /// Adds `record`, or `id` alone when there is none. When it would not fit with what is gathered, returns the
    /// gathered frame to send first (and starts the next one with it).
    mutating func add(_ record: ArticleRecord?, id: ArticleID) -> (records: [ArticleRecord], ids: [ArticleID])? {
        let size = Self.fieldSize(record?.bytes.readableBytes ?? id.rawValue.utf8.count)
        var full: (records: [ArticleRecord], ids: [ArticleID])?
        if bytes + size > budget, !(records.isEmpty && ids.isEmpty) {
            full = (records, ids)
            records.removeAll()
            ids.removeAll()
            bytes = 0
        }
        if let record { records.append(record) } else { ids.append(id) }
        bytes += size
        return full
    }

    /// Bytes a LEN field of `length` bytes takes in a message: tag, length varint, bytes.
    static func fieldSize(_ length: Int) -> Int {
        1 + (length < 1 << 7 ? 1 : length < 1 << 14 ? 2 : length < 1 << 21 ? 3 : length < 1 << 28 ? 4 : 5) + length
    }
}
