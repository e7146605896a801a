import Dispatch
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NewswireModel
import NewswireStore
import PostgresNIO

// Reads: records by id, scans and the change feed (one statement, one snapshot).
extension PostgresArticleStore {
    /// See ``NewswireStore/ArticleStore/article(_:)``.
    public func article(_ id: ArticleID) throws -> Article? {
        try articles([id])[0]
    }

    /// See ``NewswireStore/ArticleStore/articles(_:)``.
    public func articles(_ ids: [ArticleID]) throws -> [Article?] {
        try zip(ids, encodedArticles(ids)).map { id, bytes in try bytes.map { try Self.decode($0, id: id.rawValue) } }
    }

    /// See ``NewswireStore/ArticleStore/encodedArticles(_:)``; one statement, so one snapshot.
    public func encodedArticles(_ ids: [ArticleID]) throws -> [[UInt8]?] {
        if ids.isEmpty { return [] }
        let unique = Array(Set(ids.map(\.rawValue)))
        let found = try pool.withConnection { connection -> [String: [UInt8]] in
            var found: [String: [UInt8]] = [:]
            for row in try connection.query(
                "SELECT id, json FROM newswire_article WHERE id = ANY(\(unique))"
            ).rows {
                let (id, json) = try row.decode((String, ByteBuffer).self)
                found[id] = Array(json.readableBytesView)
            }
            return found
        }
        return ids.map { found[$0.rawValue] }
    }

    static func decode(_ json: ByteBuffer, id: String) throws -> Article {
        // Read in place: a copy of each record first was an allocation and a copy per row of every feed page.
        try json.withUnsafeReadableBytes { try decode($0.bindMemory(to: UInt8.self), id: id) }
    }

    static func decode(_ bytes: some Collection<UInt8>, id: String) throws -> Article {
        do {
            return try ArticleCodec.decode(bytes)
        } catch {
            throw StoreError(
                .corruptRecord,
                "stored record for id \(id) is not a valid Article (\(error)); the database is damaged or was "
                    + "written by something else")
        }
    }

    /// See ``NewswireStore/ArticleStore/scan(order:after:limit:)``.
    public func scan(order: ScanOrder, after cursor: ScanCursor?, limit: Int) throws -> ScanPage {
        try ScanPage.validate(order: order, cursor: cursor, limit: limit)
        let query: PostgresQuery
        let limit64 = Int64(limit)
        switch (order, cursor) {
        case (.id, nil):
            query = "SELECT id, published_key, json FROM newswire_article ORDER BY id LIMIT \(limit64)"
        case (.id, let cursor?):
            let after = cursor.id.rawValue
            query = """
                SELECT id, published_key, json FROM newswire_article WHERE id > \(after) ORDER BY id LIMIT \(limit64)
                """
        case (.publishedAscending, let cursor):
            // Oldest first, undated articles (key Int64.min) last by id (PROTOCOL.md §5.15): the dated rows after
            // the cursor, then the undated ones; a cursor with the undated key is already in the second part.
            let undated = Int64.min
            let inUndatedPart = cursor?.publishedKey == undated
            let (key, after) = (cursor?.publishedKey ?? undated, cursor?.id.rawValue ?? "")
            let undatedAfter = inUndatedPart ? after : ""
            query = """
                SELECT id, published_key, json FROM (
                    (SELECT id, published_key, json, 0 AS part FROM newswire_article
                     WHERE published_key > \(undated) AND NOT \(inUndatedPart)
                       AND (published_key, id) > (\(key), \(after)::text COLLATE "C")
                     ORDER BY published_key, id LIMIT \(limit64))
                    UNION ALL
                    (SELECT id, published_key, json, 1 AS part FROM newswire_article
                     WHERE published_key = \(undated) AND id > \(undatedAfter)::text COLLATE "C"
                     ORDER BY id LIMIT \(limit64))
                ) AS page
                ORDER BY part, published_key, id LIMIT \(limit64)
                """
        case (.publishedDescending, nil):
            query = """
                SELECT id, published_key, json FROM newswire_article
                ORDER BY published_key DESC, id DESC LIMIT \(limit64)
                """
        case (.publishedDescending, let cursor?):
            let (key, after) = (cursor.publishedKey, cursor.id.rawValue)
            query = """
                SELECT id, published_key, json FROM newswire_article
                WHERE (published_key, id) < (\(key), \(after)::text COLLATE "C")
                ORDER BY published_key DESC, id DESC LIMIT \(limit64)
                """
        }
        let rows = try pool.withConnection { try $0.query(query).rows }
        var articles: [Article] = []
        articles.reserveCapacity(rows.count)
        var last: (id: String, key: Int64)?
        for row in rows {
            let (id, key, json) = try row.decode((String, Int64, ByteBuffer).self)
            articles.append(try Self.decode(json, id: id))
            last = (id, key)
        }
        guard articles.count == limit, let last else { return ScanPage(articles: articles, next: nil) }
        return ScanPage(
            articles: articles, next: ScanCursor(order: order, id: ArticleID(last.id), publishedKey: last.key))
    }

    /// See ``NewswireStore/ArticleStore/changes(since:limit:)``. Rows and tombstones are merged by position in
    /// one statement, so one snapshot: two separate reads could miss a row committed between them while already
    /// returning a later tombstone, and the follower would skip it.
    public func changes(since sequence: UInt64, limit: Int) throws -> [StoreChange] {
        try changes(since: sequence, through: .max, limit: limit)
    }

    /// See ``NewswireStore/SharedArticleStore/changes(since:through:limit:)``.
    public func changes(since sequence: UInt64, through: UInt64, limit: Int) throws -> [StoreChange] {
        guard limit > 0 else { throw StoreError(.invalidArgument, "changes limit \(limit) must be positive") }
        return try pool.withConnection { connection in
            try Self.changes(connection, since: sequence, through: through, limit: limit)
        }
    }

    static func changes(_ connection: StoreConnection, since sequence: UInt64, through: UInt64 = .max, limit: Int)
        throws -> [StoreChange]
    {
        let since = Int64(clamping: sequence)
        let through = Int64(clamping: through)
        let limit64 = Int64(limit)
        // Each half ordered and limited on its own: the planner then walks the two `seq` indexes from `since` and
        // merges them, reading about `limit` rows. With the limit only outside, under a bulk load's stale row
        // estimates it chose a parallel scan of every row after `since` and a sort (10 ms for a 1,000-row page
        // 1,000 rows behind, 54 ms 8,000 behind; 1.1–1.2 ms this way in both cases).
        let rows = try connection.query(
            """
            SELECT seq, id, json, derived FROM (
                (SELECT seq, id, json, derived FROM newswire_article WHERE seq > \(since) AND seq <= \(through)
                 ORDER BY seq LIMIT \(limit64))
                UNION ALL
                (SELECT seq, id, NULL::bytea, NULL::bytea FROM newswire_tombstone
                 WHERE seq > \(since) AND seq <= \(through) ORDER BY seq LIMIT \(limit64))
            ) AS feed ORDER BY seq LIMIT \(limit64)
            """
        ).rows
        return try rows.map { row in
            let (seq, id, json, derived) = try row.decode((Int64, String, ByteBuffer?, ByteBuffer?).self)
            return StoreChange(
                sequence: UInt64(seq), id: ArticleID(id),
                article: try json.map { try decode($0, id: id) },
                derivedData: derived.map { Array($0.readableBytesView) })
        }
    }

    /// Every change after `sequence`, read on `connection` (inside the write lock).
    static func allChanges(_ connection: StoreConnection, since sequence: UInt64) throws
        -> [StoreChange]
    {
        var all: [StoreChange] = []
        var since = sequence
        while true {
            let page = try changes(connection, since: since, limit: 10_000)
            guard let last = page.last else { return all }
            all += page
            since = last.sequence
        }
    }

    /// See ``NewswireStore/ArticleStore/latestSequence``.
    public var latestSequence: UInt64 {
        get throws {
                return try pool.withConnection { try Self.currentSequence($0) }
        }
    }

    /// See ``NewswireStore/SharedArticleStore/latestSequence(within:)``.
    public func latestSequence(within bound: Duration) throws -> UInt64 {
        try pool.withConnection(within: bound) { try Self.currentSequence($0) }
    }

    /// See ``NewswireStore/ArticleStore/count()``.
    public func count() throws -> Int {
        return try pool.withConnection { connection in
            let rows = try connection.query("SELECT count(*) FROM newswire_article").rows
            return Int(try rows.first?.decode(Int64.self) ?? 0)
        }
    }
}
