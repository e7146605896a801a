import NewswireEngine
import NewswireModel
import NewswireProtocol

/// What a cluster node (an engine over a shared store, docs/CLUSTER.md) needs from the server beyond a single node:
/// other nodes' writes reach this node through the engine's feed, not through its own write path.
extension ServerContext {
    /// The record cache forgets every id another node changed, once this node's index holds the change.
    func observeClusterWrites() {
        engine.observeAppliedChanges { [recordCache] ids in recordCache.invalidate(ids) }
    }

    /// STATS fields of the node's place in the cluster: store kind and write target, feed position, lag.
    func clusterStatEntries(_ stats: EngineStats) -> [StatEntry] {
        [
            StatEntry(name: "store.kind", value: .text(stats.storeDescription)),
            StatEntry(name: "feed.applied_sequence", value: .integer(Int64(stats.appliedSequence))),
            StatEntry(name: "feed.lag_changes", value: .integer(Int64(stats.lagChanges))),
            StatEntry(name: "feed.lag_ms", value: .integer(Int64(stats.lagMilliseconds))),
        ]
    }

    /// The feed position a write answer carries: this node's applied position right after the write (it holds the
    /// write's own changes); nil on a single node, whose answers stay as they were.
    var commitPosition: UInt64? { engine.followsSharedStore ? engine.appliedSequence : nil }

    /// Waits (bounded by ``FeedPosition/maximumWait``) until this node's index holds feed position `minimum`, so a
    /// read reflects a write acknowledged by another node; OVERLOADED, retryable, when it does not get there.
    func waitForPosition(_ minimum: UInt64?) async throws {
        guard let minimum, engine.followsSharedStore, engine.appliedSequence < minimum else { return }
        let engine = self.engine
        let reached = try await threadPool.runIfActive {
            try engine.waitUntilApplied(minimum, timeout: FeedPosition.maximumWait)
        }
        guard reached else {
            throw ProtocolError(
                code: .overloaded,
                message: "this node has applied the change feed up to \(engine.appliedSequence), not yet "
                    + "\(minimum); retry here or on another node",
                isRetryable: true)
        }
    }
}
