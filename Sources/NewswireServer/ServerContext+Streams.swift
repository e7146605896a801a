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
        let budget = connection.streamFramePayloadBudget
        var remaining = scan.limit == 0 ? Int.max : scan.limit
        var records: [ArticleRecord] = []
        var ids: [ArticleID] = []
        var bytes = 0
        var last: RecordCursor?
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
                last = RecordCursor(after: article, order: order)
                if order == .published, let before = scan.publishedBefore, let at = article.publishedAt,
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

    /// Bytes a LEN field of `length` bytes takes in a message: tag, length varint, bytes.
    static func fieldSize(_ length: Int) -> Int {
        1 + (length < 1 << 7 ? 1 : length < 1 << 14 ? 2 : length < 1 << 21 ? 3 : length < 1 << 28 ? 4 : 5) + length
    }

    func finishCancelled(_ requestID: RequestID, connection: Connection, done: (Response) -> Void) throws {
        throw ProtocolError(code: .cancelled, message: "stream cancelled by the client")
    }
}
