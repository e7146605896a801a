import NewswireModel

/// A ranked candidate: enough to order results without touching stored fields (ids only break ties).
struct Candidate {
    var score: Double
    /// Publication instant, `Int64.min` when unknown.
    var time: Int64
    var segment: Int32
    var doc: Int32
}

/// Keeps the best `capacity` candidates in a bounded heap (worst at the root).
struct TopCollector {
    let capacity: Int
    let sort: SearchSort
    let segments: [Segment]
    private var heap: [Candidate] = []

    init(capacity: Int, sort: SearchSort, segments: [Segment]) {
        self.capacity = capacity
        self.sort = sort
        self.segments = segments
        heap.reserveCapacity(min(capacity, 1024))
    }

    /// Whether `a` ranks before `b`.
    @inline(__always)
    func precedes(_ a: Candidate, _ b: Candidate) -> Bool {
        switch sort {
        case .relevance:
            if a.score != b.score { return a.score > b.score }
            if a.time != b.time { return a.time > b.time }
        case .newest:
            if a.time != b.time { return a.time > b.time }
        case .oldest:
            if a.time != b.time {
                // Undated articles go last.
                let at = a.time == .min ? Int64.max : a.time
                let bt = b.time == .min ? Int64.max : b.time
                return at < bt
            }
        }
        return Segment.idPrecedes(segments[Int(a.segment)], Int(a.doc), segments[Int(b.segment)], Int(b.doc))
    }

    /// Offers a candidate. Most candidates of a large result set lose to a full heap's worst on score (sorted by
    /// date, on time) alone: that test is inlined at the caller, the heap's upkeep is not.
    @inline(__always)
    mutating func add(_ candidate: Candidate) {
        if sort == .relevance {
            if heap.count == capacity, candidate.score < threshold { return }
        } else if heap.count == capacity, capacity > 0, losesOnTime(candidate, to: heap[0]) {
            return
        }
        insert(candidate)
    }

    /// Sorted by date: whether a full page already holds a candidate every document published at `time` ranks
    /// after (a walk in time order then stops: every later document ranks after it too).
    @inline(__always)
    func rejects(time: Int64) -> Bool {
        guard sort != .relevance, capacity > 0, heap.count == capacity else { return false }
        return losesOnTime(Candidate(score: 0, time: time, segment: 0, doc: 0), to: heap[0])
    }

    /// Sorted by date: whether `candidate` ranks after `worst` on its time alone (equal times go to the full test).
    @inline(__always)
    private func losesOnTime(_ candidate: Candidate, to worst: Candidate) -> Bool {
        if sort == .newest { return candidate.time < worst.time }
        // Oldest first, undated articles last.
        return (candidate.time == .min ? .max : candidate.time) > (worst.time == .min ? .max : worst.time)
    }

    @inline(never)
    private mutating func insert(_ candidate: Candidate) {
        guard capacity > 0 else { return }
        if heap.count < capacity {
            heap.append(candidate)
            var child = heap.count - 1
            while child > 0 {
                let parent = (child - 1) / 2
                // Worst at the root: move up while the child ranks after its parent.
                guard precedes(heap[parent], heap[child]) else { break }
                heap.swapAt(parent, child)
                child = parent
            }
        } else if precedes(candidate, heap[0]) {
            heap[0] = candidate
            var parent = 0
            while true {
                let left = 2 * parent + 1
                let right = left + 1
                var worst = parent
                if left < heap.count, precedes(heap[worst], heap[left]) { worst = left }
                if right < heap.count, precedes(heap[worst], heap[right]) { worst = right }
                if worst == parent { break }
                heap.swapAt(parent, worst)
                parent = worst
            }
        }
    }

    func sorted() -> [Candidate] { heap.sorted(by: precedes) }

    /// Whether `capacity` candidates are held (so a newcomer must beat the worst).
    var isFull: Bool { heap.count >= capacity }

    /// Score of the worst held candidate (meaningful when full, for relevance order).
    var threshold: Double { heap.first?.score ?? -.infinity }
}
