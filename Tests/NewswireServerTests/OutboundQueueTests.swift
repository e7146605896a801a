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

    /// With the server-wide budget spent by slow readers elsewhere, a connection that reads still gets small
    /// answers queued while it holds at most 64 KiB, so a client asking again before the server saw its previous
    /// answer written is not refused; beyond that it waits its turn like the rest.
    @Test func aConnectionHoldingLittleGetsSmallAnswersPastAFullServerBudget() {
        let global = ServerByteBudget(limit: 64 << 10)
        #expect(global.take(64 << 10))  // spent by other connections
        let queue = OutboundQueue(budget: 1 << 20, global: global)
        let answer = Self.frame(20 << 10)
        #expect(queue.enqueueAnswer(answer))
        #expect(queue.enqueueAnswer(answer), "a second answer while the first is still being written")
        #expect(queue.enqueueAnswer(answer))
        #expect(!queue.enqueueAnswer(answer), "more than 64 KiB held on a spent server budget")
        queue.written(bytes: 3 * answer.approximateSize)
        #expect(queue.enqueueAnswer(answer))
    }

    @Test func aStreamWaitingForRoomResumesWhenAWriteFreesIt() async {
        let queue = OutboundQueue(budget: 64 << 10, global: ServerByteBudget(limit: 1 << 30))
        let queued = Self.frame(40 << 10)
        #expect(queue.enqueue(.frame(queued)))
        // 40 KiB more does not fit beside the 40 KiB queued: the producer waits for a write.
        let producer = Task { await queue.reserve(40 << 10) }
        while queue.waitingProducers == 0 { await Task.yield() }
        queue.written(bytes: queued.approximateSize)
        #expect(await producer.value)
        #expect(queue.waitingProducers == 0)
    }

    /// A stream reserves room for the largest frame its client accepts, but the server-wide budget counts unsent
    /// answer bytes (PROTOCOL.md §9): each reservation takes at most 64 KiB of it until its frame is queued, and the
    /// frame then counts its own size. Counted in full, one 1 MiB reservation spent this whole budget.
    @Test func streamReservationsTakeABoundedShareOfTheServerWideBudget() async {
        let global = ServerByteBudget(limit: 1 << 20)
        let frameRoom = 1 << 20
        let queues = (0..<16).map { _ in OutboundQueue(budget: 8 << 20, global: global) }
        for (n, queue) in queues.enumerated() {
            #expect(await queue.reserve(frameRoom), "stream \(n)")
        }
        #expect(global.usage.used == 16 * OutboundQueue.alwaysAdmittedBytes)
        // Spent by streams in progress: the next one is refused (it ends OVERLOADED).
        let another = OutboundQueue(budget: 8 << 20, global: global)
        #expect(await another.reserve(frameRoom) == false)
        // A frame queued under its reservation counts its own size instead, until the socket takes it.
        let frame = Self.frame(20 << 10)
        #expect(queues[0].enqueue(frame, reserved: frameRoom))
        #expect(global.usage.used == 15 * OutboundQueue.alwaysAdmittedBytes + frame.approximateSize)
        queues[0].written(bytes: frame.approximateSize)
        #expect(global.usage.used == 15 * OutboundQueue.alwaysAdmittedBytes)
        #expect(await another.reserve(frameRoom))
        // A reservation given back unused returns its share.
        queues[1].release(reserved: frameRoom)
        #expect(global.usage.used == 15 * OutboundQueue.alwaysAdmittedBytes)
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
        let queue = OutboundQueue(budget: 64 << 10, global: ServerByteBudget(limit: 1 << 30)) {
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
