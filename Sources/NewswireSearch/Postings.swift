/// Encodes term lists in the segment layout (see ``Segment``): used by fresh builds and by merges, which copy
/// each entry's position bytes verbatim.
struct PostingsWriter {
    /// The finished lists.
    let postings: GrowableBytes
    /// BM25 length normalisation of every (output) document under the segment's own average length.
    private let normalization: [Double]
    private let entryBytes = GrowableBytes()
    /// Where the current term's entries start in `entryBytes`. The buffer is cleared once it has grown, not for
    /// every term: most lists hold a few entries, and clearing two arrays per term (hundreds of thousands of terms
    /// per merge) was a tenth of a merge's instructions.
    private var entryBase = 0
    private var blocks: [(Int32, UInt32, Float)] = []
    private var previousDoc: Int32 = 0
    private(set) var documentFrequency = 0

    /// `capacity`: the postings' expected size.
    init(titleLengths: [UInt32], bodyLengths: [UInt32], capacity: Int = 4_096) {
        postings = GrowableBytes(capacity: capacity)
        let average = Segment.averageLength(titleLengths: titleLengths, bodyLengths: bodyLengths)
        normalization = zip(titleLengths, bodyLengths).map { title, body in
            let length = Double(title) * Scoring.titleBoost + Double(body)
            return Scoring.k1 * (1 - Scoring.b + Scoring.b * length / average)
        }
    }

    /// Whether this term's list may get a block table (more than ``Segment/blockTableMinimum`` entries): only
    /// then are its entries scored (a division per entry, the costliest step of copying a list in a merge).
    private var keepsBlocks = true

    /// Starts a term's list; `atMost`: an upper bound on its entries, when known.
    mutating func beginTerm(atMost documents: Int = .max) {
        if entryBytes.count >= 1 << 16 { entryBytes.removeAll() }
        entryBase = entryBytes.count
        if !blocks.isEmpty { blocks.removeAll(keepingCapacity: true) }
        previousDoc = 0
        documentFrequency = 0
        keepsBlocks = documents > Segment.blockTableMinimum
    }

    /// Adds one document's entry; `positions` are its delta-coded positions (nil for unigram lists).
    @inline(__always)
    mutating func add(doc: Int32, titleTF: Int32, bodyTF: Int32, positions: UnsafeBufferPointer<UInt8>?) {
        noteEntry(doc: doc, titleTF: titleTF, bodyTF: bodyTF)
        // The low bit flags the commonest entry, one body occurrence, which then needs no tf code.
        let simple = titleTF == 0 && bodyTF == 1
        entryBytes.appendVarint(UInt64(doc - previousDoc) << 1 | (simple ? 1 : 0))
        previousDoc = doc
        if !simple {
            entryBytes.appendVarint(UInt64(bodyTF << 4 | min(titleTF, 15)))
            if titleTF >= 15 { entryBytes.appendVarint(UInt64(titleTF)) }
        }
        if let positions {
            if titleTF + bodyTF != 1 { entryBytes.appendVarint(UInt64(positions.count)) }
            entryBytes.append(positions)
        }
        documentFrequency += 1
    }

    /// Notes one entry of a run of entries another list stored, to be copied whole by ``appendRun(_:)``
    /// once the run is read: `offset` is where the entry starts within the run. The run must follow an entry
    /// added with ``add(doc:titleTF:bodyTF:positions:)`` (so its first document delta is the one this list needs).
    @inline(__always)
    mutating func noteRunEntry(doc: Int32, titleTF: Int32, bodyTF: Int32, offset: Int) {
        noteEntry(doc: doc, titleTF: titleTF, bodyTF: bodyTF, at: entryBytes.count &- entryBase &+ offset)
        previousDoc = doc
        documentFrequency += 1
    }

    /// Appends the bytes of the run whose entries ``noteRunEntry(doc:titleTF:bodyTF:offset:)`` noted: one copy
    /// for the run instead of one per entry (the copies' calls were a good part of a merge's time).
    mutating func appendRun(_ run: UnsafeBufferPointer<UInt8>) {
        entryBytes.append(run)
    }

    /// Opens a block every ``Segment/skipInterval`` entries and raises its best score to this entry's.
    @inline(__always)
    private mutating func noteEntry(doc: Int32, titleTF: Int32, bodyTF: Int32) {
        noteEntry(doc: doc, titleTF: titleTF, bodyTF: bodyTF, at: entryBytes.count &- entryBase)
    }

    /// ``noteEntry(doc:titleTF:bodyTF:)`` for an entry that starts at `offset` in this list's entries.
    @inline(__always)
    private mutating func noteEntry(doc: Int32, titleTF: Int32, bodyTF: Int32, at offset: Int) {
        guard keepsBlocks else { return }
        if documentFrequency % Segment.skipInterval == 0 {
            blocks.append((previousDoc, UInt32(offset), 0))
        }
        // The block's best BM25 score per unit of idf (rounded up), for block-max pruning.
        let tf = Double(titleTF) * Scoring.titleBoost + Double(bodyTF)
        let score = Float(tf * (Scoring.k1 + 1) / (tf + normalization[Int(doc)])).nextUp
        blocks[blocks.count - 1].2 = max(blocks[blocks.count - 1].2, score)
    }

    /// Writes the finished list (header, block table, entries) to `postings`.
    mutating func endTerm() {
        postings.appendVarint(UInt64(documentFrequency))
        if documentFrequency > Segment.blockTableMinimum {
            for (previous, offset, maxScore) in blocks {
                postings.append(littleEndian: previous)
                postings.append(littleEndian: offset)
                postings.append(littleEndian: maxScore.bitPattern)
            }
        }
        postings.append(entryBytes.bytes(from: entryBase))
    }
}

/// Reading the LEB128 varints of postings (written by ``GrowableBytes/appendVarint(_:)``).
enum Varint {
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

    /// Where the next entry starts (the end of the current one): read before and after ``next()``, the bytes of
    /// the entry as stored (a merge copies them whole).
    var position: UnsafePointer<UInt8> { p }

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

    /// The number of documents in the list at `start` (its header), without setting up a cursor.
    @inline(__always)
    static func documentFrequency(base: UnsafePointer<UInt8>, start: UInt32) -> Int {
        var q = base + Int(start)
        return Int(Varint.read(&q))
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

    /// On a cursor not yet advanced: moves to `target`'s entry, if the list holds it, finding its block by binary
    /// search in the block table (a date-ordered walk asks for documents in time order, not document order).
    @inline(__always) mutating func find(_ target: Int32) -> Bool {
        if blockCount > 0 {
            // The last block whose preceding document is below the target (block 0's is 0, or below every doc).
            var low = 0
            var high = blockCount - 1
            while low < high {
                let middle = (low + high + 1) / 2
                if skipTable.loadUnaligned(fromByteOffset: 12 * middle, as: Int32.self) < target {
                    low = middle
                } else {
                    high = middle - 1
                }
            }
            if skipTable.loadUnaligned(fromByteOffset: 12 * low, as: Int32.self) < target { jumpToBlock(low) }
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
