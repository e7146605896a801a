import NewswireModel

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
    let snippetPatterns: SnippetPatterns
    /// Per text condition, its number among the distinct (pattern, scope) pairs of the registry's queries, set
    /// when the registry adds the query: queries sharing a term look it up in an article once per batch.
    var textNumbers: [Int32] = []
    /// The number of ``snippetPatterns`` among the distinct pattern lists of the registry's queries, set when the
    /// registry adds the query (the key of a batch's shared snippets).
    var snippetPatternNumber: Int32 = 0
    /// Per snippet pattern, its text number (see ``textNumbers``): a batch document keeps each pattern's body
    /// occurrences under it, so a match's snippet looks them up by number instead of hashing the pattern.
    var snippetTextNumbers: [Int32] = []

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
        snippetPatterns = SnippetPatterns(texts.filter { $0.scope == .titleOrBody }.map(\.pattern))
    }

    static func keys(of pattern: TermPattern) -> [UInt64] {
        var keys: [UInt64] = []
        var stream = MatchKey.Stream()
        for element in pattern.elements {
            stream.add(cjk: element.cjk, word: element.word, position: element.offset, to: &keys)
        }
        return keys
    }

    /// Keys to index the query under (`index`): in the group whose keys cost least in total, the cheapest key (by
    /// `cost`, lower is rarer) of any text condition of each alternative. Every article the query matches holds
    /// one of them. Empty when every group has an alternative without a text condition (then the query is
    /// evaluated on every article).
    ///
    /// Keys for the matcher's quick test of a candidate article (`filter`), which holds at least one of them if the
    /// query matches it: the same choice in the group whose keys cost least after the indexed one; with a single
    /// such group, each alternative's next cheapest key. Empty when there is none.
    func indexKeys(cost: (UInt64) -> Int) -> (index: [UInt64], filter: [UInt64]) {
        let choices = keyChoices(cost: cost)
        guard let indexed = choices.indices.min(by: { choices[$0].total < choices[$1].total }) else { return ([], []) }
        let others = choices.indices.filter { $0 != indexed }
        if let second = others.min(by: { choices[$0].total < choices[$1].total }) {
            return (choices[indexed].keys, choices[second].keys)
        }
        let next = keyChoices(cost: cost, excluding: Set(choices[indexed].keys)).first?.keys ?? []
        return (choices[indexed].keys, next)
    }

    /// Per group with a text condition in every alternative: the cheapest key of each alternative (not in
    /// `excluding`), and their total cost; groups where an alternative has no such key are left out.
    private func keyChoices(
        cost: (UInt64) -> Int, excluding: Set<UInt64> = []
    ) -> [(keys: [UInt64], total: Int)] {
        var choices: [(keys: [UInt64], total: Int)] = []
        groups: for group in groups {
            var keys: [UInt64] = []
            var total = 0
            for alternative in group {
                var choice: (key: UInt64, cost: Int)? = nil
                for condition in alternative {
                    guard case .text(let i) = condition else { continue }
                    for key in texts[i].keys where !excluding.contains(key) {
                        let c = cost(key)
                        if choice == nil || c < choice!.cost { choice = (key, c) }
                    }
                }
                guard let choice else { continue groups }
                if !keys.contains(choice.key) { keys.append(choice.key) }
                total = total &+ choice.cost
            }
            choices.append((keys, total))
        }
        return choices
    }

    // MARK: Evaluation (the same rules as the index's executor and the brute-force oracle)

    /// Whether the query matches `document`; text conditions are looked up in `memo` (see ``OccurrenceMemo``).
    func matches(_ document: BatchDocument, memo: inout OccurrenceMemo) -> Bool {
        if let requestSources {
            guard let source = document.source, requestSources.contains(source) else { return false }
        }
        if let from = query.publishedFrom {
            guard let t = document.seconds, t >= from.secondsSinceEpoch else { return false }
        }
        if let before = query.publishedBefore {
            guard let t = document.seconds, t < before.secondsSinceEpoch else { return false }
        }
        for group in groups where !group.contains(where: { holds($0, document, &memo) }) { return false }
        for exclusion in exclusions where holds(exclusion, document, &memo) { return false }
        return true
    }

    /// For a query that is a plain conjunction of text conditions (no OR, no exclusion, no filter: most standing
    /// queries), the indexes of its texts, which all must occur; nil for any other query. A ``textFormula`` whose
    /// clauses each require one text.
    var plainConjunction: [Int]? {
        guard let formula = textFormula else { return nil }
        var conjunction: [Int] = []
        var k = 0
        while k < formula.count {
            guard formula[k] == 1 else { return nil }
            conjunction.append(formula[k + 1])
            k += 2
        }
        return conjunction
    }

    /// For a query whose conditions are all texts (no source, person or date condition, no filter), its rule over
    /// text indexes as a ``TextFormula`` reads it: clauses of a count `n` and `|n|` text indexes, one of which must
    /// occur (`n > 0`) or not all of which may (`n < 0`, an exclusion); nil for any other query.
    var textFormula: [Int]? {
        guard requestSources == nil, query.publishedFrom == nil, query.publishedBefore == nil, !texts.isEmpty
        else { return nil }
        func text(_ condition: Condition) -> Int? {
            if case .text(let i) = condition { i } else { nil }
        }
        var formula: [Int] = []
        for group in groups {
            guard !group.isEmpty else { return nil }
            if group.count == 1 {
                // One alternative: each of its texts must occur.
                for condition in group[0] {
                    guard let i = text(condition) else { return nil }
                    formula += [1, i]
                }
            } else {
                // Alternatives of one text each: one of them must occur.
                let alternatives = group.compactMap { $0.count == 1 ? text($0[0]) : nil }
                guard alternatives.count == group.count else { return nil }
                formula += [alternatives.count] + alternatives
            }
        }
        for exclusion in exclusions {
            let all = exclusion.compactMap(text)
            guard all.count == exclusion.count, !all.isEmpty else { return nil }
            formula += [-all.count] + all
        }
        return formula
    }

    private func holds(_ conjunction: [Condition], _ document: BatchDocument, _ memo: inout OccurrenceMemo) -> Bool {
        for condition in conjunction {
            switch condition {
            case .text(let i):
                guard memo.occurs(textNumbers[i], in: document, else: { texts[i] }) else { return false }
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

    /// Whether the text condition occurs in the current document, each distinct one looked up once per document.
    struct OccurrenceMemo {
        /// Per text number: 0 not looked up in the current document, 1 absent, 2 present.
        private var states: [UInt8] = []
        private var touched: [Int32] = []

        /// Forgets the previous document's answers.
        mutating func startDocument(textCount: Int) {
            for number in touched { states[Int(number)] = 0 }
            touched.removeAll(keepingCapacity: true)
            if states.count < textCount { states += repeatElement(0, count: textCount - states.count) }
        }

        @inline(__always)
        mutating func occurs(_ number: Int32, in document: BatchDocument, else text: () -> Text) -> Bool {
            occurs(number, in: document, condition: {
                let text = text()
                return (text.pattern, text.scope)
            })
        }

        /// The same, given the condition's pattern and scope.
        @inline(__always)
        mutating func occurs(
            _ number: Int32, in document: BatchDocument, condition: () -> (TermPattern, ParsedQuery.Scope)
        ) -> Bool {
            let state = states[Int(number)]
            if state != 0 { return state == 2 }
            let (pattern, scope) = condition()
            let found = CompiledStandingQuery.occurs(pattern, scope: scope, in: document)
            states[Int(number)] = found ? 2 : 1
            touched.append(number)
            return found
        }
    }

    /// Whether `pattern` occurs in the title (or, for `.titleOrBody`, the title or the body). A match never
    /// spans the field gap (``Analyzer/fieldGap`` exceeds any gap inside a pattern), so it lies in one field.
    static func occurs(_ pattern: TermPattern, scope: ParsedQuery.Scope, in document: BatchDocument) -> Bool {
        let count = scope == .title ? document.titleUnitCount : document.units.count
        let limit = scope == .title ? document.bodyBase : .max
        var found = false
        document.forEachMatch(of: pattern, startingIn: 0..<count) { _, end in
            found = document.units[end].position < limit
            return !found
        }
        return found
    }

    /// What a match of this query needs to know to build its hit's snippet, kept by the registry in a dense
    /// per-slot array: reading it there instead of from this object saves a cache miss per match at thousands of
    /// queries (the object is touched only when the batch has no such snippet yet).
    struct SnippetSettings {
        var included: Bool
        /// ``snippetPatternNumber``.
        var patterns: Int32
        var length: Int
        /// ``snippetTextNumbers`` inline when there are at most eight (else `count` is -1: read them from the query).
        var textNumbers: InlineTextNumbers
    }

    /// Made once ``snippetPatternNumber`` and ``snippetTextNumbers`` are set.
    var snippetSettings: SnippetSettings {
        SnippetSettings(
            included: query.includeSnippets, patterns: snippetPatternNumber, length: query.snippetLength,
            textNumbers: InlineTextNumbers(snippetTextNumbers) ?? InlineTextNumbers())
    }

    /// The hit SEARCH returns for `document` (the `index`-th of its batch), less the score, and its snippet when
    /// the query asks for one (`settings`, this query's ``snippetSettings``; see ``SnippetTiming``). Snippets are
    /// shared through `cache` by queries highlighting the same patterns at the same length (popular topics are
    /// watched by many): built once. `compiled` is this query, read only for a snippet the cache lacks.
    static func hit(
        for document: BatchDocument, index: Int32, settings: SnippetSettings, snippet timing: SnippetTiming?,
        compiled: Unmanaged<CompiledStandingQuery>, cache: inout SnippetCache
    ) -> (SearchHit, PendingSnippet?) {
        var hit = document.bareHit
        guard let timing, settings.included else { return (hit, nil) }
        let pending = cache.snippet(document: index, patterns: settings.patterns, length: settings.length) {
            // The numbers from the settings when they are inline: the query (cold at thousands of queries) is read
            // only for a pattern the document has not looked up yet, or for a body read again (its patterns).
            let inline = settings.textNumbers
            func query<T>(_ read: (CompiledStandingQuery) -> T) -> T { compiled._withUnsafeGuaranteedRef(read) }
            let count = inline.count >= 0 ? Int(inline.count) : query { $0.snippetTextNumbers.count }
            let occurrences = (0..<count).map { k in
                let number = inline.count >= 0 ? inline[k] : query { $0.snippetTextNumbers[k] }
                // By number: passing each pattern retained its elements, a cache miss per pattern of each match.
                return document.bodyOccurrences(number: number) { query { $0.snippetPatterns.patterns[k] } }
            }
            let body = document.snippetBody
            return PendingSnippet(
                body: body, patterns: body.expansions != nil ? nil : query { $0.snippetPatterns }, patternCount: count,
                patternsNumber: settings.patterns, length: settings.length, bodyOccurrences: occurrences)
        }
        switch timing {
        case .deferred:
            return (hit, pending)
        case .built:
            (hit.snippet, hit.highlights) = pending.build()
            return (hit, nil)
        }
    }

    /// The pending snippets of the document whose matches are being made, by pattern set and length. Matches come
    /// document by document, and a document has a few distinct snippets: a short list looked through costs less
    /// than a dictionary of the whole batch's snippets (hashing, growing, cache misses).
    struct SnippetCache {
        private var document: Int32 = -1
        private var snippets: [(patterns: Int32, length: Int, snippet: PendingSnippet)] = []

        mutating func snippet(
            document: Int32, patterns: Int32, length: Int, make: () -> PendingSnippet
        ) -> PendingSnippet {
            if document != self.document {
                self.document = document
                snippets.removeAll(keepingCapacity: true)
            }
            for entry in snippets where entry.patterns == patterns && entry.length == length { return entry.snippet }
            let made = make()
            snippets.append((patterns, length, made))
            return made
        }
    }
}

/// Up to eight text numbers stored inline (`count` -1: none stored, there were more): read per evaluated pair or
/// per match from a registry's dense per-query arrays, where an array of their own was a cache miss each time.
struct InlineTextNumbers {
    static let capacity = 8
    private(set) var count: Int32 = -1
    private var numbers: (Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32) = (0, 0, 0, 0, 0, 0, 0, 0)

    init() {}

    /// Nil when there are more than ``capacity``.
    init?(_ numbers: [Int32]) {
        guard numbers.count <= Self.capacity else { return nil }
        withUnsafeMutableBytes(of: &self.numbers) { raw in
            for (k, number) in numbers.enumerated() {
                raw.storeBytes(of: number, toByteOffset: k * MemoryLayout<Int32>.stride, as: Int32.self)
            }
        }
        count = Int32(numbers.count)
    }

    subscript(k: Int) -> Int32 {
        withUnsafeBytes(of: numbers) { $0.load(fromByteOffset: k * MemoryLayout<Int32>.stride, as: Int32.self) }
    }

    /// Whether `condition` holds for every number, in order, stopping at the first that fails.
    @inline(__always)
    func allSatisfy(_ condition: (Int32) -> Bool) -> Bool {
        withUnsafeBytes(of: numbers) { raw in
            for k in 0..<Int(max(count, 0)) {
                guard condition(raw.load(fromByteOffset: k * MemoryLayout<Int32>.stride, as: Int32.self)) else {
                    return false
                }
            }
            return true
        }
    }
}
