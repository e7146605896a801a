import Dispatch
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NewswireModel
import NewswireStore
import PostgresNIO

// Writes: one transaction per batch under the store's advisory write lock, positions assigned in commit order.
extension PostgresArticleStore {
    /// See ``NewswireStore/ArticleStore/upsert(_:)``: one transaction under the write lock.
    public func upsert(_ articles: [Article]) throws -> [UpsertOutcome] {
        if articles.isEmpty { return [] }
        try Self.validate(articles)
        return try write(after: nil) { _ in articles.map { ArticleWrite($0) } }.outcomes
    }

    /// See ``NewswireStore/SharedArticleStore/serializedUpsert(after:_:)``.
    public func serializedUpsert(
        after appliedSequence: UInt64, _ prepare: ([StoreChange]) throws -> [ArticleWrite]
    ) throws -> SerializedWrite {
        try write(after: appliedSequence, prepare)
    }

    static func validate(_ articles: [Article]) throws {
        for article in articles where article.id.rawValue.isEmpty {
            throw StoreError(.invalidRecord, "cannot store an article with an empty id (title: \(article.title))")
        }
    }

    func write(after appliedSequence: UInt64?, _ prepare: ([StoreChange]) throws -> [ArticleWrite]) throws
        -> SerializedWrite
    {
        return try pool.withConnection { connection in
            try Self.transaction(connection) {
                _ = try connection.query("SELECT pg_advisory_xact_lock(\(Self.writeLockKey))")
                let missed = try appliedSequence.map { try Self.allChanges(connection, since: $0) }
                let writes = try prepare(missed ?? [])
                let articles = writes.map(\.article)
                try Self.validate(articles)
                var sequence = try Self.currentSequence(connection)
                if articles.isEmpty { return SerializedWrite(articles: [], outcomes: [], sequence: sequence) }
                let encoded = articles.map { ArticleCodec.encode($0) }
                // What is stored now for the batch's ids; updated as the batch is applied in order.
                var stored: [String: [UInt8]] = [:]
                let ids = Array(Set(articles.map(\.id.rawValue)))
                for row in try connection.query(
                    "SELECT id, json FROM newswire_article WHERE id = ANY(\(ids))"
                ).rows {
                    let (id, json) = try row.decode((String, ByteBuffer).self)
                    stored[id] = Array(json.readableBytesView)
                }
                var outcomes: [UpsertOutcome] = []
                outcomes.reserveCapacity(articles.count)
                // The final row of each id (a later duplicate in the batch wins), and the ids that were absent.
                var final: [String: (key: Int64, seq: Int64, json: [UInt8], derived: [UInt8])] = [:]
                var inserted: Set<String> = []
                for (write, json) in zip(writes, encoded) {
                    let article = write.article
                    let id = article.id.rawValue
                    if let old = stored[id] {
                        if old == json || (try? ArticleCodec.decode(old)) == article {
                            outcomes.append(.unchanged)
                            continue
                        }
                        outcomes.append(.updated)
                    } else {
                        outcomes.append(.inserted)
                        inserted.insert(id)
                    }
                    sequence += 1
                    stored[id] = json
                    final[id] = (ScanCursor.publishedKey(of: article), Int64(sequence), json, write.derivedData ?? [])
                }
                if !final.isEmpty {
                    let rows = final.sorted { $0.value.seq < $1.value.seq }
                    let rowIDs = rows.map(\.key)
                    let keys = rows.map(\.value.key)
                    let seqs = rows.map(\.value.seq)
                    let jsons = rows.map { ByteBuffer(bytes: $0.value.json) }
                    // Empty for none (an array parameter has no NULL elements here); stored as NULL.
                    let derived = rows.map { ByteBuffer(bytes: $0.value.derived) }
                    let insertedIDs = Array(inserted)
                    let position = String(sequence)
                    // One statement, so one round trip: the rows, the tombstones of re-created ids, the position,
                    // and the notification (delivered at commit). Every data-modifying WITH part runs whether or
                    // not it is referenced.
                    _ = try connection.query(
                        """
                        WITH written AS (
                            INSERT INTO newswire_article (id, published_key, seq, json, derived)
                            SELECT id, key, seq, json, NULLIF(derived, ''::bytea) FROM unnest(
                                \(rowIDs)::text[], \(keys)::int8[], \(seqs)::int8[], \(jsons)::bytea[],
                                \(derived)::bytea[]) AS batch (id, key, seq, json, derived)
                            ON CONFLICT (id) DO UPDATE
                            SET published_key = EXCLUDED.published_key, seq = EXCLUDED.seq, json = EXCLUDED.json,
                                derived = EXCLUDED.derived),
                        revived AS (DELETE FROM newswire_tombstone WHERE id = ANY(\(insertedIDs))),
                        moved AS (UPDATE newswire_meta SET value = \(position) WHERE key = 'sequence')
                        SELECT pg_notify(\(Self.notificationChannel), \(position))
                        """
                    )
                }
                return SerializedWrite(articles: articles, outcomes: outcomes, sequence: sequence)
            }
        }
    }

    /// See ``NewswireStore/ArticleStore/delete(_:)``.
    public func delete(_ id: ArticleID) throws -> Bool {
        try serializedDelete([id], after: nil) { _ in }.existed[0]
    }

    /// See ``NewswireStore/ArticleStore/delete(_:)-([ArticleID])``: one transaction, all or none.
    public func delete(_ ids: [ArticleID]) throws -> [Bool] {
        if ids.isEmpty { return [] }
        return try serializedDelete(ids, after: nil) { _ in }.existed
    }

    /// See ``NewswireStore/SharedArticleStore/serializedDelete(_:after:_:)``.
    public func serializedDelete(
        _ ids: [ArticleID], after appliedSequence: UInt64, _ apply: ([StoreChange]) throws -> Void
    ) throws -> (write: SerializedWrite, existed: [Bool]) {
        try serializedDelete(ids, after: Optional(appliedSequence), apply)
    }

    /// Deletes `ids` in one transaction under the store-wide write lock; an id listed twice existed only the
    /// first time. Each existing id gets its own feed position, in list order.
    func serializedDelete(
        _ ids: [ArticleID], after appliedSequence: UInt64?, _ apply: ([StoreChange]) throws -> Void
    ) throws -> (write: SerializedWrite, existed: [Bool]) {
        return try pool.withConnection { connection in
            try Self.transaction(connection) {
                _ = try connection.query("SELECT pg_advisory_xact_lock(\(Self.writeLockKey))")
                if let appliedSequence {
                    try apply(try Self.allChanges(connection, since: appliedSequence))
                }
                let start = try Self.currentSequence(connection)
                var sequence = start
                var existed: [Bool] = []
                existed.reserveCapacity(ids.count)
                for id in ids {
                    let removed = try connection.query(
                        "DELETE FROM newswire_article WHERE id = \(id.rawValue) RETURNING id"
                    ).rows
                    guard !removed.isEmpty else {
                        existed.append(false)
                        continue
                    }
                    existed.append(true)
                    sequence += 1
                    let seq = Int64(sequence)
                    _ = try connection.query(
                        """
                        INSERT INTO newswire_tombstone (id, seq) VALUES (\(id.rawValue), \(seq))
                        ON CONFLICT (id) DO UPDATE SET seq = EXCLUDED.seq
                        """
                    )
                }
                if sequence != start { try Self.setSequence(connection, sequence) }
                return (SerializedWrite(articles: [], outcomes: [], sequence: sequence), existed)
            }
        }
    }

    static func currentSequence(_ connection: StoreConnection) throws -> UInt64 {
        let rows = try connection.query(
            "SELECT value::bigint FROM newswire_meta WHERE key = 'sequence'"
        ).rows
        return UInt64(max(0, try rows.first?.decode(Int64.self) ?? 0))
    }

    /// Moves the position and notifies listeners (delivered when the transaction commits).
    static func setSequence(_ connection: StoreConnection, _ sequence: UInt64) throws {
        let text = String(sequence)
        _ = try connection.query(
            "UPDATE newswire_meta SET value = \(text) WHERE key = 'sequence'"
        )
        _ = try connection.query(
            "SELECT pg_notify(\(notificationChannel), \(text))"
        )
    }

    /// Runs `body` between BEGIN and COMMIT; rolls back when it throws.
    static func transaction<T>(
        _ connection: StoreConnection, _ body: () throws -> T
    ) throws -> T {
        _ = try connection.query("BEGIN")
        let value: T
        do {
            value = try body()
        } catch {
            _ = try? connection.query("ROLLBACK")
            throw PostgresTransactionFailure(underlying: error)
        }
        _ = try connection.query("COMMIT")
        return value
    }
}
