import NIOConcurrencyHelpers
import NIOCore
import NewswireModel
import NewswireProtocol

/// Encoded ARTICLE payloads kept in memory so GET is answered without touching the store or re-encoding, and,
/// once a zlib connection asks, without re-compressing either.
///
/// Bounded by bytes; when full, entries are evicted in insertion order (old records are the least likely to be
/// hot in a news archive). Writes invalidate the ids they touch before they are acknowledged.
///
/// Looked up by the id's UTF-8 bytes, byte-exact like the store, so the pipeline fast path looks a GET up with the
/// bytes of the request frame in place: no `String`, no slice. The table is ``RecordTable``: it keeps each key's
/// full hash, so a lookup compares bytes once, where a `Dictionary<ByteBuffer, _>` compared whole keys on every
/// probe (measured at 13% of the server's CPU per GET at pipeline depth 16).
final class RecordCache: Sendable {
    /// One cached record: its ARTICLE payload, and whole ARTICLE frames ready to copy into a write buffer.
    ///
    /// The id bytes and the plain frame share one allocation owned by the entry (``record``: the two lengths,
    /// the id, the frame), and the table keeps its address beside each hash: a fast-path GET compares the id and
    /// copies the frame from that one contiguous block without touching the entry object. (An `[UInt8]` id and a
    /// `ByteBuffer` frame behind the entry were three dependent loads, each a cache miss on a loaded machine: the
    /// id's array storage alone held three quarters of the lookup's samples.) Immutable after `init`.
    final class Entry: @unchecked Sendable {
        /// `[id length: UInt32][frame length: UInt32][id bytes][plain ARTICLE frame, request id 0]`, freed with
        /// the entry.
        private let storage: UnsafeMutableRawBufferPointer
        private let idLength: Int
        /// Bytes of the plain ARTICLE frame.
        let plainFrameLength: Int
        /// The same payload as a zlib stream, when compression makes it smaller.
        let compressed: ByteBuffer?
        /// An ARTICLE frame carrying `compressed` (flag COMPRESSED, length prefix), request id 0.
        let compressedFrame: ByteBuffer?

        /// The payloads are kept only inside their frames, so a record's bytes are in memory once per form: half
        /// the footprint, and twice the records in the CPU caches.
        init(idBytes: [UInt8], payload: ByteBuffer, compressed: ByteBuffer?) {
            var encoder = FrameEncoder(compression: .disabled)
            var plain = ByteBuffer()
            plain.reserveCapacity(FrameHeader.length + payload.readableBytes)
            encoder.encode(OutboundFrame(opcode: .article, requestID: RequestID(rawValue: 0), payload: .plain(payload)),
                into: &plain)
            idLength = idBytes.count
            plainFrameLength = plain.readableBytes
            let storage = UnsafeMutableRawBufferPointer.allocate(
                byteCount: Self.recordHeaderLength + idBytes.count + plain.readableBytes, alignment: 16)
            storage.storeBytes(of: UInt32(idBytes.count), as: UInt32.self)
            storage.storeBytes(of: UInt32(plain.readableBytes), toByteOffset: 4, as: UInt32.self)
            idBytes.withUnsafeBytes {
                UnsafeMutableRawBufferPointer(rebasing: storage[Self.recordHeaderLength...]).copyMemory(from: $0)
            }
            plain.withUnsafeReadableBytes {
                UnsafeMutableRawBufferPointer(rebasing: storage[(Self.recordHeaderLength + idBytes.count)...])
                    .copyMemory(from: $0)
            }
            self.storage = storage
            if let compressed {
                var frame = ByteBuffer()
                frame.reserveCapacity(FrameHeader.length + 4 + compressed.readableBytes)
                encoder.encode(
                    OutboundFrame(
                        opcode: .article, requestID: RequestID(rawValue: 0),
                        payload: .precompressed(zlib: compressed, uncompressedLength: UInt32(payload.readableBytes))),
                    into: &frame)
                compressedFrame = frame
                // Header, then the 4-byte uncompressed length, then the zlib stream.
                self.compressed = frame.getSlice(at: FrameHeader.length + 4, length: compressed.readableBytes)!
            } else {
                compressedFrame = nil
                self.compressed = nil
            }
        }

        deinit { storage.deallocate() }

        /// Bytes before the id in ``record``: the id's and the frame's lengths.
        static let recordHeaderLength = 8

        /// The start of the entry's block (see ``storage``): what the table keeps beside the hash.
        var record: UnsafeRawPointer { UnsafeRawPointer(storage.baseAddress!) }

        /// The id and the plain frame of the block at `record`.
        static func parts(ofRecord record: UnsafeRawPointer) -> (id: UnsafeRawBufferPointer, frame: UnsafeRawBufferPointer)
        {
            let idLength = Int(record.loadUnaligned(as: UInt32.self))
            let frameLength = Int(record.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
            let id = record + recordHeaderLength
            return (UnsafeRawBufferPointer(start: id, count: idLength),
                UnsafeRawBufferPointer(start: id + idLength, count: frameLength))
        }

        /// The id's UTF-8 bytes (the table key), valid while the entry is alive.
        var idBytes: UnsafeRawBufferPointer {
            UnsafeRawBufferPointer(rebasing: storage[Self.recordHeaderLength..<(Self.recordHeaderLength + idLength)])
        }

        /// The plain ARTICLE frame (request id 0), valid while the entry is alive.
        private var plainFrameBytes: UnsafeRawBufferPointer {
            UnsafeRawBufferPointer(rebasing: storage[(Self.recordHeaderLength + idLength)...])
        }

        /// Bytes of the ARTICLE message payload.
        var payloadLength: Int { plainFrameLength - FrameHeader.length }

        /// The ARTICLE message payload (field 1 wrapping the record): a copy, for the paths that answer through
        /// the connection.
        var payload: ByteBuffer {
            ByteBuffer(bytes: UnsafeRawBufferPointer(rebasing: plainFrameBytes[FrameHeader.length...]))
        }

        /// Bytes this entry keeps alive, for the cache's bound.
        var size: Int { storage.count + (compressedFrame?.readableBytes ?? 0) }

        /// The threshold from which a connection that negotiated `handshake` gets cached records in zlib form, or
        /// nil when it did not agree on zlib. The pipeline fast path keeps it per connection.
        static func zlibThreshold(for handshake: Handshake) -> Int? {
            handshake.welcome.compression == .zlib ? Int(handshake.welcome.compressionThreshold) : nil
        }

        /// Whether this record goes out in zlib form on a connection with `zlibThreshold`: the connection agreed on
        /// zlib, the payload reaches the threshold, and compressing made the record smaller. Never compressed again
        /// per request.
        func sendsCompressed(zlibThreshold: Int?) -> Bool {
            guard let zlibThreshold, compressed != nil else { return false }
            return payloadLength >= zlibThreshold
        }

        /// What to send on a connection with this handshake (see ``sendsCompressed(zlibThreshold:)``).
        func payload(for handshake: Handshake) -> OutboundPayload {
            if sendsCompressed(zlibThreshold: Self.zlibThreshold(for: handshake)), let compressed {
                return .precompressed(zlib: compressed, uncompressedLength: UInt32(payloadLength))
            }
            return .plain(payload)
        }

        /// Bytes of the ARTICLE frame ``writeFrame(requestID:compressed:into:)`` appends.
        func frameLength(compressed useCompressed: Bool) -> Int {
            useCompressed ? compressedFrame?.readableBytes ?? plainFrameLength : plainFrameLength
        }

        /// Appends this record's ARTICLE frame for `requestID` to `buffer`: one copy and a 4-byte patch.
        func writeFrame(requestID: RequestID, compressed useCompressed: Bool, into buffer: inout ByteBuffer) {
            // Copied from the stored frame in place: taking a copy of a ByteBuffer first would retain its
            // storage, an atomic on memory both event loops touch for every GET of a popular record.
            if useCompressed && compressedFrame != nil {
                compressedFrame!.withUnsafeReadableBytes { Self.append(frame: $0, requestID: requestID, into: &buffer) }
            } else {
                Self.append(frame: plainFrameBytes, requestID: requestID, into: &buffer)
            }
        }

        /// Appends a stored frame (request id 0) to `buffer` with `requestID` patched in: one copy and a 4-byte
        /// write.
        @inline(__always)
        static func append(frame: UnsafeRawBufferPointer, requestID: RequestID, into buffer: inout ByteBuffer) {
            let start = buffer.writerIndex
            buffer.writeBytes(frame)
            buffer.setInteger(requestID.rawValue, at: start + FrameHeader.requestIDOffset, endianness: .big)
        }
    }

    private struct State {
        var table = RecordTable()
        /// Entries in insertion order, oldest at `evictionCursor`; an entry replaced or removed since stays here
        /// until the cursor passes it (it is skipped, not evicted twice).
        var insertionOrder: [Entry] = []
        var evictionCursor = 0
        var bytes = 0
        var hits: Int64 = 0
        var misses: Int64 = 0
        /// Moves on every invalidation; a fill read before the latest one is not inserted.
        var epoch: UInt64 = 0
    }

    private let state = NIOLockedValueBox(State())
    private let capacityBytes: Int

    init(capacityBytes: Int) {
        self.capacityBytes = capacityBytes
    }

    func entry(for id: ArticleID) -> Entry? {
        var raw = id.rawValue
        return raw.withUTF8 { entry(forIDBytes: UnsafeRawBufferPointer($0)) }
    }

    /// The entry for the id whose UTF-8 bytes are `idBytes`.
    func entry(forIDBytes idBytes: UnsafeRawBufferPointer) -> Entry? {
        let hash = RecordTable.hash(idBytes)
        return state.withLockedValue { state in
            if let entry = state.table.find(idBytes, hash: hash) {
                state.hits += 1
                return entry
            }
            state.misses += 1
            return nil
        }
    }

    /// Runs `body` on the entry for the id whose UTF-8 bytes are `idBytes`, under the cache's lock and without
    /// retaining the entry (the table keeps it alive meanwhile); nil when it is not cached or `body` declined it.
    /// For the pipeline fast path: a retain and release per GET write the entry's reference count, a cache line
    /// both event loops then take from each other, and the lookup that follows misses on it.
    func withEntry(forIDBytes idBytes: UnsafeRawBufferPointer, _ body: (Entry) -> Int?) -> Int? {
        fastPathLookup(idBytes) { table, hash in table.withEntry(idBytes, hash: hash, body) }
    }

    /// Runs `body` on the plain ARTICLE frame (request id 0) cached for the id whose UTF-8 bytes are `idBytes`,
    /// under the cache's lock; nil when it is not cached or `body` declined it. The pipeline fast path for
    /// connections without zlib: the frame is read from the table's record block, without touching (or retaining)
    /// the entry object.
    func withPlainFrame(forIDBytes idBytes: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Int?) -> Int? {
        fastPathLookup(idBytes) { table, hash in table.withPlainFrame(idBytes, hash: hash, body) }
    }

    /// Runs `lookup` on the table under the cache's lock with the hash of `idBytes`; counts a hit when it answered.
    /// A GET it did not answer (not cached, or declined) goes on to the request path, whose own lookup counts it:
    /// each GET is counted once. (`inout` so the table is accessed in place, not copied: a copy retains its
    /// arrays on every GET.)
    @inline(__always)
    private func fastPathLookup(
        _ idBytes: UnsafeRawBufferPointer, _ lookup: (inout RecordTable, UInt64) -> Int??
    ) -> Int? {
        let hash = RecordTable.hash(idBytes)
        return state.withLockedValue { state in
            guard case .some(.some(let answered)) = lookup(&state.table, hash) else { return nil }
            state.hits += 1
            return answered
        }
    }

    /// The invalidation epoch: read it before reading a record from the store, and pass it to
    /// ``insert(_:readAt:)``.
    var epoch: UInt64 { state.withLockedValue { $0.epoch } }

    /// Encodes `article` once (and its zlib form once) and keeps both, unless a write invalidated records since
    /// `epoch` (the store read may then predate that write: caching it would serve a stale or deleted record
    /// until eviction). Returns the entry either way, to answer with. Without an epoch it is always kept.
    ///
    /// `compressing` false keeps only the plain form (answered uncompressed): for records filled in bulk from a
    /// cluster node's feed, where zlib per record would slow the feed down.
    @discardableResult
    func insert(_ article: Article, readAt epoch: UInt64? = nil, compressing: Bool = true) -> Entry {
        var payload = ByteBuffer()
        ArticleMessage(article).encode(into: &payload)
        var encoder = FrameEncoder(compression: .zlib)
        let entry = Entry(
            idBytes: Array(article.id.rawValue.utf8), payload: payload,
            compressed: compressing ? encoder.compressPayload(payload) : nil)
        let size = entry.size
        guard size <= capacityBytes / 4 else { return entry }
        let hash = RecordTable.hash(entry.idBytes)
        state.withLockedValue { state in
            if let epoch, epoch != state.epoch { return }
            if let old = state.table.insert(entry, hash: hash) {
                state.bytes -= old.size
            }
            state.insertionOrder.append(entry)
            state.bytes += size
            while state.bytes > capacityBytes, state.evictionCursor < state.insertionOrder.count {
                let victim = state.insertionOrder[state.evictionCursor]
                state.evictionCursor += 1
                if victim !== entry, state.table.remove(victim.idBytes, ifIdenticalTo: victim) {
                    state.bytes -= victim.size
                }
            }
            if state.evictionCursor > 4096, state.evictionCursor * 2 > state.insertionOrder.count {
                // Compact the order list so it does not grow without bound: drop what was passed or replaced.
                state.insertionOrder.removeFirst(state.evictionCursor)
                state.evictionCursor = 0
                state.insertionOrder.removeAll { candidate in
                    state.table.find(candidate.idBytes, hash: RecordTable.hash(candidate.idBytes)) !== candidate
                }
            }
        }
        return entry
    }

    func invalidate(_ ids: some Sequence<ArticleID>) {
        let keys = ids.map { Array($0.rawValue.utf8) }
        state.withLockedValue { state in
            state.epoch &+= 1
            for key in keys {
                if let old = key.withUnsafeBytes({ state.table.remove($0) }) {
                    state.bytes -= old.size
                }
            }
        }
    }

    func statEntries() -> [StatEntry] {
        let (count, bytes, hits, misses) = state.withLockedValue { ($0.table.count, $0.bytes, $0.hits, $0.misses) }
        return [
            StatEntry(name: "cache.records", value: .integer(Int64(count))),
            StatEntry(name: "cache.bytes", value: .integer(Int64(bytes))),
            StatEntry(name: "cache.hits", value: .integer(hits)),
            StatEntry(name: "cache.misses", value: .integer(misses)),
        ]
    }
}

/// An open-addressing hash table from id bytes to cache entries: linear probing over a power-of-two array that
/// stores each key's full 64-bit hash, at most half full, with backward-shift deletion (no tombstones).
///
/// Hashes are Swift's seeded SipHash (`Hasher`), so ids chosen by a client cannot be made to collide.
///
/// `@unchecked Sendable` for the record addresses: each points into the immutable block of an entry that the
/// same slot keeps alive.
struct RecordTable: @unchecked Sendable {
    private var hashes: [UInt64] = Array(repeating: 0, count: 64)
    private var entries: [RecordCache.Entry?] = Array(repeating: nil, count: 64)
    /// Each entry's ``RecordCache/Entry/record`` block, beside its hash: the fast path reads only these.
    private var records: [UnsafeRawPointer?] = Array(repeating: nil, count: 64)
    private(set) var count = 0

    /// The table hash of `bytes`; never 0, which marks an empty slot.
    static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var hasher = Hasher()
        hasher.combine(bytes: bytes)
        let hash = UInt64(bitPattern: Int64(hasher.finalize()))
        return hash == 0 ? 1 : hash
    }

    private var mask: Int { hashes.count - 1 }

    /// The slot holding `key`, or nil.
    private func slot(of key: UnsafeRawBufferPointer, hash: UInt64) -> Int? {
        var index = Int(truncatingIfNeeded: hash) & mask
        while true {
            let stored = hashes[index]
            if stored == 0 { return nil }
            if stored == hash, let entry = entries[index], Self.equal(entry.idBytes, key) { return index }
            index = (index + 1) & mask
        }
    }

    private static func equal(_ stored: UnsafeRawBufferPointer, _ key: UnsafeRawBufferPointer) -> Bool {
        stored.count == key.count && stored.elementsEqual(key)
    }

    func find(_ key: UnsafeRawBufferPointer, hash: UInt64) -> RecordCache.Entry? {
        slot(of: key, hash: hash).flatMap { entries[$0] }
    }

    /// Inserts or replaces; returns the replaced entry.
    mutating func insert(_ entry: RecordCache.Entry, hash: UInt64) -> RecordCache.Entry? {
        let existing = slot(of: entry.idBytes, hash: hash)
        if let existing {
            let old = entries[existing]
            entries[existing] = entry
            records[existing] = entry.record
            return old
        }
        if (count + 1) * 2 > hashes.count { grow() }
        place(entry, hash: hash)
        count += 1
        return nil
    }

    /// Removes `key`; returns the removed entry.
    mutating func remove(_ key: UnsafeRawBufferPointer) -> RecordCache.Entry? {
        guard let index = slot(of: key, hash: Self.hash(key)) else { return nil }
        return remove(at: index)
    }

    /// Removes `key` only while it still maps to `entry` (eviction must not drop a newer copy).
    mutating func remove(_ key: UnsafeRawBufferPointer, ifIdenticalTo entry: RecordCache.Entry) -> Bool {
        guard let index = slot(of: key, hash: Self.hash(key)), entries[index] === entry else { return false }
        _ = remove(at: index)
        return true
    }

    /// Calls `body` with the entry for `key`, borrowed from the table without a retain; nil when absent.
    func withEntry<Result>(_ key: UnsafeRawBufferPointer, hash: UInt64, _ body: (RecordCache.Entry) -> Result)
        -> Result?
    {
        // `Optional` of a class reference is one pointer, zero for nil: read the slot as that pointer, so finding
        // the entry copies no reference.
        entries.withUnsafeBytes { slots in
            var index = Int(truncatingIfNeeded: hash) & mask
            while true {
                let stored = hashes[index]
                if stored == 0 { return nil }
                if stored == hash, let pointer = slots.load(fromByteOffset: index * MemoryLayout<UnsafeRawPointer?>.stride,
                    as: UnsafeRawPointer?.self)
                {
                    let found = Unmanaged<RecordCache.Entry>.fromOpaque(pointer)._withUnsafeGuaranteedRef {
                        entry -> Result? in
                        Self.equal(entry.idBytes, key) ? body(entry) : nil
                    }
                    if let found { return found }
                }
                index = (index + 1) & mask
            }
        }
    }

    /// Calls `body` with the plain frame cached for `key`, read from the record block the table keeps beside the
    /// hash (the entry that owns it stays alive in `entries`); nil when absent.
    func withPlainFrame<Result>(_ key: UnsafeRawBufferPointer, hash: UInt64, _ body: (UnsafeRawBufferPointer) -> Result)
        -> Result?
    {
        var index = Int(truncatingIfNeeded: hash) & mask
        while true {
            let stored = hashes[index]
            if stored == 0 { return nil }
            if stored == hash, let record = records[index] {
                let (id, frame) = RecordCache.Entry.parts(ofRecord: record)
                if Self.equal(id, key) { return body(frame) }
            }
            index = (index + 1) & mask
        }
    }

    private mutating func remove(at removed: Int) -> RecordCache.Entry? {
        let old = entries[removed]
        var hole = removed
        var index = (removed + 1) & mask
        // Backward shift: move later members of the probe run into the hole when their home slot allows it.
        while hashes[index] != 0 {
            let home = Int(truncatingIfNeeded: hashes[index]) & mask
            // `index` may move to `hole` when its home is not cyclically inside (hole, index].
            let distanceToHome = (index - home) & mask
            let distanceToHole = (index - hole) & mask
            if distanceToHome >= distanceToHole {
                hashes[hole] = hashes[index]
                entries[hole] = entries[index]
                records[hole] = records[index]
                hole = index
            }
            index = (index + 1) & mask
        }
        hashes[hole] = 0
        entries[hole] = nil
        records[hole] = nil
        count -= 1
        return old
    }

    private mutating func place(_ entry: RecordCache.Entry, hash: UInt64) {
        var index = Int(truncatingIfNeeded: hash) & mask
        while hashes[index] != 0 { index = (index + 1) & mask }
        hashes[index] = hash
        entries[index] = entry
        records[index] = entry.record
    }

    private mutating func grow() {
        let oldHashes = hashes
        let oldEntries = entries
        hashes = Array(repeating: 0, count: oldHashes.count * 2)
        entries = Array(repeating: nil, count: oldHashes.count * 2)
        records = Array(repeating: nil, count: oldHashes.count * 2)
        for (hash, entry) in zip(oldHashes, oldEntries) where hash != 0 {
            place(entry!, hash: hash)
        }
    }
}
