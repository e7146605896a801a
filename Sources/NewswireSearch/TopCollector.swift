import NewswireModel

/// A ranked candidate: enough to order results without touching stored fields (ids only break ties).
struct Candidate {
    var score: Double
    /// Publication instant, `Int64.min` when unknown.
    var time: Int64
    var segment: Int32
    var doc: Int32
}

/// Keeps the best `capacity` candidates.
///
/// By relevance, in a bounded heap (worst at the root). By date, many candidates share a publication time (news is
/// dated to the day or the minute), and a heap ordered by time and then id compared ids for most of them: instead a
/// bounded heap of times alone (``timeHeap``) rejects what cannot enter, what can is kept in ``buffered``, and the
/// ids break ties only among the few left at the end.
struct TopCollector {
    let capacity: Int
    let sort: SearchSort
    let segments: [Segment]
    private var heap: [Candidate] = []
    /// By date: the best `capacity` rank keys seen (``rankKey(_:)``; larger ranks first), smallest at the root.
    private var timeHeap: [Int64] = []
    /// By date: every candidate not rejected when it came (a superset of the best `capacity`).
    private var buffered: [Candidate] = []
    /// By date, while a segment is held (``holdSegmentToOfferReversed()``): its matches, offered from the last once
    /// it is read.
    private var deferred: [Candidate] = []
    private var deferring = false

    /// By date: the buffer's length at which what the best keys have passed is dropped (saturating: a page's
    /// offset comes from the network and may be anything up to `Int.max`).
    private let trimAt: Int

    init(capacity: Int, sort: SearchSort, segments: [Segment]) {
        self.capacity = capacity
        let (doubled, overflow) = capacity.multipliedReportingOverflow(by: 2)
        trimAt = overflow || doubled > Int.max - 1_024 ? Int.max : doubled + 1_024
        self.sort = sort
        self.segments = segments
        if sort == .relevance {
            heap.reserveCapacity(min(capacity, 1024))
        } else {
            timeHeap.reserveCapacity(min(capacity, 1024))
        }
    }

    /// By date: a publication time as a key that is larger the earlier it ranks (undated articles last either way).
    @inline(__always)
    private func rankKey(_ time: Int64) -> Int64 { Self.rankKey(time, newestFirst: sort == .newest) }

    @inline(__always)
    private static func rankKey(_ time: Int64, newestFirst: Bool) -> Int64 {
        if newestFirst || time == .min { return time }
        return -time  // oldest first; a time is seconds, far from Int64.min
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
            insert(candidate)
        } else {
            guard capacity > 0 else { return }
            let key = rankKey(candidate.time)
            if timeHeap.count == capacity, key < timeHeap[0] { return }
            keep(candidate, key: key)
        }
    }

    /// Sorted by date: the matches of the segment about to be read are held until ``offerDeferred()``, which
    /// offers them last first. For a segment whose documents rank the other way round from the page (sorted newest
    /// first, a segment written oldest first, as news mostly is): offered in document order, each match ranked
    /// before the page so far and went through the page's heap and buffer; offered from the end, the page fills
    /// with its best at once and the rest are turned away by one comparison each. The page is the same either way.
    mutating func holdSegmentToOfferReversed() {
        deferring = sort != .relevance && capacity > 0
    }

    /// Offers what ``holdSegmentToOfferReversed()`` held, last first, and stops holding.
    mutating func offerDeferred() {
        guard deferring else { return }
        deferring = false
        for candidate in deferred.reversed() { add(candidate) }
        deferred.removeAll(keepingCapacity: true)
    }

    /// Sorted by date: whether a full page already holds candidates every document published at `time` ranks after
    /// (a walk in time order then stops: every later document ranks after them too).
    @inline(__always)
    func rejects(time: Int64) -> Bool {
        guard sort != .relevance, capacity > 0, timeHeap.count == capacity else { return false }
        return rankKey(time) < timeHeap[0]
    }

    /// By date: keeps a candidate that may rank among the best, and its key among the best keys.
    @inline(never)
    private mutating func keep(_ candidate: Candidate, key: Int64) {
        // Held for the segment's end (what the page already holds still turned it away above, while a segment
        // is held: a later segment's matches are judged against the earlier ones'). Here, not in `add`: `add` is
        // inlined into every scoring loop, and the extra code there slowed the searches by relevance.
        if deferring {
            deferred.append(candidate)
            return
        }
        buffered.append(candidate)
        if timeHeap.count < capacity {
            timeHeap.append(key)
            Self.siftUp(&timeHeap, ranksAfter: <)
        } else if key > timeHeap[0] {
            timeHeap[0] = key
            Self.siftDown(&timeHeap, ranksAfter: <)
        }
        // Candidates the best keys have since passed are dropped now and then, so the buffer stays near `capacity`
        // plus the ties at its boundary (documents come in document order, often oldest first).
        if buffered.count >= trimAt, timeHeap.count == capacity {
            let bound = timeHeap[0]
            // Through the static form: the closure may not read `self` while `buffered` is being changed.
            let newestFirst = sort == .newest
            buffered.removeAll { Self.rankKey($0.time, newestFirst: newestFirst) < bound }
        }
    }

    @inline(never)
    private mutating func insert(_ candidate: Candidate) {
        guard capacity > 0 else { return }
        // Moved out while it is rearranged: the ordering reads `self`, which may not overlap a change of `heap`.
        var held: [Candidate] = []
        swap(&held, &heap)
        defer { swap(&held, &heap) }
        if held.count < capacity {
            held.append(candidate)
            Self.siftUp(&held) { precedes($1, $0) }
        } else if precedes(candidate, held[0]) {
            held[0] = candidate
            Self.siftDown(&held) { precedes($1, $0) }
        }
    }

    /// Restores a heap whose worst element (by `ranksAfter(a, b)`: a ranks after b) is at the root, after an append.
    @inline(__always)
    private static func siftUp<Element>(_ heap: inout [Element], ranksAfter: (Element, Element) -> Bool) {
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            // Worst at the root: move up while the child ranks after its parent.
            guard ranksAfter(heap[child], heap[parent]) else { break }
            heap.swapAt(parent, child)
            child = parent
        }
    }

    /// The same after the root was replaced.
    @inline(__always)
    private static func siftDown<Element>(_ heap: inout [Element], ranksAfter: (Element, Element) -> Bool) {
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var worst = parent
            if left < heap.count, ranksAfter(heap[left], heap[worst]) { worst = left }
            if right < heap.count, ranksAfter(heap[right], heap[worst]) { worst = right }
            if worst == parent { break }
            heap.swapAt(parent, worst)
            parent = worst
        }
    }

    func sorted() -> [Candidate] {
        if sort == .relevance { return heap.sorted(by: precedes) }
        // The best `capacity`: every candidate at or above the final bound, ties at it broken by id.
        let bound = timeHeap.count == capacity ? timeHeap.first ?? .min : .min
        return Array(buffered.filter { rankKey($0.time) >= bound }.sorted(by: precedes).prefix(capacity))
    }

    /// Whether `capacity` candidates are held (so a newcomer must beat the worst).
    var isFull: Bool { (sort == .relevance ? heap.count : timeHeap.count) >= capacity }

    /// Score of the worst held candidate (meaningful when full, for relevance order).
    var threshold: Double { heap.first?.score ?? -.infinity }
}
