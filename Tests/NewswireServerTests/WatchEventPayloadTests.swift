import NIOCore
import NewswireModel
import NewswireProtocol
import Testing

@testable import NewswireServer

/// The hub sizes each event's buffer before encoding it: the estimate must cover the encoded payload, or every
/// event pays a reallocation again (and one that doubles the buffer).
@Suite struct WatchEventPayloadTests {
    @Test("the payload size estimate covers an event's encoding, for a long hit with many highlights and a deletion")
    func estimateCoversTheEncodedPayload() {
        let snippet = String(repeating: "深化能源合作,巩固和推进“疆电入川”等工作。", count: 12)
        let highlights = (0..<40).map { HighlightRange(start: 1_000 + 7 * $0, end: 1_003 + 7 * $0) }
        let hit = SearchHit(
            id: "a88f8155a19674d9dfee154eb3f71126",
            title: String(repeating: "新疆党政代表团赴四川省学习考察", count: 4), source: "天山网-新疆日报",
            publishedAt: PublishedTime(secondsSinceEpoch: 1_712_541_840, utcOffsetSeconds: 28_800),
            score: 0, snippet: snippet, highlights: highlights)
        let events = [
            WatchEventMessage(position: UInt64.max, kind: .new, hit: hit),
            WatchEventMessage(
                position: 48_213, kind: .deleted,
                hit: SearchHit(
                    id: "a88f8155a19674d9dfee154eb3f71126", title: "", source: nil, publishedAt: nil, score: 0)),
        ]
        for event in events {
            var buffer = ByteBuffer()
            Response.watchEvent(event).encode(into: &buffer)
            #expect(WatchHub.payloadSizeEstimate(event) >= buffer.readableBytes, "\(event.kind)")
        }
    }
}
