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

/// Term keys: a CJK unigram is its scalar value; a bigram sets bit 42 and packs both scalars (21 bits each).
enum TermKey {
    @inline(__always) static func unigram(_ a: UInt32) -> UInt64 { UInt64(a) }
    @inline(__always) static func bigram(_ a: UInt32, _ b: UInt32) -> UInt64 {
        1 << 42 | UInt64(a) << 21 | UInt64(b)
    }
    @inline(__always) static func isPositional(_ key: UInt64) -> Bool { key >= 1 << 42 }

    /// The 32-bit form of a key whose characters are all in the BMP (nearly every key): a unigram stays its
    /// scalar (< 0x10000), a bigram becomes `a << 16 | b` (>= 0x3007_0000, since CJK scalars start at U+3007).
    /// Order-preserving among compact keys.
    @inline(__always) static func compact(_ key: UInt64) -> UInt32? {
        if key < 1 << 42 { return key < 0x10000 ? UInt32(key) : nil }
        let a = (key >> 21) & 0x1F_FFFF
        let b = key & 0x1F_FFFF
        return a < 0x10000 && b < 0x10000 ? UInt32(a << 16 | b) : nil
    }
}

/// An immutable block of the inverted index over a batch of documents (local ids `0..<count`).
///
/// Postings are one flat byte array. Each term's list starts with `varint(df)` and, when df > 192, a block table:
/// for each block of 64 entries, 12 bytes `(Int32 last doc before the block, UInt32 byte offset of the block,
/// Float32 best BM25 score per unit of idf in the block under the segment's average length)`. The first two let
/// a cursor skip ahead; the last bounds the block's best score (block-max pruning for top-k). Then come the
/// entries, one per document, in document order:
/// `varint(docDelta << 1 | simple)`; unless `simple` (exactly one body occurrence and none in the title)
/// `varint(tfBody << 4 | min(tfTitle, 15)) [varint(tfTitle) if >= 15]`; then for positional
/// terms (bigrams and words; CJK unigrams carry none) either one `varint(position)` when the document has a
/// single occurrence, or `varint(byteLength)` followed by delta-coded positions. Only the deletion bitset is
/// mutable, and only under the index's write lock.
final class Segment: @unchecked Sendable {
    // Documents.
    /// Article ids as UTF-8 in one buffer (no per-id allocation): document d's id is
    /// `idText[idStart[d]..<idStart[d+1]]`.
    let idText: [UInt8]
    let idStart: [UInt32]
    /// Titles and bodies as UTF-16 (two bytes per CJK character instead of UTF-8's three), one flat buffer:
    /// document d's title is `text[textStart[2d]..<textStart[2d+1]]`, its body runs to `textStart[2d+2]`.
    let text: [UInt16]
    let textStart: [UInt32]
    let sourceIDs: [Int32]
    let monthIDs: [Int32]
    let seconds: [Int64]
    let utcOffsets: [Int32]
    let personStart: [UInt32]  // count + 1
    let personIDs: [Int32]
    let titleLengths: [UInt32]  // units in the title
    let bodyLengths: [UInt32]  // units in the body
    let bodyBases: [Int32]  // first body position

    // Terms: compact (BMP) CJK keys sorted ascending occupy term indices 0..<compactKeys.count, then the other
    // CJK keys sorted (astral characters), then words.
    let compactKeys: [UInt32]
    /// Every 64th compact key (derived, not stored in snapshots).
    let fences: [UInt32]
    let wideKeys: [UInt64]
    var cjkTermCount: Int { compactKeys.count + wideKeys.count }
    let words: [String: Int32]
    let wordList: [String]
    let termStart: [UInt32]  // byte offset of each term's list; count = terms + 1
    let postings: [UInt8]

    // Mutable under the index's write lock.
    var deleted: [UInt64]
    var deletedCount: Int = 0

    var count: Int { idStart.count - 1 }
    var liveCount: Int { count - deletedCount }

    /// The id of `doc`.
    func id(_ doc: Int) -> ArticleID {
        idText.withUnsafeBufferPointer { buffer in
            ArticleID(String(decoding: buffer[Int(idStart[doc])..<Int(idStart[doc + 1])], as: UTF8.self))
        }
    }

    /// Byte-wise order of two documents' ids (UTF-8 order, which is code point order).
    static func idPrecedes(_ a: Segment, _ i: Int, _ b: Segment, _ j: Int) -> Bool {
        a.idText.withUnsafeBufferPointer { x in
            b.idText.withUnsafeBufferPointer { y in
                var p = Int(a.idStart[i])
                let pEnd = Int(a.idStart[i + 1])
                var q = Int(b.idStart[j])
                let qEnd = Int(b.idStart[j + 1])
                while p < pEnd && q < qEnd {
                    if x[p] != y[q] { return x[p] < y[q] }
                    p += 1
                    q += 1
                }
                return pEnd - p < qEnd - q
            }
        }
    }

    init(
        idText: [UInt8], idStart: [UInt32], text: [UInt16], textStart: [UInt32], sourceIDs: [Int32], monthIDs: [Int32],
        seconds: [Int64], utcOffsets: [Int32], personStart: [UInt32], personIDs: [Int32], titleLengths: [UInt32],
        bodyLengths: [UInt32], bodyBases: [Int32], compactKeys: [UInt32], wideKeys: [UInt64], wordList: [String],
        termStart: [UInt32],
        postings: [UInt8], deleted: [UInt64]? = nil
    ) {
        self.idText = idText
        self.idStart = idStart
        self.text = text
        self.textStart = textStart
        self.sourceIDs = sourceIDs
        self.monthIDs = monthIDs
        self.seconds = seconds
        self.utcOffsets = utcOffsets
        self.personStart = personStart
        self.personIDs = personIDs
        self.titleLengths = titleLengths
        self.bodyLengths = bodyLengths
        self.bodyBases = bodyBases
        averageLength = Self.averageLength(titleLengths: titleLengths, bodyLengths: bodyLengths)
        self.compactKeys = compactKeys
        fences = Self.makeFences(compactKeys)
        self.wideKeys = wideKeys
        self.wordList = wordList
        var words: [String: Int32] = [:]
        for (i, word) in wordList.enumerated() { words[word] = Int32(compactKeys.count + wideKeys.count + i) }
        self.words = words
        self.termStart = termStart
        self.postings = postings
        self.deleted = deleted ?? [UInt64](repeating: 0, count: (idStart.count - 1 + 63) / 64)
        self.deletedCount = self.deleted.reduce(0) { $0 + $1.nonzeroBitCount }
    }

    /// Average weighted length (title × boost + body) of the segment's documents, deleted ones included: the
    /// length the block bounds were computed with.
    let averageLength: Double

    static func averageLength(titleLengths: [UInt32], bodyLengths: [UInt32]) -> Double {
        guard !titleLengths.isEmpty else { return 1 }
        var total = 0.0
        for (title, body) in zip(titleLengths, bodyLengths) { total += Double(title) * Scoring.titleBoost + Double(body) }
        return max(total / Double(titleLengths.count), 1)
    }

    /// Entries per skip block.
    static let skipInterval = 64
    /// Lists up to this long carry no block table: a linear scan is as fast as skipping, and it saves memory.
    static let blockTableMinimum = 192

    /// Number of documents holding term `t` (the list header).
    func documentFrequency(term t: Int) -> Int {
        postings.withUnsafeBufferPointer { buffer in
            var p = buffer.baseAddress! + Int(termStart[t])
            return Int(Varint.read(&p))
        }
    }

    /// Number of terms.
    var termCount: Int { termStart.count - 1 }

    @inline(__always) func isDeleted(_ doc: Int) -> Bool { deleted[doc >> 6] & (1 << UInt64(doc & 63)) != 0 }

    func markDeleted(_ doc: Int) {
        guard !isDeleted(doc) else { return }
        deleted[doc >> 6] |= 1 << UInt64(doc & 63)
        deletedCount += 1
    }

    /// Term index for a CJK key. Compact keys are found through `fences` (every 64th key, small enough to stay
    /// in cache), then a short scan: a plain binary search over 400k keys costs ~20 cache misses per lookup.
    @inline(__always) func term(cjk key: UInt64) -> Int? {
        guard let compact = TermKey.compact(key) else {
            return Self.search(wideKeys, key).map { compactKeys.count + $0 }
        }
        // Last fence <= key.
        var low = 0
        var high = fences.count
        while low < high {
            let mid = (low + high) >> 1
            if fences[mid] <= compact { low = mid + 1 } else { high = mid }
        }
        guard low > 0 else { return nil }
        let start = (low - 1) * Self.fenceInterval
        let end = min(start + Self.fenceInterval, compactKeys.count)
        return compactKeys.withUnsafeBufferPointer { keys in
            for i in start..<end {
                if keys[i] >= compact { return keys[i] == compact ? i : nil }
            }
            return nil
        }
    }

    static let fenceInterval = 64

    static func makeFences(_ keys: [UInt32]) -> [UInt32] {
        stride(from: 0, to: keys.count, by: fenceInterval).map { keys[$0] }
    }

    @inline(__always) private static func search<K: Comparable>(_ keys: [K], _ key: K) -> Int? {
        var low = 0
        var high = keys.count
        while low < high {
            let mid = (low + high) >> 1
            if keys[mid] < key { low = mid + 1 } else { high = mid }
        }
        return low < keys.count && keys[low] == key ? low : nil
    }

    func term(word: String) -> Int? { words[word].map(Int.init) }

    func isPositional(term: Int) -> Bool {
        if term < compactKeys.count { return compactKeys[term] >= 0x10000 }
        if term < cjkTermCount { return TermKey.isPositional(wideKeys[term - compactKeys.count]) }
        return true
    }

    func persons(of doc: Int) -> ArraySlice<Int32> {
        personIDs[Int(personStart[doc])..<Int(personStart[doc + 1])]
    }

    var storedTextBytes: Int { text.count * 2 + textStart.count * 4 }

    private func storedString(_ i: Int) -> String {
        text.withUnsafeBufferPointer { buffer in
            UTF16Text.string(UnsafeBufferPointer(rebasing: buffer[Int(textStart[i])..<Int(textStart[i + 1])]))
        }
    }

    func publishedAt(_ doc: Int) -> PublishedTime? {
        seconds[doc] == .min ? nil : PublishedTime(secondsSinceEpoch: seconds[doc], utcOffsetSeconds: utcOffsets[doc])
    }

    /// The stored title of `doc`.
    func title(_ doc: Int) -> String { storedString(2 * doc) }
    /// The stored body of `doc` (paragraphs joined by line breaks).
    func body(_ doc: Int) -> String { storedString(2 * doc + 1) }

    /// Calls `body` with the stored UTF-16 body of `doc`, in place (no copy, no decoding).
    @inline(__always) func withBody<R>(_ doc: Int, _ body: (UnsafeBufferPointer<UInt16>) -> R) -> R {
        text.withUnsafeBufferPointer { buffer in
            body(UnsafeBufferPointer(rebasing: buffer[Int(textStart[2 * doc + 1])..<Int(textStart[2 * doc + 2])]))
        }
    }

    /// Weighted length (BM25 `dl`) of a document.
    @inline(__always) func weightedLength(_ doc: Int) -> Double {
        Double(titleLengths[doc]) * Scoring.titleBoost + Double(bodyLengths[doc])
    }
}

// MARK: - Building

extension Segment {
    /// Builds a segment from documents (their order gives the local ids).
    static func build(_ documents: [PreparedDocument]) -> Segment {
        // Size the term tables to the batch: a one-article segment must not pay for a corpus-sized table.
        let characters = documents.reduce(0) { $0 + $1.title.utf16.count + $1.body.utf16.count }
        var builder = SegmentBuilder(expectedCharacters: characters)
        for document in documents { builder.add(document) }
        return builder.finish()
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

    /// `expectedCharacters` sizes the term tables (distinct bigrams grow far slower than text).
    init(expectedCharacters: Int) {
        // A direct table for BMP unigrams pays off only for large batches; small ones hash every key.
        unigramTerms = expectedCharacters > 200_000 ? [UInt32](repeating: .max, count: 0x10000) : []
        cjkTerms = UInt64Table(capacity: min(max(expectedCharacters / 4, 64), 1 << 20))
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
        text.append(contentsOf: document.title.utf16)
        textStart.append(UInt32(text.count))
        text.append(contentsOf: document.body.utf16)
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
        let cjkOrder = cjkKeyList.indices.sorted {
            let a = TermKey.compact(cjkKeyList[$0]) != nil
            let b = TermKey.compact(cjkKeyList[$1]) != nil
            return a != b ? a : cjkKeyList[$0] < cjkKeyList[$1]
        }
        let orderedKeys = cjkOrder.map { cjkKeyList[$0] }
        let compactKeys = orderedKeys.compactMap(TermKey.compact)
        let wideKeys = Array(orderedKeys.dropFirst(compactKeys.count))
        var finalOf = [UInt32](repeating: 0, count: cjkKeyList.count)
        for (final, provisional) in cjkOrder.enumerated() { finalOf[provisional] = UInt32(final) }
        let cjkCount = cjkKeyList.count
        let termCount = cjkCount + wordList.count
        @inline(__always) func final(_ t: UInt32) -> Int {
            t & 1 << 31 != 0 ? cjkCount + Int(t & ~(1 << 31)) : Int(finalOf[Int(t)])
        }
        // Counting sort of occurrences by term, keeping document then position order within a term.
        var occurrenceCount = [Int](repeating: 0, count: termCount + 1)
        for t in occurrenceTerms { occurrenceCount[final(t) + 1] += 1 }
        for i in 0..<termCount { occurrenceCount[i + 1] += occurrenceCount[i] }
        var fill = occurrenceCount
        var sortedDocs = [Int32](repeating: 0, count: occurrenceTerms.count)
        var sortedPositions = [Int32](repeating: 0, count: occurrenceTerms.count)
        for doc in 0..<documentCount {
            for k in documentOccurrenceStart[doc]..<documentOccurrenceStart[doc + 1] {
                let t = final(occurrenceTerms[k])
                let slot = fill[t]
                fill[t] = slot + 1
                sortedDocs[slot] = Int32(doc)
                sortedPositions[slot] = occurrencePositions[k]
            }
        }
        occurrenceTerms = []
        occurrencePositions = []

        var writer = PostingsWriter(titleLengths: titleLengths, bodyLengths: bodyLengths)
        writer.postings.reserveCapacity(sortedDocs.count * 3)
        var termStart = [UInt32](repeating: 0, count: termCount + 1)
        var positionBytes: [UInt8] = []
        for t in 0..<termCount {
            termStart[t] = UInt32(writer.postings.count)
            let positional = t >= cjkCount || TermKey.isPositional(cjkKeyList[cjkOrder[t]])
            var k = occurrenceCount[t]
            let end = occurrenceCount[t + 1]
            writer.beginTerm()
            while k < end {
                let doc = sortedDocs[k]
                var j = k
                while j < end, sortedDocs[j] == doc { j += 1 }
                let bodyBase = bodyBases[Int(doc)]
                var titleTF = 0
                while k + titleTF < j, sortedPositions[k + titleTF] < bodyBase { titleTF += 1 }
                positionBytes.removeAll(keepingCapacity: true)
                if positional {
                    var previous: Int32 = 0
                    for m in k..<j {
                        Varint.append(UInt64(sortedPositions[m] - previous), to: &positionBytes)
                        previous = sortedPositions[m]
                    }
                }
                positionBytes.withUnsafeBufferPointer { bytes in
                    writer.add(
                        doc: doc, titleTF: Int32(titleTF), bodyTF: Int32(j - k - titleTF),
                        positions: positional ? bytes : nil)
                }
                k = j
            }
            writer.endTerm()
        }
        termStart[termCount] = UInt32(writer.postings.count)
        writer.postings.append(0)  // padding: the buffer is never empty
        let postings = [UInt8](writer.postings)  // drop the reserve
        return Segment(
            idText: idText, idStart: idStart, text: text, textStart: textStart, sourceIDs: sourceIDs, monthIDs: monthIDs, seconds: seconds,
            utcOffsets: utcOffsets, personStart: personStart, personIDs: personIDs, titleLengths: titleLengths,
            bodyLengths: bodyLengths, bodyBases: bodyBases, compactKeys: compactKeys, wideKeys: wideKeys,
            wordList: wordList, termStart: termStart, postings: postings)
    }
}

/// Encodes term lists in the segment layout (see ``Segment``): used by fresh builds and by merges, which copy
/// each entry's position bytes verbatim.
struct PostingsWriter {
    var postings: [UInt8] = []
    /// BM25 length normalisation of every (output) document under the segment's own average length.
    private let normalization: [Double]
    private var entryBytes: [UInt8] = []
    private var blocks: [(Int32, UInt32, Float)] = []
    private var previousDoc: Int32 = 0
    private(set) var documentFrequency = 0

    init(titleLengths: [UInt32], bodyLengths: [UInt32]) {
        let average = Segment.averageLength(titleLengths: titleLengths, bodyLengths: bodyLengths)
        normalization = zip(titleLengths, bodyLengths).map { title, body in
            let length = Double(title) * Scoring.titleBoost + Double(body)
            return Scoring.k1 * (1 - Scoring.b + Scoring.b * length / average)
        }
    }

    mutating func beginTerm() {
        entryBytes.removeAll(keepingCapacity: true)
        blocks.removeAll(keepingCapacity: true)
        previousDoc = 0
        documentFrequency = 0
    }

    /// Adds one document's entry; `positions` are its delta-coded positions (nil for unigram lists).
    @inline(__always)
    mutating func add(doc: Int32, titleTF: Int32, bodyTF: Int32, positions: UnsafeBufferPointer<UInt8>?) {
        if documentFrequency % Segment.skipInterval == 0 {
            blocks.append((previousDoc, UInt32(entryBytes.count), 0))
        }
        // The block's best BM25 score per unit of idf (rounded up), for block-max pruning.
        let tf = Double(titleTF) * Scoring.titleBoost + Double(bodyTF)
        let score = Float(tf * (Scoring.k1 + 1) / (tf + normalization[Int(doc)])).nextUp
        blocks[blocks.count - 1].2 = max(blocks[blocks.count - 1].2, score)
        // The low bit flags the commonest entry, one body occurrence, which then needs no tf code.
        let simple = titleTF == 0 && bodyTF == 1
        Varint.append(UInt64(doc - previousDoc) << 1 | (simple ? 1 : 0), to: &entryBytes)
        previousDoc = doc
        if !simple {
            Varint.append(UInt64(bodyTF << 4 | min(titleTF, 15)), to: &entryBytes)
            if titleTF >= 15 { Varint.append(UInt64(titleTF), to: &entryBytes) }
        }
        if let positions {
            if titleTF + bodyTF != 1 { Varint.append(UInt64(positions.count), to: &entryBytes) }
            entryBytes.append(contentsOf: positions)
        }
        documentFrequency += 1
    }

    /// Writes the finished list (header, block table, entries) to `postings`.
    mutating func endTerm() {
        Varint.append(UInt64(documentFrequency), to: &postings)
        if documentFrequency > Segment.blockTableMinimum {
            for (previous, offset, maxScore) in blocks {
                withUnsafeBytes(of: previous.littleEndian) { postings.append(contentsOf: $0) }
                withUnsafeBytes(of: offset.littleEndian) { postings.append(contentsOf: $0) }
                withUnsafeBytes(of: maxScore.bitPattern.littleEndian) { postings.append(contentsOf: $0) }
            }
        }
        postings.append(contentsOf: entryBytes)
    }
}

enum Varint {
    @inline(__always) static func append(_ value: UInt64, to bytes: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    @inline(__always) static func read(_ p: inout UnsafePointer<UInt8>) -> UInt32 {
        var b = p.pointee
        p += 1
        if b < 0x80 { return UInt32(b) }
        var result = UInt32(b & 0x7F)
        var shift: UInt32 = 7
        repeat {
            b = p.pointee
            p += 1
            result |= UInt32(b & 0x7F) << shift
            shift += 7
        } while b >= 0x80
        return result
    }

    @inline(__always) static func skip(_ p: inout UnsafePointer<UInt8>) {
        while p.pointee >= 0x80 { p += 1 }
        p += 1
    }
}

// MARK: - Reading

/// A forward cursor over one term's postings.
struct PostingCursor {
    private var p: UnsafePointer<UInt8>
    private let end: UnsafePointer<UInt8>
    let positional: Bool
    /// Documents in the list.
    let documentFrequency: Int
    private let skipTable: UnsafeRawPointer
    /// Blocks in the block table (0 for short lists, which have none).
    let blockCount: Int
    private var nextSkip = 1
    private let entries: UnsafePointer<UInt8>
    /// Current document, or `Int32.max` when exhausted; -1 before the first `next()`.
    private(set) var doc: Int32 = -1
    private(set) var titleTF: Int32 = 0
    private(set) var bodyTF: Int32 = 0
    private var positionsPointer: UnsafePointer<UInt8>
    private var positionsLength = 0
    private var previous: Int32 = 0

    /// The current entry's delta-coded position bytes, as stored (merges copy them verbatim).
    var rawPositions: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: positionsPointer, count: positionsLength) }

    init(base: UnsafePointer<UInt8>, start: UInt32, end: UInt32, positional: Bool) {
        var q = base + Int(start)
        documentFrequency = Int(Varint.read(&q))
        blockCount =
            documentFrequency > Segment.blockTableMinimum
            ? (documentFrequency + Segment.skipInterval - 1) / Segment.skipInterval : 0
        skipTable = UnsafeRawPointer(q)
        q += blockCount * 12
        entries = q
        p = q
        self.end = base + Int(end)
        self.positional = positional
        positionsPointer = p
    }

    /// Moves to the next entry; false when exhausted.
    @inline(__always) mutating func next() -> Bool {
        guard p < end else {
            doc = .max
            return false
        }
        let head = Varint.read(&p)
        previous += Int32(bitPattern: head >> 1)
        doc = previous
        if head & 1 == 1 {
            titleTF = 0
            bodyTF = 1
        } else {
            let code = Varint.read(&p)
            var title = Int32(code & 15)
            if title == 15 { title = Int32(bitPattern: Varint.read(&p)) }
            titleTF = title
            bodyTF = Int32(code >> 4)
        }
        if positional {
            if titleTF + bodyTF == 1 {
                positionsPointer = p
                Varint.skip(&p)
                positionsLength = p - positionsPointer
            } else {
                positionsLength = Int(Varint.read(&p))
                positionsPointer = p
                p += positionsLength
            }
        }
        return true
    }

    /// Advances to the first entry at or after `target`; true when that entry is `target`.
    @inline(__always) mutating func seek(_ target: Int32) -> Bool {
        if doc >= target { return doc == target }
        if nextSkip < blockCount {
            // Jump to the last block that starts after a document below the target.
            var k = nextSkip
            var jump = -1
            while k < blockCount, skipTable.loadUnaligned(fromByteOffset: 12 * k, as: Int32.self) < target {
                jump = k
                k += 1
            }
            nextSkip = k
            if jump >= 0 {
                jumpToBlock(jump)
            }
        }
        while doc < target {
            if !next() { return false }
        }
        return doc == target
    }

    /// Moves to the start of block `k` unless the cursor is already past it.
    @inline(__always) mutating func jumpToBlock(_ k: Int) {
        let q = entries + Int(skipTable.loadUnaligned(fromByteOffset: 12 * k + 4, as: UInt32.self))
        if q > p {
            p = q
            previous = skipTable.loadUnaligned(fromByteOffset: 12 * k, as: Int32.self)
        }
    }

    /// Best BM25 score per unit of idf in block `k`, under the segment's own average length.
    @inline(__always) func blockMaxScore(_ k: Int) -> Double {
        Double(Float(bitPattern: UInt32(littleEndian: skipTable.loadUnaligned(fromByteOffset: 12 * k + 8, as: UInt32.self))))
    }

    /// Occurrences in the current document.
    var frequency: Int32 { titleTF + bodyTF }

    /// An iterator over the current document's positions.
    var positionIterator: PositionIterator {
        PositionIterator(pointer: positionsPointer, remaining: titleTF + bodyTF)
    }

}

/// Open-addressing hash table from non-zero UInt64 keys to UInt32 (linear probing, kept under half full).
struct UInt64Table {
    private var keys: [UInt64]
    private var values: [UInt32]
    private var count = 0
    private var mask: Int

    init(capacity: Int = 1 << 16) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        keys = [UInt64](repeating: 0, count: size)
        values = [UInt32](repeating: 0, count: size)
        mask = size - 1
    }

    @inline(__always) private static func slot(_ key: UInt64, _ mask: Int) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 29) & mask
    }

    /// The value for `key`, inserting `value` first when the key is new.
    @inline(__always) mutating func findOrInsert(_ key: UInt64, _ value: UInt32) -> UInt32 {
        var i = Self.slot(key, mask)
        while true {
            let k = keys[i]
            if k == key { return values[i] }
            if k == 0 { break }
            i = (i + 1) & mask
        }
        keys[i] = key
        values[i] = value
        count += 1
        if count * 2 > keys.count { grow() }
        return value
    }

    private mutating func grow() {
        let oldKeys = keys
        let oldValues = values
        keys = [UInt64](repeating: 0, count: oldKeys.count * 2)
        values = [UInt32](repeating: 0, count: oldKeys.count * 2)
        mask = keys.count - 1
        for (i, key) in oldKeys.enumerated() where key != 0 {
            var j = Self.slot(key, mask)
            while keys[j] != 0 { j = (j + 1) & mask }
            keys[j] = key
            values[j] = oldValues[i]
        }
    }
}

/// UTF-16 → String without the standard library's generic (slow) transcoding path.
enum UTF16Text {
    static func string(_ units: UnsafeBufferPointer<UInt16>) -> String {
        if units.isEmpty { return "" }
        return String(unsafeUninitializedCapacity: units.count * 3) { out in
            var o = 0
            var i = 0
            let n = units.count
            while i < n {
                var v = UInt32(units[i])
                i += 1
                if v >= 0xD800 && v <= 0xDBFF, i < n, units[i] >= 0xDC00, units[i] <= 0xDFFF {
                    v = 0x10000 + ((v - 0xD800) << 10) + (UInt32(units[i]) - 0xDC00)
                    i += 1
                } else if v >= 0xD800 && v <= 0xDFFF {
                    v = 0xFFFD  // unpaired surrogate (never stored: input came from valid Strings)
                }
                if v < 0x80 {
                    out[o] = UInt8(v)
                    o += 1
                } else if v < 0x800 {
                    out[o] = UInt8(0xC0 | (v >> 6))
                    out[o + 1] = UInt8(0x80 | (v & 0x3F))
                    o += 2
                } else if v < 0x10000 {
                    out[o] = UInt8(0xE0 | (v >> 12))
                    out[o + 1] = UInt8(0x80 | ((v >> 6) & 0x3F))
                    out[o + 2] = UInt8(0x80 | (v & 0x3F))
                    o += 3
                } else {
                    out[o] = UInt8(0xF0 | (v >> 18))
                    out[o + 1] = UInt8(0x80 | ((v >> 12) & 0x3F))
                    out[o + 2] = UInt8(0x80 | ((v >> 6) & 0x3F))
                    out[o + 3] = UInt8(0x80 | (v & 0x3F))
                    o += 4
                }
            }
            return o
        }
    }
}

/// Decodes one document's delta-coded positions lazily.
struct PositionIterator {
    private var pointer: UnsafePointer<UInt8>
    private var remaining: Int32
    /// Current position; `Int32.max` once exhausted.
    private(set) var value: Int32 = 0

    init(pointer: UnsafePointer<UInt8>, remaining: Int32) {
        self.pointer = pointer
        self.remaining = remaining
        advance()
    }

    @inline(__always) mutating func advance() {
        if remaining == 0 {
            value = .max
            return
        }
        remaining -= 1
        value += Int32(bitPattern: Varint.read(&pointer))
    }

    /// Advances to the first position at or after `target`; returns it (`Int32.max` when none).
    @inline(__always) mutating func advance(to target: Int32) -> Int32 {
        while value < target { advance() }
        return value
    }
}
