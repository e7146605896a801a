import Metrics
import NIOConcurrencyHelpers
import NewswireProtocol

/// Server counters, kept locally (for STATS) and mirrored to swift-metrics (for whatever backend the process
/// bootstraps). Names are dotted and stable: they are part of the STATS contract documented in README.
final class ServerStatistics: Sendable {
    private struct State {
        var requests: [String: Int64] = [:]
        var connectionsAccepted: Int64 = 0
        var connectionsRejected: Int64 = 0
        var connectionsOpen: Int64 = 0
        var bytesIn: Int64 = 0
        var bytesOut: Int64 = 0
        var payloadBytesOut: Int64 = 0
        var slowRequests: Int64 = 0
    }

    private let state = NIOLockedValueBox(State())
    private let startedAt = ContinuousClock.now
    private let connectionsGauge = Gauge(label: "newswire_connections_open")
    private let bytesInCounter = Counter(label: "newswire_bytes_in")
    private let bytesOutCounter = Counter(label: "newswire_bytes_out")
    private let payloadBytesOutCounter = Counter(label: "newswire_payload_bytes_out")

    /// Records one answered request: `outcome` is `ok` or an error code name.
    func recordRequest(opcode: Opcode, outcome: String, latency: Duration) {
        let key = opcode.name.lowercased() + "." + outcome.lowercased()
        state.withLockedValue { $0.requests[key, default: 0] += 1 }
        Counter(label: "newswire_requests", dimensions: [("opcode", opcode.name), ("outcome", outcome)]).increment()
        Metrics.Timer(label: "newswire_request_duration", dimensions: [("opcode", opcode.name)])
            .recordNanoseconds(latency.nanoseconds)
    }

    func recordSlowRequest() { state.withLockedValue { $0.slowRequests += 1 } }

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
        let s = state.withLockedValue { $0 }
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
        ]
        for key in s.requests.keys.sorted() {
            entries.append(StatEntry(name: "requests." + key, value: .integer(s.requests[key]!)))
        }
        return entries
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    var seconds: Double { Double(nanoseconds) / 1e9 }

    var microseconds: Int { Int(nanoseconds / 1000) }
}
