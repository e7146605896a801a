import NewswireModel

/// Finding one segment's matches: a single term scored straight off its postings (block-max pruning), a
/// zig-zag join driven by the rarest required term, the union of an OR group's postings, or every document.
extension Executor {
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
        if request.sort != .relevance, Self.documentOrderRanksLast(segment, request.sort) {
            sink.collector.holdSegmentToOfferReversed()
        }
        segment.postings.withUnsafeBufferPointer { buffer in scan(s, segment, base: buffer.baseAddress!, &sink) }
        sink.collector.offerDeferred()
    }

    /// Whether, sorted by `sort`, a segment's later documents mostly rank before its earlier ones (newest first,
    /// documents written oldest first): judged from 17 documents spread over it, dated ones only.
    static func documentOrderRanksLast(_ segment: Segment, _ sort: SearchSort) -> Bool {
        let seconds = segment.seconds
        let count = seconds.count
        guard count > 1 else { return false }
        var rises = 0
        var falls = 0
        var previous: Int64?
        for k in 0...16 {
            let time = seconds[k * (count - 1) / 16]
            if time == .min { continue }
            if let previous {
                if time > previous { rises += 1 } else if time < previous { falls += 1 }
            }
            previous = time
        }
        return sort == .newest ? rises > falls : falls > rises
    }

    private func scan(_ s: Int, _ segment: Segment, base: UnsafePointer<UInt8>, _ sink: inout Sink) {
        var context = makeContext(segment, base: base)
        defer { context.release() }
        let cursors = context.cursors
        // Drive by the rarest term of the required text conditions.
        var driver: Int? = nil
        var driverDF = Int.max
        // Whether the driver's text is title-scoped: its term must then occur in a match's title.
        var driverInTitle = false
        for condition in required {
            guard case .text(let i) = condition else { continue }
            guard context.textPresent[i] else { return }  // a required term is absent: nothing matches here
            for k in context.textLower[i]..<context.textUpper[i] where cursors[k].documentFrequency < driverDF {
                driverDF = cursors[k].documentFrequency
                driver = k
                driverInTitle = context.textTitleOnly[i]
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
            if request.sort != .relevance, !titleOnly,
                walkInTimeOrder(cursors[driver], segmentIndex, context, &sink)
            {
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
                // Sorted by date, nothing is scored (PROTOCOL.md §5.6: such hits carry score 0).
                let score = request.sort == .relevance ? bm25(idf, title, body, d, context) : 0
                sink.collector.add(Candidate(score: score, time: seconds[d], segment: segmentIndex, doc: doc))
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
            // A conjunction of single terms and nothing else (`经济 增长`): every candidate the join finds holds
            // each term, so it is scored straight off the cursors, in the order the general path adds the terms.
            var singles: UnsafeMutableBufferPointer<ConjunctionTerm>? = nil
            if phrase == nil, optionalGroups.isEmpty, exclusions.isEmpty, requestSources == nil,
                request.publishedFrom == nil, request.publishedBefore == nil,
                required.allSatisfy({ if case .text(let i) = $0 { context.textKinds[i] == .single } else { false } })
            {
                let terms = UnsafeMutableBufferPointer<ConjunctionTerm>.allocate(capacity: required.count)
                for (n, condition) in required.enumerated() {
                    guard case .text(let i) = condition else { continue }
                    terms[n] = ConjunctionTerm(
                        cursor: context.textLower[i], idf: context.textIDF[i], titleOnly: context.textTitleOnly[i])
                }
                singles = terms
            }
            defer { singles?.deallocate() }
            guard cursors[driver].next() else { return }
            var candidate = cursors[driver].doc
            search: while true {
                // A title-scoped text holds only where each of its terms is in the title (a phrase's every
                // component, a verified phrase's every prefilter term): without that, no other cursor need move.
                if driverInTitle && cursors[driver].titleTF == 0 {
                    guard cursors[driver].next() else { break }
                    candidate = cursors[driver].doc
                    continue search
                }
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
                } else if let singles {
                    scoreConjunction(singles, candidate, segmentIndex, &context, &sink)
                } else {
                    consider(candidate, segmentIndex, &context, &sink)
                }
                guard cursors[driver].next() else { break }
                candidate = cursors[driver].doc
            }
        } else if let alternatives = singleTermAlternatives(context) {
            scoreUnion(alternatives, segmentIndex, &context, &sink)
        } else if let (group, drivers) = unionDrivers(context) {
            // No required text, but an OR group: a match satisfies one of its alternatives, so it is in the union
            // of their rarest terms' postings. Walk that union (copies of the cursors, so evaluation's own
            // cursors still see every candidate in order) instead of every document. An alternative whose rarest
            // term is not on the candidate cannot hold there, so only those whose driver stands on it are
            // evaluated: a group of hundreds of alternatives costs what the few present in each document do.
            var union = drivers.map(\.cursor)
            var present = [Bool](repeating: false, count: optionalGroups[group].count)
            for k in union.indices { _ = union[k].next() }
            while true {
                var candidate = Int32.max
                for k in union.indices where union[k].doc < candidate { candidate = union[k].doc }
                if candidate == .max { break }
                for k in union.indices where union[k].doc == candidate { present[drivers[k].alternative] = true }
                consider(candidate, segmentIndex, &context, &sink, drivenGroup: group, present: present)
                for k in union.indices where union[k].doc == candidate {
                    present[drivers[k].alternative] = false
                    _ = union[k].next()
                }
            }
        } else if required.isEmpty, optionalGroups.isEmpty, exclusions.isEmpty, request.sort != .relevance,
            sink.facets.isEmpty
        {
            browseInTimeOrder(segmentIndex, context, &sink)
        } else {
            for doc in 0..<Int32(segment.count) { consider(doc, segmentIndex, &context, &sink) }
        }
    }

    /// A single term sorted by date, when its list is long against the page: instead of reading every entry, the
    /// segment's documents are visited in time order (newest or oldest first) and each is looked up in the list
    /// (`list`, a cursor not yet advanced) until the page is full and the next one ranks after it; the total is the
    /// list's length less the deleted documents it holds. False (nothing done) when reading the list is cheaper:
    /// about `k × count / df` look-ups, each several entries' decoding, against `df` entries.
    private func walkInTimeOrder(
        _ list: PostingCursor, _ s: Int32, _ context: SegmentContext, _ sink: inout Sink
    ) -> Bool {
        let segment = context.segment
        let df = Double(list.documentFrequency)
        let lookups = Double(sink.collector.capacity) * Double(segment.count) / df + Double(segment.deletedCount)
        guard 4 * lookups < df else { return false }
        var deletedInList = 0
        if segment.deletedCount > 0 {
            for (word, bits) in context.deleted.enumerated() where bits != 0 {
                var rest = bits
                while rest != 0 {
                    var cursor = list
                    if cursor.find(Int32(word << 6 | rest.trailingZeroBitCount)) { deletedInList += 1 }
                    rest &= rest - 1
                }
            }
        }
        sink.total += list.documentFrequency - deletedInList
        offerInTimeOrder(s, context, &sink) { d in
            var cursor = list
            return cursor.find(Int32(d))
        }
        return true
    }

    /// Every document sorted by date (no text condition: browsing, maybe by source or time range, without facets):
    /// the total is counted from the segment's arrays, and the page filled by walking the documents in time order.
    private func browseInTimeOrder(_ s: Int32, _ context: SegmentContext, _ sink: inout Sink) {
        let segment = context.segment
        let filtered = requestSources != nil || request.publishedFrom != nil || request.publishedBefore != nil
        if filtered {
            for d in 0..<segment.count where !context.isDeleted(d) && passesRequestFilters(context, d) {
                sink.total += 1
            }
        } else {
            sink.total += segment.liveCount
        }
        offerInTimeOrder(s, context, &sink) { d in !filtered || passesRequestFilters(context, d) }
    }

    /// Offers the segment's live documents that `matches` accepts to the page, in the request's time order (newest
    /// or oldest first, undated ones last), until the page is full of documents that rank before the next one:
    /// every later one ranks after them too. Scores are 0 (nothing is scored by date).
    private func offerInTimeOrder(
        _ s: Int32, _ context: SegmentContext, _ sink: inout Sink, matches: (Int) -> Bool
    ) {
        // A page of no hits (the total alone) needs no walk.
        guard sink.collector.capacity > 0 else { return }
        // Offered in time order already: each is ranked at once, so that the walk can stop.
        sink.collector.offerDeferred()
        let order = context.segment.timeOrder
        let seconds = context.seconds
        // Whether to go on after document `d`.
        func visit(_ d: Int, _ sink: inout Sink) -> Bool {
            let time = seconds[d]
            if sink.collector.rejects(time: time) { return false }
            if !context.isDeleted(d), matches(d) {
                sink.collector.add(Candidate(score: 0, time: time, segment: s, doc: Int32(d)))
            }
            return true
        }
        if request.sort == .newest {
            // Undated documents (first in the order) come last.
            for index in order.indices.reversed() {
                guard visit(Int(order[index]), &sink) else { break }
            }
        } else {
            // Oldest first, undated documents last.
            var firstDated = order.count
            var low = 0
            while low < firstDated {
                let middle = (low + firstDated) / 2
                if seconds[Int(order[middle])] == .min { low = middle + 1 } else { firstDated = middle }
            }
            walk: for range in [firstDated..<order.count, 0..<firstDated] {
                for index in range {
                    guard visit(Int(order[index]), &sink) else { break walk }
                }
            }
        }
    }

    /// When the query is one OR group of single terms and nothing else (`北京 OR 上海 OR 广州`): the cursor of each
    /// alternative whose term is in the segment, in the group's order, with its text condition. Nil otherwise.
    private func singleTermAlternatives(_ context: SegmentContext) -> [(cursor: Int, text: Int)]? {
        guard required.isEmpty, optionalGroups.count == 1, exclusions.isEmpty, requestSources == nil,
            request.publishedFrom == nil, request.publishedBefore == nil
        else { return nil }
        var alternatives: [(cursor: Int, text: Int)] = []
        for alternative in optionalGroups[0] {
            guard alternative.count == 1, case .text(let i) = alternative[0], texts[i].kind == .single else {
                return nil
            }
            if context.textPresent[i] { alternatives.append((context.textLower[i], i)) }
        }
        return alternatives
    }

    /// Scores an OR group of single terms straight off the union of their postings: each document's score is the
    /// sum, in the group's order, of the BM25 of the alternatives it holds (as
    /// ``consider(_:_:_:_:drivenGroup:present:)`` adds them), with no seek per alternative and no second pass over
    /// the conditions.
    private func scoreUnion(
        _ alternatives: [(cursor: Int, text: Int)], _ s: Int32, _ context: inout SegmentContext, _ sink: inout Sink
    ) {
        let cursors = context.cursors
        // A duplicated alternative shares its text's cursor: advance each cursor once, after scoring.
        var distinct: [Int] = []
        for alternative in alternatives where !distinct.contains(alternative.cursor) {
            distinct.append(alternative.cursor)
        }
        for k in distinct { _ = cursors[k].next() }
        let idfs = alternatives.map { texts[$0.text].idf }
        let titleOnly = alternatives.map { texts[$0.text].scope == .title }
        let scoring = request.sort == .relevance  // sorted by date, nothing is scored
        while true {
            var candidate = Int32.max
            for k in distinct where cursors[k].doc < candidate { candidate = cursors[k].doc }
            if candidate == .max { break }
            let d = Int(candidate)
            if !context.isDeleted(d) {
                var score = 0.0
                var any = false
                for (n, alternative) in alternatives.enumerated() where cursors[alternative.cursor].doc == candidate {
                    let title = cursors[alternative.cursor].titleTF
                    if titleOnly[n] {
                        guard title > 0 else { continue }
                        if scoring { score += bm25(idfs[n], title, 0, d, context) }
                    } else if scoring {
                        score += bm25(idfs[n], title, cursors[alternative.cursor].bodyTF, d, context)
                    }
                    any = true
                }
                if any {
                    sink.total += 1
                    sink.collector.add(Candidate(score: score, time: context.seconds[d], segment: s, doc: candidate))
                    if !sink.facets.isEmpty { sink.facets.add(context.segment, d) }
                }
            }
            for k in distinct where cursors[k].doc == candidate { _ = cursors[k].next() }
        }
    }

    /// For the OR group with the fewest candidates: a fresh copy of each alternative's rarest term cursor
    /// (alternatives with a term absent from the segment cannot hold and need none). Nil when no group has a text
    /// term in every alternative.
    private func unionDrivers(
        _ context: SegmentContext
    ) -> (group: Int, drivers: [(cursor: PostingCursor, alternative: Int)])? {
        var best: (group: Int, drivers: [(cursor: PostingCursor, alternative: Int)])? = nil
        var bestCost = Int.max
        groups: for (g, group) in optionalGroups.enumerated() {
            var drivers: [(cursor: PostingCursor, alternative: Int)] = []
            var cost = 0
            for (a, alternative) in group.enumerated() {
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
                drivers.append((context.cursors[rarest], a))
                cost += context.cursors[rarest].documentFrequency
            }
            if cost < bestCost {
                bestCost = cost
                best = (g, drivers)
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
        let titleOnly = context.textTitleOnly[i]
        let idf = context.textIDF[i]
        var needCounts = true
        if sink.collector.isFull {
            // Each match needs its own occurrence of every component, so the rarest bounds the phrase's tf.
            var title = Int32.max
            var body = Int32.max
            for k in lower..<upper {
                title = min(title, context.cursors[k].titleTF)
                body = min(body, context.cursors[k].bodyTF)
            }
            if titleOnly {
                guard title > 0 else { return }  // not in the title: no match, nothing to decode
                body = 0
            }
            needCounts = bm25(idf, title, body, d, context) * (1 + 1e-9) >= sink.collector.threshold
        }
        guard
            let (title, body) = Self.positionalMatch(
                lower: lower, upper: upper, titleOnly: titleOnly, firstOnly: !needCounts,
                bodyBase: context.bodyBases[d], context)
        else { return }
        sink.total += 1
        if needCounts {
            sink.collector.add(
                Candidate(score: bm25(idf, title, body, d, context), time: context.seconds[d], segment: s, doc: doc))
        }
    }

    /// One single-term condition of a conjunction scored by ``scoreConjunction(_:_:_:_:_:)``.
    struct ConjunctionTerm {
        let cursor: Int
        let idf: Double
        let titleOnly: Bool
    }

    /// Scores a candidate every cursor of `terms` stands on; what ``consider(_:_:_:_:drivenGroup:present:)`` does
    /// for a conjunction of single terms without filters, less the dispatch per condition and the second seek per
    /// cursor.
    @inline(__always)
    private func scoreConjunction(
        _ terms: UnsafeMutableBufferPointer<ConjunctionTerm>, _ doc: Int32, _ s: Int32,
        _ context: inout SegmentContext, _ sink: inout Sink
    ) {
        let d = Int(doc)
        guard !context.isDeleted(d) else { return }
        let cursors = context.cursors
        var score = 0.0
        if request.sort == .relevance {
            for term in terms {
                let title = cursors[term.cursor].titleTF
                if term.titleOnly {
                    guard title > 0 else { return }
                    score += bm25(term.idf, title, 0, d, context)
                } else {
                    score += bm25(term.idf, title, cursors[term.cursor].bodyTF, d, context)
                }
            }
        } else {
            // Sorted by date, nothing is scored: only a title-scoped term can still rule the candidate out.
            for term in terms where term.titleOnly { guard cursors[term.cursor].titleTF > 0 else { return } }
        }
        sink.total += 1
        sink.collector.add(Candidate(score: score, time: context.seconds[d], segment: s, doc: doc))
        if !sink.facets.isEmpty { sink.facets.add(context.segment, d) }
    }

    /// Feeds `doc` to `sink` if it matches. With `drivenGroup`, only the alternatives of that OR group marked in
    /// `present` are evaluated (the others' rarest terms are not in `doc`, so they cannot hold).
    @inline(__always)
    private func consider(
        _ doc: Int32, _ s: Int32, _ context: inout SegmentContext, _ sink: inout Sink, drivenGroup: Int = -1,
        present: [Bool] = []
    ) {
        let d = Int(doc)
        guard !context.isDeleted(d), passesRequestFilters(context, d) else { return }
        var score = 0.0
        // Sorted by date, nothing is scored, and a phrase need only be found once.
        let scoring = request.sort == .relevance
        guard holds(required, doc: doc, &context, score: &score, scoring: scoring) else { return }
        for (g, group) in optionalGroups.enumerated() {
            var any = false
            for (a, alternative) in group.enumerated() {
                if g == drivenGroup && !present[a] { continue }
                if holds(alternative, doc: doc, &context, score: &score, scoring: scoring) { any = true }
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
}
