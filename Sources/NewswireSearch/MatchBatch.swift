import NewswireModel

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
    /// The CJK character a unigram or bigram key ends with (the unit the term stream emits it at); nil for a word.
    static func lastCharacter(_ key: UInt64) -> UInt32? {
        key >> 60 == 1 || key >> 60 == 2 ? UInt32(truncatingIfNeeded: key & (1 << 21 - 1)) : nil
    }

    /// Whether a CJK unit at `position` forms a bigram with the unit before it (`previousCJK`, 0 for a word, at
    /// `previousPosition`): the term stream's rule, for ``Stream`` and ``BatchDocument/forEachKey(wanted:visit:)``.
    @inline(__always)
    static func formsBigram(previousCJK: UInt32, previousPosition: Int32, position: Int32) -> Bool {
        previousCJK != 0 && previousPosition == position - 1
    }

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
                if MatchKey.formsBigram(
                    previousCJK: previousCJK, previousPosition: previousPosition, position: position)
                {
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

/// An occurrence of a pattern in an article's body: the position of its first unit, and the normalised scalars it
/// spans (`[start, end)`, offsets into the body's normalised text).
struct BodyOccurrence: Sendable, Hashable {
    var position: Int32
    var start: Int32
    var end: Int32
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
    /// Each unit's CJK scalar (0 for a word): a dense copy for scanning.
    let cjk: [UInt32]
    /// Number of title units (they come first).
    let titleUnitCount: Int
    let source: String?
    /// Publication instant in epoch seconds, nil when unknown.
    let seconds: Int64?
    /// The source and person names as `source:` and `person:` conditions compare them, made on first use: most
    /// standing queries have neither, and the normalisation (Foundation's canonical decomposition) showed in the
    /// live-query profile when done for every article.
    private(set) lazy var normalizedSource: String? = article.source.map(normalizeName)
    private(set) lazy var normalizedPersons: [String] = personNames(of: article).map(normalizeName)
    /// The body as UTF-16 (what snippets are built from, as from the index's stored text), made on first use:
    /// most documents of a batch match no query that asks for a snippet.
    private(set) lazy var snippetBody = SnippetBody(body)
    /// The hit every match of this document starts from (id, title, source, date; no score, no snippet).
    private(set) lazy var bareHit = SearchHit(
        id: article.id, title: article.title, source: article.source, publishedAt: article.publishedAt, score: 0)
    /// By the pattern's text number in the registry (``CompiledStandingQuery/snippetTextNumbers``): hashing the
    /// pattern itself for every match's snippet showed in the live-query profile.
    private var bodyOccurrencesByNumber: [Int32: [BodyOccurrence]] = [:]

    /// Where the pattern of text number `number` (`pattern()`, read only the first time) occurs in the body (not
    /// the title), in text order, from this document's analysis (the index's): all a snippet of the body needs to
    /// know of its patterns (``PendingSnippet``), looked up once per pattern.
    func bodyOccurrences(number: Int32, pattern: () -> TermPattern) -> [BodyOccurrence] {
        if let known = bodyOccurrencesByNumber[number] { return known }
        let pattern = pattern()
        var occurrences: [BodyOccurrence] = []
        forEachMatch(of: pattern, startingIn: titleUnitCount..<units.count) { start, end in
            occurrences.append(
                BodyOccurrence(position: units[start].position, start: units[start].start, end: units[end].end))
            return true
        }
        bodyOccurrencesByNumber[number] = occurrences
        return occurrences
    }

    /// Calls `visit` with the first and last unit of each occurrence of `pattern` that starts at a unit in
    /// `range`, in order, until `visit` returns false.
    @inline(__always)
    func forEachMatch(of pattern: TermPattern, startingIn range: Range<Int>, _ visit: (_ start: Int, _ end: Int) -> Bool) {
        guard let first = pattern.elements.first else { return }
        cjk.withUnsafeBufferPointer { cjk in
            for i in range where cjk[i] == first.cjk {
                if first.cjk == 0 && units[i].word != first.word { continue }
                if let end = pattern.matchEnd(in: units, at: i), !visit(i, end) { return }
            }
        }
    }

    /// Calls `visit` with the keys of the article's term stream (``MatchKey/Stream``: each unit's key, and the
    /// bigram of each CJK unit with the CJK unit at the position before it), in text order, repeats included;
    /// but the keys of a CJK unit (its unigram, and the bigram it ends) only when `wanted(character)` holds. Made
    /// as they are visited: most units concern no standing query, and an array of every key cost as much to
    /// build as to scan.
    @inline(__always)
    func forEachKey(wanted: (UInt32) -> Bool, visit: (UInt64) -> Void) {
        cjk.withUnsafeBufferPointer { cjk in
            for i in cjk.indices {
                let character = cjk[i]
                if character == 0 {
                    visit(MatchKey.word(units[i].word))
                    continue
                }
                guard wanted(character) else { continue }
                visit(MatchKey.unigram(character))
                if i > 0,
                    MatchKey.formsBigram(
                        previousCJK: cjk[i - 1], previousPosition: units[i - 1].position, position: units[i].position)
                {
                    visit(MatchKey.bigram(cjk[i - 1], character))
                }
            }
        }
    }

    /// `analysis`, when given, is used if it is `article`'s (``ArticleAnalysis/isAnalysis(of:)``); else the text
    /// is analysed here.
    init(_ article: Article, change: Int, role: Role, isUpdate: Bool, analysis: ArticleAnalysis? = nil) {
        self.article = article
        self.change = change
        self.role = role
        self.isUpdate = isUpdate
        if let analysis, analysis.isAnalysis(title: article.title, paragraphs: article.paragraphs) {
            (units, bodyBase) = (analysis.units, analysis.bodyBase)
            self.body = analysis.body  // the same text, without joining the paragraphs again
        } else {
            let body = article.body
            self.body = body
            (units, bodyBase) = Analyzer.document(title: article.title, body: body)
        }
        var cjk: [UInt32] = []
        cjk.reserveCapacity(units.count)
        var titleUnitCount = 0
        for unit in units {
            cjk.append(unit.cjk)
            if unit.position < bodyBase { titleUnitCount += 1 }
        }
        self.cjk = cjk
        self.titleUnitCount = titleUnitCount
        source = article.source
        seconds = article.publishedAt?.secondsSinceEpoch
    }
}

/// A batch of changes analysed for matching.
struct MatchBatch {
    var documents: [BatchDocument] = []
    var deletions: [Int] = []
    let changeCount: Int

    /// `analyses`, when given, holds per change the analysis of its current article version, if known.
    init(_ changes: some Collection<ArticleChange>, analyses: [ArticleAnalysis?]? = nil) {
        changeCount = changes.count
        for (c, change) in changes.enumerated() {
            let analysis = analyses.flatMap { c < $0.count ? $0[c] : nil }
            switch change {
            case .inserted(let article):
                documents.append(BatchDocument(article, change: c, role: .current, isUpdate: false, analysis: analysis))
            case .updated(let article, let previous):
                documents.append(BatchDocument(article, change: c, role: .current, isUpdate: true, analysis: analysis))
                if let previous {
                    documents.append(BatchDocument(previous, change: c, role: .previous, isUpdate: true))
                }
            case .deleted:
                deletions.append(c)
            }
        }
    }
}
