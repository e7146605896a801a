import NewswireModel
import NewswireStore

/// What callers may read of the engine's store and index without stepping around the engine: the store and the
/// index themselves stay internal, so every write goes through the engine's rules.
extension NewswireEngine {
    /// The identifier of the store whose feed positions this engine reports (live queries name it).
    public var storeIdentifier: String { store.storeIdentifier }

    /// The store's latest feed position.
    public func latestPosition() throws -> UInt64 { try store.latestSequence }

    /// The store's change feed after `position`, oldest first, at most `limit` changes. The feed is compacted: it
    /// keeps each article's latest change.
    public func changes(after position: UInt64, limit: Int) throws -> [StoreChange] {
        try store.changes(since: position, limit: limit)
    }

    /// Articles in the search index.
    public var indexedCount: Int { index.count }

    /// Whether the search index holds `id`.
    public func isIndexed(_ id: ArticleID) -> Bool { index.contains(id: id) }
}
