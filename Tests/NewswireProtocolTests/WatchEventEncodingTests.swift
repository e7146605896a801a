import NIOCore
import NewswireModel
import Testing

@testable import NewswireProtocol

/// The live-query hub writes an event with a snippet straight from the hit's encoded head and the snippet's bytes
/// (``WatchEventMessage/encode(position:kind:head:snippetUTF8Count:writeSnippet:highlights:into:)``): its payload
/// must be byte for byte the message's own encoding, whatever the sizes of its parts.
@Suite("WATCH_EVENT encoded from a hit's head and a snippet's bytes")
struct WatchEventEncodingTests {
    static func viaMessage(_ position: UInt64, _ kind: WatchEventKind, _ hit: SearchHit) -> [UInt8] {
        var buffer = ByteBuffer()
        WatchEventMessage(position: position, kind: kind, hit: hit).encode(into: &buffer)
        return Array(buffer.readableBytesView)
    }

    static func direct(_ position: UInt64, _ kind: WatchEventKind, _ hit: SearchHit) -> [UInt8] {
        // A buffer already holding another event: the payload is appended after it.
        var buffer = ByteBuffer(bytes: [0xEE, 0xEE, 0xEE])
        let bytes = Array(hit.snippet.utf8)
        var head = hit
        head.snippet = "ignored"
        head.highlights = [HighlightRange(start: 9, end: 9)]
        WatchEventMessage.encode(
            position: position, kind: kind, head: EncodedHitHead(head), snippetUTF8Count: bytes.count,
            writeSnippet: { room in
                #expect(room.count == bytes.count)
                room.copyBytes(from: bytes)
            }, highlights: hit.highlights, into: &buffer)
        #expect(buffer.readBytes(length: 3) == [0xEE, 0xEE, 0xEE])
        return Array(buffer.readableBytesView)
    }

    @Test("the same bytes as the message's encoding, for short and long hits, with and without snippet, source, date and highlights")
    func sameBytesAsTheMessage() throws {
        let published = PublishedTime(secondsSinceEpoch: 1_712_541_840, utcOffsetSeconds: 28_800)
        let longSnippet = String(repeating: "深化能源合作,巩固和推进“疆电入川”等工作。", count: 400)  // a 3-byte length
        let hits = [
            SearchHit(
                id: "a88f8155a19674d9dfee154eb3f71126", title: "新疆党政代表团赴四川省学习考察", source: "天山网-新疆日报",
                publishedAt: published, score: 0, snippet: "…推进“疆电入川”等工作。",
                highlights: [HighlightRange(start: 3, end: 7)]),
            SearchHit(id: "b2", title: "", source: nil, publishedAt: nil, score: 0),
            SearchHit(
                id: "c3", title: "t", source: "", publishedAt: nil, score: 0, snippet: "hong kong",
                highlights: []),
            SearchHit(
                id: "d4", title: String(repeating: "标题", count: 50), source: nil, publishedAt: published, score: 0,
                snippet: longSnippet,
                highlights: (0..<300).map { HighlightRange(start: 100 * $0, end: 100 * $0 + 4) }),
            SearchHit(
                id: "e5", title: "negative offsets are sent as zero", source: nil, publishedAt: nil, score: 0,
                snippet: "", highlights: [HighlightRange(start: -3, end: 0)]),
        ]
        let kinds: [WatchEventKind] = [.new, .updated, .changed, WatchEventKind(rawValue: 0)]
        for hit in hits {
            for position in [UInt64(0), 1, 128, 48_213, .max] {
                for kind in kinds {
                    #expect(Self.direct(position, kind, hit) == Self.viaMessage(position, kind, hit), "\(hit.id) \(position) \(kind)")
                }
            }
        }
        // And it decodes to that event.
        let hit = hits[0]
        let decoded = try WatchEventMessage(decoding: ByteBuffer(bytes: Self.direct(7, .new, hit)))
        #expect(decoded == WatchEventMessage(position: 7, kind: .new, hit: hit))
    }
}
