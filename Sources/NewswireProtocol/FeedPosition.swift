/// Cluster mode's change-feed positions on the wire (PROTOCOL.md §5.18).
///
/// One optional varint field, numbered 15 in every message that carries it: in PUT_RESULT and DELETE_RESULT the
/// position the write committed at (sent only by cluster nodes), in GET, GET_MANY and SEARCH the smallest position
/// the answer must reflect. Peers that do not know the field skip it, as they skip every unknown field (§4.3), so it is a
/// compatible v1 extension.
public enum FeedPosition {
    /// The field number.
    static let field: UInt32 = 15
    /// How long a node waits to reach a read's `minPosition` before answering OVERLOADED, retryable (§5.18).
    public static let maximumWait: Duration = .seconds(5)
}
