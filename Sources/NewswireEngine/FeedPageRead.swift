import Dispatch
import NewswireSearch
import NewswireStore

/// One page of a shared store's change feed, read on another thread while the follower prepares the page before
/// it: reading (a round trip and decoding every record) and indexing then overlap instead of taking turns.
final class FeedPageRead: Sendable {
    /// The position the page was read after.
    let since: UInt64
    private let done = DispatchSemaphore(value: 0)
    private let result = Locked<Result<[StoreChange], any Error>?>(nil)

    /// The last position the page may hold (the end of an announced commit), or nil for none.
    let through: UInt64?

    /// Starts reading up to `limit` changes after `since`, up to position `through` when given.
    init(store: any ArticleStore, since: UInt64, through: UInt64? = nil, limit: Int) {
        self.since = since
        self.through = through
        DispatchQueue.global(qos: .userInitiated).async { [done, result] in
            let page = Result {
                if let through, let shared = store as? any SharedArticleStore {
                    return try shared.changes(since: since, through: through, limit: limit)
                }
                return try store.changes(since: since, limit: limit)
            }
            result.withLock { $0 = page }
            done.signal()
        }
    }

    /// Waits for the page; rethrows the store's error.
    func page() throws -> [StoreChange] {
        done.wait()
        done.signal()  // a second call does not wait forever
        return try result.withLock { $0! }.get()
    }
}

/// A feed page's index segments (one per batch installed from its writer's shipped analysis, one for the rest)
/// and near-duplicate entries, computed outside the engine's write lock.
struct PreparedFeedPage {
    var segments: [PreparedSegment]
    var entries: [DuplicateEntry]
}
