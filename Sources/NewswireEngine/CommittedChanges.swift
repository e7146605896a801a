import NewswireModel
import NewswireSearch
import NewswireStore

/// One change as it became durable, with its feed position: what live queries are fed.
public struct CommittedChange: Sendable, Hashable {
    /// What the change did.
    public enum Kind: UInt8, Sendable, Hashable {
        /// The id had no article before.
        case created
        /// A new version of an existing article.
        case updated
        /// The article was deleted.
        case deleted
        /// Read back from the compacted change feed: the article's latest version, created or updated (the feed
        /// does not say which).
        case written
    }

    /// The store's change sequence of this write.
    public var position: UInt64
    /// The article's id.
    public var id: ArticleID
    /// What the change did.
    public var kind: Kind
    /// The article as stored (nil for a deletion).
    public var article: Article?
    /// For an update: the version it replaced, when the engine read it (its own writes on a single node); nil
    /// when unknown. Live queries tell a watcher that saw the article match that it no longer does.
    public var previous: Article?
    /// The index's analysis of `article`, when the engine kept it for its observers
    /// (``NewswireEngine/keepAnalysesForObservers(_:)``): a live-query matcher need not analyse the text again.
    public var analysis: ArticleAnalysis?

    /// Creates a change.
    public init(
        position: UInt64, id: ArticleID, kind: Kind, article: Article?, previous: Article? = nil,
        analysis: ArticleAnalysis? = nil
    ) {
        self.position = position
        self.id = id
        self.kind = kind
        self.article = article
        self.previous = previous
        self.analysis = analysis
    }

    /// Equal when position, id, kind, article and previous version are (the analysis, derived from the article,
    /// is not compared).
    public static func == (lhs: CommittedChange, rhs: CommittedChange) -> Bool {
        lhs.position == rhs.position && lhs.id == rhs.id && lhs.kind == rhs.kind && lhs.article == rhs.article
            && lhs.previous == rhs.previous
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(position)
        hasher.combine(id)
        hasher.combine(kind)
        hasher.combine(article)
        hasher.combine(previous)
    }

    /// A change feed entry, as replayed (kind ``Kind/written`` or ``Kind/deleted``).
    init(feed change: StoreChange) {
        self.init(
            position: change.sequence, id: change.id, kind: change.article == nil ? .deleted : .written,
            article: change.article)
    }
}
