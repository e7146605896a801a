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
/// - `newswire_article(id text COLLATE "C" PRIMARY KEY, published_key bigint, seq bigint UNIQUE, json bytea,
///   derived bytea)`, with an index on `(published_key, id)` for date-order scans; the SQLite store's columns plus
///   `derived`, the writer's ``NewswireStore/ArticleWrite/derivedData`` (returned by the change feed).
/// - `newswire_tombstone(id text COLLATE "C" PRIMARY KEY, seq bigint UNIQUE)`: deleted ids, for the change feed.
/// - `newswire_meta(key, value)`: the current change sequence, the store identifier, the schema version.
///
/// **The change feed never skips.** A plain sequence is not enough: two transactions can take positions 10 and
/// 11 and commit in the order 11, 10, so a follower that read up to 11 never sees 10. Here every write first takes
/// an advisory lock (``writeLockKey``), then reads the current position and assigns the next ones, and releases
/// the lock only after its COMMIT returned, which is after the commit is visible (``underWriteLock``, two round
/// trips per write). So the writer of
/// position `p + 1` starts assigning only after position `p` is visible: positions become visible in order, and a
/// reader that sees `p` sees everything below it. The feed is read in one statement (one snapshot) that merges
/// rows and tombstones by position.
///
/// **Group commit stays.** A batch is one transaction: one multi-row upsert (`unnest` of arrays), one tombstone
/// clean-up, one position update, whatever the batch size.
///
/// Durability: a call returns after PostgreSQL's COMMIT did (inside `newswire_commit`, before its CALL answers), which (with `synchronous_commit` on, the default)
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

    /// The advisory lock every write holds until its commit returned (a constant: "news" in ASCII).
    public static let writeLockKey: Int64 = 0x6E65_7773
    /// The advisory lock that serializes schema creation when several nodes start at once.
    static let schemaLockKey: Int64 = 0x6E65_7774
    /// The channel writers notify on commit.
    public static let notificationChannel = "newswire_changes"

    /// Where the store connects (without password when printed).
    public let url: PostgresStoreURL
    /// See ``NewswireStore/ArticleStore/storeIdentifier``.
    public let storeIdentifier: String
    let pool: PostgresConnectionPool
    let listener: ChangeListener

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

    static func createSchema(_ connection: StoreConnection) throws -> String {
        _ = try connection.query("SELECT pg_advisory_xact_lock(\(schemaLockKey))")
        let statements: [PostgresQuery] = [
            """
            CREATE TABLE IF NOT EXISTS newswire_article (
                id text COLLATE "C" PRIMARY KEY,
                published_key bigint NOT NULL,
                seq bigint NOT NULL UNIQUE,
                json bytea NOT NULL)
            """,
            // What the writing node derived from the record (its near-duplicate features), so the nodes following
            // the feed need not compute them again. Nullable and added in place: schema version 1 stays readable
            // and writable by nodes that do not know it (they store no derived data; readers then compute it).
            "ALTER TABLE newswire_article ADD COLUMN IF NOT EXISTS derived bytea",
            "CREATE INDEX IF NOT EXISTS newswire_article_published ON newswire_article (published_key, id)",
            """
            CREATE TABLE IF NOT EXISTS newswire_tombstone (
                id text COLLATE "C" PRIMARY KEY,
                seq bigint NOT NULL UNIQUE)
            """,
            "CREATE TABLE IF NOT EXISTS newswire_meta (key text PRIMARY KEY, value text NOT NULL)",
            // Records (and the derived bytes: a batch's first record carries the batch's index analysis) are
            // compressed with lz4 where the server has it (PostgreSQL 14+ built with lz4): the default, pglz, is
            // several times slower, and it runs on the primary inside every write. Values already stored stay
            // readable either way; elsewhere this does nothing.
            """
            DO $$ BEGIN
                IF (SELECT attcompression FROM pg_attribute
                    WHERE attrelid = 'newswire_article'::regclass AND attname = 'json') IS DISTINCT FROM 'l' THEN
                    EXECUTE 'ALTER TABLE newswire_article ALTER COLUMN json SET COMPRESSION lz4';
                END IF;
                IF (SELECT attcompression FROM pg_attribute
                    WHERE attrelid = 'newswire_article'::regclass AND attname = 'derived') IS DISTINCT FROM 'l' THEN
                    EXECUTE 'ALTER TABLE newswire_article ALTER COLUMN derived SET COMPRESSION lz4';
                END IF;
            EXCEPTION WHEN OTHERS THEN NULL;
            END $$
            """,
            // A row (a record and its derived bytes, about 4 KB for a news article) is kept in the table's own
            // pages up to a page's size, not cut into the TOAST table above the default 2 KB: moved out of line,
            // each row cost the primary more heap and index inserts inside every write, and a TOAST lookup per
            // row for every node reading the feed. lz4 hardly shrinks this text (about 1% of records), so the
            // default moved nearly every row out of line (BENCHMARKS.md, cluster mode). Rows written before keep
            // their layout.
            """
            DO $$ BEGIN
                IF NOT COALESCE((SELECT 'toast_tuple_target=8160' = ANY(reloptions) FROM pg_class
                    WHERE oid = 'newswire_article'::regclass), false) THEN
                    EXECUTE 'ALTER TABLE newswire_article SET (toast_tuple_target = 8160)';
                END IF;
            END $$
            """,
            // The two halves of a write (``underWriteLock``). Statements of a volatile PL/pgSQL function each
            // take a new snapshot, so the reads after the lock see every write committed before it was granted.
            // No parallel workers: the changes after the writer's position are usually none, yet with the row
            // estimates of a bulk load the planner started two workers for them (10-19 ms of each call, about 1 ms
            // without).
            """
            CREATE OR REPLACE FUNCTION newswire_begin_write(lock_key bigint, after_seq bigint, ids text[])
            RETURNS TABLE (r_kind int, r_seq bigint, r_id text, r_json bytea, r_derived bytea)
            LANGUAGE plpgsql VOLATILE SET max_parallel_workers_per_gather = 0 AS $$
            BEGIN
                PERFORM pg_advisory_lock(lock_key);
                RETURN QUERY SELECT 0, m.value::bigint, NULL::text, NULL::bytea, NULL::bytea
                    FROM newswire_meta m WHERE m.key = 'sequence';
                IF after_seq IS NOT NULL THEN
                    RETURN QUERY SELECT 1, f.seq, f.id, f.json, f.derived FROM (
                        SELECT a.seq, a.id, a.json, a.derived FROM newswire_article a WHERE a.seq > after_seq
                        UNION ALL
                        SELECT t.seq, t.id, NULL::bytea, NULL::bytea FROM newswire_tombstone t WHERE t.seq > after_seq
                    ) AS f ORDER BY f.seq;
                END IF;
                RETURN QUERY SELECT 2, a.seq, a.id, a.json, NULL::bytea
                    FROM newswire_article a WHERE a.id = ANY(ids);
            END $$
            """,
            """
            CREATE OR REPLACE PROCEDURE newswire_commit(
                lock_key bigint, new_position bigint, ids text[], keys int8[], seqs int8[], jsons bytea[],
                derived bytea[], revived text[], deleted text[], deleted_seqs int8[])
            LANGUAGE plpgsql AS $$
            BEGIN
                -- The arrays unnested in the select list, in lockstep: unnest in FROM would first copy the
                -- whole batch (megabytes of records) into a tuplestore, 15% of this call's time.
                INSERT INTO newswire_article (id, published_key, seq, json, derived)
                SELECT unnest(ids), unnest(keys), unnest(seqs), unnest(jsons), NULLIF(unnest(derived), ''::bytea)
                ON CONFLICT (id) DO UPDATE
                SET published_key = EXCLUDED.published_key, seq = EXCLUDED.seq, json = EXCLUDED.json,
                    derived = EXCLUDED.derived;
                DELETE FROM newswire_tombstone WHERE id = ANY(revived);
                DELETE FROM newswire_article WHERE id = ANY(deleted);
                INSERT INTO newswire_tombstone (id, seq)
                SELECT d.id, d.seq FROM unnest(deleted, deleted_seqs) AS d (id, seq)
                ON CONFLICT (id) DO UPDATE SET seq = EXCLUDED.seq;
                UPDATE newswire_meta SET value = new_position::text WHERE key = 'sequence';
                PERFORM pg_notify('newswire_changes', new_position::text);
                COMMIT;
                PERFORM pg_advisory_unlock(lock_key);
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

    // MARK: Cluster

    /// See ``NewswireStore/SharedArticleStore/waitForChanges(after:timeout:)``: wakes on a `newswire_changes`
    /// notification; the timeout is the poll fallback when notifications are lost (listener reconnecting).
    public func waitForChanges(after sequence: UInt64, timeout: Duration) {
        listener.wait(after: sequence, timeout: timeout)
    }

    /// See ``NewswireStore/SharedArticleStore/commitTime(ofFirstChangeAfter:)``: when the notification of that
    /// change's commit arrived (notifications are delivered as commits become visible).
    public func commitTime(ofFirstChangeAfter sequence: UInt64) -> ContinuousClock.Instant? {
        listener.firstAnnouncement(after: sequence)
    }

    /// See ``NewswireStore/SharedArticleStore/announcedSequence``: the highest position a `newswire_changes`
    /// notification announced while the listener is connected (LISTEN delivers every commit's notification to a
    /// connected listener); nil while it is not, so every wake-up then reads the feed.
    public var announcedSequence: UInt64? { listener.announcedSequence }

    /// See ``NewswireStore/SharedArticleStore/announcedPositions(after:limit:)``: positions `newswire_changes`
    /// notifications named, one per commit.
    public func announcedPositions(after sequence: UInt64, limit: Int) -> [UInt64] {
        listener.announcedPositions(after: sequence, limit: limit)
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
