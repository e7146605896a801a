import NewswireModel

/// A ranked candidate: enough to order results without touching stored fields (ids only break ties).
struct Candidate {
    var score: Double
    /// Publication instant, `Int64.min` when unknown.
    var time: Int64
    var segment: Int32
    var doc: Int32
}

/// Runs a parsed query against the index state. Created per search; not shared between threads.
struct Executor {
    let state: IndexState
    let request: SearchRequest
    let query: ParsedQuery

    /// How a text condition is evaluated (a payload-free copy of ``PatternPlan`` for the hot loop).
    enum TextKind: UInt8 {
        case single, positional, verifyText
    }

    /// One text condition with its plan and global idf.
    struct Text {
        let pattern: TermPattern
        let scope: ParsedQuery.Scope
        let plan: PatternPlan
        let kind: TextKind
        /// Relative offset of each plan term (positional plans).
        let offsets: [Int32]
        let idf: Double
    }

    /// A condition compiled against the index; filters point into `allowed` tables.
    enum Compiled {
        case text(Int)
        case sources(Int)
        case persons(Int)
        case publishedFrom(Int64)
        case publishedBefore(Int64)
    }

    private var texts: [Text] = []
    private var allowed: [[Bool]] = []
    private var required: [Compiled] = []
    private var optionalGroups: [[[Compiled]]] = []
    private var exclusions: [[Compiled]] = []
    private var requestSources: [Bool]? = nil
    private let averageLength: Double

    init(state: IndexState, request: SearchRequest, query: ParsedQuery) {
        self.state = state
        self.request = request
        self.query = query
        averageLength = state.averageLength
        func compile(_ condition: ParsedQuery.Condition) -> Compiled {
            switch condition {
            case .text(let pattern, let scope):
                // Queries hold a handful of terms: a linear scan beats hashing patterns.
                if let i = texts.firstIndex(where: { $0.scope == scope && $0.pattern == pattern }) { return .text(i) }
                let plan = PatternPlan(pattern)
                // A phrase's idf is its rarest term's: a cheap, stable stand-in for the phrase's own frequency.
                let df = plan.terms.map { state.documentFrequency($0) }.min() ?? 0
                let kind: TextKind
                var offsets: [Int32] = []
                switch plan {
                case .single: kind = .single
                case .positional(let components):
                    kind = .positional
                    offsets = components.map(\.offset)
                case .verifyText: kind = .verifyText
                }
                texts.append(
                    Text(
                        pattern: pattern, scope: scope, plan: plan, kind: kind, offsets: offsets,
                        idf: Scoring.idf(documentFrequency: df, documentCount: state.liveCount)))
                return .text(texts.count - 1)
            case .source(let name):
                allowed.append(state.sources.normalized.map { $0.unicodeScalars.contains(name.unicodeScalars) })
                return .sources(allowed.count - 1)
            case .person(let name):
                allowed.append(state.persons.normalized.map { $0 == name })
                return .persons(allowed.count - 1)
            case .publishedFrom(let seconds): return .publishedFrom(seconds)
            case .publishedBefore(let seconds): return .publishedBefore(seconds)
            }
        }
        for group in query.groups {
            let compiled = group.map { $0.map(compile) }
            if compiled.count == 1 { required.append(contentsOf: compiled[0]) } else { optionalGroups.append(compiled) }
        }
        // Filters first (cheap), then texts in the order given.
        required = required.filter { if case .text = $0 { return false } else { return true } }
            + required.filter { if case .text = $0 { return true } else { return false } }
        exclusions = query.exclusions.map { $0.map(compile) }
        if !request.sources.isEmpty {
            let wanted = Set(request.sources)
            requestSources = state.sources.values.map { wanted.contains($0) }
        }
    }

    // MARK: Per-segment evaluation

    /// Cursors for one segment. Cursors live in a manually managed buffer: mutating them through an array
    /// would pay a uniqueness check per step in the hot loop.
    private struct SegmentContext {
        let segment: Segment
        var cursors: UnsafeMutablePointer<PostingCursor>
        var cursorCount = 0
        /// Cursor range of each text condition; `textPresent` is false when a term is absent from the segment.
        var textLower: [Int] = []
        var textUpper: [Int] = []
        var textPresent: [Bool] = []
        /// Each cursor's offset in its phrase (positional plans), aligned with `cursors`.
        var cursorOffsets: [Int32] = []
        // The segment's per-document arrays, held here so the per-document loop touches no class (a property
        // read through `segment` costs a retain and a release per document).
        let deleted: [UInt64]
        let titleLengths: [UInt32]
        let bodyLengths: [UInt32]
        let bodyBases: [Int32]
        let seconds: [Int64]
        let sourceIDs: [Int32]

        init(segment: Segment, capacity: Int) {
            self.segment = segment
            cursors = .allocate(capacity: max(capacity, 1))
            deleted = segment.deleted
            titleLengths = segment.titleLengths
            bodyLengths = segment.bodyLengths
            bodyBases = segment.bodyBases
            seconds = segment.seconds
            sourceIDs = segment.sourceIDs
        }

        func release() {
            cursors.deinitialize(count: cursorCount)
            cursors.deallocate()
        }

        @inline(__always) func isDeleted(_ doc: Int) -> Bool { deleted[doc >> 6] & (1 << UInt64(doc & 63)) != 0 }
    }

    private func makeContext(_ segment: Segment, base: UnsafePointer<UInt8>) -> SegmentContext {
        var context = SegmentContext(segment: segment, capacity: texts.reduce(0) { $0 + $1.plan.terms.count })
        for text in texts {
            let start = context.cursorCount
            var present = true
            for (n, ref) in text.plan.terms.enumerated() {
                guard let t = segment.term(ref) else {
                    present = false
                    break
                }
                (context.cursors + context.cursorCount).initialize(
                    to: PostingCursor(
                        base: base, start: segment.termStart[t], end: segment.termStart[t + 1],
                        positional: segment.isPositional(term: t)))
                context.cursorOffsets.append(n < text.offsets.count ? text.offsets[n] : 0)
                context.cursorCount += 1
            }
            if !present {
                (context.cursors + start).deinitialize(count: context.cursorCount - start)
                context.cursorCount = start
                context.cursorOffsets.removeLast(context.cursorOffsets.count - start)
            }
            context.textLower.append(start)
            context.textUpper.append(context.cursorCount)
            context.textPresent.append(present)
        }
        return context
    }

    /// Whether text condition `i` holds for `doc`, with its (title, body) occurrence counts.
    @inline(__always)
    private func evaluate(text i: Int, doc: Int32, _ context: inout SegmentContext) -> (Int32, Int32)? {
        guard context.textPresent[i] else { return nil }
        let lower = context.textLower[i]
        let upper = context.textUpper[i]
        let cursors = context.cursors
        for k in lower..<upper where !cursors[k].seek(doc) { return nil }
        let titleOnly = texts[i].scope == .title
        switch texts[i].kind {
        case .single:
            let title = cursors[lower].titleTF
            if titleOnly { return title > 0 ? (title, 0) : nil }
            return (title, cursors[lower].bodyTF)
        case .positional:
            return positionalMatch(text: i, doc: doc, lower: lower, upper: upper, titleOnly: titleOnly, &context)
        case .verifyText:
            let segment = context.segment
            let (units, bodyBase) = Analyzer.document(title: segment.title(Int(doc)), body: segment.body(Int(doc)))
            let pattern = texts[i].pattern
            let title = Int32(pattern.count(in: units, positions: 0..<bodyBase))
            let body = titleOnly ? 0 : Int32(pattern.count(in: units, positions: bodyBase..<Int32.max))
            return title + body > 0 ? (title, body) : nil
        }
    }

    /// Counts phrase matches in the current document by walking every component's positions once.
    /// With `firstOnly`, stops at the first match (the counts are then a lower bound: enough for "does it match").
    private func positionalMatch(
        text i: Int, doc: Int32, lower: Int, upper: Int, titleOnly: Bool, firstOnly: Bool = false,
        _ context: inout SegmentContext
    ) -> (Int32, Int32)? {
        let cursors = context.cursors
        var anchor = lower
        for k in lower..<upper where cursors[k].frequency < cursors[anchor].frequency { anchor = k }
        let bodyBase = context.bodyBases[Int(doc)]
        let count = upper - lower
        return withUnsafeTemporaryAllocation(of: PositionIterator.self, capacity: count) { iterators in
            for k in 0..<count { iterators.initializeElement(at: k, to: cursors[lower + k].positionIterator) }
            let a = anchor - lower
            let anchorOffset = context.cursorOffsets[anchor]
            var title: Int32 = 0
            var body: Int32 = 0
            outer: while iterators[a].value != .max {
                let start = iterators[a].value - anchorOffset
                iterators[a].advance()
                for k in 0..<count where k != a {
                    let target = start + context.cursorOffsets[lower + k]
                    let found = iterators[k].advance(to: target)
                    if found == .max { break outer }
                    if found != target { continue outer }
                }
                if start < bodyBase { title += 1 } else if !titleOnly { body += 1 }
                if firstOnly && title + body > 0 { break }
            }
            return title + body > 0 ? (title, body) : nil
        }
    }

    @inline(__always)
    private func bm25(_ idf: Double, _ title: Int32, _ body: Int32, _ doc: Int, _ context: SegmentContext) -> Double {
        let tf = Double(title) * Scoring.titleBoost + Double(body)
        let length = Double(context.titleLengths[doc]) * Scoring.titleBoost + Double(context.bodyLengths[doc])
        let norm = Scoring.k1 * (1 - Scoring.b + Scoring.b * length / averageLength)
        return idf * tf * (Scoring.k1 + 1) / (tf + norm)
    }

    /// Evaluates a conjunction; adds the BM25 of its positive text conditions to `score` when it holds.
    @inline(__always)
    private func holds(
        _ conjunction: [Compiled], doc: Int32, _ context: inout SegmentContext, score: inout Double, scoring: Bool
    ) -> Bool {
        let d = Int(doc)
        var subtotal = 0.0
        for condition in conjunction {
            switch condition {
            case .text(let i):
                guard let (title, body) = evaluate(text: i, doc: doc, &context) else { return false }
                if scoring { subtotal += bm25(texts[i].idf, title, body, d, context) }
            case .sources(let table):
                let id = context.sourceIDs[d]
                guard id >= 0, allowed[table][Int(id)] else { return false }
            case .persons(let table):
                guard context.segment.persons(of: d).contains(where: { allowed[table][Int($0)] }) else { return false }
            case .publishedFrom(let seconds):
                let t = context.seconds[d]
                guard t != .min, t >= seconds else { return false }
            case .publishedBefore(let seconds):
                let t = context.seconds[d]
                guard t != .min, t < seconds else { return false }
            }
        }
        score += subtotal
        return true
    }

    @inline(__always)
    private func passesRequestFilters(_ context: SegmentContext, _ doc: Int) -> Bool {
        if let requestSources {
            let id = context.sourceIDs[doc]
            guard id >= 0, requestSources[Int(id)] else { return false }
        }
        if request.publishedFrom == nil && request.publishedBefore == nil { return true }
        let t = context.seconds[doc]
        if let from = request.publishedFrom {
            guard t != .min, t >= from.secondsSinceEpoch else { return false }
        }
        if let before = request.publishedBefore {
            guard t != .min, t < before.secondsSinceEpoch else { return false }
        }
        return true
    }

    /// Everything a search accumulates.
    struct Sink {
        var total = 0
        var collector: TopCollector
        var facets: FacetAccumulator
    }

    /// Feeds every live document of segment `s` that matches the query to `sink`, in document order.
    func collect(segment s: Int, into sink: inout Sink) {
        let segment = state.segments[s]
        // Postings always end with a padding byte, so the base address exists.
        segment.postings.withUnsafeBufferPointer { buffer in scan(s, segment, base: buffer.baseAddress!, &sink) }
    }

    private func scan(_ s: Int, _ segment: Segment, base: UnsafePointer<UInt8>, _ sink: inout Sink) {
        var context = makeContext(segment, base: base)
        defer { context.release() }
        let cursors = context.cursors
        // Drive by the rarest term of the required text conditions.
        var driver: Int? = nil
        var driverDF = Int.max
        for condition in required {
            guard case .text(let i) = condition else { continue }
            guard context.textPresent[i] else { return }  // a required term is absent: nothing matches here
            for k in context.textLower[i]..<context.textUpper[i] where cursors[k].documentFrequency < driverDF {
                driverDF = cursors[k].documentFrequency
                driver = k
            }
        }
        let segmentIndex = Int32(s)
        let simple =
            required.count == 1 && optionalGroups.isEmpty && exclusions.isEmpty && requestSources == nil
            && request.publishedFrom == nil && request.publishedBefore == nil && sink.facets.isEmpty
        if simple, case .text(let i) = required[0], texts[i].kind == .single, let driver {
            // Fast path: one term, no filters. Score straight off the postings.
            let idf = texts[i].idf
            let titleOnly = texts[i].scope == .title
            let seconds = segment.seconds
            let blockCount = cursors[driver].blockCount
            if blockCount > 0 && !titleOnly && request.sort == .relevance && segment.deletedCount == 0
                && sink.collector.capacity > 0
            {
                // Block-max pruning: the total is the list's length (no deletions here); only blocks whose best
                // possible score could enter the top k are decoded.
                let df = cursors[driver].documentFrequency
                sink.total += df
                // Stored bounds assume the segment's average length; a larger index-wide average can raise scores
                // by at most the ratio (BM25's length norm shrinks by at most that factor).
                let scale = idf * max(1, averageLength / segment.averageLength) * (1 + 1e-6)
                for block in 0..<blockCount {
                    if sink.collector.isFull && cursors[driver].blockMaxScore(block) * scale < sink.collector.threshold {
                        continue
                    }
                    cursors[driver].jumpToBlock(block)
                    for _ in 0..<min(Segment.skipInterval, df - block * Segment.skipInterval) {
                        _ = cursors[driver].next()
                        let doc = cursors[driver].doc
                        let d = Int(doc)
                        let score = bm25(
                            idf, cursors[driver].titleTF, cursors[driver].bodyTF, d, context)
                        sink.collector.add(Candidate(score: score, time: seconds[d], segment: segmentIndex, doc: doc))
                    }
                }
                return
            }
            while cursors[driver].next() {
                let doc = cursors[driver].doc
                let d = Int(doc)
                if context.isDeleted(d) { continue }
                let title = cursors[driver].titleTF
                if titleOnly && title == 0 { continue }
                let body = titleOnly ? 0 : cursors[driver].bodyTF
                sink.total += 1
                sink.collector.add(
                    Candidate(score: bm25(idf, title, body, d, context), time: seconds[d], segment: segmentIndex, doc: doc))
            }
            return
        }
        if let driver {
            // Zig-zag join over every term the required texts need: each cursor (rarest first) either holds the
            // candidate or names the next document worth trying, and the driver skips ahead to it.
            var others: [Int] = []
            for condition in required {
                guard case .text(let i) = condition else { continue }
                for k in context.textLower[i]..<context.textUpper[i] where k != driver { others.append(k) }
            }
            others.sort { cursors[$0].documentFrequency < cursors[$1].documentFrequency }
            // A lone phrase ranked by relevance: documents that cannot reach the top k are only checked for a
            // match (first occurrence), not counted.
            var phrase: Int? = nil
            if simple, request.sort == .relevance, case .text(let i) = required[0], texts[i].kind == .positional {
                phrase = i
            }
            guard cursors[driver].next() else { return }
            var candidate = cursors[driver].doc
            search: while true {
                for k in others where !cursors[k].seek(candidate) {
                    if cursors[k].doc == .max { break search }
                    candidate = cursors[k].doc
                    if !cursors[driver].seek(candidate) {
                        if cursors[driver].doc == .max { break search }
                        candidate = cursors[driver].doc
                    }
                    continue search
                }
                if let phrase {
                    considerPhrase(phrase, candidate, segmentIndex, &context, &sink)
                } else {
                    consider(candidate, segmentIndex, &context, &sink)
                }
                guard cursors[driver].next() else { break }
                candidate = cursors[driver].doc
            }
        } else if var union = unionDrivers(context) {
            // No required text, but an OR group: a match satisfies one of its alternatives, so it is in the union
            // of their rarest terms' postings. Walk that union (copies of the cursors, so evaluation's own
            // cursors still see every candidate in order) instead of every document.
            for k in union.indices { _ = union[k].next() }
            while true {
                var candidate = Int32.max
                for k in union.indices where union[k].doc < candidate { candidate = union[k].doc }
                if candidate == .max { break }
                consider(candidate, segmentIndex, &context, &sink)
                for k in union.indices where union[k].doc == candidate { _ = union[k].next() }
            }
        } else {
            for doc in 0..<Int32(segment.count) { consider(doc, segmentIndex, &context, &sink) }
        }
    }

    /// For the OR group with the fewest candidates: a fresh copy of each alternative's rarest term cursor
    /// (alternatives with a term absent from the segment cannot hold and need none). Nil when no group has a text
    /// term in every alternative.
    private func unionDrivers(_ context: SegmentContext) -> [PostingCursor]? {
        var best: [PostingCursor]? = nil
        var bestCost = Int.max
        groups: for group in optionalGroups {
            var drivers: [PostingCursor] = []
            var cost = 0
            for alternative in group {
                var rarest = -1
                var absent = false
                for condition in alternative {
                    guard case .text(let i) = condition else { continue }
                    guard context.textPresent[i] else {
                        absent = true
                        break
                    }
                    for k in context.textLower[i]..<context.textUpper[i]
                    where rarest < 0 || context.cursors[k].documentFrequency < context.cursors[rarest].documentFrequency {
                        rarest = k
                    }
                }
                if absent { continue }
                guard rarest >= 0 else { continue groups }  // an alternative with filters only: any document
                drivers.append(context.cursors[rarest])
                cost += context.cursors[rarest].documentFrequency
            }
            if cost < bestCost {
                bestCost = cost
                best = drivers
            }
        }
        return best
    }

    @inline(__always)
    private func considerPhrase(
        _ i: Int, _ doc: Int32, _ s: Int32, _ context: inout SegmentContext, _ sink: inout Sink
    ) {
        let d = Int(doc)
        guard !context.isDeleted(d) else { return }
        let lower = context.textLower[i]
        let upper = context.textUpper[i]
        let titleOnly = texts[i].scope == .title
        let idf = texts[i].idf
        var needCounts = true
        if sink.collector.isFull {
            // Each match needs its own occurrence of every component, so the rarest bounds the phrase's tf.
            var title = Int32.max
            var body = Int32.max
            for k in lower..<upper {
                title = min(title, context.cursors[k].titleTF)
                body = min(body, context.cursors[k].bodyTF)
            }
            if titleOnly { body = 0 }
            needCounts = bm25(idf, title, body, d, context) * (1 + 1e-9) >= sink.collector.threshold
        }
        guard
            let (title, body) = positionalMatch(
                text: i, doc: doc, lower: lower, upper: upper, titleOnly: titleOnly, firstOnly: !needCounts, &context)
        else { return }
        sink.total += 1
        if needCounts {
            sink.collector.add(
                Candidate(score: bm25(idf, title, body, d, context), time: context.seconds[d], segment: s, doc: doc))
        }
    }

    @inline(__always)
    private func consider(_ doc: Int32, _ s: Int32, _ context: inout SegmentContext, _ sink: inout Sink) {
        let d = Int(doc)
        guard !context.isDeleted(d), passesRequestFilters(context, d) else { return }
        var score = 0.0
        guard holds(required, doc: doc, &context, score: &score, scoring: true) else { return }
        for group in optionalGroups {
            var any = false
            for alternative in group where holds(alternative, doc: doc, &context, score: &score, scoring: true) {
                any = true
            }
            guard any else { return }
        }
        for exclusion in exclusions {
            var ignored = 0.0
            if holds(exclusion, doc: doc, &context, score: &ignored, scoring: false) { return }
        }
        sink.total += 1
        sink.collector.add(Candidate(score: score, time: context.seconds[d], segment: s, doc: doc))
        if !sink.facets.isEmpty { sink.facets.add(context.segment, d) }
    }

    // MARK: Whole search

    func run() -> SearchPage {
        // Saturating: offset and limit come from the network and may be anything.
        let (sum, overflow) = max(0, request.offset).addingReportingOverflow(max(0, request.limit))
        let k = overflow ? Int.max : sum
        var sink = Sink(
            collector: TopCollector(capacity: k, sort: request.sort, segments: state.segments),
            facets: FacetAccumulator(fields: request.facets, state: state))
        for s in state.segments.indices { collect(segment: s, into: &sink) }
        let ranked = sink.collector.sorted()
        let page = ranked.dropFirst(max(0, request.offset)).prefix(max(0, request.limit))
        let snippetPatterns = SnippetPatterns(texts.filter { $0.scope == .titleOrBody }.map(\.pattern))
        var scratch = SnippetScratch()
        let hits = page.map { candidate in
            let segment = state.segments[Int(candidate.segment)]
            let doc = Int(candidate.doc)
            var hit = SearchHit(
                id: segment.id(doc), title: segment.title(doc),
                source: segment.sourceIDs[doc] >= 0 ? state.sources.values[Int(segment.sourceIDs[doc])] : nil,
                publishedAt: segment.publishedAt(doc), score: candidate.score)
            if request.includeSnippets {
                (hit.snippet, hit.highlights) = segment.withBody(doc) { body in
                    SnippetBuilder.snippet(
                        utf16: body, patterns: snippetPatterns, scratch: &scratch, length: request.snippetLength)
                }
            }
            return hit
        }
        return SearchPage(total: sink.total, hits: hits, facets: sink.facets.facets(limit: request.facetLimit))
    }
}

/// Facet counts by interned id.
struct FacetAccumulator {
    let fields: [FacetField]
    private var sourceCounts: [Int]
    private var monthCounts: [Int]
    private var personCounts: [Int]
    private let state: IndexState

    init(fields: [FacetField], state: IndexState) {
        self.fields = Array(Set(fields)).sorted()
        self.state = state
        sourceCounts = fields.contains(.source) ? Array(repeating: 0, count: state.sources.count) : []
        monthCounts = fields.contains(.month) ? Array(repeating: 0, count: state.months.count) : []
        personCounts = fields.contains(.person) ? Array(repeating: 0, count: state.persons.count) : []
    }

    var isEmpty: Bool { fields.isEmpty }

    mutating func add(_ segment: Segment, _ doc: Int) {
        if !sourceCounts.isEmpty, segment.sourceIDs[doc] >= 0 { sourceCounts[Int(segment.sourceIDs[doc])] += 1 }
        if !monthCounts.isEmpty, segment.monthIDs[doc] >= 0 { monthCounts[Int(segment.monthIDs[doc])] += 1 }
        if !personCounts.isEmpty {
            for p in segment.persons(of: doc) { personCounts[Int(p)] += 1 }
        }
    }

    func facets(limit: Int) -> [Facet] {
        fields.map { field in
            let (counts, names): ([Int], [String])
            switch field {
            case .source: (counts, names) = (sourceCounts, state.sources.values)
            case .month: (counts, names) = (monthCounts, state.months.values)
            case .person: (counts, names) = (personCounts, state.persons.values)
            }
            let values = counts.indices.filter { counts[$0] > 0 }
                .sorted { counts[$0] != counts[$1] ? counts[$0] > counts[$1] : names[$0] < names[$1] }
            return Facet(
                field: field,
                counts: values.prefix(max(0, limit)).map { FacetCount(value: names[$0], count: counts[$0]) })
        }
    }
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

    mutating func add(_ candidate: Candidate) {
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
