import NIOCore
import NewswireModel
import NewswireProtocol
import Testing

@testable import NewswireServer

@Suite("Record cache: its hash table against a Dictionary, eviction, frames")
struct RecordCacheTests {
    private static func entry(_ id: String, body: String = "") -> RecordCache.Entry {
        RecordCache.Entry(idBytes: Array(id.utf8), payload: ByteBuffer(string: id + body), compressed: nil)
    }

    @Test("RecordTable agrees with a Dictionary oracle over 20,000 random inserts, replaces and removes")
    func tableMatchesOracle() {
        var generator = SplitMix64(seed: 7)
        var table = RecordTable()
        var oracle: [String: RecordCache.Entry] = [:]
        // A small key space keeps probe runs long and forces replaces, removals inside runs and wrap-around.
        let keys = (0..<700).map { index in index % 3 == 0 ? "k\(index)" : String(repeating: "x", count: index % 40) + "\(index)" }
        for step in 0..<20_000 {
            let key = keys[Int(generator.next() % UInt64(keys.count))]
            let bytes = Array(key.utf8)
            if generator.next() % 3 == 0 {
                let removed = bytes.withUnsafeBytes { table.remove($0) }
                #expect(removed === oracle.removeValue(forKey: key), "remove \(key) at step \(step)")
            } else {
                let entry = Self.entry(key, body: "\(step)")
                let replaced = table.insert(entry, hash: bytes.withUnsafeBytes(RecordTable.hash))
                #expect(replaced === oracle.updateValue(entry, forKey: key), "insert \(key) at step \(step)")
            }
            if step % 500 == 0 || step == 19_999 {
                #expect(table.count == oracle.count)
                for key in keys {
                    let found = Array(key.utf8).withUnsafeBytes { table.find($0, hash: RecordTable.hash($0)) }
                    #expect(found === oracle[key], "lookup \(key) at step \(step)")
                    // The fast path reads the frame from the record address kept beside the hash: it must be the
                    // frame of the entry the slot holds, through replaces and backward shifts.
                    let frame = Array(key.utf8).withUnsafeBytes {
                        table.withPlainFrame($0, hash: RecordTable.hash($0)) { ByteBuffer(bytes: $0) }
                    }
                    var expected: ByteBuffer?
                    if let entry = oracle[key] {
                        var buffer = ByteBuffer()
                        entry.writeFrame(requestID: RequestID(rawValue: 0), compressed: false, into: &buffer)
                        expected = buffer
                    }
                    #expect(frame == expected, "plain frame of \(key) at step \(step)")
                }
            }
        }
    }

    @Test("the cache stays within its byte bound, evicts oldest first, and invalidation removes records")
    func evictionAndInvalidation() {
        let article = { (index: Int) in
            Article(
                id: ArticleID(String(format: "%032x", index)), title: "标题 \(index)",
                paragraphs: [String(repeating: "新闻正文。", count: 40)])
        }
        let probe = RecordCache(capacityBytes: 1 << 30).insert(article(0)).size
        let cache = RecordCache(capacityBytes: probe * 10)
        for index in 0..<50 { cache.insert(article(index)) }
        let stats = Dictionary(uniqueKeysWithValues: cache.statEntries().map { ($0.name, $0.value) })
        guard case .integer(let bytes) = stats["cache.bytes"], case .integer(let count) = stats["cache.records"] else {
            Issue.record("cache stats missing: \(stats)")
            return
        }
        #expect(bytes <= Int64(probe * 10))
        #expect(count >= 8 && count <= 10)
        #expect(cache.entry(for: article(49).id) != nil)
        #expect(cache.entry(for: article(0).id) == nil)

        // Re-inserting a record replaces it; the replaced copy is never evicted in its place later.
        let fresh = cache.insert(article(45))
        #expect(cache.entry(for: article(45).id) === fresh)
        cache.invalidate([article(49).id, article(45).id])
        #expect(cache.entry(for: article(49).id) == nil)
        #expect(cache.entry(for: article(45).id) == nil)
        #expect(cache.entry(for: article(48).id) != nil)
    }

    @Test("a cached frame with its request id patched in equals the frame the encoder writes")
    func framesMatchEncoder() throws {
        let article = Article(
            id: "0123456789abcdef0123456789abcdef", title: "疆电入川",
            paragraphs: Array(repeating: "新疆党政代表团赴四川省学习考察，推动疆电入川。", count: 30))
        let entry = RecordCache(capacityBytes: 1 << 20).insert(article)
        let requestID = RequestID(rawValue: 0x0102_0304)
        var payload = ByteBuffer()
        ArticleMessage(article).encode(into: &payload)
        #expect(entry.payload == payload)

        for compressed in [false, true] {
            var cached = ByteBuffer()
            entry.writeFrame(requestID: requestID, compressed: compressed, into: &cached)
            var expected = ByteBuffer()
            var encoder = FrameEncoder(compression: .disabled)
            let outbound: OutboundPayload =
                compressed
                ? .precompressed(zlib: try #require(entry.compressed), uncompressedLength: UInt32(payload.readableBytes))
                : .plain(payload)
            encoder.encode(OutboundFrame(opcode: .article, requestID: requestID, payload: outbound), into: &expected)
            #expect(cached == expected, "compressed: \(compressed)")
        }
    }
}
