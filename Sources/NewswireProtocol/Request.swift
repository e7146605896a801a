import NIOCore
import NewswireModel

/// Every client-to-server message (PROTOCOL.md §4).
public enum Request: Sendable, Hashable {
    /// HELLO: must be the first frame on a connection.
    case hello(HelloMessage)
    /// PING.
    case ping(PingMessage)
    /// GET.
    case get(GetMessage)
    /// GET_MANY.
    case getMany(GetManyMessage)
    /// SEARCH.
    case search(SearchRequest)
    /// RELATED.
    case related(RelatedMessage)
    /// INGEST.
    case ingest(IngestMessage)
    /// PUT.
    case put(PutMessage)
    /// DELETE.
    case delete(DeleteMessage)
    /// SCAN.
    case scan(ScanMessage)
    /// STATS (empty payload).
    case stats
    /// WATCH: a standing query (a stream that ends only with an ERROR).
    case watch(WatchMessage)
    /// CANCEL the stream with this frame's request id (empty payload, no response of its own).
    case cancel

    /// The frame opcode.
    public var opcode: Opcode {
        switch self {
        case .hello: .hello
        case .ping: .ping
        case .get: .get
        case .getMany: .getMany
        case .search: .search
        case .related: .related
        case .ingest: .ingest
        case .put: .put
        case .delete: .delete
        case .scan: .scan
        case .stats: .stats
        case .cancel: .cancel
        case .watch: .watch
        }
    }

    /// Appends the payload.
    public func encode(into buffer: inout ByteBuffer) {
        switch self {
        case .hello(let message): message.encode(into: &buffer)
        case .ping(let message): message.encode(into: &buffer)
        case .get(let message): message.encode(into: &buffer)
        case .getMany(let message): message.encode(into: &buffer)
        case .search(let message): message.encode(into: &buffer)
        case .related(let message): message.encode(into: &buffer)
        case .ingest(let message): message.encode(into: &buffer)
        case .put(let message): message.encode(into: &buffer)
        case .delete(let message): message.encode(into: &buffer)
        case .scan(let message): message.encode(into: &buffer)
        case .watch(let message): message.encode(into: &buffer)
        case .stats, .cancel: break
        }
    }

    /// Decodes a request payload.
    ///
    /// Throws ``ProtocolError/Code/unknownOpcode`` for opcodes that are not requests this version knows
    /// (the connection survives) and ``ProtocolError/Code/malformedMessage`` for payloads that do not decode.
    public static func decode(opcode: Opcode, payload: ByteBuffer) throws(ProtocolError) -> Request {
        switch opcode {
        case .hello: .hello(try HelloMessage(decoding: payload))
        case .ping: .ping(try PingMessage(decoding: payload))
        case .get: .get(try GetMessage(decoding: payload))
        case .getMany: .getMany(try GetManyMessage(decoding: payload))
        case .search: .search(try SearchRequest(decoding: payload))
        case .related: .related(try RelatedMessage(decoding: payload))
        case .ingest: .ingest(try IngestMessage(decoding: payload))
        case .put: .put(try PutMessage(decoding: payload))
        case .delete: .delete(try DeleteMessage(decoding: payload))
        case .scan: .scan(try ScanMessage(decoding: payload))
        case .stats: .stats
        case .cancel: .cancel
        case .watch: .watch(try WatchMessage(decoding: payload))
        default:
            throw ProtocolError(
                code: .unknownOpcode,
                message: "opcode \(opcode) is not a request this server knows (v1 requests are 0x0001...0x000D)")
        }
    }

    /// Decodes the request a frame carries; errors carry the frame's request id.
    ///
    /// Request frames never set more-to-follow in v1 (PROTOCOL.md §3.5): such a frame is malformed.
    public init(frame: Frame) throws(ProtocolError) {
        guard !frame.hasMoreToFollow else {
            throw ProtocolError(
                code: .malformedMessage,
                message: "\(frame.opcode) request sets more-to-follow; v1 requests are single frames "
                    + "(send a large PUT as several PUTs)",
                requestID: frame.requestID)
        }
        do {
            self = try Request.decode(opcode: frame.opcode, payload: frame.payload)
        } catch {
            throw error.with(requestID: frame.requestID)
        }
    }
}

/// Every server-to-client message (PROTOCOL.md §4).
public enum Response: Sendable, Hashable {
    /// WELCOME.
    case welcome(WelcomeMessage)
    /// PONG: the PING's payload echoed.
    case pong(PingMessage)
    /// ARTICLE: the answer to GET.
    case article(ArticleMessage)
    /// ARTICLES: one frame of the answer to GET_MANY.
    case articles(ArticlesMessage)
    /// SEARCH_RESULT.
    case searchResult(SearchPage)
    /// RELATED_RESULT.
    case relatedResult(SearchPage)
    /// INGEST_RESULT.
    case ingestResult(IngestResultMessage)
    /// PUT_RESULT.
    case putResult(PutResultMessage)
    /// DELETE_RESULT.
    case deleteResult(DeleteResultMessage)
    /// SCAN_BATCH: one frame of the answer to SCAN.
    case scanBatch(ScanBatchMessage)
    /// STATS_RESULT.
    case stats(StatsMessage)
    /// WATCH_EVENT: one frame of a WATCH stream.
    case watchEvent(WatchEventMessage)
    /// ERROR: the request failed (or, with ``RequestID/connection``, the connection did).
    case error(ProtocolError)
    /// GOAWAY (server-initiated, ``RequestID/connection``).
    case goAway(GoAwayMessage)

    /// The frame opcode.
    public var opcode: Opcode {
        switch self {
        case .welcome: .welcome
        case .pong: .pong
        case .article: .article
        case .articles: .articles
        case .searchResult: .searchResult
        case .relatedResult: .relatedResult
        case .ingestResult: .ingestResult
        case .putResult: .putResult
        case .deleteResult: .deleteResult
        case .scanBatch: .scanBatch
        case .stats: .statsResult
        case .watchEvent: .watchEvent
        case .error: .error
        case .goAway: .goAway
        }
    }

    /// Appends the payload.
    public func encode(into buffer: inout ByteBuffer) {
        switch self {
        case .welcome(let message): message.encode(into: &buffer)
        case .pong(let message): message.encode(into: &buffer)
        case .article(let message): message.encode(into: &buffer)
        case .articles(let message): message.encode(into: &buffer)
        case .searchResult(let page), .relatedResult(let page): page.encode(into: &buffer)
        case .ingestResult(let message): message.encode(into: &buffer)
        case .putResult(let message): message.encode(into: &buffer)
        case .deleteResult(let message): message.encode(into: &buffer)
        case .scanBatch(let message): message.encode(into: &buffer)
        case .stats(let message): message.encode(into: &buffer)
        case .watchEvent(let message): message.encode(into: &buffer)
        case .error(let error): error.encodeFields(into: &buffer)
        case .goAway(let message): message.encode(into: &buffer)
        }
    }

    /// Decodes a response payload.
    ///
    /// Records inside ARTICLE, ARTICLES, INGEST_RESULT and SCAN_BATCH are validated when their
    /// ``ArticleRecord/decode()`` is called.
    public static func decode(opcode: Opcode, payload: ByteBuffer) throws(ProtocolError) -> Response {
        switch opcode {
        case .welcome: .welcome(try WelcomeMessage(decoding: payload))
        case .pong: .pong(try PingMessage(decoding: payload))
        case .article: .article(try ArticleMessage(decoding: payload))
        case .articles: .articles(try ArticlesMessage(decoding: payload))
        case .searchResult: .searchResult(try SearchPage(decoding: payload))
        case .relatedResult: .relatedResult(try SearchPage(decoding: payload))
        case .ingestResult: .ingestResult(try IngestResultMessage(decoding: payload))
        case .putResult: .putResult(try PutResultMessage(decoding: payload))
        case .deleteResult: .deleteResult(try DeleteResultMessage(decoding: payload))
        case .scanBatch: .scanBatch(try ScanBatchMessage(decoding: payload))
        case .statsResult: .stats(try StatsMessage(decoding: payload))
        case .watchEvent: .watchEvent(try WatchEventMessage(decoding: payload))
        case .error: .error(try ProtocolError(wirePayload: payload))
        case .goAway: .goAway(try GoAwayMessage(decoding: payload))
        default:
            throw ProtocolError(
                code: .unknownOpcode,
                message: "opcode \(opcode) is not a response this client knows (v1 responses are 0x8000...0x800D "
                    + "and 0x80FF)")
        }
    }

    /// Decodes the response a frame carries; an ERROR gets the frame's request id.
    public init(frame: Frame) throws(ProtocolError) {
        do {
            var response = try Response.decode(opcode: frame.opcode, payload: frame.payload)
            if case .error(let error) = response { response = .error(error.with(requestID: frame.requestID)) }
            self = response
        } catch {
            throw error.with(requestID: frame.requestID)
        }
    }
}
