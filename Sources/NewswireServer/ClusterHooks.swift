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
}
