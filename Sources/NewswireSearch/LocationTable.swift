import NewswireModel

/// Id → (segment, document) map without a heap-allocated key per article: ids stay in the segments' flat
/// buffers; slots hold a 64-bit hash of the id's UTF-8 and are confirmed by comparing bytes. (A dictionary keyed
/// by `ArticleID` allocates one string per id of 16+ bytes, scattered over the heap.)
///
/// Linear probing, at most half full, with backward-shift deletion: a removal moves later entries of its probe
/// run back instead of leaving a tombstone, so deletes and updates never lengthen lookups or pile up slots.
struct LocationTable {
    private var hashes: [UInt64]  // 0 = empty
    private var segments: [Segment?]
    private var docs: [Int32]
    private(set) var count = 0

    /// One shared empty table (see ``IndexState/withoutLocations``).
    static let unused = LocationTable()

    init() {
        hashes = [UInt64](repeating: 0, count: 16)
        segments = [Segment?](repeating: nil, count: 16)
        docs = [Int32](repeating: 0, count: 16)
    }

    @inline(__always) private static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        h ^= h >> 29
        return max(h, 1)
    }

    private func find(_ bytes: UnsafeBufferPointer<UInt8>, _ h: UInt64) -> (slot: Int, found: Bool) {
        let mask = hashes.count - 1
        var i = Int(truncatingIfNeeded: h) & mask
        while true {
            let stored = hashes[i]
            if stored == 0 { return (i, false) }
            if stored == h, let segment = segments[i], segment.idEquals(Int(docs[i]), bytes) { return (i, true) }
            i = (i + 1) & mask
        }
    }

    private static func withBytes<T>(_ id: ArticleID, _ body: (UnsafeBufferPointer<UInt8>) -> T) -> T {
        var raw = id.rawValue
        return raw.withUTF8(body)
    }

    func location(of id: ArticleID) -> DocumentLocation? {
        Self.withBytes(id) { bytes in
            let (slot, found) = find(bytes, Self.hash(bytes))
            return found ? DocumentLocation(segment: segments[slot]!, doc: docs[slot]) : nil
        }
    }

    /// The location of the article whose id is document `doc`'s id in `segment`.
    func location(ofIDOf doc: Int, in segment: Segment) -> DocumentLocation? {
        segment.withIDBytes(doc) { bytes in
            let (slot, found) = find(bytes, Self.hash(bytes))
            return found ? DocumentLocation(segment: segments[slot]!, doc: docs[slot]) : nil
        }
    }

    /// Removes and returns the location of `id`.
    mutating func removeValue(forKey id: ArticleID) -> DocumentLocation? {
        Self.withBytes(id) { bytes in removeValue(bytes) }
    }

    /// Removes and returns the location of the article whose id is document `doc`'s id in `segment`.
    mutating func removeValue(idOf doc: Int, in segment: Segment) -> DocumentLocation? {
        segment.withIDBytes(doc) { bytes in removeValue(bytes) }
    }

    private mutating func removeValue(_ bytes: UnsafeBufferPointer<UInt8>) -> DocumentLocation? {
        let (slot, found) = find(bytes, Self.hash(bytes))
        guard found else { return nil }
        let location = DocumentLocation(segment: segments[slot]!, doc: docs[slot])
        count -= 1
        // Backward shift: walk the probe run after the hole; an entry whose home slot is not cyclically within
        // (hole, entry] may move into the hole, which then moves to where it was.
        let mask = hashes.count - 1
        var hole = slot
        var next = (slot + 1) & mask
        while hashes[next] != 0 {
            let home = Int(truncatingIfNeeded: hashes[next]) & mask
            if (next - home) & mask >= (next - hole) & mask {
                hashes[hole] = hashes[next]
                segments[hole] = segments[next]
                docs[hole] = docs[next]
                hole = next
            }
            next = (next + 1) & mask
        }
        hashes[hole] = 0
        segments[hole] = nil
        return location
    }

    /// Slots holding an entry (equal to ``count``: removals leave no tombstones behind; for tests).
    var occupiedSlots: Int { hashes.reduce(0) { $0 + ($1 != 0 ? 1 : 0) } }

    /// Points the id of document `doc` in `segment` at that document.
    mutating func set(doc: Int, in segment: Segment) {
        if (count + 1) * 2 > hashes.count { grow() }
        segment.withIDBytes(doc) { bytes in
            let h = Self.hash(bytes)
            let (slot, found) = find(bytes, h)
            if !found { count += 1 }
            hashes[slot] = h
            segments[slot] = segment
            docs[slot] = Int32(doc)
        }
    }

    private mutating func grow() {
        let oldSegments = segments
        let oldDocs = docs
        let oldHashes = hashes
        var size = hashes.count
        while size < (count + 1) * 4 { size <<= 1 }
        hashes = [UInt64](repeating: 0, count: size)
        segments = [Segment?](repeating: nil, count: size)
        docs = [Int32](repeating: 0, count: size)
        let mask = size - 1
        for i in oldHashes.indices where oldHashes[i] != 0 {
            var j = Int(truncatingIfNeeded: oldHashes[i]) & mask
            while hashes[j] != 0 { j = (j + 1) & mask }
            hashes[j] = oldHashes[i]
            segments[j] = oldSegments[i]
            docs[j] = oldDocs[i]
        }
    }
}

extension Segment {
    func withIDBytes<T>(_ doc: Int, _ body: (UnsafeBufferPointer<UInt8>) -> T) -> T {
        idText.withUnsafeBufferPointer { buffer in
            body(UnsafeBufferPointer(rebasing: buffer[Int(idStart[doc])..<Int(idStart[doc + 1])]))
        }
    }

    func idEquals(_ doc: Int, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        withIDBytes(doc) { own in own.count == bytes.count && own.elementsEqual(bytes) }
    }
}
