/// When each request of one connection is due in an open-loop run.
///
/// The run's rate R is spread evenly over C connections: connection i's k-th request is due at
/// `start + (i + k·C) / R`, so the merged stream is one evenly spaced sequence at R requests/s rather than C
/// bursts (memtier's per-connection rate sends its connections in lockstep).
public struct OpenLoopSchedule: Sendable, Hashable {
    /// Run start, in nanoseconds on the monotonic clock.
    public var start: UInt64
    /// Requests per second over all connections.
    public var rate: Double
    /// Number of connections sharing the rate.
    public var connections: Int
    /// This connection's index in `0..<connections`.
    public var index: Int

    /// Creates a schedule.
    public init(start: UInt64, rate: Double, connections: Int, index: Int) {
        precondition(rate > 0 && connections > 0 && (0..<connections).contains(index))
        self.start = start
        self.rate = rate
        self.connections = connections
        self.index = index
    }

    /// The due time of this connection's `k`-th request (0-based).
    @inline(__always)
    public func time(of k: Int) -> UInt64 {
        start + UInt64((Double(index) + Double(k) * Double(connections)) * 1e9 / rate)
    }
}

/// Hands out an open-loop schedule's requests as they fall due, never more than one per slot, and keeps each
/// request's scheduled time so latency can be measured from it.
///
/// Measuring from the scheduled time rather than the send time is the coordinated-omission correction: when the
/// server stalls, requests that should have gone out during the stall are sent late, and their wait counts.
public struct OpenLoopPacer: Sendable, Hashable {
    /// The schedule.
    public let schedule: OpenLoopSchedule
    /// No request is due at or after this time (nanoseconds).
    public private(set) var end: UInt64
    /// Index of the next request to hand out.
    public private(set) var nextIndex = 0

    /// Creates a pacer for the requests scheduled before `end`.
    public init(schedule: OpenLoopSchedule, end: UInt64) {
        self.schedule = schedule
        self.end = end
    }

    /// Ends the schedule early: nothing falls due at or after `instant` (a run stopped by the user).
    public mutating func end(at instant: UInt64) { end = min(end, instant) }

    /// The scheduled time of the next request, or nil when the schedule has ended.
    public var nextDue: UInt64? {
        let due = schedule.time(of: nextIndex)
        return due < end ? due : nil
    }

    /// If the next request is due at `now`, takes it and returns its scheduled time.
    @inline(__always)
    public mutating func takeDue(now: UInt64) -> UInt64? {
        guard let due = nextDue, due <= now else { return nil }
        nextIndex += 1
        return due
    }
}
