import Foundation
import GRDB
import NewswireModel

/// The embedded default ``ArticleStore``: one SQLite database (through GRDB) in a data directory, in WAL mode.
///
/// Layout (`articles.sqlite`, plus SQLite's `-wal` and `-shm` files next to it):
/// - `article(id TEXT UNIQUE, published_key INTEGER, seq INTEGER UNIQUE, json BLOB)` — one row per live
///   article; `json` is ``ArticleCodec``'s encoding, `published_key` is ``ScanCursor/publishedKey(of:)``,
///   indexed with `id` for date-order scans; `seq` is the change sequence of the row's latest write.
/// - `tombstone(id TEXT PRIMARY KEY, seq INTEGER UNIQUE)` — deleted ids, for the change feed.
/// - `meta(key, value)` — the current change sequence and the store identifier.
///
/// Durability: every write is one transaction committed with `synchronous = FULL` (the default), which
/// fsyncs the WAL before the call returns; see ``Configuration/Synchronous``. Reads run concurrently with
/// writes on snapshot-isolated reader connections; writes are serialized.
public final class SQLiteArticleStore: ArticleStore {
    /// How to open the store.
    public struct Configuration: Sendable {
        /// How hard SQLite works to make a commit durable.
        public enum Synchronous: String, Sendable, Hashable {
            /// fsync the WAL at every commit: an acknowledged write survives `kill -9`, an OS crash and a power
            /// loss. The default.
            case full = "FULL"
            /// fsync only at checkpoints: an acknowledged write survives `kill -9` of the process (the WAL
            /// frames are in the OS page cache once the commit's `write()` returned), but the last commits can
            /// be lost in an OS crash or power loss. Faster for many small writes.
            case normal = "NORMAL"
        }

        /// Commit durability; default ``Synchronous/full``.
        public var synchronous: Synchronous
        /// Database file name inside the data directory; default `articles.sqlite`.
        public var fileName: String
        /// Maximum number of concurrent reader connections; default 4.
        public var maximumReaderCount: Int
        /// How long a write waits for a lock held by another process before failing; default 5 s.
        public var busyTimeoutSeconds: Double
        /// The most the database file may grow to (SQLite's `max_page_count`), nil for no limit but the disk's
        /// (the default). A write that would pass it fails with ``StoreError/Code/full``, as on a full disk.
        public var maximumDatabaseBytes: Int?

        /// Creates a configuration with the documented defaults.
        public init(
            synchronous: Synchronous = .full, fileName: String = "articles.sqlite", maximumReaderCount: Int = 4,
            busyTimeoutSeconds: Double = 5, maximumDatabaseBytes: Int? = nil
        ) {
            self.synchronous = synchronous
            self.fileName = fileName
            self.maximumReaderCount = maximumReaderCount
            self.busyTimeoutSeconds = busyTimeoutSeconds
            self.maximumDatabaseBytes = maximumDatabaseBytes
        }
    }

    /// The data directory.
    public let directory: String
    /// The database file's full path.
    public let databasePath: String
    /// See ``ArticleStore/storeIdentifier``; kept in the `meta` table.
    public let storeIdentifier: String
    private let pool: DatabasePool

    /// Runs a write transaction; a write that finds no room (SQLite's `SQLITE_FULL`: the disk, or
    /// ``Configuration/maximumDatabaseBytes``, is full) throws ``StoreError/Code/full``; the transaction is rolled
    /// back, so nothing of it is stored.
    private func write<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try pool.write(body)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_FULL {
            throw StoreError(
                .full,
                "no room to store the write in \(databasePath): the disk or the database's size limit is full "
                    + "(SQLite: \(error.message ?? "database or disk is full")); nothing of it was stored; "
                    + "free space and retry")
        } catch let error as DatabaseError where Self.isDamage(error) {
            throw damaged(error)
        }
    }

    /// Runs a read, naming a damaged database as such (see ``StoreError/Code/damaged``).
    private func read<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try pool.read(body)
        } catch let error as DatabaseError where Self.isDamage(error) {
            throw damaged(error)
        }
    }

    private static func isDamage(_ error: DatabaseError) -> Bool {
        error.resultCode == .SQLITE_CORRUPT || error.resultCode == .SQLITE_NOTADB
    }

    private func damaged(_ error: DatabaseError) -> StoreError {
        StoreError(
            .damaged,
            "the database \(databasePath) is damaged (SQLite: \(error.message ?? "malformed")): stop the server and "
                + "restore it from a backup (sqlite3 FILE 'PRAGMA integrity_check' lists what is wrong); retrying "
                + "will not help")
    }

    /// Opens (creating when absent) the store in `directory`, creating the directory too.
    ///
    /// Throws ``StoreError`` with code ``StoreError/Code/cannotOpen`` when the directory or database cannot be
    /// opened, and ``StoreError/Code/unsupportedSchema`` when a newer Newswire wrote it.
    public init(directory: String, configuration: Configuration = Configuration()) throws {
        self.directory = directory
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw StoreError(
                .cannotOpen,
                "cannot create data directory \(directory): \(StoreError.reason(ofFileError: error)); check the path "
                    + "and permissions")
        }
        databasePath = (directory as NSString).appendingPathComponent(configuration.fileName)

        var grdb = GRDB.Configuration()
        grdb.maximumReaderCount = max(1, configuration.maximumReaderCount)
        grdb.busyMode = .timeout(configuration.busyTimeoutSeconds)
        let synchronous = configuration.synchronous.rawValue
        let maximumDatabaseBytes = configuration.maximumDatabaseBytes
        grdb.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
            if let maximumDatabaseBytes {
                let pageSize = try Int.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
                try db.execute(sql: "PRAGMA max_page_count = \(max(1, maximumDatabaseBytes / pageSize))")
            }
        }
        do {
            pool = try DatabasePool(path: databasePath, configuration: grdb)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CORRUPT {
            // (A file that is not SQLite at all, SQLITE_NOTADB, is more likely the wrong file: cannotOpen below.)
            throw StoreError(
                .damaged,
                "cannot open database \(databasePath): it is damaged (SQLite: \(error.message ?? "malformed")); restore "
                    + "it from a backup, or move it aside to start with an empty store (sqlite3 FILE "
                    + "'PRAGMA integrity_check' lists what is wrong)")
        } catch {
            throw StoreError(
                .cannotOpen,
                "cannot open database \(databasePath): \(error); check that it is a Newswire data directory "
                    + "and that its files are readable and writable")
        }

        let migrator = Self.migrator
        if try pool.read({ try migrator.hasBeenSuperseded($0) }) {
            throw StoreError(
                .unsupportedSchema,
                "database \(databasePath) was written by a newer Newswire (unknown schema migrations); "
                    + "open it with that version")
        }
        try migrator.migrate(pool)
        let path = databasePath
        storeIdentifier = try pool.read { db in
            guard let text = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'storeIdentifier'")
            else { throw StoreError(.corruptRecord, "database \(path) has no store identifier") }
            return text
        }
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE article (
                        id TEXT NOT NULL UNIQUE,
                        published_key INTEGER NOT NULL,
                        seq INTEGER NOT NULL UNIQUE,
                        json BLOB NOT NULL
                    );
                    CREATE INDEX article_published ON article(published_key, id);
                    CREATE TABLE tombstone (
                        id TEXT NOT NULL PRIMARY KEY,
                        seq INTEGER NOT NULL UNIQUE
                    );
                    CREATE TABLE meta (
                        key TEXT NOT NULL PRIMARY KEY,
                        value
                    );
                    INSERT INTO meta(key, value) VALUES ('sequence', 0);
                    """)
            try db.execute(
                sql: "INSERT INTO meta(key, value) VALUES ('storeIdentifier', ?)",
                arguments: [UUID().uuidString.lowercased()])
        }
        return migrator
    }

    // MARK: Writes

    /// See ``ArticleStore/upsert(_:)``. Throws ``StoreError`` (``StoreError/Code/invalidRecord`` for an empty id).
    public func upsert(_ articles: [Article]) throws -> [UpsertOutcome] {
        if articles.isEmpty { return [] }
        // Encode outside the write transaction so the writer lock is held only for I/O.
        var encoded: [Data] = []
        encoded.reserveCapacity(articles.count)
        for article in articles {
            guard !article.id.rawValue.isEmpty else {
                throw StoreError(.invalidRecord, "cannot store an article with an empty id (title: \(article.title))")
            }
            encoded.append(Data(ArticleCodec.encode(article)))
        }
        return try write { db in
            var sequence = try Self.currentSequence(db)
            let startSequence = sequence
            let select = try db.cachedStatement(sql: "SELECT json FROM article WHERE id = ?")
            let insert = try db.cachedStatement(
                sql: "INSERT INTO article(id, published_key, seq, json) VALUES (?, ?, ?, ?)")
            let update = try db.cachedStatement(
                sql: "UPDATE article SET published_key = ?, seq = ?, json = ? WHERE id = ?")
            let clearTombstone = try db.cachedStatement(sql: "DELETE FROM tombstone WHERE id = ?")
            var outcomes: [UpsertOutcome] = []
            outcomes.reserveCapacity(articles.count)
            for (article, json) in zip(articles, encoded) {
                let id = article.id.rawValue
                let key = ScanCursor.publishedKey(of: article)
                if let stored = try Data.fetchOne(select, arguments: [id]) {
                    // Bytes differ also when only the encoder changed between versions: compare values then.
                    if stored == json || (try? ArticleCodec.decode(stored)) == article {
                        outcomes.append(.unchanged)
                        continue
                    }
                    sequence += 1
                    try update.execute(arguments: [key, Int64(sequence), json, id])
                    outcomes.append(.updated)
                } else {
                    sequence += 1
                    try insert.execute(arguments: [id, key, Int64(sequence), json])
                    try clearTombstone.execute(arguments: [id])
                    outcomes.append(.inserted)
                }
            }
            if sequence != startSequence { try Self.setSequence(db, sequence) }
            return outcomes
        }
    }

    /// See ``ArticleStore/delete(_:)``.
    public func delete(_ id: ArticleID) throws -> Bool {
        try write { db in
            try db.execute(sql: "DELETE FROM article WHERE id = ?", arguments: [id.rawValue])
            guard db.changesCount > 0 else { return false }
            let sequence = try Self.currentSequence(db) + 1
            try db.execute(
                sql: "INSERT OR REPLACE INTO tombstone(id, seq) VALUES (?, ?)",
                arguments: [id.rawValue, Int64(sequence)])
            try Self.setSequence(db, sequence)
            return true
        }
    }

    /// See ``ArticleStore/delete(_:)-([ArticleID])``: one transaction, one fsync.
    public func delete(_ ids: [ArticleID]) throws -> [Bool] {
        if ids.isEmpty { return [] }
        return try write { db in
            var sequence = try Self.currentSequence(db)
            let startSequence = sequence
            let delete = try db.cachedStatement(sql: "DELETE FROM article WHERE id = ?")
            let tombstone = try db.cachedStatement(sql: "INSERT OR REPLACE INTO tombstone(id, seq) VALUES (?, ?)")
            var existed: [Bool] = []
            existed.reserveCapacity(ids.count)
            for id in ids {
                try delete.execute(arguments: [id.rawValue])
                guard db.changesCount > 0 else {
                    existed.append(false)
                    continue
                }
                sequence += 1
                try tombstone.execute(arguments: [id.rawValue, Int64(sequence)])
                existed.append(true)
            }
            if sequence != startSequence { try Self.setSequence(db, sequence) }
            return existed
        }
    }

    private static func currentSequence(_ db: Database) throws -> UInt64 {
        let value = try Int64.fetchOne(db.cachedStatement(sql: "SELECT value FROM meta WHERE key = 'sequence'"))
        return UInt64(max(0, value ?? 0))
    }

    private static func setSequence(_ db: Database, _ sequence: UInt64) throws {
        try db.cachedStatement(sql: "UPDATE meta SET value = ? WHERE key = 'sequence'")
            .execute(arguments: [Int64(sequence)])
    }

    // MARK: Reads

    /// See ``ArticleStore/article(_:)``.
    public func article(_ id: ArticleID) throws -> Article? {
        try articles([id])[0]
    }

    /// See ``ArticleStore/articles(_:)``; all ids are read in one snapshot-isolated transaction.
    public func articles(_ ids: [ArticleID]) throws -> [Article?] {
        let encoded = try fetchJSON(ids)
        return try zip(ids, encoded).map { id, data in
            try data.map { try ArticleCodec.decodeStored($0, id: id.rawValue) }
        }
    }

    /// See ``ArticleStore/encodedArticles(_:)``.
    public func encodedArticles(_ ids: [ArticleID]) throws -> [[UInt8]?] {
        try fetchJSON(ids).map { $0.map { [UInt8]($0) } }
    }

    private func fetchJSON(_ ids: [ArticleID]) throws -> [Data?] {
        if ids.isEmpty { return [] }
        return try read { db in
            let select = try db.cachedStatement(sql: "SELECT json FROM article WHERE id = ?")
            return try ids.map { try Data.fetchOne(select, arguments: [$0.rawValue]) }
        }
    }

    /// See ``ArticleStore/scan(order:after:limit:)``. Throws ``StoreError/Code/invalidArgument`` for a limit
    /// outside `1...ScanPage.maximumLimit` or a cursor of another order.
    public func scan(order: ScanOrder, after cursor: ScanCursor?, limit: Int) throws -> ScanPage {
        try ScanPage.validate(order: order, cursor: cursor, limit: limit)
        let sql: String
        var arguments: StatementArguments
        switch (order, cursor) {
        case (.id, nil):
            sql = "SELECT id, published_key, json FROM article ORDER BY id LIMIT ?"
            arguments = [limit]
        case (.id, let cursor?):
            sql = "SELECT id, published_key, json FROM article WHERE id > ? ORDER BY id LIMIT ?"
            arguments = [cursor.id.rawValue, limit]
        case (.publishedAscending, _):
            return try scanByDate(after: cursor, limit: limit)
        case (.publishedDescending, nil):
            sql = "SELECT id, published_key, json FROM article ORDER BY published_key DESC, id DESC LIMIT ?"
            arguments = [limit]
        case (.publishedDescending, let cursor?):
            sql = """
                SELECT id, published_key, json FROM article WHERE (published_key, id) < (?, ?)
                ORDER BY published_key DESC, id DESC LIMIT ?
                """
            arguments = [cursor.publishedKey, cursor.id.rawValue, limit]
        }
        return try read { db in
            var articles: [Article] = []
            articles.reserveCapacity(limit)
            let last = try Self.fetchPage(db, sql: sql, arguments: arguments, into: &articles)
            guard articles.count == limit, let last else { return ScanPage(articles: articles, next: nil) }
            return ScanPage(
                articles: articles,
                next: ScanCursor(order: order, id: ArticleID(last.id), publishedKey: last.key))
        }
    }

    /// Oldest first, ties by id, undated articles last (by id): the dated rows, then the undated ones, each walk
    /// on the `(published_key, id)` index. An undated article's key is `Int64.min`, so a cursor with that key is
    /// in the undated part.
    private func scanByDate(after cursor: ScanCursor?, limit: Int) throws -> ScanPage {
        let undated = Int64.min
        return try read { db in
            var articles: [Article] = []
            articles.reserveCapacity(limit)
            var last: (id: String, key: Int64)?
            if cursor?.publishedKey != undated {
                let sql = """
                    SELECT id, published_key, json FROM article WHERE published_key > ? AND (published_key, id) > (?, ?)
                    ORDER BY published_key, id LIMIT ?
                    """
                last = try Self.fetchPage(
                    db, sql: sql,
                    arguments: [undated, cursor?.publishedKey ?? undated, cursor?.id.rawValue ?? "", limit],
                    into: &articles)
            }
            if articles.count < limit {
                let sql = "SELECT id, published_key, json FROM article WHERE published_key = ? AND id > ? ORDER BY id LIMIT ?"
                let after = cursor?.publishedKey == undated ? cursor?.id.rawValue ?? "" : ""
                last = try Self.fetchPage(
                    db, sql: sql, arguments: [undated, after, limit - articles.count], into: &articles) ?? last
            }
            guard articles.count == limit, let last else { return ScanPage(articles: articles, next: nil) }
            return ScanPage(
                articles: articles,
                next: ScanCursor(order: .publishedAscending, id: ArticleID(last.id), publishedKey: last.key))
        }
    }

    /// Appends the rows of a scan query (id, published_key, json) and returns the last row's id and key.
    private static func fetchPage(
        _ db: Database, sql: String, arguments: StatementArguments, into articles: inout [Article]
    ) throws -> (id: String, key: Int64)? {
        var last: (id: String, key: Int64)?
        let rows = try Row.fetchCursor(db.cachedStatement(sql: sql), arguments: arguments)
        while let row = try rows.next() {
            let id: String = row[0]
            let key: Int64 = row[1]
            let json: Data = row[2]
            articles.append(try ArticleCodec.decodeStored(json, id: id))
            last = (id, key)
        }
        return last
    }

    /// See ``ArticleStore/changes(since:limit:)``.
    public func changes(since sequence: UInt64, limit: Int) throws -> [StoreChange] {
        guard limit > 0 else {
            throw StoreError(.invalidArgument, "changes limit \(limit) must be positive")
        }
        let since = Int64(clamping: sequence)
        // Two index range scans merged here: a SQL UNION ... ORDER BY would sort the JSON blobs in a temp b-tree.
        return try read { db in
            var upserts: [StoreChange] = []
            let rows = try Row.fetchCursor(
                db.cachedStatement(sql: "SELECT seq, id, json FROM article WHERE seq > ? ORDER BY seq LIMIT ?"),
                arguments: [since, limit])
            while let row = try rows.next() {
                let id: String = row[1]
                let json: Data = row[2]
                upserts.append(
                    StoreChange(
                        sequence: UInt64(row[0] as Int64), id: ArticleID(id),
                        article: try ArticleCodec.decodeStored(json, id: id)))
            }
            var deletes: [StoreChange] = []
            let tombstones = try Row.fetchCursor(
                db.cachedStatement(sql: "SELECT seq, id FROM tombstone WHERE seq > ? ORDER BY seq LIMIT ?"),
                arguments: [since, limit])
            while let row = try tombstones.next() {
                deletes.append(StoreChange(sequence: UInt64(row[0] as Int64), id: ArticleID(row[1]), article: nil))
            }
            if deletes.isEmpty { return upserts }
            var merged: [StoreChange] = []
            merged.reserveCapacity(min(limit, upserts.count + deletes.count))
            var i = 0
            var j = 0
            while merged.count < limit, i < upserts.count || j < deletes.count {
                if j == deletes.count || (i < upserts.count && upserts[i].sequence < deletes[j].sequence) {
                    merged.append(upserts[i])
                    i += 1
                } else {
                    merged.append(deletes[j])
                    j += 1
                }
            }
            return merged
        }
    }

    /// See ``ArticleStore/latestSequence``.
    public var latestSequence: UInt64 {
        get throws { try read { try Self.currentSequence($0) } }
    }

    /// See ``ArticleStore/count()``.
    public func count() throws -> Int {
        try read { try Int.fetchOne($0, sql: "SELECT count(*) FROM article") ?? 0 }
    }

    // MARK: Maintenance

    /// Runs SQLite's `PRAGMA quick_check` (every page and record read, indexes not matched against their tables);
    /// returns the problems found (empty when the database is sound).
    public func integrityCheck() throws -> [String] {
        let lines = try read { try String.fetchAll($0, sql: "PRAGMA quick_check") }
        return lines == ["ok"] ? [] : lines
    }

    /// Closes the database connections. Further calls throw. Optional: the store also closes when released.
    public func close() throws {
        // Everything into the database file, WAL emptied: after a clean stop the store is one file to back up
        // or inspect. Best effort: a busy reader or a full disk only leaves the WAL for the next open to replay.
        try? pool.writeWithoutTransaction { try $0.checkpoint(.truncate) }
        try pool.close()
    }
}

extension ArticleCodec {
    /// Decodes a stored record, reporting failure as a ``StoreError`` naming `id`.
    static func decodeStored(_ data: Data, id: String) throws -> Article {
        do {
            return try decode(data)
        } catch {
            throw StoreError(
                .corruptRecord,
                "stored record for id \(id) is not a valid Article (\(error)); the database is damaged — "
                    + "restore it from a backup or re-import the source")
        }
    }
}

extension StoreError {
    /// The reason a Foundation file operation failed, in a few words: the POSIX reason (`Not a directory`,
    /// `Read-only file system`) rather than Foundation's dump of its error domains.
    public static func reason(ofFileError error: any Error) -> String {
        let underlying = ((error as NSError).userInfo[NSUnderlyingErrorKey] as? any Error).map { $0 as NSError }
        return underlying.map {
            $0.domain == NSPOSIXErrorDomain ? String(cString: strerror(Int32($0.code))) : $0.localizedDescription
        } ?? "\(error)"
    }
}
