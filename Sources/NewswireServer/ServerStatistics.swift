import Metrics
import NIOConcurrencyHelpers
import NewswireModel
import NewswireProtocol

/// Server counters, kept locally (for STATS) and mirrored to swift-metrics (for whatever backend the process
/// bootstraps). Names are dotted and stable: they are part of the STATS contract documented in README.
final class ServerStatistics: Sendable {
    private struct State {
        var requestHandles: [RequestKey: RequestHandles] = [:]
        var connectionsAccepted: Int64 = 0
        var connectionsRejected: Int64 = 0
        var connectionsOpen: Int64 = 0
        var bytesIn: Int64 = 0
        var bytesOut: Int64 = 0
        var payloadBytesOut: Int64 = 0
        var slowRequests: Int64 = 0
        /// Slow requests not logged yet, and when one was last logged: at most one line a second.
        var slowRequestsUnlogged: Int64 = 0
        var lastSlowRequestLogged: ContinuousClock.Instant?
        var answersRefusedForMemory: Int64 = 0
        /// The (GET, ok) handles, once created: the pipeline fast path counts into them every read burst.
        var cachedGetHandles: RequestHandles?
    }

    private let state = NIOLockedValueBox(State())
    private let startedAt = ContinuousClock.now
    private let connectionsGauge = Gauge(label: "newswire_connections_open")
    private let bytesInCounter = Counter(label: "newswire_bytes_in")
    private let bytesOutCounter = Counter(label: "newswire_bytes_out")
    private let payloadBytesOutCounter = Counter(label: "newswire_payload_bytes_out")

    /// Records one answered request: `outcome` is `ok` or an error code name.
    /// `slow` counts it in `requests.slow` too, under the same lock (a STATS sees both counts move together).
    /// Returns, for a slow request that is to be logged, how many slow requests this line stands for (itself and
    /// those not logged since the last line: an overloaded server logs one line a second, not one per request).
    @discardableResult
    func recordRequest(opcode: Opcode, outcome: String, latency: Duration, slow: Bool = false) -> Int64? {
        let (handles, toLog) = state.withLockedValue { state -> (RequestHandles, Int64?) in
            var toLog: Int64?
            if slow {
                state.slowRequests += 1
                state.slowRequestsUnlogged += 1
                let now = ContinuousClock.now
                if state.lastSlowRequestLogged.map({ now - $0 >= .seconds(1) }) ?? true {
                    state.lastSlowRequestLogged = now
                    toLog = state.slowRequestsUnlogged
                    state.slowRequestsUnlogged = 0
                }
            }
            return (Self.requestHandles(in: &state, opcode: opcode, outcome: outcome, adding: 1), toLog)
        }
        handles.counter.increment()
        handles.timer.recordNanoseconds(latency.nanoseconds)
        return toLog
    }

    /// Records `count` requests answered at once from memory (no latency worth timing), with one lock.
    func recordRequests(opcode: Opcode, outcome: String, count: Int) {
        guard count > 0 else { return }
        requestHandles(opcode: opcode, outcome: outcome, adding: Int64(count)).counter.increment(by: count)
    }

    /// Counts requests and returns the metric handles for (opcode, outcome), created once per pair: building the
    /// key string and the metric objects per request cost more than serving a cached GET.
    private func requestHandles(opcode: Opcode, outcome: String, adding count: Int64) -> RequestHandles {
        state.withLockedValue { Self.requestHandles(in: &$0, opcode: opcode, outcome: outcome, adding: count) }
    }

    private static func requestHandles(
        in state: inout State, opcode: Opcode, outcome: String, adding count: Int64
    ) -> RequestHandles {
        let key = RequestKey(opcode: opcode.rawValue, outcome: outcome)
        if let handles = state.requestHandles[key] {
            handles.count += count
            return handles
        }
        let handles = RequestHandles(
            name: opcode.name.lowercased() + "." + outcome.lowercased(),
            counter: Counter(label: "newswire_requests", dimensions: [("opcode", opcode.name), ("outcome", outcome)]),
            timer: Metrics.Timer(
                label: "newswire_request_duration", dimensions: [("opcode", opcode.name), ("outcome", outcome)]))
        handles.count = count
        state.requestHandles[key] = handles
        return handles
    }

    /// Records one read burst of GETs answered from the record cache in the pipeline: requests, bytes in and
    /// bytes out under one lock (three separate calls took three locks and a dictionary lookup per burst).
    func recordCachedGets(count: Int, bytesIn: Int, wire: Int, uncompressedPayload: Int) {
        guard count > 0 else { return }
        let handles = state.withLockedValue { state in
            state.bytesIn += Int64(bytesIn)
            state.bytesOut += Int64(wire)
            state.payloadBytesOut += Int64(uncompressedPayload)
            if let handles = state.cachedGetHandles {
                handles.count += Int64(count)
                return handles
            }
            let handles = Self.requestHandles(in: &state, opcode: .get, outcome: "ok", adding: Int64(count))
            state.cachedGetHandles = handles
            return handles
        }
        handles.counter.increment(by: count)
        bytesInCounter.increment(by: bytesIn)
        bytesOutCounter.increment(by: wire)
        payloadBytesOutCounter.increment(by: uncompressedPayload)
    }

    /// An answer was replaced by OVERLOADED because its connection or the server held too many unread answers.
    func recordAnswerRefusedForMemory() { state.withLockedValue { $0.answersRefusedForMemory += 1 } }

    func connectionOpened() {
        let open = state.withLockedValue {
            $0.connectionsAccepted += 1
            $0.connectionsOpen += 1
            return $0.connectionsOpen
        }
        connectionsGauge.record(open)
    }

    func connectionClosed() {
        let open = state.withLockedValue {
            $0.connectionsOpen -= 1
            return $0.connectionsOpen
        }
        connectionsGauge.record(open)
    }

    func connectionRejected() { state.withLockedValue { $0.connectionsRejected += 1 } }

    var openConnections: Int64 { state.withLockedValue { $0.connectionsOpen } }

    /// Bytes read from sockets (compressed where the peer compressed).
    func recordBytesIn(_ count: Int) {
        state.withLockedValue { $0.bytesIn += Int64(count) }
        bytesInCounter.increment(by: count)
    }

    /// Bytes written to sockets, and the payload bytes they carried before compression.
    func recordBytesOut(wire: Int, uncompressedPayload: Int) {
        state.withLockedValue {
            $0.bytesOut += Int64(wire)
            $0.payloadBytesOut += Int64(uncompressedPayload)
        }
        bytesOutCounter.increment(by: wire)
        payloadBytesOutCounter.increment(by: uncompressedPayload)
    }

    /// The STATS entries for the server part, in a stable order.
    func entries() -> [StatEntry] {
        // One lock: the request counts and requests.slow agree with each other.
        let (s, requests) = state.withLockedValue { state in
            (state, Dictionary(state.requestHandles.values.map { ($0.name, $0.count) }, uniquingKeysWith: +))
        }
        let uptime = ContinuousClock.now - startedAt
        var entries: [StatEntry] = [
            StatEntry(name: "server.uptime_seconds", value: .double(uptime.seconds)),
            StatEntry(name: "connections.open", value: .integer(s.connectionsOpen)),
            StatEntry(name: "connections.accepted", value: .integer(s.connectionsAccepted)),
            StatEntry(name: "connections.rejected", value: .integer(s.connectionsRejected)),
            StatEntry(name: "bytes.in", value: .integer(s.bytesIn)),
            StatEntry(name: "bytes.out", value: .integer(s.bytesOut)),
            StatEntry(name: "bytes.out.uncompressed_payload", value: .integer(s.payloadBytesOut)),
            StatEntry(name: "requests.slow", value: .integer(s.slowRequests)),
            StatEntry(name: "responses.refused_for_memory", value: .integer(s.answersRefusedForMemory)),
        ]
        for key in requests.keys.sorted() {
            entries.append(StatEntry(name: "requests." + key, value: .integer(requests[key]!)))
        }
        return entries
    }
}

private struct RequestKey: Hashable {
    var opcode: UInt16
    var outcome: String
}

/// Count and metric handles of one (opcode, outcome) pair; `count` is only touched under the statistics lock.
private final class RequestHandles: @unchecked Sendable {
    let name: String
    let counter: Counter
    let timer: Metrics.Timer
    var count: Int64 = 0

    init(name: String, counter: Counter, timer: Metrics.Timer) {
        self.name = name
        self.counter = counter
        self.timer = timer
    }
}
