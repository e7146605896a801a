import NIOCore
import NewswireModel
import NewswireProtocol

/// Requests ready to send, encoded once before the run so that sending is a header write and a buffer copy.
struct EncodedWorkload: Sendable {
    /// GET payloads, by id index.
    var get: [ByteBuffer]
    /// RELATED payloads, by id index.
    var related: [ByteBuffer]
    /// SEARCH payloads, one per query.
    var search: [ByteBuffer]
    /// The PING payload.
    var ping: ByteBuffer
    var mix: OperationMix
    var keys: KeySampler?
    /// True when `get` holds RESP commands for a Redis-compatible server (``LoadConfiguration/respKeys``).
    var resp = false

    init(ids: [ArticleID], queries: [String], configuration: LoadConfiguration) {
        func encoded(_ request: Request) -> ByteBuffer {
            var buffer = ByteBuffer()
            request.encode(into: &buffer)
            return buffer
        }
        let usesIDs = configuration.mix.contains(.get) || configuration.mix.contains(.related)
        if let respKeys = configuration.respKeys {
            resp = true
            get = (0..<respKeys).map { Self.respGet(key: $0) }
        } else {
            get = configuration.mix.contains(.get) ? ids.map { encoded(.get(GetMessage(id: $0))) } : []
        }
        related =
            configuration.mix.contains(.related)
            ? ids.map { encoded(.related(RelatedMessage(id: $0, limit: configuration.relatedLimit))) } : []
        search = queries.map {
            encoded(
                .search(
                    SearchRequest(
                        text: $0, limit: configuration.searchLimit,
                        facets: configuration.searchFacets ? FacetField.allCases : [])))
        }
        ping = encoded(.ping(PingMessage(payload: ByteBuffer(bytes: [0, 1, 2, 3, 4, 5, 6, 7]))))
        mix = configuration.mix
        keys = usesIDs && !get.isEmpty ? KeySampler(count: get.count, distribution: configuration.keys) : nil
    }

    /// `GET key:%012d` as a RESP array of bulk strings (the key `redis-benchmark -r` draws).
    static func respGet(key: Int) -> ByteBuffer {
        let digits = String(key)
        let name = "key:" + String(repeating: "0", count: max(0, 12 - digits.count)) + digits
        var buffer = ByteBuffer()
        buffer.writeString("*2\r\n$3\r\nGET\r\n$\(name.utf8.count)\r\n\(name)\r\n")
        return buffer
    }
}

/// What one connection is told when the run starts (all times in monotonic nanoseconds).
struct ConnectionPlan: Sendable {
    enum Mode: Sendable {
        /// Keep `pipeline` requests in flight.
        case closed
        /// Send on the open-loop schedule.
        case open(OpenLoopSchedule)
    }

    var mode: Mode
    /// The common start instant: nothing is sent before it, so connections set up first get no head start.
    var startAt: UInt64
    /// Requests sent before this instant are warmup: answered but not recorded.
    var measureFrom: UInt64
    /// No request is sent at or after this instant.
    var sendUntil: UInt64
    /// Closed loop with `--requests`: this connection's share of measured requests.
    var quota: Int?
    /// After this instant requests still unanswered are counted as `NO_RESPONSE` and the connection stops.
    var hardDeadline: UInt64
    var seed: UInt64
}

/// Monotonic nanoseconds (CLOCK_MONOTONIC through NIO).
@inline(__always)
func monotonicNanos() -> UInt64 { NIODeadline.now().uptimeNanoseconds }

extension LoadOperation {
    /// The request opcode.
    var opcode: Opcode {
        switch self {
        case .get: .get
        case .search: .search
        case .related: .related
        case .ping: .ping
        }
    }
}
