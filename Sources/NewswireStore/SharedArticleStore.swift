import NewswireModel

/// An ``ArticleStore`` that several engines (cluster nodes) write to at once.
///
/// Each engine keeps its own index in step with the store's change feed. Two things then need the store's help:
/// - **Node-independent verdicts.** An engine decides near-duplicate verdicts from what it has applied. A write
///   therefore runs under the store-wide write lock, after the engine has applied every change other writers
///   committed before it (``serializedUpsert(after:_:)`` hands them over inside the lock). Every write is decided
///   against the same state whichever node takes it, exactly as on a single node.
/// - **Wake-ups.** ``waitForChanges(after:timeout:)`` returns early when another writer may have committed, so
///   followers apply changes promptly without polling hard.
///
/// The feed's positions are assigned under the same lock at commit, so they become visible in position order: a
/// reader that sees position `p` sees every position below it (the feed never skips a change).
public protocol SharedArticleStore: ArticleStore {
    /// One write under the store-wide write lock, in one transaction.
    ///
    /// Takes the lock, reads every change after `appliedSequence` (what other writers committed that the caller
    /// has not applied yet, oldest first) and hands it to `prepare`, which applies it to the caller's derived
    /// state and returns the articles to store; stores them as ``ArticleStore/upsert(_:)`` does and commits.
    /// `prepare` may run more than once (the store reruns the whole write on a new primary after losing its
    /// connection), each time with every change after `appliedSequence`, so applying them must be idempotent.
    ///
    /// Each ``ArticleWrite/derivedData`` is stored next to its record and returned with it by the change feed
    /// (``StoreChange/derivedData``).
    func serializedUpsert(
        after appliedSequence: UInt64, _ prepare: ([StoreChange]) throws -> [ArticleWrite]
    ) throws -> SerializedWrite

    /// ``serializedUpsert(after:_:)`` told the ids `prepare` will return, so the store may read what is stored
    /// for them while taking the lock instead of after `prepare` (one round trip fewer on a networked store).
    /// Returning other ids is allowed; it costs that read.
    func serializedUpsert(
        after appliedSequence: UInt64, expecting ids: [ArticleID], _ prepare: ([StoreChange]) throws -> [ArticleWrite]
    ) throws -> SerializedWrite

    /// Deletes `ids` in one transaction (all or none) under the store-wide write lock, after handing `apply` the
    /// changes after `appliedSequence`. Returns the write and, per id in order, whether it existed (an id listed
    /// twice existed only the first time).
    func serializedDelete(
        _ ids: [ArticleID], after appliedSequence: UInt64, _ apply: ([StoreChange]) throws -> Void
    ) throws -> (write: SerializedWrite, existed: [Bool])

    /// Blocks until a change after `sequence` may have been committed (another writer notified) or `timeout`
    /// passed. A spurious early return is allowed: callers read ``ArticleStore/changes(since:limit:)`` next.
    func waitForChanges(after sequence: UInt64, timeout: Duration)

    /// The highest feed position a change notification has announced to this process, or nil when the store
    /// cannot vouch that every commit is announced (it has no notifications, or its listener is not connected
    /// right now). A follower that woke up and has applied at least this position has nothing to read: the
    /// notification was for a write it already holds (typically its own). Notifications are only a hint, so a
    /// follower still reads the feed after every timeout of ``waitForChanges(after:timeout:)``.
    var announcedSequence: UInt64? { get }

    /// The positions that change notifications announced above `sequence`, ascending, at most `limit` of them:
    /// each is the last position of one commit, so they are where one writer batch ends and the next begins.
    /// Empty when the store has no notifications or knows of none above `sequence` (it may miss some, for
    /// example while its listener reconnects: a hint, never a bound on what the feed holds).
    func announcedPositions(after sequence: UInt64, limit: Int) -> [UInt64]

    /// ``ArticleStore/changes(since:limit:)`` limited to positions up to `through`.
    func changes(since sequence: UInt64, through: UInt64, limit: Int) throws -> [StoreChange]

    /// What the store says about where it writes (kind, host, whether it is a primary), for stats.
    var writeTargetDescription: String { get }

    /// When this process learnt that the oldest change after `sequence` was committed, on its own clock (a
    /// follower's lag is the time since then); nil when it knows of no change after `sequence`.
    func commitTime(ofFirstChangeAfter sequence: UInt64) -> ContinuousClock.Instant?

    /// ``ArticleStore/latestSequence`` that gives up after about `bound` (throws) instead of waiting out a
    /// failover: stats and monitoring ask it, and must answer while no primary does.
    func latestSequence(within bound: Duration) throws -> UInt64
}

extension SharedArticleStore {
    /// See the requirement; by default as ``ArticleStore/latestSequence``, unbounded.
    public func latestSequence(within bound: Duration) throws -> UInt64 { try latestSequence }

    /// See the requirement; by default the store vouches for nothing, so followers read after every wake-up.
    public var announcedSequence: UInt64? { nil }

    /// See the requirement; by default the store announces nothing.
    public func announcedPositions(after sequence: UInt64, limit: Int) -> [UInt64] { [] }

    /// See the requirement; by default a page read with `limit` and cut at `through`.
    public func changes(since sequence: UInt64, through: UInt64, limit: Int) throws -> [StoreChange] {
        try changes(since: sequence, limit: limit).filter { $0.sequence <= through }
    }

    /// See the requirement; by default the ids are not used.
    public func serializedUpsert(
        after appliedSequence: UInt64, expecting ids: [ArticleID], _ prepare: ([StoreChange]) throws -> [ArticleWrite]
    ) throws -> SerializedWrite {
        try serializedUpsert(after: appliedSequence, prepare)
    }
}

/// What a ``SharedArticleStore`` write did.
public struct SerializedWrite: Sendable, Hashable {
    /// The articles as stored (what the final `prepare` run returned), aligned with ``outcomes``.
    public var articles: [Article]
    /// One outcome per stored article.
    public var outcomes: [UpsertOutcome]
    /// The feed position after this write: every change up to it is committed, and the caller's derived state
    /// holds all of them once it applies this write's own changes.
    public var sequence: UInt64

    /// Creates a result.
    public init(articles: [Article], outcomes: [UpsertOutcome], sequence: UInt64) {
        self.articles = articles
        self.outcomes = outcomes
        self.sequence = sequence
    }
}

/// An article to store through ``SharedArticleStore/serializedUpsert(after:_:)``, with bytes its writer derived
/// from it (a cluster engine's near-duplicate features). They are kept next to the record, so the nodes following
/// the feed read them instead of computing them again. Opaque to the store; the reader checks they belong to the
/// article (a writer of another version may have stored none, or another format).
public struct ArticleWrite: Sendable, Hashable {
    /// The article.
    public var article: Article
    /// What the writer derived from it, or nil.
    public var derivedData: [UInt8]?

    /// Creates a write.
    public init(_ article: Article, derivedData: [UInt8]? = nil) {
        self.article = article
        self.derivedData = derivedData
    }
}
