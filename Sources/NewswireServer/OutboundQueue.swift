import NIOConcurrencyHelpers
import NIOCore
import NewswireProtocol

/// What a connection's writer task is asked to do, in order.
enum OutboundItem: Sendable {
    /// Encode and send a frame.
    case frame(OutboundFrame)
    /// From now on encode with these settings (queued right after WELCOME, so WELCOME itself goes out plain).
    case compression(CompressionSettings)
    /// WELCOME is in the batch before this: once it is written, cached GETs may be answered in the pipeline.
    case welcomeSent(Handshake)
    /// Send everything queued so far, then close the connection.
    case closeAfterFlush
}

/// Bytes held across every connection against one server-wide limit (SECURITY.md "Limits"): answer bytes queued and
/// not yet taken by the kernel (the bound that keeps many slow readers together from exhausting memory), and, in a
/// second instance, large request frames from their header until their request is answered (peers trickling or
/// pipelining big frames).
final class ServerByteBudget: Sendable {
    private struct State {
        var used = 0
        var peak = 0
    }

    /// Bytes all connections together may hold.
    let limit: Int
    private let state = NIOLockedValueBox(State())

    init(limit: Int) {
        self.limit = limit
    }

    /// Takes `bytes` when they fit (or `force`, for small control frames that must go out); false otherwise.
    func take(_ bytes: Int, force: Bool = false) -> Bool {
        state.withLockedValue { state in
            guard force || state.used + bytes <= limit else { return false }
            state.used += bytes
            state.peak = max(state.peak, state.used)
            return true
        }
    }

    /// Whether anything is left.
    var hasRoom: Bool { state.withLockedValue { $0.used < limit } }

    func give(_ bytes: Int) {
        guard bytes != 0 else { return }
        state.withLockedValue { $0.used -= bytes }
    }

    /// Bytes held now, and the most ever held at once.
    var usage: (used: Int, peak: Int) { state.withLockedValue { ($0.used, $0.peak) } }
}

/// A many-producer, one-consumer queue between request tasks and the connection's writer, and the connection's
/// account of answer bytes not yet taken by the kernel.
///
/// The writer takes everything queued at once and sends it in one write: pipelined responses coalesce into few
/// syscalls. Bytes count from the moment an answer is queued until the socket took its encoded form, so an answer
/// is never counted as gone while its bytes still wait in the channel. A connection over its budget gets no more
/// answers queued: single answers are replaced by a short retryable OVERLOADED, streams wait for room before they
/// produce their next frame, and the read loop stops reading. The server-wide ``ServerByteBudget`` bounds all
/// connections together.
final class OutboundQueue: Sendable {
    private struct State {
        var items: [OutboundItem] = []
        /// Bytes queued or being written (taken from the global budget too).
        var queuedBytes = 0
        /// Bytes promised to stream frames being produced (of the global budget, each reservation takes only its
        /// ``OutboundQueue/globalShare(ofReservation:)``).
        var reservedBytes = 0
        var finished = false
        var writerWaiting: CheckedContinuation<Void, Never>?
        var producersWaiting: [CheckedContinuation<Void, Never>] = []
        var peakBytes = 0

        /// Bytes held now: queued or being written, and reserved.
        var held: Int { queuedBytes + reservedBytes }

        /// Whether `bytes` more fit a connection of `budget`: a connection holding nothing always takes one more
        /// frame, so that a frame larger than the budget is not refused for ever.
        func fits(_ bytes: Int, budget: Int) -> Bool { held == 0 || held + bytes <= budget }
    }

    private let state = NIOLockedValueBox(State())
    /// Bytes this connection may hold; above it nothing more is produced for it.
    let budget: Int
    let global: ServerByteBudget

    /// Answers are queued for a connection even when the server-wide budget is spent as long as the connection then
    /// holds at most this much: the server-wide bound is therefore the budget plus this much per connection.
    static let alwaysAdmittedBytes = 64 << 10

    /// What a stream reservation of `bytes` takes from the server-wide budget until its frame is queued (then the
    /// frame's own size is counted): at most ``alwaysAdmittedBytes``. A reservation holds room for the largest frame
    /// the client accepts (1 MiB), and most stream frames are far smaller (a GET_MANY of ten records is about
    /// 20 KiB): counted in full, 256 streams in progress spent the whole 256 MiB while the server held a few MiB
    /// of answers, and every further stream ended `OVERLOADED` (PROTOCOL.md §9 counts unsent answer bytes).
    static func globalShare(ofReservation bytes: Int) -> Int { min(bytes, alwaysAdmittedBytes) }

    /// Tests only: runs when a stream producer found no room and is about to wait for a write (the window in
    /// which a completing write must not be lost).
    private let beforeWaiting: (@Sendable () -> Void)?

    init(budget: Int, global: ServerByteBudget, beforeWaiting: (@Sendable () -> Void)? = nil) {
        self.budget = budget
        self.global = global
        self.beforeWaiting = beforeWaiting
    }

    /// Queues an answer when it fits this connection's budget and the server's (a connection holding nothing may
    /// always queue one answer the server has room for, so a large answer is not refused for ever; one holding at
    /// most ``alwaysAdmittedBytes`` with it, whatever the server holds). False when it does not fit or the
    /// connection is gone; the caller sends something small instead.
    func enqueueAnswer(_ frame: OutboundFrame) -> Bool {
        let size = frame.approximateSize
        let (admitted, writer): (Bool, CheckedContinuation<Void, Never>?) = state.withLockedValue { state in
            guard !state.finished else { return (false, nil) }
            // A connection that holds little always gets a small answer out, so a full server-wide budget (slow
            // readers elsewhere) does not starve connections that read. Little, not nothing: a client that reads
            // every answer may ask again before the server has seen the previous answer's write complete, and was
            // refused OVERLOADED then.
            // Reservations do not refuse an answer: they are room promised to streams' next frames (up to 1 MiB
            // each, mostly unused), not bytes held; counted, a few SCANs in progress had every small answer on
            // their connection refused. The connection then holds at most its budget plus those frames.
            let small = state.queuedBytes + size <= Self.alwaysAdmittedBytes
            guard state.queuedBytes == 0 || state.queuedBytes + size <= budget, global.take(size, force: small) else {
                return (false, nil)
            }
            state.queuedBytes += size
            state.peakBytes = max(state.peakBytes, state.held)
            state.items.append(.frame(frame))
            defer { state.writerWaiting = nil }
            return (true, state.writerWaiting)
        }
        writer?.resume()
        return admitted
    }

    /// Queues an item whatever the budgets say: WELCOME, GOAWAY, errors and other small control frames.
    /// Returns false when the queue was already finished (the connection is gone).
    @discardableResult
    func enqueue(_ item: OutboundItem) -> Bool {
        enqueue(contentsOf: [item])
    }

    /// Queues items together, whatever the budgets say: the writer takes them in one batch (WELCOME with what
    /// follows from it).
    @discardableResult
    func enqueue(contentsOf items: [OutboundItem]) -> Bool {
        let (queued, writer): (Bool, CheckedContinuation<Void, Never>?) = state.withLockedValue { state in
            guard !state.finished else { return (false, nil) }
            for item in items {
                state.items.append(item)
                if case .frame(let frame) = item {
                    let size = frame.approximateSize
                    _ = global.take(size, force: true)
                    state.queuedBytes += size
                    state.peakBytes = max(state.peakBytes, state.held)
                }
            }
            defer { state.writerWaiting = nil }
            return (true, state.writerWaiting)
        }
        writer?.resume()
        return queued
    }

    /// Stream producers: waits until this connection has room for `bytes` more (or holds nothing), then reserves
    /// them, and their ``globalShare(ofReservation:)`` of the server's budget. False when the server has no room
    /// (the stream ends OVERLOADED) or the connection is gone.
    func reserve(_ bytes: Int) async -> Bool {
        while true {
            enum Step {
                case reserved, refused, wait
            }
            let step: Step = state.withLockedValue { state in
                if state.finished { return .refused }
                guard state.fits(bytes, budget: budget) else { return .wait }
                guard global.take(Self.globalShare(ofReservation: bytes)) else { return .refused }
                state.reservedBytes += bytes
                state.peakBytes = max(state.peakBytes, state.held)
                return .reserved
            }
            switch step {
            case .reserved: return true
            case .refused: return false
            case .wait:
                beforeWaiting?()
                await waitForWrite { !$0.fits(bytes, budget: budget) }
            }
        }
    }

    /// Queues a stream frame produced under a reservation of `reserved` bytes (always admitted: its room was kept).
    @discardableResult
    func enqueue(_ frame: OutboundFrame, reserved: Int) -> Bool {
        let size = frame.approximateSize
        let (queued, writer): (Bool, CheckedContinuation<Void, Never>?) = state.withLockedValue { state in
            state.reservedBytes -= reserved
            global.give(Self.globalShare(ofReservation: reserved))
            guard !state.finished else { return (false, nil) }
            _ = global.take(size, force: true)
            state.queuedBytes += size
            state.items.append(.frame(frame))
            defer { state.writerWaiting = nil }
            return (true, state.writerWaiting)
        }
        writer?.resume()
        return queued
    }

    /// Queues a stream frame at once when this connection and the server have room for it (what ``reserve(_:)``
    /// would admit without waiting), without waking the writer: the caller queues several and then calls
    /// ``wakeWriter()`` once, so they leave in one write. False when there is no room or the connection is gone.
    func enqueueIfRoom(_ frame: OutboundFrame) -> Bool {
        let size = frame.approximateSize
        return state.withLockedValue { state in
            guard !state.finished else { return false }
            guard state.fits(size, budget: budget), global.take(size) else { return false }
            state.queuedBytes += size
            state.peakBytes = max(state.peakBytes, state.held)
            state.items.append(.frame(frame))
            return true
        }
    }

    /// Wakes the writer if it waits and something is queued (after ``enqueueIfRoom(_:)``).
    func wakeWriter() {
        let writer: CheckedContinuation<Void, Never>? = state.withLockedValue { state in
            guard !state.items.isEmpty else { return nil }
            defer { state.writerWaiting = nil }
            return state.writerWaiting
        }
        writer?.resume()
    }

    /// Gives back a reservation that produced nothing.
    func release(reserved: Int) {
        guard reserved > 0 else { return }
        state.withLockedValue { $0.reservedBytes -= reserved }
        global.give(Self.globalShare(ofReservation: reserved))
        wakeProducers()
    }

    /// The read loop: suspends while this connection holds more than its budget.
    func waitForRoom() async {
        while state.withLockedValue({ !$0.finished && $0.held > budget }) {
            await waitForWrite { $0.held > budget }
        }
    }

    /// Suspends until the writer hands something to the kernel (or the queue finishes), unless `blocked` no
    /// longer holds.
    private func waitForWrite(while blocked: (State) -> Bool) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLockedValue { state in
                // Checked again under the lock that registers the wait: a write that completed since the caller
                // looked found no one to wake, and none may follow (a stream stalled for good this way).
                if state.finished || !blocked(state) { return true }
                state.producersWaiting.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    /// Producers waiting for a write (for tests).
    var waitingProducers: Int { state.withLockedValue { $0.producersWaiting.count } }

    private func wakeProducers() {
        let producers = state.withLockedValue { state in
            defer { state.producersWaiting.removeAll() }
            return state.producersWaiting
        }
        for producer in producers { producer.resume() }
    }

    /// Writer side: everything queued, waiting while empty; nil once finished and drained.
    func next() async -> [OutboundItem]? {
        while true {
            enum Step {
                case items([OutboundItem])
                case done
                case wait
            }
            let step: Step = state.withLockedValue { state in
                if !state.items.isEmpty {
                    let items = state.items
                    state.items = []
                    return .items(items)
                }
                return state.finished ? .done : .wait
            }
            switch step {
            case .items(let items): return items
            case .done: return nil
            case .wait:
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let resumeNow = state.withLockedValue { state in
                        if !state.items.isEmpty || state.finished { return true }
                        state.writerWaiting = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
        }
    }

    /// Writer side: `bytes` of what ``next()`` returned have been taken by the kernel (or dropped).
    func written(bytes: Int) {
        state.withLockedValue { $0.queuedBytes -= bytes }
        global.give(bytes)
        wakeProducers()
    }

    /// No more items: the writer drains what is queued and stops; waiting producers are released.
    func finish() {
        let writer = state.withLockedValue { state in
            state.finished = true
            defer { state.writerWaiting = nil }
            return state.writerWaiting
        }
        writer?.resume()
        wakeProducers()
    }

    /// The writer stopped for good: whatever is still queued is dropped and its bytes given back.
    func discardRemaining() {
        let dropped = state.withLockedValue { state -> Int in
            state.finished = true
            var bytes = 0
            for case .frame(let frame) in state.items { bytes += frame.approximateSize }
            state.items = []
            state.queuedBytes -= bytes
            return bytes
        }
        global.give(dropped)
        wakeProducers()
    }

    /// Bytes held now (queued and reserved), and the most held at once.
    var usage: (held: Int, peak: Int) {
        state.withLockedValue { ($0.held, $0.peakBytes) }
    }
}

extension OutboundFrame {
    /// Bytes this frame costs until written: header and payload (an upper bound on its encoded size).
    var approximateSize: Int {
        switch payload {
        case .plain(let buffer): FrameHeader.length + buffer.readableBytes
        case .precompressed(let zlib, _): FrameHeader.length + 4 + zlib.readableBytes
        }
    }

    /// The payload's uncompressed length: what the client's max frame length is checked against.
    var uncompressedPayloadLength: Int {
        switch payload {
        case .plain(let buffer): buffer.readableBytes
        case .precompressed(_, let length): Int(length)
        }
    }
}
