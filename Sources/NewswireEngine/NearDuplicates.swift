import NewswireModel
import NewswireSearch
import NewswireStore

/// The text features near-duplicate detection works on: the normalised body's character 5-shingles, their
/// MinHash signature cut into LSH bands, and an exact fingerprint.
///
/// Why MinHash rather than SimHash: measured on the corpus (benchmarks/store/README.md), a 64-bit SimHash of
/// 4-shingles moves 5–10 bits for a republished copy with a few changed characters, so the usual "distance ≤ 3"
/// finds only 14–30% of such copies, while unrelated articles sit only 13–19 bits apart. MinHash LSH
/// (8 bands × 4 rows) proposes 93–99.9% of them as candidates, and an exact Jaccard check decides.
struct TextFeatures: Sendable {
    /// Shingle length in Unicode scalars.
    static let shingleLength = 5
    /// LSH bands and rows per band (signature length = bands × rows).
    static let bands = 8
    static let rowsPerBand = 4
    /// Below this many distinct shingles a body is too short to call anything a copy of it.
    static let minimumShingles = 8

    /// Sorted distinct 64-bit shingle hashes.
    var shingles: [UInt64]
    /// One key per band (band index mixed in), empty when the body is too short.
    var bandKeys: [UInt32]
    /// Hash of the whole normalised body (equal bodies, equal fingerprints).
    var fingerprint: UInt64

    init(body: String) {
        let scalars = Self.normalisedScalars(body)
        fingerprint = scalars.reduce(0xCBF2_9CE4_8422_2325) { ($0 ^ UInt64($1)) &* 0x0000_0100_0000_01B3 }
        var hashes: [UInt64] = []
        let k = Self.shingleLength
        if scalars.count >= k {
            hashes.reserveCapacity(scalars.count - k + 1)
            for start in 0...(scalars.count - k) {
                var h: UInt64 = 0x9E37_79B9_7F4A_7C15
                for i in start..<(start + k) { h = mix64(h ^ UInt64(scalars[i])) }
                hashes.append(h)
            }
        }
        RadixSort.sort(&hashes)
        var unique: [UInt64] = []
        unique.reserveCapacity(hashes.count)
        for h in hashes where unique.last != h { unique.append(h) }
        shingles = unique
        guard unique.count >= Self.minimumShingles else {
            bandKeys = []
            return
        }
        let minima = Self.signature(of: unique)
        var keys: [UInt32] = []
        keys.reserveCapacity(Self.bands)
        for band in 0..<Self.bands {
            var h = UInt64(band) &* 0xD6E8_FEB8_6659_FD93
            for row in 0..<Self.rowsPerBand { h = mix64(h ^ UInt64(minima[band * Self.rowsPerBand + row])) }
            keys.append(UInt32(truncatingIfNeeded: h >> 32))
        }
        bandKeys = keys
    }

    /// Jaccard similarity of two shingle sets.
    static func jaccard(_ a: [UInt64], _ b: [UInt64]) -> Double {
        if a.isEmpty && b.isEmpty { return 1 }
        var i = 0
        var j = 0
        var common = 0
        while i < a.count && j < b.count {
            if a[i] == b[j] {
                common += 1
                i += 1
                j += 1
            } else if a[i] < b[j] {
                i += 1
            } else {
                j += 1
            }
        }
        return Double(common) / Double(a.count + b.count - common)
    }

    /// NFKC-style folding the detector needs (full-width ASCII to ASCII, ASCII lowercased), keeping only letters
    /// and digits, so punctuation, spacing and line breaks do not make copies look different.
    static func normalisedScalars(_ text: String) -> [UInt32] {
        var out: [UInt32] = []
        out.reserveCapacity(text.utf8.count / 3 + 8)
        for scalar in text.unicodeScalars {
            var v = scalar.value
            if v >= 0xFF01 && v <= 0xFF5E { v -= 0xFEE0 }  // full-width ASCII variants
            if v < 0x80 {
                if v >= 0x41 && v <= 0x5A {
                    out.append(v + 0x20)
                } else if (v >= 0x61 && v <= 0x7A) || (v >= 0x30 && v <= 0x39) {
                    out.append(v)
                }
            } else if v >= 0x4E00 && v <= 0x9FFF {
                out.append(v)  // CJK unified ideographs: the common case, no property lookup
            } else if let s = Unicode.Scalar(v), s.properties.isAlphabetic || s.properties.numericType != nil {
                out.append(s.properties.lowercaseMapping.unicodeScalars.first?.value ?? v)
            }
        }
        return out
    }

    static let multipliers: [UInt64] = (0..<(bands * rowsPerBand)).map { mix64(UInt64($0) &+ 0x1234_5678) | 1 }
    static let addends: [UInt64] = (0..<(bands * rowsPerBand)).map { mix64(UInt64($0) &+ 0x8765_4321) }

    /// The MinHash signature of `shingles`: per row, the least of universal hashing a·x + b (mod 2^64), top 32
    /// bits (one independent permutation per row). Eight rows at a time as vectors: the scalar loop, a compare and
    /// branch per row and shingle, was three quarters of a write batch's near-duplicate features.
    static func signature(of shingles: [UInt64]) -> [UInt32] {
        precondition(bands * rowsPerBand == 32, "the signature is computed as four vectors of eight rows")
        let (a0, a1, a2, a3) = (multiplierVectors[0], multiplierVectors[1], multiplierVectors[2], multiplierVectors[3])
        let (b0, b1, b2, b3) = (addendVectors[0], addendVectors[1], addendVectors[2], addendVectors[3])
        var m0 = SIMD8<UInt32>(repeating: .max)
        var (m1, m2, m3) = (m0, m0, m0)
        for h in shingles {
            let x = SIMD8<UInt64>(repeating: h)
            m0 = pointwiseMin(m0, SIMD8<UInt32>(truncatingIfNeeded: (a0 &* x &+ b0) &>> 32))
            m1 = pointwiseMin(m1, SIMD8<UInt32>(truncatingIfNeeded: (a1 &* x &+ b1) &>> 32))
            m2 = pointwiseMin(m2, SIMD8<UInt32>(truncatingIfNeeded: (a2 &* x &+ b2) &>> 32))
            m3 = pointwiseMin(m3, SIMD8<UInt32>(truncatingIfNeeded: (a3 &* x &+ b3) &>> 32))
        }
        return [UInt32](unsafeUninitializedCapacity: 32) { minima, count in
            for lane in 0..<8 {
                (minima[lane], minima[8 + lane]) = (m0[lane], m1[lane])
                (minima[16 + lane], minima[24 + lane]) = (m2[lane], m3[lane])
            }
            count = 32
        }
    }

    private static let multiplierVectors: [SIMD8<UInt64>] = (0..<4).map { v in
        SIMD8<UInt64>((0..<8).map { multipliers[v * 8 + $0] })
    }
    private static let addendVectors: [SIMD8<UInt64>] = (0..<4).map { v in
        SIMD8<UInt64>((0..<8).map { addends[v * 8 + $0] })
    }
}

/// SplitMix64 finaliser: a fast, well-mixing 64-bit permutation.
@inline(__always)
func mix64(_ x: UInt64) -> UInt64 {
    var z = x &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// What the near-duplicate table keeps per live article.
struct DuplicateEntry: Sendable, Hashable {
    var id: ArticleID
    /// ``NewswireStore/ScanCursor/publishedKey(of:)``: epoch seconds, `Int64.min` when undated.
    var publishedKey: Int64
    /// The earlier article this one copies, as stored in its record.
    var duplicateOf: ArticleID?
    /// Hash of every field except `duplicateOf`: an equal re-put keeps its earlier verdict.
    var contentHash: UInt64
    var fingerprint: UInt64
    var bandKeys: [UInt32]
}

/// An LSH table over MinHash band keys: candidate lookup in O(bands + matches).
///
/// Per-slot fields live in flat arrays (no allocation per article besides its id), so a 200k-article table loads
/// from a snapshot in a fraction of a second. Slots are append-only; replacing or removing an article kills its
/// slot (chains skip dead slots). A table loaded from a snapshot is compact again.
struct DuplicateTable: Sendable {
    private(set) var ids: [ArticleID] = []
    private var publishedKeys: [Int64] = []
    private var originals: [ArticleID?] = []
    private var contentHashes: [UInt64] = []
    private var fingerprints: [UInt64] = []
    /// `bands` keys per slot; `hasBands[slot]` is false for bodies too short to have a signature.
    private var bandKeys: [UInt32] = []
    private var hasBands: [Bool] = []
    private var alive: [Bool] = []
    private var slotByID: [ArticleID: Int32] = [:]
    /// Band key → most recent slot with that key; `next[slot * bands + band]` continues the chain (-1 ends).
    private var heads: [UInt64: Int32] = [:]
    private var next: [Int32] = []
    private(set) var liveCount = 0
    private(set) var duplicateCount = 0
    /// Number of distinct ids (equals ``liveCount`` unless `append` was given a repeated id).
    var distinctIDCount: Int { slotByID.count }

    init() {}

    /// Reserves room for `count` more articles.
    mutating func reserveCapacity(_ count: Int) {
        let total = ids.count + count
        ids.reserveCapacity(total)
        publishedKeys.reserveCapacity(total)
        originals.reserveCapacity(total)
        contentHashes.reserveCapacity(total)
        fingerprints.reserveCapacity(total)
        bandKeys.reserveCapacity(total * TextFeatures.bands)
        hasBands.reserveCapacity(total)
        alive.reserveCapacity(total)
        slotByID.reserveCapacity(total)
        heads.reserveCapacity(total * TextFeatures.bands)
        next.reserveCapacity(total * TextFeatures.bands)
    }

    private func entry(atSlot slot: Int) -> DuplicateEntry {
        let start = slot * TextFeatures.bands
        return DuplicateEntry(
            id: ids[slot], publishedKey: publishedKeys[slot], duplicateOf: originals[slot],
            contentHash: contentHashes[slot], fingerprint: fingerprints[slot],
            bandKeys: hasBands[slot] ? Array(bandKeys[start..<(start + TextFeatures.bands)]) : [])
    }

    /// Whether a live entry has `id`.
    func contains(_ id: ArticleID) -> Bool { slotByID[id] != nil }

    func entry(for id: ArticleID) -> DuplicateEntry? {
        slotByID[id].map { entry(atSlot: Int($0)) }
    }

    mutating func remove(_ id: ArticleID) {
        guard let slot = slotByID.removeValue(forKey: id) else { return }
        alive[Int(slot)] = false
        liveCount -= 1
        if originals[Int(slot)] != nil { duplicateCount -= 1 }
    }

    mutating func insert(_ entry: DuplicateEntry) {
        remove(entry.id)
        append(
            id: entry.id, publishedKey: entry.publishedKey, duplicateOf: entry.duplicateOf,
            contentHash: entry.contentHash, fingerprint: entry.fingerprint, bandKeys: entry.bandKeys)
    }

    /// Adds a slot for an id that is not in the table (the caller guarantees it; used by snapshot loading).
    mutating func append(
        id: ArticleID, publishedKey: Int64, duplicateOf: ArticleID?, contentHash: UInt64, fingerprint: UInt64,
        bandKeys keys: some Collection<UInt32>
    ) {
        let slot = Int32(ids.count)
        ids.append(id)
        publishedKeys.append(publishedKey)
        originals.append(duplicateOf)
        contentHashes.append(contentHash)
        fingerprints.append(fingerprint)
        alive.append(true)
        slotByID[id] = slot
        liveCount += 1
        if duplicateOf != nil { duplicateCount += 1 }
        let complete = keys.count == TextFeatures.bands
        hasBands.append(complete)
        var band = 0
        for key in keys where complete {
            bandKeys.append(key)
            let headKey = UInt64(band) << 32 | UInt64(key)
            next.append(heads[headKey] ?? -1)
            heads[headKey] = slot
            band += 1
        }
        if !complete {
            bandKeys.append(contentsOf: repeatElement(0, count: TextFeatures.bands))
            next.append(contentsOf: repeatElement(-1, count: TextFeatures.bands))
        }
    }

    /// Live entries sharing at least one band key with `keys`, each once, most recent first.
    func candidates(_ keys: [UInt32]) -> [DuplicateEntry] {
        var seen = Set<Int32>()
        var found: [DuplicateEntry] = []
        for (band, bandKey) in keys.enumerated() {
            var slot = heads[UInt64(band) << 32 | UInt64(bandKey)] ?? -1
            while slot >= 0 {
                if alive[Int(slot)], seen.insert(slot).inserted { found.append(entry(atSlot: Int(slot))) }
                slot = next[Int(slot) * TextFeatures.bands + band]
            }
        }
        return found
    }

    /// Calls `body` with each live slot's fields, in insertion order (for snapshot encoding).
    func forEachLive(
        _ body: (ArticleID, Int64, ArticleID?, UInt64, UInt64, ArraySlice<UInt32>?) -> Void
    ) {
        for slot in ids.indices where alive[slot] {
            let start = slot * TextFeatures.bands
            body(
                ids[slot], publishedKeys[slot], originals[slot], contentHashes[slot], fingerprints[slot],
                hasBands[slot] ? bandKeys[start..<(start + TextFeatures.bands)] : nil)
        }
    }
}

/// Stable 64-bit hash of every field of an article except `duplicateOf` (FNV-1a over tagged UTF-8). Stored in
/// snapshots and beside records on a cluster: its value must never change (`ContentHashTests`).
///
/// Each field's bytes are read from the string's own storage, not through its UTF-8 view's iterator: the hash of
/// every written article (and, on a cluster node, of every record the feed brings) took twice as long that way.
func contentHash(of article: Article) -> UInt64 {
    var hasher = ContentHasher()
    hasher.add(article.id.rawValue)
    hasher.add(article.url)
    hasher.add(article.title)
    hasher.add(article.subtitles)
    hasher.add(article.publishedAt.map(\.iso8601))
    hasher.add(article.source)
    hasher.add(article.reporters)
    hasher.add(article.editors)
    hasher.add(article.participants)
    hasher.add(article.paragraphs)
    hasher.add(article.clicks.map(String.init))
    hasher.add(article.language)
    return hasher.value
}

/// FNV-1a, 64 bits, over the fields ``contentHash(of:)`` tags: a field's UTF-8 then 0xFE, 0xFF for an absent
/// field, a list's count (in decimal) before its items.
private struct ContentHasher {
    private(set) var value: UInt64 = 0xCBF2_9CE4_8422_2325
    private static let prime: UInt64 = 0x0000_0100_0000_01B3

    @inline(__always) private mutating func add(byte: UInt8) {
        value = (value ^ UInt64(byte)) &* Self.prime
    }

    @inline(__always) private mutating func add(bytes: UnsafeBufferPointer<UInt8>) {
        var h = value
        for b in bytes { h = (h ^ UInt64(b)) &* Self.prime }
        value = h
    }

    /// The text's UTF-8 (without a tag).
    private mutating func add(utf8 text: String) {
        let done: Void? = text.utf8.withContiguousStorageIfAvailable { add(bytes: $0) }
        if done == nil {
            for b in text.utf8 { add(byte: b) }
        }
    }

    mutating func add(_ text: String?) {
        guard let text else { return add(byte: 0xFF) }
        add(utf8: text)
        add(byte: 0xFE)
    }

    mutating func add(_ list: [String]) {
        add(utf8: String(list.count))
        for item in list { add(item) }
    }
}

/// A near-duplicate entry's features as a cluster node stores them next to the record
/// (``NewswireStore/ArticleWrite/derivedData``), so the nodes following the feed read them instead of computing
/// them again (they cost about as much as indexing the article).
///
/// Layout: format byte (1), content hash and fingerprint (UInt64 little-endian each), band key count (one byte),
/// band keys (UInt32 little-endian each). A reader uses them only when the format is known and the content hash is
/// the article's own (a node of another version may have stored another format, or none over an older record's).
/// Each record of a batch may carry, right after its band keys, its piece of the batch's
/// ``NewswireSearch/ShippedAnalysis``: `u8 0xA6`, `varint` piece index (the record's place in the batch),
/// `varint` piece count (the batch's size), the piece's bytes. The pieces in order are the analysis. Spread over
/// the batch, no row is large (one 1 MB row cost PostgresNIO a copy of what it had received per network read).
/// Nodes that know no such section find the length wrong and compute the features themselves.
enum StoredDuplicateFeatures {
    static let format: UInt8 = 1

    static func encode(_ entry: DuplicateEntry) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(18 + 4 * entry.bandKeys.count)
        bytes.append(format)
        withUnsafeBytes(of: entry.contentHash.littleEndian) { bytes += $0 }
        withUnsafeBytes(of: entry.fingerprint.littleEndian) { bytes += $0 }
        bytes.append(UInt8(entry.bandKeys.count))
        for key in entry.bandKeys { withUnsafeBytes(of: key.littleEndian) { bytes += $0 } }
        return bytes
    }

    /// The entry of `article` from `bytes`, or nil when they are absent, malformed, of another format, or belong to
    /// another version of the article.
    static func entry(for article: Article, from bytes: [UInt8]?) -> DuplicateEntry? {
        guard let bytes, bytes.count >= 18, bytes[0] == format else { return nil }
        func uint64(at offset: Int) -> UInt64 {
            var value: UInt64 = 0
            for i in 0..<8 { value |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
            return value
        }
        let count = Int(bytes[17])
        // A record of a batch may carry its piece of the batch's shipped index analysis after its features.
        guard count == 0 || count == TextFeatures.bands, bytes.count == 18 + 4 * count
            || (bytes.count > 18 + 4 * count && bytes[18 + 4 * count] == analysisPieceMarker)
        else { return nil }
        let hash = uint64(at: 1)
        guard hash == contentHash(of: article) else { return nil }
        var keys: [UInt32] = []
        keys.reserveCapacity(count)
        for k in 0..<count {
            let o = 18 + 4 * k
            keys.append(
                UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8 | UInt32(bytes[o + 2]) << 16 | UInt32(bytes[o + 3]) << 24)
        }
        return DuplicateEntry(
            id: article.id, publishedKey: ScanCursor.publishedKey(of: article), duplicateOf: article.duplicateOf,
            contentHash: hash, fingerprint: uint64(at: 9), bandKeys: keys)
    }

    /// First byte of a record's piece of its batch's shipped index analysis.
    static let analysisPieceMarker: UInt8 = 0xA6

    /// `analysis` cut into `count` pieces of about equal size, each in the layout that follows a record's features.
    static func analysisPieces(_ analysis: [UInt8], count: Int) -> [[UInt8]] {
        let size = (analysis.count + count - 1) / count
        return (0..<count).map { index in
            var piece: [UInt8] = [analysisPieceMarker]
            for value in [index, count] { putVarint(&piece, UInt64(value)) }
            let start = min(analysis.count, index * size)
            piece += analysis[start..<min(analysis.count, start + size)]
            return piece
        }
    }

    /// The piece of a shipped index analysis that follows the features in `bytes`, or nil (nodes that ship none,
    /// an unknown layout).
    static func analysisPiece(in bytes: [UInt8]?) -> (index: Int, count: Int, bytes: ArraySlice<UInt8>)? {
        guard let bytes, bytes.count >= 18, bytes[0] == format else { return nil }
        var offset = 18 + 4 * Int(bytes[17])
        guard offset < bytes.count, bytes[offset] == analysisPieceMarker else { return nil }
        offset += 1
        func varint() -> Int? {
            var value = 0
            var shift = 0
            while offset < bytes.count, shift < 35 {
                let byte = bytes[offset]
                offset += 1
                value |= Int(byte & 0x7F) << shift
                if byte < 0x80 { return value }
                shift += 7
            }
            return nil
        }
        guard let index = varint(), let count = varint(), index < count else { return nil }
        return (index, count, bytes[offset...])
    }
}
