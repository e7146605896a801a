import NewswireModel

// Over 500 lines on purpose for now: live queries are being built on this matcher, so it is split by concept
// (keys, batch term streams, the query index, verification) once that work has landed, not under it.

/// Term keys shared by a batch's term streams and the query index: a CJK character, a CJK bigram (two CJK units
/// at consecutive positions), or a word (hashed: a collision only adds a candidate, never drops one; every
/// candidate is verified on the analysed text).
enum MatchKey {
    static func unigram(_ cjk: UInt32) -> UInt64 { 1 << 60 | UInt64(cjk) }
    static func bigram(_ a: UInt32, _ b: UInt32) -> UInt64 { 2 << 60 | UInt64(a) << 21 | UInt64(b) }
    static func word(_ word: String) -> UInt64 {
        // FNV-1a: stable across runs, so key choice (and benchmarks) are reproducible.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in word.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return 3 << 60 | (hash & (1 << 60 - 1))
    }
    /// Tie-break when statistics say nothing: bigrams are the most selective, single characters the least.
    static func prior(_ key: UInt64) -> Int {
        switch key >> 60 {
        case 2: return 0
        case 3: return 1
        default: return 2
        }
    }
    @inline(__always) static func mix(_ key: UInt64) -> UInt64 { (key ^ key >> 29) &* 0x9E37_79B9_7F4A_7C15 }

    /// Appends the keys of units fed in position order: each unit's key, and the bigram of each CJK unit with the
    /// CJK unit at the position before it. Articles and query patterns go through the same rule, so a pattern's
    /// keys are among those of any article it matches.
    struct Stream {
        private var previousCJK: UInt32 = 0
        private var previousPosition: Int32 = .min

        @inline(__always)
        mutating func add(cjk: UInt32, word: String, position: Int32, to keys: inout [UInt64]) {
            if cjk != 0 {
                keys.append(MatchKey.unigram(cjk))
                if previousCJK != 0 && previousPosition == position - 1 {
                    keys.append(MatchKey.bigram(previousCJK, cjk))
                }
            } else {
                keys.append(MatchKey.word(word))
            }
            previousCJK = cjk
            previousPosition = position
        }
    }
}

/// One analysed article version of a batch.
final class BatchDocument {
    enum Role { case current, previous }

    let article: Article
    let change: Int
    let role: Role
    /// Whether the change is an update (else an insert).
    let isUpdate: Bool
    let body: String
    let units: [AnalyzedUnit]
    let bodyBase: Int32
    /// Every unit's key and every bigram's key, in text order (repeats included).
    let keys: [UInt64]
    /// Each unit's CJK scalar (0 for a word): a dense copy for scanning.
    let cjk: [UInt32]
    /// Number of title units (they come first).
    let titleUnitCount: Int
    let source: String?
    /// Publication instant in epoch seconds, nil when unknown.
    let seconds: Int64?
    let normalizedSource: String?
    let normalizedPersons: [String]

    init(_ article: Article, change: Int, role: Role, isUpdate: Bool) {
        self.article = article
        self.change = change
        self.role = role
        self.isUpdate = isUpdate
        body = article.body
        (units, bodyBase) = Analyzer.document(title: article.title, body: body)
        var keys: [UInt64] = []
        keys.reserveCapacity(units.count * 2)
        var cjk: [UInt32] = []
        cjk.reserveCapacity(units.count)
        var titleUnitCount = 0
        var stream = MatchKey.Stream()
        for unit in units {
            cjk.append(unit.cjk)
            if unit.position < bodyBase { titleUnitCount += 1 }
            stream.add(cjk: unit.cjk, word: unit.word, position: unit.position, to: &keys)
        }
        self.keys = keys
        self.cjk = cjk
        self.titleUnitCount = titleUnitCount
        source = article.source
        seconds = article.publishedAt?.secondsSinceEpoch
        normalizedSource = article.source.map(normalizeName)
        normalizedPersons = personNames(of: article).map(normalizeName)
    }
}

/// A batch of changes analysed for matching.
struct MatchBatch {
    var documents: [BatchDocument] = []
    var deletions: [Int] = []
    let changeCount: Int

    init(_ changes: [ArticleChange]) {
        changeCount = changes.count
        for (c, change) in changes.enumerated() {
            switch change {
            case .inserted(let article):
                documents.append(BatchDocument(article, change: c, role: .current, isUpdate: false))
            case .updated(let article, let previous):
                documents.append(BatchDocument(article, change: c, role: .current, isUpdate: true))
                if let previous {
                    documents.append(BatchDocument(previous, change: c, role: .previous, isUpdate: true))
                }
            case .deleted:
                deletions.append(c)
            }
        }
    }
}

/// A standing query compiled for evaluation on analysed articles, mirroring ``Executor``'s semantics.
final class CompiledStandingQuery {
    struct Text {
        let pattern: TermPattern
        let scope: ParsedQuery.Scope
        /// Keys of the pattern's units and adjacent-CJK bigrams: an article matching the pattern has them all.
        let keys: [UInt64]
    }

    enum Condition {
        case text(Int)
        case source(String)
        case person(String)
        case publishedFrom(Int64)
        case publishedBefore(Int64)
    }

    let query: StandingQuery
    let texts: [Text]
    let groups: [[[Condition]]]
    let exclusions: [[Condition]]
    let requestSources: Set<String>?
    /// The patterns SEARCH highlights in snippets (its text conditions searching bodies, in its order).
    let snippetPatterns: [TermPattern]

    init(_ query: StandingQuery) throws(QueryError) {
        self.query = query
        let parsed = try QueryParser.parse(query.text)
        var texts: [Text] = []
        func compile(_ condition: ParsedQuery.Condition) -> Condition {
            switch condition {
            case .text(let pattern, let scope):
                if let i = texts.firstIndex(where: { $0.scope == scope && $0.pattern == pattern }) { return .text(i) }
                texts.append(Text(pattern: pattern, scope: scope, keys: Self.keys(of: pattern)))
                return .text(texts.count - 1)
            case .source(let name): return .source(name)
            case .person(let name): return .person(name)
            case .publishedFrom(let seconds): return .publishedFrom(seconds)
            case .publishedBefore(let seconds): return .publishedBefore(seconds)
            }
        }
        groups = parsed.groups.map { $0.map { $0.map(compile) } }
        exclusions = parsed.exclusions.map { $0.map(compile) }
        self.texts = texts
        requestSources = query.sources.isEmpty ? nil : Set(query.sources)
        snippetPatterns = texts.filter { $0.scope == .titleOrBody }.map(\.pattern)
    }

    static func keys(of pattern: TermPattern) -> [UInt64] {
        var keys: [UInt64] = []
        var stream = MatchKey.Stream()
        for element in pattern.elements {
            stream.add(cjk: element.cjk, word: element.word, position: element.offset, to: &keys)
        }
        return keys
    }

    /// Keys to index the query under: in the group whose keys cost least in total, the cheapest key (by `cost`,
    /// lower is rarer) of any text condition of each alternative. Every article the query matches holds one of
    /// them. Empty when every group has an alternative without a text condition (then the query is evaluated on
    /// every article).
    func indexKeys(cost: (UInt64) -> Int) -> [UInt64] {
        var best: [UInt64] = []
        var bestCost = Int.max
        groups: for group in groups {
            var keys: [UInt64] = []
            var total = 0
            for alternative in group {
                var choice: (key: UInt64, cost: Int)? = nil
                for condition in alternative {
                    guard case .text(let i) = condition else { continue }
                    for key in texts[i].keys {
                        let c = cost(key)
                        if choice == nil || c < choice!.cost { choice = (key, c) }
                    }
                }
                guard let choice else { continue groups }
                if !keys.contains(choice.key) { keys.append(choice.key) }
                total = total &+ choice.cost
            }
            if total < bestCost {
                bestCost = total
                best = keys
            }
        }
        return best
    }

    // MARK: Evaluation (the same rules as the index's executor and the brute-force oracle)

    func matches(_ document: BatchDocument) -> Bool {
        if let requestSources {
            guard let source = document.source, requestSources.contains(source) else { return false }
        }
        if let from = query.publishedFrom {
            guard let t = document.seconds, t >= from.secondsSinceEpoch else { return false }
        }
        if let before = query.publishedBefore {
            guard let t = document.seconds, t < before.secondsSinceEpoch else { return false }
        }
        for group in groups where !group.contains(where: { holds($0, document) }) { return false }
        for exclusion in exclusions where holds(exclusion, document) { return false }
        return true
    }

    private func holds(_ conjunction: [Condition], _ document: BatchDocument) -> Bool {
        for condition in conjunction {
            switch condition {
            case .text(let i):
                guard Self.occurs(texts[i].pattern, scope: texts[i].scope, in: document) else { return false }
            case .source(let name):
                guard let source = document.normalizedSource, source.unicodeScalars.contains(name.unicodeScalars)
                else { return false }
            case .person(let name):
                guard document.normalizedPersons.contains(name) else { return false }
            case .publishedFrom(let seconds):
                guard let t = document.seconds, t >= seconds else { return false }
            case .publishedBefore(let seconds):
                guard let t = document.seconds, t < seconds else { return false }
            }
        }
        return true
    }

    /// Whether `pattern` occurs in the title (or, for `.titleOrBody`, the title or the body). A match never
    /// spans the field gap (``Analyzer/fieldGap`` exceeds any gap inside a pattern), so it lies in one field.
    static func occurs(_ pattern: TermPattern, scope: ParsedQuery.Scope, in document: BatchDocument) -> Bool {
        let units = document.units
        guard let first = pattern.elements.first else { return false }
        let count = scope == .title ? document.titleUnitCount : units.count
        let limit = scope == .title ? document.bodyBase : .max
        return document.cjk.withUnsafeBufferPointer { cjk in
            for i in 0..<count where cjk[i] == first.cjk {
                if first.cjk == 0 && units[i].word != first.word { continue }
                if let end = pattern.matchEnd(in: units, at: i), units[end].position < limit { return true }
            }
            return false
        }
    }

    /// The hit SEARCH returns for `document` (the `index`-th of its batch), less the score. Snippets are shared
    /// through `cache` by queries highlighting the same patterns at the same length (popular topics are watched
    /// by many).
    func hit(
        for document: BatchDocument, index: Int32, snippet: Bool, cache: inout [SnippetKey: (String, [HighlightRange])]
    ) -> SearchHit {
        let article = document.article
        var hit = SearchHit(
            id: article.id, title: article.title, source: article.source, publishedAt: article.publishedAt, score: 0)
        if snippet && query.includeSnippets {
            let key = SnippetKey(document: index, patterns: snippetPatterns, length: query.snippetLength)
            if let cached = cache[key] {
                (hit.snippet, hit.highlights) = cached
            } else {
                (hit.snippet, hit.highlights) = SnippetBuilder.snippet(
                    body: document.body, patterns: snippetPatterns, length: query.snippetLength)
                cache[key] = (hit.snippet, hit.highlights)
            }
        }
        return hit
    }

    struct SnippetKey: Hashable {
        var document: Int32
        var patterns: [TermPattern]
        var length: Int
    }
}

/// A verified (article version, query) pair, small so that ordering them is cheap.
private struct MatchedPair {
    var document: Int32
    var id: StandingQueryID
    var slot: Int32
}

/// The standing queries and their index; guarded by ``StandingQueryMatcher``'s lock.
struct StandingQueryRegistry {
    private struct Slot {
        let id: StandingQueryID
        let compiled: CompiledStandingQuery
        var keys: [UInt64]
    }

    private var slots: [Slot?] = []
    private var freeSlots: [Int32] = []
    private var slotOfID: [StandingQueryID: Int32] = [:]
    private var nextID: UInt64 = 1
    /// Index term → slots of the queries indexed under it.
    private var keyIndex: [UInt64: [Int32]] = [:]
    /// Slots of the queries evaluated on every article.
    private var alwaysChecked: [Int32] = []
    /// One bit per hashed index term: most of an article's terms index no query, and this rejects them
    /// without a dictionary probe. Bits are set on registration and only cleared by a rebuild.
    private var keyFilter = [UInt64](repeating: 0, count: 1 << (filterBits - 6))
    private static let filterBits = 20
    /// Occurrence counts of hashed terms over every article version matched so far (a count-min sketch row): the
    /// rarity estimate that picks each query's index term.
    private var termCounts = [UInt32](repeating: 0, count: 1 << countBits)
    private static let countBits = 18
    private(set) var articlesSeen = 0
    /// Queries are re-indexed when `articlesSeen` reaches this (then 8× further each time): terms picked before
    /// any statistics existed are replaced by the rarest ones observed.
    private var nextReindexAt = 64
    /// Per slot: the last (batch serial, document) that made it a candidate, so it collects each document once.
    private var lastCandidate: [Int] = []
    private var batchSerial = 0

    var count: Int { slotOfID.count }

    var statistics: StandingQueryStatistics {
        StandingQueryStatistics(
            queries: count, alwaysChecked: alwaysChecked.count, indexedTerms: keyIndex.count,
            articlesSeen: articlesSeen)
    }

    func query(_ id: StandingQueryID) -> StandingQuery? {
        slotOfID[id].map { slots[Int($0)]!.compiled.query }
    }

    private func cost(_ key: UInt64) -> Int {
        let count = Int(termCounts[Int(MatchKey.mix(key) >> UInt64(64 - Self.countBits))])
        return count * 4 + MatchKey.prior(key)
    }

    mutating func add(_ compiled: CompiledStandingQuery) -> StandingQueryID {
        let id = StandingQueryID(rawValue: nextID)
        nextID += 1
        let slot: Int32
        let keys = compiled.indexKeys(cost: cost)
        if let free = freeSlots.popLast() {
            slot = free
            slots[Int(slot)] = Slot(id: id, compiled: compiled, keys: keys)
        } else {
            slot = Int32(slots.count)
            slots.append(Slot(id: id, compiled: compiled, keys: keys))
            lastCandidate.append(-1)
        }
        slotOfID[id] = slot
        index(slot, keys)
        return id
    }

    private mutating func index(_ slot: Int32, _ keys: [UInt64]) {
        if keys.isEmpty {
            alwaysChecked.append(slot)
            return
        }
        for key in keys {
            keyIndex[key, default: []].append(slot)
            let bit = Int(MatchKey.mix(key) >> UInt64(64 - Self.filterBits))
            keyFilter[bit >> 6] |= 1 << UInt64(bit & 63)
        }
    }

    mutating func remove(_ id: StandingQueryID) -> Bool {
        guard let slot = slotOfID.removeValue(forKey: id) else { return false }
        let keys = slots[Int(slot)]!.keys
        if keys.isEmpty {
            alwaysChecked.removeAll { $0 == slot }
        }
        for key in keys {
            keyIndex[key]?.removeAll { $0 == slot }
            if keyIndex[key]?.isEmpty == true { keyIndex[key] = nil }
        }
        slots[Int(slot)] = nil
        freeSlots.append(slot)
        return true
    }

    /// Re-picks every query's index terms with the current statistics and rebuilds the index and filter.
    private mutating func reindex() {
        keyIndex = [:]
        alwaysChecked = []
        keyFilter = [UInt64](repeating: 0, count: keyFilter.count)
        for s in slots.indices {
            guard let slot = slots[s] else { continue }
            let keys = slot.compiled.indexKeys(cost: cost)
            slots[s]!.keys = keys
            index(Int32(s), keys)
        }
    }

    mutating func match(_ batch: MatchBatch, exhaustive: Bool) -> StandingQueryMatches {
        batchSerial += 1
        let documents = batch.documents
        // Candidates: slot → documents whose term streams hold one of its index terms.
        var candidateSlots: [Int32] = []
        var candidateDocuments: [[Int32]] = []
        var candidateList = [Int32](repeating: -1, count: exhaustive ? 0 : slots.count)
        let serialBase = batchSerial << 32
        termCounts.withUnsafeMutableBufferPointer { counts in
            keyFilter.withUnsafeBufferPointer { filter in
                for (d, document) in documents.enumerated() {
                    let stamp = serialBase | d
                    for key in document.keys {
                        let mixed = MatchKey.mix(key)
                        let c = Int(mixed >> UInt64(64 - Self.countBits))
                        if counts[c] < .max { counts[c] += 1 }
                        if exhaustive { continue }
                        let bit = Int(mixed >> UInt64(64 - Self.filterBits))
                        guard filter[bit >> 6] & (1 << UInt64(bit & 63)) != 0, let indexed = keyIndex[key] else {
                            continue
                        }
                        for slot in indexed where lastCandidate[Int(slot)] != stamp {
                            lastCandidate[Int(slot)] = stamp
                            if candidateList[Int(slot)] < 0 {
                                candidateList[Int(slot)] = Int32(candidateSlots.count)
                                candidateSlots.append(slot)
                                candidateDocuments.append([])
                            }
                            candidateDocuments[Int(candidateList[Int(slot)])].append(Int32(d))
                        }
                    }
                }
            }
        }
        if exhaustive {
            let all = Array(0..<Int32(documents.count))
            for s in slots.indices where slots[s] != nil {
                candidateSlots.append(Int32(s))
                candidateDocuments.append(all)
            }
        } else if !alwaysChecked.isEmpty && !documents.isEmpty {
            let all = Array(0..<Int32(documents.count))
            for slot in alwaysChecked {
                candidateSlots.append(slot)
                candidateDocuments.append(all)
            }
        }
        // Verify each candidate pair on the analysed text.
        var evaluatedPairs = 0
        var matched: [MatchedPair] = []
        var previousMatched = false
        for (k, slot) in candidateSlots.enumerated() {
            let compiled = slots[Int(slot)]!.compiled
            for d in candidateDocuments[k] {
                evaluatedPairs += 1
                guard compiled.matches(documents[Int(d)]) else { continue }
                matched.append(MatchedPair(document: d, id: slots[Int(slot)]!.id, slot: slot))
                if documents[Int(d)].role == .previous { previousMatched = true }
            }
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
        var snippets: [CompiledStandingQuery.SnippetKey: (String, [HighlightRange])] = [:]
        for pair in matched {
            let document = documents[Int(pair.document)]
            let compiled = slots[Int(pair.slot)]!.compiled
            if document.role == .current {
                matches.append(
                    StandingQueryMatch(
                        query: pair.id, change: document.change, kind: document.isUpdate ? .updated : .inserted,
                        hit: compiled.hit(for: document, index: pair.document, snippet: true, cache: &snippets)))
            } else if !currentMatched.contains(Int64(document.change) << 32 | Int64(pair.slot)) {
                // The new version: it directly precedes the previous one.
                matches.append(
                    StandingQueryMatch(
                        query: pair.id, change: document.change, kind: .stoppedMatching,
                        hit: compiled.hit(
                            for: documents[Int(pair.document) - 1], index: pair.document - 1, snippet: false,
                            cache: &snippets)))
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
            matches: matches, deletions: batch.deletions, evaluatedQueries: candidateSlots.count,
            evaluatedPairs: evaluatedPairs)
    }
}
