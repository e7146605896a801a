import NIOConcurrencyHelpers
import NIOCore
import NewswireProtocol
import Testing

@testable import NewswireServer

/// The connection's outbound queue: a stream producer waiting for room is woken by the write that frees it.
@Suite struct OutboundQueueTests {
    static func frame(_ bytes: Int) -> OutboundFrame {
        OutboundFrame(
            opcode: .watchEvent, requestID: RequestID(1), flags: .moreToFollow,
            payload: .plain(ByteBuffer(repeating: 0x61, count: bytes)))
    }

    @Test func aStreamWaitingForRoomResumesWhenAWriteFreesIt() async {
        let queue = OutboundQueue(budget: 64 << 10, global: ResponseBudget(limit: 1 << 30))
        let queued = Self.frame(40 << 10)
        #expect(queue.enqueue(.frame(queued)))
        // 40 KiB more does not fit beside the 40 KiB queued: the producer waits for a write.
        let producer = Task { await queue.reserve(40 << 10) }
        while queue.waitingProducers == 0 { await Task.yield() }
        queue.written(bytes: queued.approximateSize)
        #expect(await producer.value)
        #expect(queue.waitingProducers == 0)
    }

    /// A write that completes between a producer's look at the budget and its registration as a waiter wakes no
    /// one: the registration must see the room itself, or the stream waits for ever (a resumed WATCH replay
    /// stalled this way). The write is made to complete exactly there.
    @Test func aWriteBetweenTheLookAndTheWaitIsNotLost() async {
        final class Written: @unchecked Sendable {
            var queue: OutboundQueue?
            var bytes = 0
        }
        let written = Written()
        let queue = OutboundQueue(budget: 64 << 10, global: ResponseBudget(limit: 1 << 30)) {
            guard let queue = written.queue, written.bytes > 0 else { return }
            queue.written(bytes: written.bytes)
            written.bytes = 0
        }
        written.queue = queue
        let queued = Self.frame(40 << 10)
        queue.enqueue(.frame(queued))
        written.bytes = queued.approximateSize
        let reserved = NIOLockedValueBox<Bool?>(nil)
        let producer = Task {
            let ok = await queue.reserve(40 << 10)
            reserved.withLockedValue { $0 = ok }
        }
        // Either the producer gets its room, or it waits for a write that will never come (the bug): then the
        // queue is finished so that the test ends.
        while reserved.withLockedValue({ $0 }) != true, queue.waitingProducers == 0 { await Task.yield() }
        #expect(queue.waitingProducers == 0, "the producer waits for a write that already happened")
        if queue.waitingProducers > 0 { queue.finish() }
        await producer.value
        #expect(reserved.withLockedValue { $0 } == true)
    }
}
