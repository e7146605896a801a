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
}

/// An immutable block of the inverted index over a batch of documents (local ids `0..<count`).
///
/// Postings are one flat byte array. Each term's list is a run of entries, one per document, in document order:
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

    // Terms: CJK keys sorted ascending occupy term indices 0..<cjkKeys.count; words follow.
    let cjkKeys: [UInt64]
    let words: [String: Int32]
    let wordList: [String]
    let termStart: [UInt32]  // byte offset of each term's list; count = terms + 1
    let termDF: [UInt32]
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
        bodyLengths: [UInt32], bodyBases: [Int32], cjkKeys: [UInt64], wordList: [String], termStart: [UInt32],
        termDF: [UInt32], postings: [UInt8], deleted: [UInt64]? = nil
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
        self.cjkKeys = cjkKeys
        self.wordList = wordList
        var words: [String: Int32] = [:]
        for (i, word) in wordList.enumerated() { words[word] = Int32(cjkKeys.count + i) }
        self.words = words
        self.termStart = termStart
        self.termDF = termDF
        self.postings = postings
        self.deleted = deleted ?? [UInt64](repeating: 0, count: (idStart.count - 1 + 63) / 64)
        self.deletedCount = self.deleted.reduce(0) { $0 + $1.nonzeroBitCount }
    }

    @inline(__always) func isDeleted(_ doc: Int) -> Bool { deleted[doc >> 6] & (1 << UInt64(doc & 63)) != 0 }

    func markDeleted(_ doc: Int) {
        guard !isDeleted(doc) else { return }
        deleted[doc >> 6] |= 1 << UInt64(doc & 63)
        deletedCount += 1
    }

    /// Term index for a CJK key, by binary search.
    @inline(__always) func term(cjk key: UInt64) -> Int? {
        var low = 0
        var high = cjkKeys.count
        while low < high {
            let mid = (low + high) >> 1
            if cjkKeys[mid] < key { low = mid + 1 } else { high = mid }
        }
        return low < cjkKeys.count && cjkKeys[low] == key ? low : nil
    }

    func term(word: String) -> Int? { words[word].map(Int.init) }

    func isPositional(term: Int) -> Bool { term >= cjkKeys.count || TermKey.isPositional(cjkKeys[term]) }

    func persons(of doc: Int) -> ArraySlice<Int32> {
        personIDs[Int(personStart[doc])..<Int(personStart[doc + 1])]
    }

    func prepared(_ doc: Int) -> PreparedDocument {
        PreparedDocument(
            id: id(doc), title: title(doc), body: body(doc), sourceID: sourceIDs[doc], monthID: monthIDs[doc],
            seconds: seconds[doc], utcOffset: utcOffsets[doc], personIDs: Array(persons(of: doc)))
    }

    var storedTextBytes: Int { text.count * 2 + textStart.count * 4 }

    private func storedString(_ i: Int) -> String {
        text.withUnsafeBufferPointer { buffer in
            String(decoding: buffer[Int(textStart[i])..<Int(textStart[i + 1])], as: UTF16.self)
        }
    }

    func publishedAt(_ doc: Int) -> PublishedTime? {
        seconds[doc] == .min ? nil : PublishedTime(secondsSinceEpoch: seconds[doc], utcOffsetSeconds: utcOffsets[doc])
    }

    /// The stored title of `doc`.
    func title(_ doc: Int) -> String { storedString(2 * doc) }
    /// The stored body of `doc` (paragraphs joined by line breaks).
    func body(_ doc: Int) -> String { storedString(2 * doc + 1) }

    /// Weighted length (BM25 `dl`) of a document.
    @inline(__always) func weightedLength(_ doc: Int) -> Double {
        Double(titleLengths[doc]) * Scoring.titleBoost + Double(bodyLengths[doc])
    }
}

// MARK: - Building

extension Segment {
    /// Builds a segment from documents (their order gives the local ids).
    static func build(_ documents: [PreparedDocument]) -> Segment {
        var builder = SegmentBuilder()
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
    private var unigramTerms = [UInt32](repeating: .max, count: 0x10000)
    private var cjkTerms = UInt64Table()
    private var cjkKeyList: [UInt64] = []
    private var wordTerms: [String: UInt32] = [:]
    private var wordList: [String] = []
    /// Occurrences in document order: provisional term (words tagged with the top bit) and position.
    private var occurrenceTerms: [UInt32] = []
    private var occurrencePositions: [Int32] = []
    private var documentOccurrenceStart: [Int] = [0]

    private var units: [AnalyzedUnit] = []

    init() {}

    @inline(__always) private mutating func cjkTerm(_ key: UInt64) -> UInt32 {
        if key < 0x10000 {
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
        // Final term order: CJK keys ascending, then words.
        let cjkOrder = cjkKeyList.indices.sorted { cjkKeyList[$0] < cjkKeyList[$1] }
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

        var postings: [UInt8] = []
        postings.reserveCapacity(sortedDocs.count * 3)
        var termStart = [UInt32](repeating: 0, count: termCount + 1)
        var termDF = [UInt32](repeating: 0, count: termCount)
        var positionBytes: [UInt8] = []
        for t in 0..<termCount {
            termStart[t] = UInt32(postings.count)
            let positional = t >= cjkCount || TermKey.isPositional(cjkKeyList[cjkOrder[t]])
            var k = occurrenceCount[t]
            let end = occurrenceCount[t + 1]
            var previousDoc: Int32 = 0
            var df: UInt32 = 0
            while k < end {
                let doc = sortedDocs[k]
                var j = k
                while j < end, sortedDocs[j] == doc { j += 1 }
                let bodyBase = bodyBases[Int(doc)]
                var titleTF = 0
                while k + titleTF < j, sortedPositions[k + titleTF] < bodyBase { titleTF += 1 }
                let bodyTF = j - k - titleTF
                // The low bit flags the commonest entry, one body occurrence, which then needs no tf code.
                let simple = titleTF == 0 && bodyTF == 1
                Varint.append(UInt64(doc - previousDoc) << 1 | (simple ? 1 : 0), to: &postings)
                previousDoc = doc
                if !simple {
                    Varint.append(UInt64(bodyTF << 4 | min(titleTF, 15)), to: &postings)
                    if titleTF >= 15 { Varint.append(UInt64(titleTF), to: &postings) }
                }
                if positional {
                    if j - k == 1 {
                        Varint.append(UInt64(sortedPositions[k]), to: &postings)
                    } else {
                        positionBytes.removeAll(keepingCapacity: true)
                        var previous: Int32 = 0
                        for m in k..<j {
                            Varint.append(UInt64(sortedPositions[m] - previous), to: &positionBytes)
                            previous = sortedPositions[m]
                        }
                        Varint.append(UInt64(positionBytes.count), to: &postings)
                        postings.append(contentsOf: positionBytes)
                    }
                }
                df += 1
                k = j
            }
            termDF[t] = df
        }
        termStart[termCount] = UInt32(postings.count)
        postings.append(0)  // padding: the buffer is never empty
        postings = [UInt8](postings)  // drop the reserve
        return Segment(
            idText: idText, idStart: idStart, text: text, textStart: textStart, sourceIDs: sourceIDs, monthIDs: monthIDs, seconds: seconds,
            utcOffsets: utcOffsets, personStart: personStart, personIDs: personIDs, titleLengths: titleLengths,
            bodyLengths: bodyLengths, bodyBases: bodyBases, cjkKeys: cjkOrder.map { cjkKeyList[$0] },
            wordList: wordList, termStart: termStart, termDF: termDF, postings: postings)
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
    /// Current document, or `Int32.max` when exhausted; -1 before the first `next()`.
    private(set) var doc: Int32 = -1
    private(set) var titleTF: Int32 = 0
    private(set) var bodyTF: Int32 = 0
    private var positionsPointer: UnsafePointer<UInt8>
    private var previous: Int32 = 0

    init(base: UnsafePointer<UInt8>, start: UInt32, end: UInt32, positional: Bool) {
        p = base + Int(start)
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
            } else {
                let length = Int(Varint.read(&p))
                positionsPointer = p
                p += length
            }
        }
        return true
    }

    /// Advances to the first entry at or after `target`; true when that entry is `target`.
    @inline(__always) mutating func seek(_ target: Int32) -> Bool {
        while doc < target {
            if !next() { return false }
        }
        return doc == target
    }

    /// The current document's positions, ascending.
    func positions(into out: inout [Int32]) {
        out.removeAll(keepingCapacity: true)
        var q = positionsPointer
        var position: Int32 = 0
        for _ in 0..<(titleTF + bodyTF) {
            position += Int32(bitPattern: Varint.read(&q))
            out.append(position)
        }
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
