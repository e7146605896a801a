import NewswireModel

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
        /// The plan's terms, computed once (``PatternPlan/terms`` builds an array per call; segments read it).
        let terms: [TermRef]
        let kind: TextKind
        /// Relative offset of each plan term (positional plans).
        let offsets: [Int32]
        let idf: Double
        /// Documents holding the plan's rarest term (index-wide): how many candidates this text can yield.
        let documentFrequency: Int
    }

    /// A condition compiled against the index; filters point into `allowed` tables.
    enum Compiled {
        case text(Int)
        case sources(Int)
        case persons(Int)
        case publishedFrom(Int64)
        case publishedBefore(Int64)
    }

    private(set) var texts: [Text] = []
    private(set) var allowed: [[Bool]] = []
    private(set) var required: [Compiled] = []
    private(set) var optionalGroups: [[[Compiled]]] = []
    private(set) var exclusions: [[Compiled]] = []
    private(set) var requestSources: [Bool]? = nil
    let averageLength: Double

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
                var plan = PatternPlan(pattern)
                // A phrase's idf is its rarest term's: a cheap, stable stand-in for the phrase's own frequency.
                var df = Int.max
                for term in plan.terms { df = min(df, state.documentFrequency(term)) }
                if df == .max { df = 0 }
                let kind: TextKind
                var offsets: [Int32] = []
                switch plan {
                case .single: kind = .single
                case .positional(var components):
                    kind = .positional
                    if let extra = Self.rarerOverlappingBigram(pattern, components, than: df, state) {
                        components.append(extra)
                        plan = .positional(components)
                    }
                    offsets = components.map(\.offset)
                case .verifyText: kind = .verifyText
                }
                texts.append(
                    Text(
                        pattern: pattern, scope: scope, plan: plan, terms: plan.terms, kind: kind, offsets: offsets,
                        idf: Scoring.idf(documentFrequency: df, documentCount: state.liveCount),
                        documentFrequency: df))
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
            if group.count == 1 {
                for condition in group[0] { required.append(compile(condition)) }
            } else {
                optionalGroups.append(group.map { $0.map(compile) })
            }
        }
        // Filters first (cheap), then texts in the order given; most queries hold texts only and need no reorder.
        func isText(_ condition: Compiled) -> Bool { if case .text = condition { return true } else { return false } }
        if required.contains(where: { !isText($0) }) {
            required = required.filter { !isText($0) } + required.filter(isText)
        }
        if !query.exclusions.isEmpty { exclusions = query.exclusions.map { $0.map(compile) } }
        if !request.sources.isEmpty {
            let wanted = Set(request.sources)
            requestSources = state.sources.values.map { wanted.contains($0) }
        }
    }

    /// A CJK run is planned as covering bigrams at offsets 0, 2, 4, …; a bigram they skip (the `进产` of
    /// `推进产业智能`) can be far rarer than every covering one. Returns the rarest CJK bigram of the pattern when it
    /// is rarer than `df` and not yet a component: added to the components, it drives the join (far fewer
    /// candidates to verify) and verification checks it like any other, so matches are unchanged. The idf stays
    /// the covering plan's, so scores are too.
    static func rarerOverlappingBigram(
        _ pattern: TermPattern, _ components: [(term: TermRef, offset: Int32)], than df: Int, _ state: IndexState
    ) -> (term: TermRef, offset: Int32)? {
        let elements = pattern.elements
        var best: (term: TermRef, offset: Int32)? = nil
        var bestDF = df
        for j in elements.indices.dropLast() {
            let a = elements[j]
            let b = elements[j + 1]
            guard a.cjk != 0, b.cjk != 0, b.offset == a.offset + 1 else { continue }
            let term = TermRef.cjk(TermKey.bigram(a.cjk, b.cjk))
            if components.contains(where: { $0.term == term && $0.offset == a.offset }) { continue }
            let frequency = state.documentFrequency(term)
            if frequency < bestDF {
                bestDF = frequency
                best = (term, a.offset)
            }
        }
        return best
    }

    // MARK: Work estimate

    /// A bound, in "candidate units" (one unit about one posting visited and scored), on the work this search
    /// does: the candidates its drivers can yield (the rarest required text's documents, else the cheapest OR
    /// group's union, else every document), weighted by what checking one costs, plus building the page. Used by
    /// callers deciding whether a search is small enough to run where they stand; it never changes a result.
    var estimatedWork: Int {
        func weight(_ text: Text) -> Int {
            switch text.kind {
            case .single: return 1
            case .positional: return 2 * text.terms.count
            case .verifyText: return 256  // re-analyses each candidate's text
            }
        }
        var perCandidate = texts.reduce(0) { $0 + weight($1) } + (allowed.isEmpty ? 0 : 1)
        if !request.facets.isEmpty { perCandidate += 2 * request.facets.count }
        var candidates = Int.max
        for condition in required {
            if case .text(let i) = condition { candidates = min(candidates, texts[i].documentFrequency) }
        }
        if candidates == .max {
            for group in optionalGroups {
                var union = 0
                for alternative in group {
                    var rarest = state.liveCount
                    for condition in alternative {
                        if case .text(let i) = condition { rarest = min(rarest, texts[i].documentFrequency) }
                    }
                    union += rarest
                }
                candidates = min(candidates, union)
            }
        }
        if candidates == .max { candidates = state.liveCount }
        // A page's hit costs a few dozen units (ids, titles as strings); with a snippet, about a hundred more.
        let (sum, overflow) = max(0, request.offset).addingReportingOverflow(max(0, request.limit))
        let pageHits = min(overflow ? Int.max : sum, candidates)
        let perHit = request.includeSnippets ? 128 : 24
        let (work, workOverflow) = candidates.multipliedReportingOverflow(by: max(1, perCandidate))
        let (pageWork, pageOverflow) = pageHits.multipliedReportingOverflow(by: perHit)
        guard !workOverflow, !pageOverflow else { return .max }
        return work &+ pageWork
    }

    // MARK: Per-segment evaluation

    /// Cursors for one segment. Cursors live in a manually managed buffer: mutating them through an array
    /// would pay a uniqueness check per step in the hot loop.
    struct SegmentContext {
        let segment: Segment
        var cursors: UnsafeMutablePointer<PostingCursor>
        var cursorCount = 0
        /// Cursor range of each text condition; `textPresent` is false when a term is absent from the segment.
        var textLower: [Int] = []
        var textUpper: [Int] = []
        var textPresent: [Bool] = []
        /// Each cursor's offset in its phrase (positional plans), aligned with `cursors`.
        let cursorOffsets: UnsafeMutablePointer<Int32>
        /// Scratch for phrase matching: one position iterator per cursor, reused for every candidate.
        let iterators: UnsafeMutablePointer<PositionIterator>
        // Per text condition, copied out of ``Text`` once per segment: the per-document loop reads flat arrays of
        // plain values instead of fields of `texts`' elements (which hold arrays of their own).
        var textKinds: [TextKind] = []
        var textTitleOnly: [Bool] = []
        var textIDF: [Double] = []
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
            cursorOffsets = .allocate(capacity: max(capacity, 1))
            iterators = .allocate(capacity: max(capacity, 1))
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
            cursorOffsets.deallocate()
            iterators.deallocate()
        }

        @inline(__always) func isDeleted(_ doc: Int) -> Bool { deleted[doc >> 6] & (1 << UInt64(doc & 63)) != 0 }
    }

    func makeContext(_ segment: Segment, base: UnsafePointer<UInt8>) -> SegmentContext {
        let capacity = texts.reduce(0) { $0 + $1.terms.count }
        var context = SegmentContext(segment: segment, capacity: capacity)
        context.textLower.reserveCapacity(texts.count)
        context.textUpper.reserveCapacity(texts.count)
        context.textPresent.reserveCapacity(texts.count)
        context.textKinds.reserveCapacity(texts.count)
        context.textTitleOnly.reserveCapacity(texts.count)
        context.textIDF.reserveCapacity(texts.count)
        for text in texts {
            let start = context.cursorCount
            var present = true
            for (n, ref) in text.terms.enumerated() {
                guard let t = segment.term(ref) else {
                    present = false
                    break
                }
                (context.cursors + context.cursorCount).initialize(
                    to: PostingCursor(
                        base: base, start: segment.termStart[t], end: segment.termStart[t + 1],
                        positional: segment.isPositional(term: t)))
                context.cursorOffsets[context.cursorCount] = n < text.offsets.count ? text.offsets[n] : 0
                context.cursorCount += 1
            }
            if !present {
                (context.cursors + start).deinitialize(count: context.cursorCount - start)
                context.cursorCount = start
            }
            context.textLower.append(start)
            context.textUpper.append(context.cursorCount)
            context.textPresent.append(present)
            context.textKinds.append(text.kind)
            context.textTitleOnly.append(text.scope == .title)
            context.textIDF.append(text.idf)
        }
        return context
    }

    /// Whether text condition `i` holds for `doc`, with its (title, body) occurrence counts. With `firstOnly`, a
    /// phrase stops at its first occurrence: the counts are then a lower bound, enough for "does it match"
    /// (exclusions, and every text of a search sorted by date, which scores nothing).
    @inline(__always)
    func evaluate(text i: Int, doc: Int32, _ context: inout SegmentContext, firstOnly: Bool) -> (Int32, Int32)? {
        guard context.textPresent[i] else { return nil }
        let lower = context.textLower[i]
        let upper = context.textUpper[i]
        let cursors = context.cursors
        for k in lower..<upper where !cursors[k].seek(doc) { return nil }
        let titleOnly = context.textTitleOnly[i]
        switch context.textKinds[i] {
        case .single:
            let title = cursors[lower].titleTF
            if titleOnly { return title > 0 ? (title, 0) : nil }
            return (title, cursors[lower].bodyTF)
        case .positional:
            return Self.positionalMatch(
                lower: lower, upper: upper, titleOnly: titleOnly, firstOnly: firstOnly,
                bodyBase: context.bodyBases[Int(doc)], context)
        case .verifyText:
            let segment = context.segment
            let (units, bodyBase) = Analyzer.document(title: segment.title(Int(doc)), body: segment.body(Int(doc)))
            let pattern = texts[i].pattern
            let title = Int32(pattern.count(in: units, positions: 0..<bodyBase))
            let body = titleOnly ? 0 : Int32(pattern.count(in: units, positions: bodyBase..<Int32.max))
            return title + body > 0 ? (title, body) : nil
        }
    }

    /// Counts phrase matches of cursors `lower..<upper` (all on the same document, whose body starts at
    /// `bodyBase`) by walking every component's positions once, starting from the component with the fewest
    /// occurrences. With `firstOnly`, stops at the first match (the counts are then a lower bound: enough for
    /// "does it match").
    @inline(__always)
    static func positionalMatch(
        lower: Int, upper: Int, titleOnly: Bool, firstOnly: Bool, bodyBase: Int32, _ context: SegmentContext
    ) -> (Int32, Int32)? {
        let cursors = context.cursors
        // A title match needs every component in the title: without that, no position needs decoding.
        if titleOnly {
            for k in lower..<upper where cursors[k].titleTF == 0 { return nil }
        }
        var anchor = lower
        var fewest = cursors[lower].frequency
        for k in (lower + 1)..<upper {
            let frequency = cursors[k].frequency
            if frequency < fewest {
                fewest = frequency
                anchor = k
            }
        }
        let iterators = context.iterators
        let offsets = context.cursorOffsets
        for k in lower..<upper { iterators[k] = cursors[k].positionIterator }
        let anchorOffset = offsets[anchor]
        var title: Int32 = 0
        var body: Int32 = 0
        outer: while iterators[anchor].value != .max {
            let start = iterators[anchor].value - anchorOffset
            // Starts only grow, and title positions come before the body's.
            if titleOnly && start >= bodyBase { break }
            iterators[anchor].advance()
            for k in lower..<upper where k != anchor {
                let target = start + offsets[k]
                let found = iterators[k].advance(to: target)
                if found == .max { break outer }
                if found != target { continue outer }
            }
            if start < bodyBase { title += 1 } else if !titleOnly { body += 1 }
            if firstOnly { break }
        }
        return title + body > 0 ? (title, body) : nil
    }

    @inline(__always)
    func bm25(_ idf: Double, _ title: Int32, _ body: Int32, _ doc: Int, _ context: SegmentContext) -> Double {
        let tf = Double(title) * Scoring.titleBoost + Double(body)
        let length = Double(context.titleLengths[doc]) * Scoring.titleBoost + Double(context.bodyLengths[doc])
        let norm = Scoring.k1 * (1 - Scoring.b + Scoring.b * length / averageLength)
        return idf * tf * (Scoring.k1 + 1) / (tf + norm)
    }

    /// Evaluates a conjunction; adds the BM25 of its positive text conditions to `score` when it holds (without
    /// `scoring`, only whether it holds is found out).
    @inline(__always)
    func holds(
        _ conjunction: [Compiled], doc: Int32, _ context: inout SegmentContext, score: inout Double, scoring: Bool
    ) -> Bool {
        let d = Int(doc)
        var subtotal = 0.0
        for condition in conjunction {
            switch condition {
            case .text(let i):
                guard let (title, body) = evaluate(text: i, doc: doc, &context, firstOnly: !scoring) else {
                    return false
                }
                if scoring { subtotal += bm25(context.textIDF[i], title, body, d, context) }
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
    func passesRequestFilters(_ context: SegmentContext, _ doc: Int) -> Bool {
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
        // Snippet patterns and buffers are built only for a page that asks for snippets.
        var snippetPatterns: SnippetPatterns? = nil
        var snippetTerms: [SnippetTerm] = []
        var scratch: SnippetScratch? = nil
        if request.includeSnippets {
            let snippetTexts = texts.filter { $0.scope == .titleOrBody }
            snippetPatterns = SnippetPatterns(snippetTexts.map(\.pattern))
            snippetTerms = snippetTexts.map { SnippetTerm(kind: $0.kind, terms: $0.terms, offsets: $0.offsets) }
            scratch = SnippetScratch()
        }
        let hits = page.map { candidate in
            let segment = state.segments[Int(candidate.segment)]
            let doc = Int(candidate.doc)
            var hit = SearchHit(
                id: segment.id(doc), title: segment.title(doc),
                source: segment.sourceIDs[doc] >= 0 ? state.sources.values[Int(segment.sourceIDs[doc])] : nil,
                // PROTOCOL.md §5.6: a page sorted by date carries no scores (none of its paths computes one).
                publishedAt: segment.publishedAt(doc), score: candidate.score)
            if let snippetPatterns, scratch != nil {
                (hit.snippet, hit.highlights) = segment.withBody(doc) { body in
                    SnippetBuilder.snippet(
                        utf16: body, patterns: snippetPatterns, scratch: &scratch!, length: request.snippetLength,
                        mostDistinctPatterns: { span in
                            segment.mostDistinctPatterns(in: doc, terms: snippetTerms, span: span)
                        },
                        bodyMayHoldPatterns: { segment.bodyMayHoldAny(of: snippetTerms, doc: doc) })
                }
            }
            return hit
        }
        return SearchPage(total: sink.total, hits: hits, facets: sink.facets.facets(limit: request.facetLimit))
    }
}
