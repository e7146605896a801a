import NIOCore
import NewswireModel
import Testing

@testable import NewswireProtocol

@Suite("WATCH_EVENT summaries")
struct WatchEventSummaryTests {
    static let fullEvent = WatchEventMessage(
        position: 42, kind: .new,
        hit: SearchHit(
            id: "xwlb-20240408-03", title: "疆电入川 特高压工程投运", source: "央视网《新闻联播》",
            publishedAt: Fixtures.published, score: 0, snippet: "…疆电入川工程…",
            highlights: [HighlightRange(start: 1, end: 5)]),
        record: ArticleRecord(Fixtures.minimalArticle))

    static func payload(_ event: WatchEventMessage) -> ByteBuffer {
        var buffer = ByteBuffer()
        event.encode(into: &buffer)
        return buffer
    }

    @Test("position, kind and hit id as the full decode reads them, whatever else the event carries")
    func agreesWithTheFullDecode() throws {
        let events = [
            Self.fullEvent,
            WatchEventMessage(position: 41, kind: .started, store: "3f1c9a52-6b0e-4d2b-9a77-0c5e8f2d1b64"),
            WatchEventMessage(
                position: 300, kind: .deleted, hit: SearchHit(id: "b2", title: "", source: nil, publishedAt: nil, score: 0)),
            WatchEventMessage(position: 301, kind: WatchEventKind(rawValue: 9), hit: Self.fullEvent.hit),
        ]
        for event in events {
            let payload = Self.payload(event)
            let full = try WatchEventMessage(decoding: payload)
            let summary = try WatchEventSummary(decoding: payload)
            #expect(summary == WatchEventSummary(position: full.position, kind: full.kind, id: full.hit?.id))
        }
        #expect(try WatchEventSummary(decoding: Self.payload(Self.fullEvent))
            == WatchEventSummary(position: 42, kind: .new, id: "xwlb-20240408-03"))
        #expect(try WatchEventSummary(decoding: Self.payload(events[1])).id == nil)
    }

    @Test("fields it does not know, in the event and in the hit, are skipped")
    func skipsUnknownFields() throws {
        var payload = ByteBuffer()
        payload.writeVarintField(15, 7)
        payload.writeStringField(16, "from a newer server")
        payload.writeMessageField(3) { hit in
            hit.writeStringField(2, "标题")
            hit.writeVarintField(20, 1)
            hit.writeStringField(1, "c3")
        }
        payload.writeVarintField(1, 9)
        #expect(try WatchEventSummary(decoding: payload) == WatchEventSummary(position: 9, kind: .new, id: "c3"))
    }

    @Test("a truncated event, or an id that is not UTF-8, is the full decode's MALFORMED_MESSAGE")
    func malformed() throws {
        let whole = Self.payload(Self.fullEvent)
        for cut in [1, 5, whole.readableBytes / 2] {
            let truncated = whole.getSlice(at: 0, length: whole.readableBytes - cut)!
            #expect(throws: ProtocolError.self) { try WatchEventMessage(decoding: truncated) }
            let error = #expect(throws: ProtocolError.self) { try WatchEventSummary(decoding: truncated) }
            #expect(error?.code == .malformedMessage)
        }
        var badID = ByteBuffer()
        badID.writeMessageField(3) { hit in
            hit.writeTag(1, .lengthDelimited)
            hit.writeVarint(2)
            hit.writeBytes([0xC3, 0x28])
        }
        let error = #expect(throws: ProtocolError.self) { try WatchEventSummary(decoding: badID) }
        #expect(error?.code == .malformedMessage)
    }
}
