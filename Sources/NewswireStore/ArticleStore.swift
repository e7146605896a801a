import NewswireModel

/// A durable record store of ``Article``s, keyed by ``ArticleID``.
///
/// The protocol is what search and server code depend on, so a shared database can replace the embedded
/// default (``SQLiteArticleStore``) without touching them. Every method is synchronous and may block on disk:
/// call it from a thread pool, never from an event loop.
///
/// Every write that changes something takes the next value of a store-wide, strictly increasing change
/// sequence; ``changes(since:limit:)`` replays writes after a sequence (deletes included, as tombstones), which
/// is how an index built earlier catches up.
public protocol ArticleStore: Sendable {
    /// Inserts or replaces `articles` in one transaction, in order (a later duplicate id in the batch wins).
    ///
    /// Durable when it returns: an acknowledged write survives `kill -9` of the process. Writing a record that
    /// is equal to the stored one is a no-op (``UpsertOutcome/unchanged``): nothing is written and the change
    /// sequence does not move. Returns one outcome per input article, in input order.
    func upsert(_ articles: [Article]) throws -> [UpsertOutcome]

    /// Deletes the article with `id`, leaving a tombstone in the change feed. Returns whether it existed.
    func delete(_ id: ArticleID) throws -> Bool

    /// Deletes the articles with `ids` in one transaction: all or none, durable when it returns. Returns, per id
    /// in order, whether it existed (an id listed twice existed only the first time).
    func delete(_ ids: [ArticleID]) throws -> [Bool]

    /// The article with `id`, or nil.
    func article(_ id: ArticleID) throws -> Article?

    /// The articles with `ids`, aligned with `ids` (nil where an id is not stored).
    func articles(_ ids: [ArticleID]) throws -> [Article?]

    /// The stored serialized form (UTF-8 JSON of ``Article``, see ``ArticleCodec``) of each id, aligned with
    /// `ids` (nil where an id is not stored). Cheaper than ``articles(_:)`` when the bytes go straight out.
    func encodedArticles(_ ids: [ArticleID]) throws -> [[UInt8]?]

    /// One page of articles in `order`, starting after `cursor` (from the start when nil).
    ///
    /// Paging is keyset-based: pages stay consistent while writes happen between calls (an article inserted
    /// behind the cursor is not seen, one inserted ahead of it is). `limit` must be in
    /// `1...`` ScanPage/maximumLimit``.
    func scan(order: ScanOrder, after cursor: ScanCursor?, limit: Int) throws -> ScanPage

    /// Writes with a sequence greater than `sequence`, oldest first, at most `limit` of them.
    ///
    /// The feed is compacted: an id appears once, at the sequence of its latest write, as its current record
    /// or as a tombstone. Replaying it over a state taken at `sequence` yields the current state.
    func changes(since sequence: UInt64, limit: Int) throws -> [StoreChange]

    /// The sequence of the latest write (0 for a store that was never written).
    var latestSequence: UInt64 { get throws }

    /// A random identifier fixed when the store was created; lets derived state (an index snapshot) detect
    /// that it belongs to a different store.
    var storeIdentifier: String { get }

    /// Number of live (not deleted) articles.
    func count() throws -> Int

    /// Releases the store's resources; later calls may throw.
    func close() throws
}

/// What ``ArticleStore/upsert(_:)`` did with one article.
public enum UpsertOutcome: UInt8, Sendable, Hashable, Codable {
    /// The id was new (or had been deleted).
    case inserted = 0
    /// The id existed with a different record, which was replaced.
    case updated = 1
    /// The id existed with an equal record; nothing was written.
    case unchanged = 2
}

extension ArticleStore {
    /// One delete per id: only for stores whose single deletes are all it can offer; not atomic.
    public func delete(_ ids: [ArticleID]) throws -> [Bool] {
        try ids.map { try delete($0) }
    }
}

/// The order of a ``ArticleStore/scan(order:after:limit:)``.
public enum ScanOrder: UInt8, Sendable, Hashable, Codable, CaseIterable {
    /// By id, ascending (byte-wise UTF-8 order, which is `ArticleID`'s `<`).
    case id = 0
    /// By publication time, oldest first; ties by id ascending. Undated articles come last, by id (PROTOCOL.md
    /// §5.15).
    case publishedAscending = 1
    /// By publication time, newest first; ties by id descending. Undated articles come last.
    case publishedDescending = 2
}

/// Where a scan stopped: the position of the last article of a page, in that page's order.
///
/// Pass it back unchanged to get the next page. ``token`` is a printable form for clients to carry.
public struct ScanCursor: Sendable, Hashable {
    /// The order the cursor belongs to.
    public var order: ScanOrder
    /// The id of the last article returned.
    public var id: ArticleID
    /// The publication sort key of the last article returned (ignored for ``ScanOrder/id``).
    public var publishedKey: Int64

    /// Creates a cursor positioned after the article `id` with sort key `publishedKey` in `order`.
    public init(order: ScanOrder, id: ArticleID, publishedKey: Int64 = 0) {
        self.order = order
        self.id = id
        self.publishedKey = publishedKey
    }

    /// The sort key used for an article's publication time: its epoch seconds, or `Int64.min` when undated.
    public static func publishedKey(of article: Article) -> Int64 {
        article.publishedAt?.secondsSinceEpoch ?? Int64.min
    }

    /// Printable form: `<order>:<publishedKey>:<id>`.
    public var token: String { "\(order.rawValue):\(publishedKey):\(id.rawValue)" }

    /// Parses ``token``; nil when the text is not a cursor token.
    public init?(token: String) {
        let parts = token.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let rawOrder = UInt8(parts[0]), let order = ScanOrder(rawValue: rawOrder),
            let key = Int64(parts[1])
        else { return nil }
        self.init(order: order, id: ArticleID(String(parts[2])), publishedKey: key)
    }
}

/// One page of a scan.
public struct ScanPage: Sendable, Hashable {
    /// The largest `limit` a scan accepts, so one call cannot pull the whole store into memory.
    public static let maximumLimit = 10_000

    /// The articles, in the scan's order.
    public var articles: [Article]
    /// Cursor for the next page; nil when this page reached the end.
    public var next: ScanCursor?

    /// Creates a page.
    public init(articles: [Article], next: ScanCursor?) {
        self.articles = articles
        self.next = next
    }
}

/// One entry of the change feed.
public struct StoreChange: Sendable, Hashable {
    /// The sequence of the write.
    public var sequence: UInt64
    /// The article's id.
    public var id: ArticleID
    /// The article as written, or nil when the write was a delete (a tombstone).
    public var article: Article?
    /// Bytes the writer derived from the article and stored next to it (see ``ArticleWrite``), so a reader of the
    /// feed need not derive them again; nil when the store keeps none or the writer gave none.
    public var derivedData: [UInt8]?

    /// Creates a change entry.
    public init(sequence: UInt64, id: ArticleID, article: Article?, derivedData: [UInt8]? = nil) {
        self.sequence = sequence
        self.id = id
        self.article = article
        self.derivedData = derivedData
    }

    /// Whether this entry is a delete.
    public var isDeletion: Bool { article == nil }
}

/// A store failure a caller can act on.
public struct StoreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable error code. New codes may be added; switch with a `default`.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// The code's name, e.g. `CANNOT_OPEN`.
        public var rawValue: String
        /// Wraps a name.
        public init(rawValue: String) { self.rawValue = rawValue }

        /// An argument was out of range (limit, cursor).
        public static let invalidArgument = Code(rawValue: "INVALID_ARGUMENT")
        /// The data directory could not be created or opened.
        public static let cannotOpen = Code(rawValue: "CANNOT_OPEN")
        /// A stored record could not be decoded; the database is damaged or was written by something else.
        public static let corruptRecord = Code(rawValue: "CORRUPT_RECORD")
        /// The database was written by a newer Newswire (schema version too high).
        public static let unsupportedSchema = Code(rawValue: "UNSUPPORTED_SCHEMA")
        /// The record cannot be stored (for example an empty id).
        public static let invalidRecord = Code(rawValue: "INVALID_RECORD")
        /// A write found no room: the disk (or the database's size limit) is full. Nothing of it was stored;
        /// earlier commits are intact, reads still work, and the same write succeeds once there is room.
        public static let full = Code(rawValue: "FULL")
        /// The database file is damaged (truncated, overwritten): reads of the damaged part and writes fail until
        /// it is restored from a backup.
        public static let damaged = Code(rawValue: "DAMAGED")

        public var description: String { rawValue }
    }

    /// What kind of failure.
    public var code: Code
    /// What failed, for which input, and what to do.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

extension ScanPage {
    /// Checks a scan's limit and cursor as every ``ArticleStore/scan(order:after:limit:)`` must: a limit outside
    /// `1...maximumLimit` or a cursor of another order is ``StoreError/Code/invalidArgument``.
    public static func validate(order: ScanOrder, cursor: ScanCursor?, limit: Int) throws {
        guard (1...maximumLimit).contains(limit) else {
            throw StoreError(.invalidArgument, "scan limit \(limit) is out of range; use 1...\(maximumLimit)")
        }
        if let cursor, cursor.order != order {
            throw StoreError(
                .invalidArgument,
                "scan cursor \(cursor.token) belongs to order \(cursor.order), not \(order); "
                    + "start again without a cursor")
        }
    }
}
