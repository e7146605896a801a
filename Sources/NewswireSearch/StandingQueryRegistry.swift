import NewswireModel

/// A verified (article version, query) pair, small so that ordering them is cheap.
private struct MatchedPair {
    var document: Int32
    var id: StandingQueryID
    var slot: Int32
}

/// The standing queries and their index; guarded by ``StandingQueryMatcher``'s lock.
struct StandingQueryRegistry {
    private struct Slot {
        let compiled: CompiledStandingQuery
        var keys: [UInt64]
    }

    private var slots: [Slot?] = []
    /// Each slot's compiled query, unretained (`slots` holds it), and its id: evaluating a (query, article) pair
    /// is the percolator's inner loop, where copying a slot (a retain and release per pair) showed in the profile.
    private var compiledBySlot: [Unmanaged<CompiledStandingQuery>?] = []
    private var idBySlot: [StandingQueryID] = []
    /// Each slot's text numbers when its query is a plain conjunction of a few texts (most standing queries): a
    /// pair is then evaluated from this dense array and the memo, without touching the compiled query (at 10,000
    /// queries, loading it was a cache miss per evaluated pair).
    private var conjunctionBySlot: [PlainConjunction] = []
    /// Each slot's ``TextFormula`` when its query is all texts but not a plain conjunction of a few (OR groups,
    /// exclusions): evaluated from text numbers like a conjunction, instead of through the compiled query's nested
    /// conditions (with OR groups of common terms, that walk was half of the matcher's time); empty for others.
    private var formulaBySlot: [TextFormula] = []
    /// Per slot, the quick test a candidate article passes before the query is evaluated on it (``CandidateFilter``):
    /// most candidates hold the query's rarest term but not the rest, and the test rejects them from a dense array
    /// and the article's key bits, without loading the query's formula (a cache miss per candidate).
    private var filterBySlot: [CandidateFilter] = []
    /// Per slot, what its matches need for their snippets: read per match without touching the compiled query.
    private var snippetSettingsBySlot: [CompiledStandingQuery.SnippetSettings] = []
    private var freeSlots: [Int32] = []
    private var slotOfID: [StandingQueryID: Int32] = [:]
    private var nextID: UInt64 = 1
    /// Index term → slots of the queries indexed under it.
    private var keyIndex: [UInt64: [Int32]] = [:]
    /// Slots of the queries evaluated on every article.
    private var alwaysChecked: [Int32] = []
    /// One bit per hashed index or candidate-filter term: most of an article's terms concern no query, and this
    /// rejects them without a dictionary probe. Bits are set on registration and only cleared by a rebuild.
    private var keyFilter = [UInt64](repeating: 0, count: 1 << (filterBits - 6))
    private static let filterBits = 20
    /// One bit per hashed index term only (the key filter above also holds every candidate-filter term): a key
    /// passing the key filter is looked up in `keyIndex` only if its bit is set here.
    private var indexFilter = [UInt64](repeating: 0, count: 1 << (indexFilterBits - 6))
    private static let indexFilterBits = 16
    /// One bit per BMP character that ends an index or candidate-filter key (a unigram's character, a bigram's
    /// second one): an article's CJK unit without its bit begins none of the keys that concern a query, and is
    /// passed over without making its keys (8 KiB, in cache; the key filter above is 128 KiB, a miss per key).
    /// Set with the key filter and only cleared by a rebuild.
    private var keyEnds = [UInt64](repeating: 0, count: 1 << (16 - 6))
    /// Occurrence counts of hashed terms over every article version matched so far (a count-min sketch row): the
    /// rarity estimate that picks each query's index term.
    private var termCounts = [UInt32](repeating: 0, count: 1 << countBits)
    private static let countBits = 18
    /// Every article is counted until this many were seen (by default the re-indexes at 64, 512 and 4,096
    /// articles), then one in ``countSampling``: the next re-index is at 32,768 articles, and ranking terms by
    /// rarity needs only the common ones counted well (a term in 1% of articles is still seen about ten times).
    private let fullyCountedArticles: Int
    private static let countSampling = 32

    init(fullyCountedArticles: Int = 4_096) {
        self.fullyCountedArticles = fullyCountedArticles
    }
    private(set) var articlesSeen = 0
    /// Queries are re-indexed when `articlesSeen` reaches this (then 8× further each time): terms picked before
    /// any statistics existed are replaced by the rarest ones observed.
    private var nextReindexAt = 64
    /// Per slot: the last (batch serial, document) that made it a candidate, so it collects each document once.
    private var lastCandidate: [Int] = []
    /// Per slot: the last batch serial it was evaluated in (to count the queries a batch evaluated).
    private var lastEvaluated: [Int] = []
    private var batchSerial = 0
    /// Numbers of the distinct (pattern, scope) text conditions of the registered queries: a batch looks each up
    /// once per article however many queries share it (``CompiledStandingQuery/OccurrenceMemo``).
    private var textNumbers = SharedNumbers<TextKey>()
    /// Numbers of the distinct highlight pattern lists: a batch's shared snippets are keyed by (article, number,
    /// length) instead of hashing the patterns for every match.
    private var snippetPatternNumbers = SharedNumbers<[TermPattern]>()

    private struct TextKey: Hashable {
        let pattern: TermPattern
        let scope: ParsedQuery.Scope
    }

    var count: Int { slotOfID.count }

    var statistics: StandingQueryStatistics {
        StandingQueryStatistics(
            queries: count, alwaysChecked: alwaysChecked.count, indexedTerms: keyIndex.count,
            articlesSeen: articlesSeen)
    }

    func query(_ id: StandingQueryID) -> StandingQuery? {
        slotOfID[id].map { slots[Int($0)]!.compiled.query }
    }

    /// A key's estimated cost as an index term, from the term counts. Static, given the counts: a method's
    /// closure would copy the whole registry (a retain of each of its arrays) per query re-indexed.
    private static func cost(_ key: UInt64, _ termCounts: UnsafeBufferPointer<UInt32>) -> Int {
        let count = Int(termCounts[Int(MatchKey.mix(key) >> UInt64(64 - countBits))])
        return count * 4 + MatchKey.prior(key)
    }

    mutating func add(_ compiled: CompiledStandingQuery) -> StandingQueryID {
        let id = StandingQueryID(rawValue: nextID)
        nextID += 1
        let slot: Int32
        let (keys, filterKeys) = termCounts.withUnsafeBufferPointer { counts in
            compiled.indexKeys { Self.cost($0, counts) }
        }
        compiled.textNumbers = compiled.texts.map { text in
            textNumbers.retain(TextKey(pattern: text.pattern, scope: text.scope))
        }
        compiled.snippetPatternNumber = snippetPatternNumbers.retain(compiled.snippetPatterns.patterns)
        compiled.snippetTextNumbers = compiled.texts.indices.compactMap { i in
            compiled.texts[i].scope == .titleOrBody ? compiled.textNumbers[i] : nil
        }
        if let free = freeSlots.popLast() {
            slot = free
            slots[Int(slot)] = Slot(compiled: compiled, keys: keys)
            compiledBySlot[Int(slot)] = Unmanaged.passUnretained(compiled)
            idBySlot[Int(slot)] = id
            conjunctionBySlot[Int(slot)] = PlainConjunction(compiled)
            formulaBySlot[Int(slot)] = TextFormula(compiled)
            snippetSettingsBySlot[Int(slot)] = compiled.snippetSettings
        } else {
            slot = Int32(slots.count)
            slots.append(Slot(compiled: compiled, keys: keys))
            compiledBySlot.append(Unmanaged.passUnretained(compiled))
            idBySlot.append(id)
            conjunctionBySlot.append(PlainConjunction(compiled))
            formulaBySlot.append(TextFormula(compiled))
            snippetSettingsBySlot.append(compiled.snippetSettings)
            filterBySlot.append(CandidateFilter())
            lastCandidate.append(-1)
            lastEvaluated.append(-1)
        }
        slotOfID[id] = slot
        index(slot, keys, filterKeys: filterKeys)
        return id
    }

    /// Indexes `slot` under `keys` (none: evaluated on every article), and gives it the candidate test of
    /// `filterKeys`; both kinds of key pass the key filter, so that an article's loop over its keys notes the
    /// filter keys it holds without a step for every other key.
    private mutating func index(_ slot: Int32, _ keys: [UInt64], filterKeys: [UInt64]) {
        if keys.isEmpty {
            alwaysChecked.append(slot)
            filterBySlot[Int(slot)] = CandidateFilter()
            return
        }
        filterBySlot[Int(slot)] = CandidateFilter(filterKeys)
        for key in keys {
            keyIndex[key, default: []].append(slot)
            let bit = Int(MatchKey.mix(key) >> UInt64(64 - Self.indexFilterBits))
            indexFilter[bit >> 6] |= 1 << UInt64(bit & 63)
        }
        for key in keys + filterKeys {
            let bit = Int(MatchKey.mix(key) >> UInt64(64 - Self.filterBits))
            keyFilter[bit >> 6] |= 1 << UInt64(bit & 63)
            if let end = MatchKey.lastCharacter(key), end < 1 << 16 { keyEnds[Int(end) >> 6] |= 1 << UInt64(end & 63) }
        }
    }

    mutating func remove(_ id: StandingQueryID) -> Bool {
        guard let slot = slotOfID.removeValue(forKey: id) else { return false }
        let keys = slots[Int(slot)]!.keys
        let compiled = slots[Int(slot)]!.compiled
        for text in compiled.texts { textNumbers.release(TextKey(pattern: text.pattern, scope: text.scope)) }
        snippetPatternNumbers.release(compiled.snippetPatterns.patterns)
        if keys.isEmpty {
            alwaysChecked.removeAll { $0 == slot }
        }
        for key in keys {
            keyIndex[key]?.removeAll { $0 == slot }
            if keyIndex[key]?.isEmpty == true { keyIndex[key] = nil }
        }
        slots[Int(slot)] = nil
        compiledBySlot[Int(slot)] = nil
        formulaBySlot[Int(slot)] = TextFormula()
        filterBySlot[Int(slot)] = CandidateFilter()
        freeSlots.append(slot)
        return true
    }

    /// Re-picks every query's index terms with the current statistics and rebuilds the index and filter.
    private mutating func reindex() {
        keyIndex = [:]
        alwaysChecked = []
        keyFilter = [UInt64](repeating: 0, count: keyFilter.count)
        indexFilter = [UInt64](repeating: 0, count: indexFilter.count)
        keyEnds = [UInt64](repeating: 0, count: keyEnds.count)
        let counts = termCounts
        counts.withUnsafeBufferPointer { counts in
            for s in slots.indices {
                guard let compiled = slots[s]?.compiled else { continue }
                let (keys, filterKeys) = compiled.indexKeys { Self.cost($0, counts) }
                slots[s]!.keys = keys
                index(Int32(s), keys, filterKeys: filterKeys)
            }
        }
    }

    mutating func match(_ batch: MatchBatch, exhaustive: Bool, snippets: SnippetTiming) -> StandingQueryMatches {
        batchSerial += 1
        let documents = batch.documents
        let serialBase = batchSerial << 32
        // The counts only pick index terms at the next re-index, and a random increment per term of every article
        // was most of the percolator's own time in the profile (the sketch is larger than the cache): once the
        // first re-indexes are done, one article in `sampling` is counted, adding `sampling` for each.
        let sampling = articlesSeen < fullyCountedArticles ? 1 : Self.countSampling
        // Always evaluated: every query (exhaustive), or those without an index term.
        let everyDocument: [Int32] =
            exhaustive ? slots.indices.compactMap { slots[$0] == nil ? nil : Int32($0) } : alwaysChecked
        var evaluatedPairs = 0
        var evaluatedQueries = 0
        var matched: [MatchedPair] = []
        var previousMatched = false
        var memo = CompiledStandingQuery.OccurrenceMemo()
        var candidates: [Int32] = []
        var documentBits = CandidateFilter.DocumentBits()
        let filters = filterBySlot
        for (d, document) in documents.enumerated() {
            // Candidates: the slots whose index terms the document's term stream holds (each once), while the
            // document's key bits are set for the candidates' quick test.
            candidates.removeAll(keepingCapacity: true)
            documentBits.clear()
            let stamp = serialBase | d
            let counted = (articlesSeen + d) % sampling == 0
            // Every key of the article's term stream when it is counted (or matched exhaustively); else only the
            // keys of CJK units that end some query's key, and every word's. Written without a nested function
            // and through buffer pointers: captured by a local function, the candidate list and the article's
            // bits were checked for exclusive access on every key (the runtime's access set showed in the profile).
            let everyKey = counted || exhaustive
            let keyIndex = self.keyIndex
            termCounts.withUnsafeMutableBufferPointer { counts in
                lastCandidate.withUnsafeMutableBufferPointer { lastCandidate in
                    documentBits.withUnsafeMutableWords { bits in
                        withUnsafeBuffers(keyFilter, indexFilter, keyEnds) { filter, indexed, ends in
                            document.forEachKey { end in
                                everyKey || end >= 1 << 16 || ends[Int(end) >> 6] & (1 << UInt64(end & 63)) != 0
                            } visit: { key in
                                let mixed = MatchKey.mix(key)
                                if counted {
                                    let c = Int(mixed >> UInt64(64 - Self.countBits))
                                    counts[c] =
                                        counts[c] > UInt32.max - UInt32(sampling) ? .max : counts[c] + UInt32(sampling)
                                }
                                if exhaustive { return }
                                let bit = Int(mixed >> UInt64(64 - Self.filterBits))
                                guard filter[bit >> 6] & (1 << UInt64(bit & 63)) != 0 else { return }
                                let position = CandidateFilter.position(mixed)
                                bits[position >> 6] |= 1 << UInt64(position & 63)
                                // Most keys that pass the filter are candidate-filter keys of some query, not
                                // index keys: a second, smaller filter spares them the dictionary probe.
                                let indexBit = Int(mixed >> UInt64(64 - Self.indexFilterBits))
                                guard indexed[indexBit >> 6] & (1 << UInt64(indexBit & 63)) != 0,
                                    let slots = keyIndex[key]
                                else { return }
                                for slot in slots where lastCandidate[Int(slot)] != stamp {
                                    lastCandidate[Int(slot)] = stamp
                                    candidates.append(slot)
                                }
                            }
                        }
                    }
                }
            }
            // Verify each candidate pair on the analysed text: a text condition that several queries share is
            // looked up in the document once.
            memo.startDocument(textCount: textNumbers.count)
            func evaluate(_ slot: Int32) {
                if lastEvaluated[Int(slot)] != batchSerial {
                    lastEvaluated[Int(slot)] = batchSerial
                    evaluatedQueries += 1
                }
                evaluatedPairs += 1
                let matches: Bool
                let conjunction = conjunctionBySlot[Int(slot)]
                if conjunction.count >= 0 {
                    matches = conjunction.holds(in: document, memo: &memo) { number in
                        let key = textNumbers.value(of: number)
                        return (key.pattern, key.scope)
                    }
                } else if !formulaBySlot[Int(slot)].isEmpty {
                    matches = formulaBySlot[Int(slot)].holds(in: document, memo: &memo) { number in
                        let key = textNumbers.value(of: number)
                        return (key.pattern, key.scope)
                    }
                } else {
                    matches = compiledBySlot[Int(slot)]!._withUnsafeGuaranteedRef { $0.matches(document, memo: &memo) }
                }
                guard matches else { return }
                matched.append(MatchedPair(document: Int32(d), id: idBySlot[Int(slot)], slot: slot))
                if document.role == .previous { previousMatched = true }
            }
            for slot in candidates where filters[Int(slot)].mayMatch(documentBits) { evaluate(slot) }
            for slot in everyDocument { evaluate(slot) }
        }
        // A change's previous version directly follows its current version, so (document, query id) order is
        // (change, query id) order.
        matched.sort { $0.document != $1.document ? $0.document < $1.document : $0.id < $1.id }
        var currentMatched = Set<Int64>()  // (change << 32 | slot), only needed to tell stoppedMatching apart
        if previousMatched {
            for pair in matched where documents[Int(pair.document)].role == .current {
                currentMatched.insert(Int64(documents[Int(pair.document)].change) << 32 | Int64(pair.slot))
            }
        }
        var matches: [StandingQueryMatch] = []
        matches.reserveCapacity(matched.count)
        var snippetCache = CompiledStandingQuery.SnippetCache()
        for pair in matched {
            let document = documents[Int(pair.document)]
            let compiled = compiledBySlot[Int(pair.slot)]!  // `slots` holds it; no retain per match
            let settings = snippetSettingsBySlot[Int(pair.slot)]
            if document.role == .current {
                let (hit, pending) = CompiledStandingQuery.hit(
                    for: document, index: pair.document, settings: settings, snippet: snippets, compiled: compiled,
                    cache: &snippetCache)
                var match = StandingQueryMatch(
                    query: pair.id, change: document.change, kind: document.isUpdate ? .updated : .inserted, hit: hit)
                match.pendingSnippet = pending
                matches.append(match)
            } else if !currentMatched.contains(Int64(document.change) << 32 | Int64(pair.slot)) {
                // The new version: it directly precedes the previous one.
                let (hit, _) = CompiledStandingQuery.hit(
                    for: documents[Int(pair.document) - 1], index: pair.document - 1, settings: settings, snippet: nil,
                    compiled: compiled, cache: &snippetCache)
                matches.append(
                    StandingQueryMatch(query: pair.id, change: document.change, kind: .stoppedMatching, hit: hit))
            }
        }
        if previousMatched {
            // Matches of one change were appended current-version first: restore query id order within it.
            matches.sort { $0.change != $1.change ? $0.change < $1.change : $0.query < $1.query }
        }
        articlesSeen += documents.count
        if articlesSeen >= nextReindexAt {
            while nextReindexAt <= articlesSeen { nextReindexAt *= 8 }
            reindex()
        }
        return StandingQueryMatches(
            matches: matches, deletions: batch.deletions, evaluatedQueries: evaluatedQueries,
            evaluatedPairs: evaluatedPairs)
    }
}

/// A plain conjunction of up to eight text conditions, by text number, stored inline (count -1: not one). Eight,
/// not four: alerts combining a few topics of two or three terms each (`乡村 振兴 产业 科技 创新 企业`) are
/// plain conjunctions of five to nine texts, and evaluated as a ``TextFormula`` each loaded its clauses from an
/// array of its own (a cache miss per evaluated pair at 10,000 queries; this array of inline rules stays in cache).
private struct PlainConjunction {
    /// Empty with `count` -1 when the query is not one.
    var numbers = InlineTextNumbers()

    init(_ compiled: CompiledStandingQuery) {
        guard let texts = compiled.plainConjunction,
            let numbers = InlineTextNumbers(texts.map { compiled.textNumbers[$0] })
        else { return }
        self.numbers = numbers
    }

    var count: Int32 { numbers.count }

    /// Whether every text occurs in `document` (each looked up once per document through `memo`).
    @inline(__always)
    func holds(
        in document: BatchDocument, memo: inout CompiledStandingQuery.OccurrenceMemo,
        condition: (Int32) -> (TermPattern, ParsedQuery.Scope)
    ) -> Bool {
        numbers.allSatisfy { number in memo.occurs(number, in: document, condition: { condition(number) }) }
    }
}

/// A query's rule over its text conditions, as shared text numbers: a sequence of clauses, each a count `n`
/// followed by `|n|` numbers; `n > 0`: one of them must occur (an OR group, or one required text when `n` is 1);
/// `n < 0`: not all of them may occur (an exclusion). The same rule as the compiled query's groups and exclusions,
/// without its nested arrays of conditions.
private struct TextFormula {
    private var clauses: [Int32] = []

    init() {}

    init(_ compiled: CompiledStandingQuery) {
        // Plain conjunctions of up to eight texts have their own path.
        guard PlainConjunction(compiled).count < 0 else { return }
        guard let formula = compiled.textFormula else { return }
        var k = 0
        while k < formula.count {
            let n = formula[k]
            clauses.append(Int32(n))
            for i in formula[(k + 1)...(k + abs(n))] { clauses.append(compiled.textNumbers[i]) }
            k += 1 + abs(n)
        }
    }

    var isEmpty: Bool { clauses.isEmpty }

    /// Whether the rule holds in `document` (each text looked up once per document through `memo`).
    func holds(
        in document: BatchDocument, memo: inout CompiledStandingQuery.OccurrenceMemo,
        condition: (Int32) -> (TermPattern, ParsedQuery.Scope)
    ) -> Bool {
        clauses.withUnsafeBufferPointer { clauses in
            var k = 0
            while k < clauses.count {
                let n = Int(clauses[k])
                let numbers = (k + 1)...(k + abs(n))
                k += 1 + abs(n)
                // An OR group holds once one of its texts occurs; an exclusion once one of its texts does not.
                let deciding = n > 0
                var clauseHolds = false
                for i in numbers {
                    let number = clauses[i]
                    if memo.occurs(number, in: document, condition: { condition(number) }) == deciding {
                        clauseHolds = true
                        break
                    }
                }
                if !clauseHolds { return false }
            }
            return true
        }
    }
}

/// Small numbers for the distinct values some registered queries share, counted by use: a number is freed (and
/// reused) once no query uses its value.
private struct SharedNumbers<Value: Hashable> {
    private var numbers: [Value: Int32] = [:]
    private var values: [Value?] = []
    private var uses: [Int] = []
    private var free: [Int32] = []

    /// The value a number in use stands for.
    func value(of number: Int32) -> Value { values[Int(number)]! }

    /// One more than the highest number handed out so far.
    var count: Int { uses.count }

    /// The value's number, counting one more use.
    mutating func retain(_ value: Value) -> Int32 {
        if let number = numbers[value] {
            uses[Int(number)] += 1
            return number
        }
        let number: Int32
        if let reused = free.popLast() {
            number = reused
            uses[Int(number)] = 1
            values[Int(number)] = value
        } else {
            number = Int32(uses.count)
            uses.append(1)
            values.append(value)
        }
        numbers[value] = number
        return number
    }

    /// One use fewer of a retained value.
    mutating func release(_ value: Value) {
        guard let number = numbers[value] else { return }
        uses[Int(number)] -= 1
        if uses[Int(number)] == 0 {
            numbers[value] = nil
            values[Int(number)] = nil
            free.append(number)
        }
    }
}

/// A quick necessary test of a candidate article: up to four keys, one of which an article the query matches holds,
/// looked up as bits of the article's filter keys (16,384 bits, cleared per article; only keys that pass the
/// registry's key filter are set). A false positive only costs the evaluation the test would have saved.
private struct CandidateFilter {
    /// Four 16-bit bit positions; 0xFFFF: unused. All ones: no test (every candidate passes).
    private var positions: UInt64 = .max

    /// No test.
    init() {}

    init(_ keys: [UInt64]) {
        guard !keys.isEmpty, keys.count <= 4 else { return }
        positions = 0
        for k in 0..<4 {
            let position = k < keys.count ? UInt64(Self.position(MatchKey.mix(keys[k]))) : 0xFFFF
            positions |= position << UInt64(16 * k)
        }
    }

    /// Bits 30…43 of the mixed key: the key index's filter uses the top bits, the term counts the top 18.
    @inline(__always)
    static func position(_ mixed: UInt64) -> Int { Int(truncatingIfNeeded: mixed >> 30) & 0x3FFF }

    /// Whether the article whose keys set `bits` may match: it holds one of the keys (or there is no test).
    @inline(__always)
    func mayMatch(_ bits: DocumentBits) -> Bool {
        if positions == .max { return true }
        var rest = positions
        for _ in 0..<4 {
            let position = Int(truncatingIfNeeded: rest & 0xFFFF)
            if position == 0xFFFF { return false }
            if bits.contains(position) { return true }
            rest >>= 16
        }
        return false
    }

    /// One article's keys as bits.
    struct DocumentBits {
        private var words = [UInt64](repeating: 0, count: 256)

        mutating func clear() {
            words.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        }

        @inline(__always)
        func contains(_ position: Int) -> Bool { words[position >> 6] & (1 << UInt64(position & 63)) != 0 }

        /// The bits as words, for the scan of an article's keys, which sets the bit at
        /// ``CandidateFilter/position(_:)`` of each key passing the key filter.
        mutating func withUnsafeMutableWords<R>(_ body: (UnsafeMutableBufferPointer<UInt64>) -> R) -> R {
            words.withUnsafeMutableBufferPointer { body($0) }
        }
    }
}

/// Three arrays' buffers at once, read only.
@inline(__always)
private func withUnsafeBuffers<R>(
    _ a: [UInt64], _ b: [UInt64], _ c: [UInt64],
    _ body: (UnsafeBufferPointer<UInt64>, UnsafeBufferPointer<UInt64>, UnsafeBufferPointer<UInt64>) -> R
) -> R {
    a.withUnsafeBufferPointer { a in
        b.withUnsafeBufferPointer { b in c.withUnsafeBufferPointer { c in body(a, b, c) } }
    }
}
