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

    /// One text condition with its plan and global idf.
    struct Text {
        let pattern: TermPattern
        let scope: ParsedQuery.Scope
        let plan: PatternPlan
        let idf: Double
    }

    /// A condition compiled against the index (filters resolved to interned ids).
    enum Compiled {
        case text(Int)
        case sources([Bool])
        case persons([Bool])
        case publishedFrom(Int64)
        case publishedBefore(Int64)
    }

    private var texts: [Text] = []
    private var groups: [[[Compiled]]] = []
    private var exclusions: [[Compiled]] = []
    private var requestSources: [Bool]? = nil

    init(state: IndexState, request: SearchRequest, query: ParsedQuery) {
        self.state = state
        self.request = request
        self.query = query
        var textIndex: [ParsedQuery.Condition: Int] = [:]
        func compile(_ condition: ParsedQuery.Condition) -> Compiled {
            switch condition {
            case .text(let pattern, let scope):
                if let i = textIndex[condition] { return .text(i) }
                let plan = PatternPlan(pattern)
                // A phrase's idf is its rarest term's: a cheap, stable stand-in for the phrase's own frequency.
                let df = plan.terms.map { state.documentFrequency($0) }.min() ?? 0
                texts.append(
                    Text(
                        pattern: pattern, scope: scope, plan: plan,
                        idf: Scoring.idf(documentFrequency: df, documentCount: state.liveCount)))
                textIndex[condition] = texts.count - 1
                return .text(texts.count - 1)
            case .source(let name):
                return .sources(state.sources.normalized.map { $0.unicodeScalars.contains(name.unicodeScalars) })
            case .person(let name):
                return .persons(state.persons.normalized.map { $0 == name })
            case .publishedFrom(let seconds): return .publishedFrom(seconds)
            case .publishedBefore(let seconds): return .publishedBefore(seconds)
            }
        }
        groups = query.groups.map { $0.map { $0.map(compile) } }
        exclusions = query.exclusions.map { $0.map(compile) }
        if !request.sources.isEmpty {
            let wanted = Set(request.sources)
            requestSources = state.sources.values.map { wanted.contains($0) }
        }
    }

    // MARK: Per-segment evaluation

    /// Cursors and scratch space for one segment.
    private struct SegmentContext {
        let segment: Segment
        var cursors: [PostingCursor] = []
        /// Cursor range of each text condition, or nil when a term is absent from the segment.
        var textCursors: [Range<Int>?] = []
        var scratch: [[Int32]] = []
        /// Document frequency (in this segment) of each cursor's term.
        var cursorDF: [Int] = []
    }

    private func makeContext(_ segment: Segment, base: UnsafePointer<UInt8>) -> SegmentContext {
        var context = SegmentContext(segment: segment)
        for text in texts {
            let start = context.cursors.count
            var present = true
            for ref in text.plan.terms {
                guard let t = segment.term(ref) else {
                    present = false
                    break
                }
                context.cursorDF.append(Int(segment.termDF[t]))
                context.cursors.append(
                    PostingCursor(
                        base: base, start: segment.termStart[t], end: segment.termStart[t + 1],
                        positional: segment.isPositional(term: t)))
            }
            if present {
                context.textCursors.append(start..<context.cursors.count)
            } else {
                context.cursors.removeSubrange(start...)
                context.cursorDF.removeSubrange(start...)
                context.textCursors.append(nil)
            }
        }
        context.scratch = Array(repeating: [], count: context.cursors.count)
        return context
    }

    /// Whether text condition `i` holds for `doc`, with its (title, body) occurrence counts.
    @inline(__always)
    private func evaluate(text i: Int, doc: Int32, _ context: inout SegmentContext) -> (Int32, Int32)? {
        guard let range = context.textCursors[i] else { return nil }
        let text = texts[i]
        for k in range where !context.cursors[k].seek(doc) { return nil }
        switch text.plan {
        case .single:
            let c = context.cursors[range.lowerBound]
            if text.scope == .title { return c.titleTF > 0 ? (c.titleTF, 0) : nil }
            return (c.titleTF, c.bodyTF)
        case .positional(let components):
            var anchor = range.lowerBound
            for k in range {
                context.cursors[k].positions(into: &context.scratch[k])
                if context.scratch[k].count < context.scratch[anchor].count || k == range.lowerBound { anchor = k }
            }
            let bodyBase = context.segment.bodyBases[Int(doc)]
            let anchorOffset = components[anchor - range.lowerBound].offset
            var title: Int32 = 0
            var body: Int32 = 0
            for q in context.scratch[anchor] {
                let start = q - anchorOffset
                var all = true
                for k in range where k != anchor {
                    if !Self.sortedContains(context.scratch[k], start + components[k - range.lowerBound].offset) {
                        all = false
                        break
                    }
                }
                guard all else { continue }
                if start < bodyBase { title += 1 } else { body += 1 }
            }
            if text.scope == .title { body = 0 }
            return title + body > 0 ? (title, body) : nil
        case .verifyText:
            let segment = context.segment
            let (units, bodyBase) = Analyzer.document(title: segment.title(Int(doc)), body: segment.body(Int(doc)))
            let title = Int32(text.pattern.count(in: units, positions: 0..<bodyBase))
            let body = text.scope == .title ? 0 : Int32(text.pattern.count(in: units, positions: bodyBase..<Int32.max))
            return title + body > 0 ? (title, body) : nil
        }
    }

    @inline(__always)
    private static func sortedContains(_ values: [Int32], _ target: Int32) -> Bool {
        var low = 0
        var high = values.count
        while low < high {
            let mid = (low + high) >> 1
            if values[mid] < target { low = mid + 1 } else { high = mid }
        }
        return low < values.count && values[low] == target
    }

    /// Evaluates a conjunction; adds the BM25 of its positive text conditions to `score` when it holds.
    @inline(__always)
    private func holds(
        _ conjunction: [Compiled], doc: Int32, _ context: inout SegmentContext, score: inout Double, scoring: Bool
    ) -> Bool {
        let segment = context.segment
        var subtotal = 0.0
        for condition in conjunction {
            switch condition {
            case .text(let i):
                guard let (title, body) = evaluate(text: i, doc: doc, &context) else { return false }
                if scoring {
                    subtotal += Scoring.bm25(
                        idf: texts[i].idf, titleFrequency: Int(title), bodyFrequency: Int(body),
                        titleLength: Int(segment.titleLengths[Int(doc)]), bodyLength: Int(segment.bodyLengths[Int(doc)]),
                        averageLength: state.averageLength)
                }
            case .sources(let allowed):
                let id = segment.sourceIDs[Int(doc)]
                guard id >= 0, allowed[Int(id)] else { return false }
            case .persons(let allowed):
                guard segment.persons(of: Int(doc)).contains(where: { allowed[Int($0)] }) else { return false }
            case .publishedFrom(let seconds):
                let t = segment.seconds[Int(doc)]
                guard t != .min, t >= seconds else { return false }
            case .publishedBefore(let seconds):
                let t = segment.seconds[Int(doc)]
                guard t != .min, t < seconds else { return false }
            }
        }
        score += subtotal
        return true
    }

    private func passesRequestFilters(_ segment: Segment, _ doc: Int) -> Bool {
        if let requestSources {
            let id = segment.sourceIDs[doc]
            guard id >= 0, requestSources[Int(id)] else { return false }
        }
        let t = segment.seconds[doc]
        if let from = request.publishedFrom {
            guard t != .min, t >= from.secondsSinceEpoch else { return false }
        }
        if let before = request.publishedBefore {
            guard t != .min, t < before.secondsSinceEpoch else { return false }
        }
        return true
    }

    /// Calls `visit(doc, score)` for every live document of `segment` matching the query, in document order.
    func forEachMatch(in segmentIndex: Int, _ visit: (Int32, Double) -> Void) {
        let segment = state.segments[segmentIndex]
        // Postings always end with a padding byte, so the base address exists.
        segment.postings.withUnsafeBufferPointer { buffer in scanAll(segment, base: buffer.baseAddress!, visit) }
    }

    private func scanAll(_ segment: Segment, base: UnsafePointer<UInt8>, _ visit: (Int32, Double) -> Void) {
        var context = makeContext(segment, base: base)
        // Required conditions: the single alternative of single-alternative groups.
        var required: [Compiled] = []
        var optionalGroups: [[[Compiled]]] = []
        for group in groups {
            if group.count == 1 { required.append(contentsOf: group[0]) } else { optionalGroups.append(group) }
        }
        // Drive by the rarest term of the most selective required text condition.
        var driver: Int? = nil
        var driverDF = Int.max
        for condition in required {
            guard case .text(let i) = condition else { continue }
            guard let range = context.textCursors[i] else { return }  // a required term is absent: no match here
            for k in range {
                let df = context.cursorDF[k]
                if df < driverDF {
                    driverDF = df
                    driver = k
                }
            }
        }
        // Filters first (cheap), then texts in the order given.
        let orderedRequired = required.filter { if case .text = $0 { return false } else { return true } }
            + required.filter { if case .text = $0 { return true } else { return false } }
        let needsScore = true
        func consider(_ doc: Int32, _ context: inout SegmentContext) {
            let d = Int(doc)
            guard !segment.isDeleted(d), passesRequestFilters(segment, d) else { return }
            var score = 0.0
            guard holds(orderedRequired, doc: doc, &context, score: &score, scoring: needsScore) else { return }
            for group in optionalGroups {
                var any = false
                for alternative in group where holds(alternative, doc: doc, &context, score: &score, scoring: needsScore) {
                    any = true
                }
                guard any else { return }
            }
            for exclusion in exclusions {
                var ignored = 0.0
                if holds(exclusion, doc: doc, &context, score: &ignored, scoring: false) { return }
            }
            visit(doc, score)
        }
        if let driver {
            while context.cursors[driver].next() {
                consider(context.cursors[driver].doc, &context)
            }
        } else {
            for doc in 0..<Int32(segment.count) { consider(doc, &context) }
        }
    }

    // MARK: Whole search

    func run() -> SearchPage {
        let k = max(0, request.offset) + max(0, request.limit)
        var collector = TopCollector(capacity: k, sort: request.sort, segments: state.segments)
        var total = 0
        var facets = FacetAccumulator(fields: request.facets, state: state)
        for s in state.segments.indices {
            let segment = state.segments[s]
            forEachMatch(in: s) { doc, score in
                total += 1
                collector.add(Candidate(score: score, time: segment.seconds[Int(doc)], segment: Int32(s), doc: doc))
                if !facets.isEmpty { facets.add(segment, Int(doc)) }
            }
        }
        let ranked = collector.sorted()
        let page = ranked.dropFirst(max(0, request.offset)).prefix(max(0, request.limit))
        let snippetPatterns = texts.filter { $0.scope == .titleOrBody }.map(\.pattern)
        let hits = page.map { candidate in
            let segment = state.segments[Int(candidate.segment)]
            let doc = Int(candidate.doc)
            var hit = SearchHit(
                id: segment.id(doc), title: segment.title(doc),
                source: segment.sourceIDs[doc] >= 0 ? state.sources.values[Int(segment.sourceIDs[doc])] : nil,
                publishedAt: segment.publishedAt(doc), score: candidate.score)
            if request.includeSnippets {
                (hit.snippet, hit.highlights) = SnippetBuilder.snippet(
                    body: segment.body(doc), patterns: snippetPatterns, length: request.snippetLength)
            }
            return hit
        }
        return SearchPage(total: total, hits: hits, facets: facets.facets(limit: request.facetLimit))
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
}
