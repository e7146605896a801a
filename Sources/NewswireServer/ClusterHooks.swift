import NewswireEngine
import NewswireModel
import NewswireProtocol

/// What a cluster node (an engine over a shared store, docs/CLUSTER.md) needs from the server beyond a single node:
/// other nodes' writes reach this node through the engine's feed, not through its own write path.
extension ServerContext {
    /// The record cache takes every record this node commits, its own writes and the other nodes' as it applies the
    /// feed (and forgets every id deleted), so a GET after a write is answered from memory, not from PostgreSQL.
    /// The engine calls this under its write lock in commit order, so an older version never replaces a newer one;
    /// for the feed it runs before the engine publishes the new position, so a read waiting for that position
    /// finds the cache in step. Each fill also moves the cache's epoch: a GET that read the store before the
    /// commit does not put its older copy back. Records are cached uncompressed: zlib per record would slow
    /// writes and the feed down. A single node fills its cache on GET only (its store is local).
    func observeClusterWrites() {
        guard engine.followsSharedStore else { return }
        engine.observeCommittedChanges { [recordCache] changes in
            recordCache.invalidate(changes.map(\.id))
            for change in changes {
                if let article = change.article { recordCache.insert(article, compressing: false) }
            }
        }
    }

    /// STATS fields of the node's place in the cluster: store kind and write target, feed position, lag.
    /// `store.error` is empty while the store is sound and answers; else why not: a cluster node's store did not
    /// tell its position (`store.sequence` is then the newest position this node knows of), or the database is
    /// damaged (writes are refused).
    func clusterStatEntries(_ stats: EngineStats) -> [StatEntry] {
        [
            StatEntry(name: "store.kind", value: .text(stats.storeDescription)),
            StatEntry(name: "store.error", value: .text(stats.storeError ?? "")),
            StatEntry(name: "feed.applied_sequence", value: .integer(Int64(stats.appliedSequence))),
            StatEntry(name: "feed.lag_changes", value: .integer(Int64(stats.lagChanges))),
            StatEntry(name: "feed.lag_ms", value: .integer(Int64(stats.lagMilliseconds))),
            StatEntry(name: "feed.shipped_articles", value: .integer(Int64(stats.shippedArticles))),
            StatEntry(name: "feed.waiting_reads", value: .integer(Int64(engine.readsWaitingForFeed))),
        ]
    }

    /// The feed position a write answer carries: this node's applied position right after the write (it holds the
    /// write's own changes); nil on a single node, whose answers stay as they were.
    var commitPosition: UInt64? { engine.followsSharedStore ? engine.appliedSequence : nil }

    /// Waits (bounded by ``FeedPosition/maximumWait``) until this node's index holds feed position `minimum`, so a
    /// read reflects a write acknowledged by another node; OVERLOADED, retryable, when it does not get there. The
    /// read holds no thread meanwhile (not one of the blocking pool's, which the node's other requests need).
    func waitForPosition(_ minimum: UInt64?) async throws {
        guard let minimum, engine.followsSharedStore, engine.appliedSequence < minimum else { return }
        let reached = await engine.applied(atLeast: minimum, within: FeedPosition.maximumWait)
        guard reached else {
            throw ProtocolError(
                code: .overloaded,
                message: "this node has applied the change feed up to \(engine.appliedSequence), not yet "
                    + "\(minimum); retry here or on another node",
                isRetryable: true)
        }
    }
}
