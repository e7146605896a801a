import NIOConcurrencyHelpers

/// Read-your-writes across cluster nodes (PROTOCOL.md §5.18): the highest commit position this client's writes were
/// acknowledged at. Reads carry it as their `minPosition`, so whichever node answers has applied those writes.
final class FeedPositionTracker: Sendable {
    private let highest = NIOLockedValueBox<UInt64>(0)

    /// Notes a write answer's commit position (nil from a single node: nothing to track).
    func acknowledged(_ position: UInt64?) {
        guard let position else { return }
        highest.withLockedValue { $0 = max($0, position) }
    }

    /// The position reads must reflect; nil before any write was acknowledged by a cluster node.
    var minimumForReads: UInt64? {
        let value = highest.withLockedValue { $0 }
        return value == 0 ? nil : value
    }
}

extension NewswireClient {
    /// Makes this client's reads reflect every write acknowledged at or below `position` (a write answer's
    /// `commitPosition`, for example from another client or process): a cluster node answers once it has applied
    /// them. Writes through this client do this by themselves.
    public func readsReflect(position: UInt64) {
        positions.acknowledged(position)
    }
}

extension UInt64 {
    /// Nil for zero (no position).
    var nonZero: UInt64? { self == 0 ? nil : self }
}
