import NewswireModel

/// An article's stored fields, with attribute ids interned by the owning ``SearchIndex``.
struct PreparedDocument: Sendable {
    var id: ArticleID
    var title: String
    var body: String
    /// Interned source, or -1.
    var sourceID: Int32
    /// Interned `YYYY-MM`, or -1.
    var monthID: Int32
    /// Publication instant, or `Int64.min` when unknown.
    var seconds: Int64
    var utcOffset: Int32
    /// Interned person names (participants then reporters, deduplicated).
    var personIDs: [Int32]

    var publishedAt: PublishedTime? {
        seconds == .min ? nil : PublishedTime(secondsSinceEpoch: seconds, utcOffsetSeconds: utcOffset)
    }
}

// MARK: - Building

extension Segment {
    /// Builds a segment from documents (their order gives the local ids).
    static func build(_ documents: [PreparedDocument]) -> Segment {
        build(documents, keepingAnalyses: false).segment
    }

    /// Builds a segment and, with `keepingAnalyses`, each document's analysis (in document order).
    static func build(_ documents: [PreparedDocument], keepingAnalyses: Bool) -> (
        segment: Segment, analyses: [ArticleAnalysis]?
    ) {
        // Size the term tables to the batch: a one-article segment must not pay for a corpus-sized table.
        let characters = documents.reduce(0) {
            $0 + UTF16Text.utf16Count(of: $1.title) + UTF16Text.utf16Count(of: $1.body)
        }
        var builder = SegmentBuilder(expectedCharacters: characters)
        if keepingAnalyses { builder.analyses = [] }
        for document in documents { builder.add(document) }
        let analyses = builder.analyses
        return (builder.finish(), analyses)
    }
}

/// Accumulates occurrences document by document, then lays out the flat postings.
struct SegmentBuilder {
    private var idText: [UInt8] = []
    private var idStart: [UInt32] = [0]
    private var documentCount = 0
    private var text: [UInt16] = []
    private var textStart: [UInt32] = [0]
    private var sourceIDs: [Int32] = []
    private var monthIDs: [Int32] = []
    private var seconds: [Int64] = []
    private var utcOffsets: [Int32] = []
    private var personStart: [UInt32] = [0]
    private var personIDs: [Int32] = []
    private var titleLengths: [UInt32] = []
    private var bodyLengths: [UInt32] = []
    private var bodyBases: [Int32] = []

    /// Key → provisional term number: BMP unigrams by direct lookup, everything else hashed.
    private var unigramTerms: [UInt32]
    private var cjkTerms: UInt64Table
    private var cjkKeyList: [UInt64] = []
    private var wordTerms: [String: UInt32] = [:]
    private var wordList: [String] = []
    /// Occurrences in document order: provisional term (words tagged with the top bit) and position.
    private var occurrenceTerms: [UInt32] = []
    private var occurrencePositions: [Int32] = []
    private var documentOccurrenceStart: [Int] = [0]

    private var units: [AnalyzedUnit] = []
    /// Each document's analysis, when kept (see ``Segment/build(_:keepingAnalyses:)``).
    var analyses: [ArticleAnalysis]?

    /// `expectedCharacters` sizes the term tables (distinct bigrams grow far slower than text).
    init(expectedCharacters: Int) {
        // A direct table for BMP unigrams pays off only for large batches; small ones hash every key.
        unigramTerms = expectedCharacters > 200_000 ? [UInt32](repeating: .max, count: 0x10000) : []
        cjkTerms = UInt64Table(capacity: min(max(expectedCharacters / 4, 64), 1 << 20))
        text.reserveCapacity(expectedCharacters)
        // Chinese text makes about two occurrences per character (its unigram and the bigram it starts): grown by
        // doubling instead, the two arrays were copied again and again while a batch was analysed.
        occurrenceTerms.reserveCapacity(expectedCharacters * 2)
        occurrencePositions.reserveCapacity(expectedCharacters * 2)
    }

    @inline(__always) private mutating func cjkTerm(_ key: UInt64) -> UInt32 {
        if key < 0x10000 && !unigramTerms.isEmpty {
            let t = unigramTerms[Int(key)]
            if t != .max { return t }
            let new = UInt32(cjkKeyList.count)
            unigramTerms[Int(key)] = new
            cjkKeyList.append(key)
            return new
        }
        let candidate = UInt32(cjkKeyList.count)
        let t = cjkTerms.findOrInsert(key, candidate)
        if t == candidate { cjkKeyList.append(key) }
        return t
    }

    mutating func add(_ document: PreparedDocument) {
        idText.append(contentsOf: document.id.rawValue.utf8)
        idStart.append(UInt32(idText.count))
        documentCount += 1
        UTF16Text.append(utf16Of: document.title, to: &text)
        textStart.append(UInt32(text.count))
        UTF16Text.append(utf16Of: document.body, to: &text)
        textStart.append(UInt32(text.count))
        sourceIDs.append(document.sourceID)
        monthIDs.append(document.monthID)
        seconds.append(document.seconds)
        utcOffsets.append(document.utcOffset)
        personIDs.append(contentsOf: document.personIDs)
        personStart.append(UInt32(personIDs.count))

        units.removeAll(keepingCapacity: true)
        let last = Analyzer.units(of: NormalizedText(document.title, keepOrigins: false), basePosition: 0, into: &units)
        let titleCount = units.count
        let bodyBase = last + 1 + Analyzer.fieldGap
        Analyzer.units(of: NormalizedText(document.body, keepOrigins: false), basePosition: bodyBase, into: &units)
        titleLengths.append(UInt32(titleCount))
        bodyLengths.append(UInt32(units.count - titleCount))
        bodyBases.append(bodyBase)
        if analyses != nil {
            analyses!.append(ArticleAnalysis(title: document.title, body: document.body, units: units, bodyBase: bodyBase))
        }

        for i in units.indices {
            let unit = units[i]
            if unit.cjk != 0 {
                occurrenceTerms.append(cjkTerm(TermKey.unigram(unit.cjk)))
                occurrencePositions.append(unit.position)
                if i + 1 < units.count, units[i + 1].cjk != 0, units[i + 1].position == unit.position + 1 {
                    occurrenceTerms.append(cjkTerm(TermKey.bigram(unit.cjk, units[i + 1].cjk)))
                    occurrencePositions.append(unit.position)
                }
            } else {
                let t: UInt32
                if let existing = wordTerms[unit.word] {
                    t = existing
                } else {
                    t = UInt32(wordList.count)
                    wordTerms[unit.word] = t
                    wordList.append(unit.word)
                }
                occurrenceTerms.append(t | 1 << 31)
                occurrencePositions.append(unit.position)
            }
        }
        documentOccurrenceStart.append(occurrenceTerms.count)
    }

    mutating func finish() -> Segment {
        // Final term order: compact CJK keys ascending, other CJK keys ascending, then words.
        // Sorted as one integer each: keys are below 2^43, so a key without a compact form gets bit 43 to sort
        // after every compact one.
        var sortKeys = cjkKeyList.map { TermKey.compact($0) != nil ? $0 : $0 | 1 << 43 }
        var cjkOrder = (0..<UInt32(cjkKeyList.count)).map { $0 }
        RadixSort.sort(&sortKeys, carrying: &cjkOrder)
        let orderedKeys = sortKeys.map { $0 & ~(1 << 43) }
        let compactKeys = orderedKeys.compactMap(TermKey.compact)
        let wideKeys = Array(orderedKeys.dropFirst(compactKeys.count))
        var finalOf = [UInt32](repeating: 0, count: cjkKeyList.count)
        for (final, provisional) in cjkOrder.enumerated() { finalOf[Int(provisional)] = UInt32(final) }
        let cjkCount = cjkKeyList.count
        let termCount = cjkCount + wordList.count
        @inline(__always) func final(_ t: UInt32) -> Int {
            t & 1 << 31 != 0 ? cjkCount + Int(t & ~(1 << 31)) : Int(finalOf[Int(t)])
        }
        // Counting sort of occurrences by term, keeping document then position order within a term.
        // In buffers: counted through the array, each increment called the runtime to check the array was not
        // shared (a fifth of this function's time).
        var occurrenceCount = [Int](repeating: 0, count: termCount + 1)
        occurrenceCount.withUnsafeMutableBufferPointer { counts in
            for t in occurrenceTerms { counts[final(t) + 1] += 1 }
            for i in 0..<termCount { counts[i + 1] += counts[i] }
        }
        var fill = occurrenceCount
        // Every slot is written exactly once below (the counts cover every occurrence), so no zero fill first.
        let occurrences = occurrenceTerms.count
        var sortedPositions = [Int32](unsafeUninitializedCapacity: occurrences) { _, count in count = occurrences }
        let sortedDocs = [Int32](unsafeUninitializedCapacity: occurrences) { docs, count in
            sortedPositions.withUnsafeMutableBufferPointer { positions in
                fill.withUnsafeMutableBufferPointer { fill in
                    for doc in 0..<documentCount {
                        for k in documentOccurrenceStart[doc]..<documentOccurrenceStart[doc + 1] {
                            let t = final(occurrenceTerms[k])
                            let slot = fill[t]
                            fill[t] = slot + 1
                            docs[slot] = Int32(doc)
                            positions[slot] = occurrencePositions[k]
                        }
                    }
                }
            }
            count = occurrences
        }
        occurrenceTerms = []
        occurrencePositions = []

        var writer = PostingsWriter(
            titleLengths: titleLengths, bodyLengths: bodyLengths, capacity: sortedDocs.count * 3)
        var termStart = [UInt32](repeating: 0, count: termCount + 1)
        // Cleared for every (term, document): an array's `removeAll(keepingCapacity:)` cost more than the varints.
        let positionBytes = GrowableBytes(capacity: 256)
        for t in 0..<termCount {
            termStart[t] = UInt32(writer.postings.count)
            let positional = t >= cjkCount || TermKey.isPositional(orderedKeys[t])
            var k = occurrenceCount[t]
            let end = occurrenceCount[t + 1]
            writer.beginTerm(atMost: end - k)  // occurrences: at least one per document
            while k < end {
                let doc = sortedDocs[k]
                var j = k
                while j < end, sortedDocs[j] == doc { j += 1 }
                let bodyBase = bodyBases[Int(doc)]
                var titleTF = 0
                while k + titleTF < j, sortedPositions[k + titleTF] < bodyBase { titleTF += 1 }
                positionBytes.removeAll()
                if positional {
                    var previous: Int32 = 0
                    for m in k..<j {
                        positionBytes.appendVarint(UInt64(sortedPositions[m] - previous))
                        previous = sortedPositions[m]
                    }
                }
                writer.add(
                    doc: doc, titleTF: Int32(titleTF), bodyTF: Int32(j - k - titleTF),
                    positions: positional ? positionBytes.bytes() : nil)
                k = j
            }
            writer.endTerm()
        }
        termStart[termCount] = UInt32(writer.postings.count)
        writer.postings.append(0)  // padding: the buffer is never empty
        let postings = writer.postings.array  // drop the reserve
        return Segment(
            idText: idText, idStart: idStart, text: text, textStart: textStart, sourceIDs: sourceIDs, monthIDs: monthIDs, seconds: seconds,
            utcOffsets: utcOffsets, personStart: personStart, personIDs: personIDs, titleLengths: titleLengths,
            bodyLengths: bodyLengths, bodyBases: bodyBases, compactKeys: compactKeys, wideKeys: wideKeys,
            wordList: wordList, termStart: termStart, postings: postings)
    }
}
