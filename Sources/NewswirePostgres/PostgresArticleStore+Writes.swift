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
        return try write(after: nil, expecting: articles.map(\.id)) { _ in articles.map { ArticleWrite($0) } }.outcomes
    }

    /// See ``NewswireStore/SharedArticleStore/serializedUpsert(after:_:)``.
    public func serializedUpsert(
        after appliedSequence: UInt64, _ prepare: ([StoreChange]) throws -> [ArticleWrite]
    ) throws -> SerializedWrite {
        try write(after: appliedSequence, prepare)
    }

    /// See ``NewswireStore/SharedArticleStore/serializedUpsert(after:expecting:_:)``.
    public func serializedUpsert(
        after appliedSequence: UInt64, expecting ids: [ArticleID], _ prepare: ([StoreChange]) throws -> [ArticleWrite]
    ) throws -> SerializedWrite {
        try write(after: appliedSequence, expecting: ids, prepare)
    }

    static func validate(_ articles: [Article]) throws {
        for article in articles where article.id.rawValue.isEmpty {
            throw StoreError(.invalidRecord, "cannot store an article with an empty id (title: \(article.title))")
        }
    }

    func write(
        after appliedSequence: UInt64?, expecting expectedIDs: [ArticleID] = [],
        _ prepare: ([StoreChange]) throws -> [ArticleWrite]
    ) throws -> SerializedWrite {
        return try pool.withConnection { connection in
            try Self.underWriteLock(connection, after: appliedSequence, ids: expectedIDs.map(\.rawValue)) { begun in
                let writes = try prepare(begun.missed)
                let articles = writes.map(\.article)
                try Self.validate(articles)
                var sequence = begun.sequence
                if articles.isEmpty { return (SerializedWrite(articles: [], outcomes: [], sequence: sequence), nil) }
                let encoded = articles.map { ArticleCodec.encode($0) }
                // What is stored now for the batch's ids; updated as the batch is applied in order. Ids the caller
                // did not announce (none, normally) cost one more read.
                var stored = begun.stored
                let unannounced = Array(Set(articles.map(\.id.rawValue)).subtracting(begun.looked))
                if !unannounced.isEmpty {
                    for row in try connection.query(
                        "SELECT id, json FROM newswire_article WHERE id = ANY(\(unannounced))"
                    ).rows {
                        let (id, json) = try row.decode((String, ByteBuffer).self)
                        stored[id] = Array(json.readableBytesView)
                    }
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
                let written = SerializedWrite(articles: articles, outcomes: outcomes, sequence: sequence)
                if final.isEmpty { return (written, nil) }
                let rows = final.sorted { $0.value.seq < $1.value.seq }
                var commit = PendingCommit(position: Int64(sequence))
                commit.ids = rows.map(\.key)
                commit.keys = rows.map(\.value.key)
                commit.seqs = rows.map(\.value.seq)
                commit.jsons = rows.map { ByteBuffer(bytes: $0.value.json) }
                commit.derived = rows.map { ByteBuffer(bytes: $0.value.derived) }
                commit.revived = Array(inserted)
                return (written, commit)
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
            try Self.underWriteLock(connection, after: appliedSequence, ids: ids.map(\.rawValue)) { begun in
                try apply(begun.missed)
                var present = Set(begun.stored.keys)
                var sequence = begun.sequence
                var existed: [Bool] = []
                existed.reserveCapacity(ids.count)
                var commit = PendingCommit(position: 0)
                for id in ids {
                    guard present.remove(id.rawValue) != nil else {
                        existed.append(false)
                        continue
                    }
                    existed.append(true)
                    sequence += 1
                    commit.deleted.append(id.rawValue)
                    commit.deletedSeqs.append(Int64(sequence))
                }
                commit.position = Int64(sequence)
                let written = (SerializedWrite(articles: [], outcomes: [], sequence: sequence), existed)
                return (written, commit.deleted.isEmpty ? nil : commit)
            }
        }
    }

    /// What one write stores, handed to `newswire_commit` in one call.
    struct PendingCommit {
        var position: Int64
        var ids: [String] = []
        var keys: [Int64] = []
        var seqs: [Int64] = []
        var jsons: [ByteBuffer] = []
        /// Empty for none (an array parameter has no NULL elements here); stored as NULL.
        var derived: [ByteBuffer] = []
        /// Inserted ids whose tombstones go.
        var revived: [String] = []
        var deleted: [String] = []
        var deletedSeqs: [Int64] = []
    }

    /// What ``beginWriteFunction`` read under the lock.
    struct BegunWrite {
        /// The feed position when the lock was granted.
        var sequence: UInt64
        /// Every change after the caller's position, oldest first (empty when it gave none).
        var missed: [StoreChange]
        /// The stored record of each looked-up id that exists.
        var stored: [String: [UInt8]]
        /// The ids looked up.
        var looked: Set<String>
    }

    /// One write in two round trips (before: seven).
    ///
    /// 1. `newswire_begin_write` takes the session-level write lock, then reads (each statement with a snapshot
    ///    taken after the lock was granted, so it sees every write committed before) the position, the changes
    ///    after `appliedSequence` and the stored rows of `ids`.
    /// 2. `body` decides what to store; `CALL newswire_commit(...)` stores it, moves the position, notifies,
    ///    COMMITs (waiting for the synchronous standby where there is one) and only then releases the lock, so
    ///    positions become visible in the order they were assigned: the feed never skips. The CALL's answer
    ///    comes after the COMMIT: a returned write is durable. With nothing to store, step 2 only unlocks.
    ///
    /// A session lock outlives a failed statement, so any failure releases it (or, when that fails too, closes
    /// the connection: the server drops a closed session's locks).
    static func underWriteLock<T>(
        _ connection: StoreConnection, after appliedSequence: UInt64?, ids: [String],
        _ body: (BegunWrite) throws -> (T, PendingCommit?)
    ) throws -> T {
        let after = appliedSequence.map { Int64(clamping: $0) }
        let lookup = Array(Set(ids))
        let rows: [PostgresRow]
        do {
            rows = try connection.query(
                "SELECT * FROM newswire_begin_write(\(writeLockKey), \(after), \(lookup))"
            ).rows
        } catch {
            releaseWriteLock(connection)
            throw PostgresTransactionFailure(underlying: error)
        }
        do {
            var begun = BegunWrite(sequence: 0, missed: [], stored: [:], looked: Set(lookup))
            for row in rows {
                let (kind, seq, id, json, derived) = try row.decode(
                    (Int32, Int64, String?, ByteBuffer?, ByteBuffer?).self)
                switch kind {
                case 0: begun.sequence = UInt64(max(0, seq))
                case 1:
                    let id = id ?? ""
                    begun.missed.append(
                        StoreChange(
                            sequence: UInt64(seq), id: ArticleID(id),
                            article: try json.map { try decode($0, id: id) },
                            derivedData: derived.map { Array($0.readableBytesView) }))
                default:
                    if let id, let json { begun.stored[id] = Array(json.readableBytesView) }
                }
            }
            let (value, pending) = try body(begun)
            if let pending {
                try connection.query(
                    """
                    CALL newswire_commit(\(writeLockKey), \(pending.position), \(pending.ids)::text[],
                        \(pending.keys)::int8[], \(pending.seqs)::int8[], \(pending.jsons)::bytea[],
                        \(pending.derived)::bytea[], \(pending.revived)::text[], \(pending.deleted)::text[],
                        \(pending.deletedSeqs)::int8[])
                    """
                )
            } else {
                try connection.query("SELECT pg_advisory_unlock(\(writeLockKey))")
            }
            return value
        } catch {
            releaseWriteLock(connection)
            throw PostgresTransactionFailure(underlying: error)
        }
    }

    /// Releases the write lock after a failure; closes the connection when that fails (see above).
    static func releaseWriteLock(_ connection: StoreConnection) {
        guard !connection.connection.isClosed else { return }
        do {
            try connection.query("SELECT pg_advisory_unlock_all()")
        } catch {
            connection.connection.close().whenComplete { _ in }
        }
    }

    static func currentSequence(_ connection: StoreConnection) throws -> UInt64 {
        let rows = try connection.query(
            "SELECT value::bigint FROM newswire_meta WHERE key = 'sequence'"
        ).rows
        return UInt64(max(0, try rows.first?.decode(Int64.self) ?? 0))
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
