import NIOConcurrencyHelpers
import NIOCore
import NewswireProtocol

/// What a connection's writer task is asked to do, in order.
enum OutboundItem: Sendable {
    /// Encode and send a frame.
    case frame(OutboundFrame)
    /// From now on encode with these settings (queued right after WELCOME, so WELCOME itself goes out plain).
    case compression(CompressionSettings)
    /// Send everything queued so far, then close the connection.
    case closeAfterFlush
}

/// A many-producer, one-consumer queue between request tasks and the connection's writer.
///
/// The writer takes everything queued at once and sends it in one write: pipelined responses coalesce into few
/// syscalls. Producers that find too many bytes waiting (a client that does not read) are suspended until the
/// writer catches up, so a slow reader costs bounded memory and, through the read loop, stops reading its socket.
final class OutboundQueue: Sendable {
    private struct State {
        var items: [OutboundItem] = []
        var queuedBytes = 0
        var finished = false
        var writerWaiting: CheckedContinuation<Void, Never>?
        var producersWaiting: [CheckedContinuation<Void, Never>] = []
    }

    private let state = NIOLockedValueBox(State())
    /// Above this many queued payload bytes, ``waitForRoom()`` suspends.
    let highWatermark: Int

    init(highWatermark: Int) {
        self.highWatermark = highWatermark
    }

    /// Queues an item; returns false when the queue was already finished (the connection is gone).
    @discardableResult
    func enqueue(_ item: OutboundItem) -> Bool {
        let writer: CheckedContinuation<Void, Never>? = state.withLockedValue { state in
            guard !state.finished else { return nil }
            state.items.append(item)
            if case .frame(let frame) = item { state.queuedBytes += frame.approximateSize }
            let waiting = state.writerWaiting
            state.writerWaiting = nil
            return waiting
        }
        writer?.resume()
        return true
    }

    /// Suspends while more than ``highWatermark`` bytes wait to be written.
    func waitForRoom() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLockedValue { state in
                if state.queuedBytes <= highWatermark || state.finished { return true }
                state.producersWaiting.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
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
                    state.items.removeAll(keepingCapacity: true)
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

    /// Writer side: `bytes` of what ``next()`` returned have been handed to the channel.
    func written(bytes: Int) {
        let producers: [CheckedContinuation<Void, Never>] = state.withLockedValue { state in
            state.queuedBytes -= bytes
            guard state.queuedBytes <= highWatermark else { return [] }
            let waiting = state.producersWaiting
            state.producersWaiting.removeAll()
            return waiting
        }
        for producer in producers { producer.resume() }
    }

    /// No more items: the writer drains what is queued and stops; waiting producers are released.
    func finish() {
        let (writer, producers) = state.withLockedValue { state in
            state.finished = true
            let result = (state.writerWaiting, state.producersWaiting)
            state.writerWaiting = nil
            state.producersWaiting.removeAll()
            return result
        }
        writer?.resume()
        for producer in producers { producer.resume() }
    }
}

extension OutboundFrame {
    /// Payload bytes, for queue accounting.
    var approximateSize: Int {
        switch payload {
        case .plain(let buffer): FrameHeader.length + buffer.readableBytes
        case .precompressed(let zlib, _): FrameHeader.length + 4 + zlib.readableBytes
        }
    }
}
