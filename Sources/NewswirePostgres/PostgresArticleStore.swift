import Dispatch
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NewswireModel
import NewswireStore
import PostgresNIO

/// ``NewswireStore/ArticleStore`` on PostgreSQL, for cluster mode: several engines (nodes) share one database.
///
/// Layout (tables prefixed `newswire_`, created on first open):
/// - `newswire_article(id text COLLATE "C" PRIMARY KEY, published_key bigint, seq bigint UNIQUE, json bytea)`, with
///   an index on `(published_key, id)` for date-order scans; the same columns as the SQLite store.
/// - `newswire_tombstone(id text COLLATE "C" PRIMARY KEY, seq bigint UNIQUE)`: deleted ids, for the change feed.
/// - `newswire_meta(key, value)`: the current change sequence, the store identifier, the schema version.
///
/// **The change feed never skips.** A plain sequence is not enough: two transactions can take positions 10 and
/// 11 and commit in the order 11, 10, so a follower that read up to 11 never sees 10. Here every write first takes
/// a transaction-scoped advisory lock (``writeLockKey``), then reads the current position and assigns the next
/// ones, and PostgreSQL makes a commit visible before it releases the transaction's locks. So the writer of
/// position `p + 1` starts assigning only after position `p` is visible: positions become visible in order, and a
/// reader that sees `p` sees everything below it. The feed is read in one statement (one snapshot) that merges
/// rows and tombstones by position.
///
/// **Group commit stays.** A batch is one transaction: one multi-row upsert (`unnest` of arrays), one tombstone
/// clean-up, one position update, whatever the batch size.
///
/// Durability: a call returns after PostgreSQL's COMMIT did, which (with `synchronous_commit` on, the default)
/// means the WAL is flushed on the primary and, when `synchronous_standby_names` names a standby, on it too.
/// Writers notify `newswire_changes` in the same transaction, so listeners wake when the commit is visible.
public final class PostgresArticleStore: SharedArticleStore {
    /// How to connect.
    public struct Configuration: Sendable {
        /// Connections open at once (one per concurrent call); default 8.
        public var maximumConnections: Int
        /// How long a call keeps looking for a primary after losing its connection; default 60 s.
        public var failoverTimeout: Duration
        /// Timeout of one connection attempt to one host; default 3 s.
        public var connectTimeout: Duration
        /// Longest wait for the answer to one statement before its connection is taken for lost (closed, and the
        /// call rerun on the primary found again); default 30 s. It bounds a commit that waits for a synchronous
        /// standby that never answers, and a host that vanished without closing its sockets.
        public var queryTimeout: Duration
        /// Whether followers wake on `LISTEN` notifications; default true. When false they only poll (tests use
        /// it to hold a node behind the feed).
        public var listensForChanges: Bool

        /// Creates a configuration with the documented defaults.
        public init(
            maximumConnections: Int = 8, failoverTimeout: Duration = .seconds(60),
            connectTimeout: Duration = .seconds(3), queryTimeout: Duration = .seconds(30),
            listensForChanges: Bool = true
        ) {
            self.maximumConnections = maximumConnections
            self.failoverTimeout = failoverTimeout
            self.connectTimeout = connectTimeout
            self.queryTimeout = queryTimeout
            self.listensForChanges = listensForChanges
        }
    }

    /// The advisory lock every write holds until its commit (a constant: "news" in ASCII).
    public static let writeLockKey: Int64 = 0x6E65_7773
    /// The advisory lock that serializes schema creation when several nodes start at once.
    static let schemaLockKey: Int64 = 0x6E65_7774
    /// The channel writers notify on commit.
    public static let notificationChannel = "newswire_changes"

    /// Where the store connects (without password when printed).
    public let url: PostgresStoreURL
    /// See ``NewswireStore/ArticleStore/storeIdentifier``.
    public let storeIdentifier: String
    private let pool: PostgresConnectionPool
    private let listener: ChangeListener

    /// Connects to the primary of `url`'s hosts and creates the tables when absent.
    ///
    /// Throws ``NewswireStore/StoreError`` (``NewswireStore/StoreError/Code/cannotOpen``) naming the hosts tried
    /// and why each was not usable.
    public init(
        url: PostgresStoreURL, configuration: Configuration = Configuration(),
        logger: Logger = Logger(label: "newswire.postgres")
    ) throws {
        self.url = url
        pool = PostgresConnectionPool(url: url, configuration: configuration, logger: logger)
        listener = ChangeListener(pool: pool, logger: logger)
        do {
            storeIdentifier = try pool.withConnection { connection in
                try Self.transaction(connection) {
                    try Self.createSchema(connection)
                }
            }
        } catch {
            pool.close()
            throw error
        }
    }

    /// Parses `url` (see ``PostgresStoreURL``) and opens the store.
    public convenience init(url: String, configuration: Configuration = Configuration()) throws {
        try self.init(url: PostgresStoreURL(parsing: url), configuration: configuration)
    }

    private static func createSchema(_ connection: StoreConnection) throws -> String {
        _ = try connection.query("SELECT pg_advisory_xact_lock(\(schemaLockKey))")
        let statements: [PostgresQuery] = [
            """
            CREATE TABLE IF NOT EXISTS newswire_article (
                id text COLLATE "C" PRIMARY KEY,
                published_key bigint NOT NULL,
                seq bigint NOT NULL UNIQUE,
                json bytea NOT NULL)
            """,
            "CREATE INDEX IF NOT EXISTS newswire_article_published ON newswire_article (published_key, id)",
            """
            CREATE TABLE IF NOT EXISTS newswire_tombstone (
                id text COLLATE "C" PRIMARY KEY,
                seq bigint NOT NULL UNIQUE)
            """,
            "CREATE TABLE IF NOT EXISTS newswire_meta (key text PRIMARY KEY, value text NOT NULL)",
            // Records are compressed with lz4 where the server has it (PostgreSQL 14+ built with lz4): the default,
            // pglz, is several times slower, and it runs on the primary inside every write. Values already stored stay readable
            // either way; elsewhere this does nothing.
            """
            DO $$ BEGIN
                IF (SELECT attcompression FROM pg_attribute
                    WHERE attrelid = 'newswire_article'::regclass AND attname = 'json') IS DISTINCT FROM 'l' THEN
                    EXECUTE 'ALTER TABLE newswire_article ALTER COLUMN json SET COMPRESSION lz4';
                END IF;
            EXCEPTION WHEN OTHERS THEN NULL;
            END $$
            """,
            """
            INSERT INTO newswire_meta (key, value) VALUES
                ('sequence', '0'), ('schemaVersion', '1'), ('storeIdentifier', gen_random_uuid()::text)
            ON CONFLICT (key) DO NOTHING
            """,
        ]
        for statement in statements { _ = try connection.query(statement) }
        let rows = try connection.query(
            "SELECT key, value FROM newswire_meta WHERE key IN ('schemaVersion', 'storeIdentifier')"
        ).rows
        var meta: [String: String] = [:]
        for row in rows {
            let (key, value) = try row.decode((String, String).self)
            meta[key] = value
        }
        guard let version = meta["schemaVersion"].flatMap(Int.init), version <= 1 else {
            throw StoreError(
                .unsupportedSchema,
                "the database was written by a newer Newswire (schema version \(meta["schemaVersion"] ?? "?")); "
                    + "open it with that version")
        }
        guard let identifier = meta["storeIdentifier"] else {
            throw StoreError(.corruptRecord, "the database has no store identifier")
        }
        return identifier
    }

    // MARK: Writes

    /// See ``NewswireStore/ArticleStore/upsert(_:)``: one transaction under the write lock.
    public func upsert(_ articles: [Article]) throws -> [UpsertOutcome] {
        if articles.isEmpty { return [] }
        try Self.validate(articles)
        return try write(after: nil) { _ in articles }.outcomes
    }

    /// See ``NewswireStore/SharedArticleStore/serializedUpsert(after:_:)``.
    public func serializedUpsert(
        after appliedSequence: UInt64, _ prepare: ([StoreChange]) throws -> [Article]
    ) throws -> SerializedWrite {
        try write(after: appliedSequence, prepare)
    }

    private static func validate(_ articles: [Article]) throws {
        for article in articles where article.id.rawValue.isEmpty {
            throw StoreError(.invalidRecord, "cannot store an article with an empty id (title: \(article.title))")
        }
    }

    private func write(after appliedSequence: UInt64?, _ prepare: ([StoreChange]) throws -> [Article]) throws
        -> SerializedWrite
    {
        return try pool.withConnection { connection in
            try Self.transaction(connection) {
                _ = try connection.query("SELECT pg_advisory_xact_lock(\(Self.writeLockKey))")
                let missed = try appliedSequence.map { try Self.allChanges(connection, since: $0) }
                let articles = try prepare(missed ?? [])
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
                var final: [String: (key: Int64, seq: Int64, json: [UInt8])] = [:]
                var inserted: Set<String> = []
                for (article, json) in zip(articles, encoded) {
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
                    final[id] = (ScanCursor.publishedKey(of: article), Int64(sequence), json)
                }
                if !final.isEmpty {
                    let rows = final.sorted { $0.value.seq < $1.value.seq }
                    let rowIDs = rows.map(\.key)
                    let keys = rows.map(\.value.key)
                    let seqs = rows.map(\.value.seq)
                    let jsons = rows.map { ByteBuffer(bytes: $0.value.json) }
                    let insertedIDs = Array(inserted)
                    let position = String(sequence)
                    // One statement, so one round trip: the rows, the tombstones of re-created ids, the position,
                    // and the notification (delivered at commit). Every data-modifying WITH part runs whether or
                    // not it is referenced.
                    _ = try connection.query(
                        """
                        WITH written AS (
                            INSERT INTO newswire_article (id, published_key, seq, json)
                            SELECT * FROM unnest(\(rowIDs)::text[], \(keys)::int8[], \(seqs)::int8[], \(jsons)::bytea[])
                            ON CONFLICT (id) DO UPDATE
                            SET published_key = EXCLUDED.published_key, seq = EXCLUDED.seq, json = EXCLUDED.json),
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
    private func serializedDelete(
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

    private static func currentSequence(_ connection: StoreConnection) throws -> UInt64 {
        let rows = try connection.query(
            "SELECT value::bigint FROM newswire_meta WHERE key = 'sequence'"
        ).rows
        return UInt64(max(0, try rows.first?.decode(Int64.self) ?? 0))
    }

    /// Moves the position and notifies listeners (delivered when the transaction commits).
    private static func setSequence(_ connection: StoreConnection, _ sequence: UInt64) throws {
        let text = String(sequence)
        _ = try connection.query(
            "UPDATE newswire_meta SET value = \(text) WHERE key = 'sequence'"
        )
        _ = try connection.query(
            "SELECT pg_notify(\(notificationChannel), \(text))"
        )
    }

    /// Runs `body` between BEGIN and COMMIT; rolls back when it throws.
    private static func transaction<T>(
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

    // MARK: Reads

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

    private static func decode(_ bytes: [UInt8], id: String) throws -> Article {
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
            articles.append(try Self.decode(Array(json.readableBytesView), id: id))
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
        guard limit > 0 else { throw StoreError(.invalidArgument, "changes limit \(limit) must be positive") }
        return try pool.withConnection { connection in
            try Self.changes(connection, since: sequence, limit: limit)
        }
    }

    private static func changes(_ connection: StoreConnection, since sequence: UInt64, limit: Int)
        throws -> [StoreChange]
    {
        let since = Int64(clamping: sequence)
        let limit64 = Int64(limit)
        let rows = try connection.query(
            """
            SELECT seq, id, json FROM (
                SELECT seq, id, json FROM newswire_article WHERE seq > \(since)
                UNION ALL
                SELECT seq, id, NULL::bytea FROM newswire_tombstone WHERE seq > \(since)
            ) AS feed ORDER BY seq LIMIT \(limit64)
            """
        ).rows
        return try rows.map { row in
            let (seq, id, json) = try row.decode((Int64, String, ByteBuffer?).self)
            return StoreChange(
                sequence: UInt64(seq), id: ArticleID(id),
                article: try json.map { try decode(Array($0.readableBytesView), id: id) })
        }
    }

    /// Every change after `sequence`, read on `connection` (inside the write lock).
    private static func allChanges(_ connection: StoreConnection, since sequence: UInt64) throws
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

    /// See ``NewswireStore/ArticleStore/count()``.
    public func count() throws -> Int {
        return try pool.withConnection { connection in
            let rows = try connection.query("SELECT count(*) FROM newswire_article").rows
            return Int(try rows.first?.decode(Int64.self) ?? 0)
        }
    }

    // MARK: Cluster

    /// See ``NewswireStore/SharedArticleStore/waitForChanges(after:timeout:)``: wakes on a `newswire_changes`
    /// notification; the timeout is the poll fallback when notifications are lost (listener reconnecting).
    public func waitForChanges(after sequence: UInt64, timeout: Duration) {
        listener.wait(after: sequence, timeout: timeout)
    }

    /// The highest feed position a change notification announced to this store.
    var notifiedSequence: UInt64 { listener.notifiedSequence }
    /// Whether this store's change listener is connected.
    var isListening: Bool { listener.isListening }

    /// The host writes go to, and that it is the primary.
    public var writeTargetDescription: String { "postgres \(pool.primaryDescription)" }

    /// Closes every connection. Later calls throw.
    public func close() throws {
        listener.close()
        pool.close()
    }
}
