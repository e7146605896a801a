import NewswireModel
import Synchronization

/// An immutable block of the inverted index over a batch of documents (local ids `0..<count`).
///
/// Postings are one flat byte array. Each term's list starts with `varint(df)` and, when df > 192, a block table:
/// for each block of ``skipInterval`` (48) entries, 12 bytes `(Int32 last doc before the block, UInt32 byte offset
/// of the block, Float32 best BM25 score per unit of idf in the block under the segment's average length)`. The first two let
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

    /// Documents by publication time, oldest first, undated ones (`Int64.min`) before all: made on the first
    /// search sorted by date that walks this segment in time order (``timeOrder``), not stored in snapshots.
    private let timeOrderCache = Mutex<[Int32]?>(nil)

    /// Documents ordered by publication time (see ``timeOrderCache``); ties in any order.
    var timeOrder: [Int32] {
        timeOrderCache.withLock { cached in
            if let cached { return cached }
            let seconds = self.seconds
            let order = (0..<Int32(count)).sorted { seconds[Int($0)] < seconds[Int($1)] }
            cached = order
            return order
        }
    }

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
    static let skipInterval = 48
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
