import Dispatch
import NewswireModel
import NewswireSearch

/// Folding the index's segments together once writes go quiet.
extension NewswireEngine {
    /// What arms the compaction timer: bumped by every write (and every applied feed page); the timer compacts
    /// only when it is unchanged over a whole quiet period.
    struct CompactionTimer {
        var writes: UInt64 = 0
        var armed = false
        /// When the running timer was first armed: a steady stream of writes never leaves a quiet period, so
        /// compaction runs anyway once the timer has waited ``compactionLongestWaits`` quiet periods.
        var armedAt = ContinuousClock.now
    }

    /// See ``CompactionTimer/armedAt``: with the default quiet period, a live feed's segments are folded at
    /// least every 30 s (each time only the newer ones, until they hold an eighth of the oldest).
    static let compactionLongestWaits = 30

    /// Notes a write and, unless its timer is already running, arms one: once no write has arrived for
    /// ``Configuration/compactionQuietPeriod``, the merge thread folds the segments the writes left behind
    /// (``NewswireSearch/SearchIndex/compactSegments()``). During a burst the merge policy keeps about
    /// log2(articles / batch) segments, which every search visits (11 after the corpus ingested over the protocol:
    /// the median of the search benchmark's queries took 30 µs on them against 15–21 µs on one). One timer at a
    /// time, however many writes arrive; under a steady stream of writes it fires after ``compactionLongestWaits``
    /// quiet periods.
    func compactWhenQuiet() {
        guard let quiet = configuration.compactionQuietPeriod else { return }
        let arm = compactionTimer.withLock { timer -> UInt64? in
            timer.writes &+= 1
            if timer.armed { return nil }
            timer.armed = true
            timer.armedAt = .now
            return timer.writes
        }
        if let arm { armCompaction(after: quiet, seen: arm) }
    }

    private func armCompaction(after quiet: Duration, seen writes: UInt64) {
        let delay = DispatchTimeInterval.nanoseconds(Int(clamping: max(0, quiet.nanoseconds)))
        DispatchQueue.global(qos: .utility).asyncAfter(deadline: .now() + delay) { [self] in
            // Writes since it was armed: wait a quiet period from the latest of them, unless it has waited long.
            let later = compactionTimer.withLock { timer -> UInt64? in
                if timer.writes != writes, ContinuousClock.now - timer.armedAt < quiet * Self.compactionLongestWaits {
                    return timer.writes
                }
                timer.armed = false
                return nil
            }
            if let later { return armCompaction(after: quiet, seen: later) }
            if isClosed { return }
            mergeQueue.async(group: background) { [self] in
                if isClosed { return }
                buildingMerges { [self] in
                    if index.compactSegments() { compactions.withLock { $0 += 1 } }
                }
            }
        }
    }
}
