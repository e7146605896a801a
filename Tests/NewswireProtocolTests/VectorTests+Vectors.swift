import Foundation
import NIOCore
import NewswireModel
import Testing

@testable import NewswireProtocol

/// The vectors themselves, generated from ``Fixtures`` through the codec: valid frames, invalid input and the
/// worked example session (split from ``VectorTests`` by concept: what the vectors are, and how they are checked).
extension VectorTests {
    // MARK: Generation

    struct Valid {
        var name: String
        var note: String
        var bytes: ByteBuffer
        var kind: String
    }

    static func encodeRequest(_ request: Request, id: UInt32, compression: CompressionSettings = .disabled)
        -> ByteBuffer
    {
        var encoder = FrameEncoder(compression: compression)
        var out = ByteBuffer()
        encoder.encode(request, requestID: RequestID(id), into: &out)
        return out
    }

    static func encodeResponse(
        _ response: Response, id: UInt32, more: Bool = false, compression: CompressionSettings = .disabled
    ) -> ByteBuffer {
        var encoder = FrameEncoder(compression: compression)
        var out = ByteBuffer()
        encoder.encode(response, requestID: RequestID(id), moreToFollow: more, into: &out)
        return out
    }

    static var validVectors: [Valid] {
        var vectors: [Valid] = []
        for (index, (name, request)) in Fixtures.requests.enumerated() {
            vectors.append(
                Valid(
                    name: name, note: "\(request.opcode) request",
                    bytes: encodeRequest(request, id: UInt32(index + 1)), kind: "request"))
        }
        for (index, (name, response)) in Fixtures.responses.enumerated() {
            let id: UInt32 = response.opcode == .goAway ? RequestID.connection.rawValue : UInt32(index + 1)
            vectors.append(
                Valid(
                    name: name, note: "\(response.opcode) response",
                    bytes: encodeResponse(response, id: id), kind: "response"))
        }
        let zlib = CompressionSettings(algorithm: .zlib, threshold: 256, level: 6)
        vectors.append(
            Valid(
                name: "get_unknown_fields",
                note: "GET with unknown fields 15 (varint) and 16 (bytes) appended: decoders skip them",
                bytes: {
                    var payload = ByteBuffer()
                    GetMessage(id: "a1").encode(into: &payload)
                    payload.writeBytes([0x78, 0x2A, 0x82, 0x01, 0x02, 0xAB, 0xCD])
                    var encoder = FrameEncoder()
                    var out = ByteBuffer()
                    encoder.encode(opcode: .get, requestID: RequestID(99), into: &out) {
                        $0.writeImmutableBuffer(payload)
                    }
                    return out
                }(), kind: "request"))
        vectors.append(
            Valid(
                name: "article_compressed", note: "ARTICLE above the 256-byte threshold, zlib-compressed",
                bytes: encodeResponse(.article(ArticleMessage(Fixtures.longArticle)), id: 3, compression: zlib),
                kind: "response"))
        vectors.append(
            Valid(
                name: "search_result_compressed", note: "a 20-hit SEARCH_RESULT, zlib-compressed",
                bytes: encodeResponse(.searchResult(Fixtures.longSearchPage), id: 5, compression: zlib),
                kind: "response"))
        vectors.append(
            Valid(
                name: "put_compressed", note: "PUT of two records, zlib-compressed",
                bytes: encodeRequest(
                    .put(PutMessage(articles: [Fixtures.longArticle, Fixtures.article])), id: 8, compression: zlib),
                kind: "request"))
        vectors.append(
            Valid(
                name: "scan_stream_first", note: "first SCAN_BATCH of a stream: more-to-follow set",
                bytes: encodeResponse(
                    .scanBatch(ScanBatchMessage(records: [ArticleRecord(Fixtures.minimalArticle)])), id: 10,
                    more: true),
                kind: "response"))
        vectors.append(
            Valid(
                name: "scan_stream_final", note: "final SCAN_BATCH of the same stream: more-to-follow clear",
                bytes: encodeResponse(.scanBatch(ScanBatchMessage(ids: [], nextCursor: ByteBuffer())), id: 10),
                kind: "response"))
        // A WATCH stream (§5.19): STARTED, a new article with its hit and record, a deletion, and the ERROR that
        // ends it with the position to resume after.
        vectors.append(
            Valid(
                name: "watch_event_started", note: "first WATCH_EVENT of a stream: the watch is registered",
                bytes: encodeResponse(
                    .watchEvent(
                        WatchEventMessage(
                            position: 41, kind: .started, store: "3f1c9a52-6b0e-4d2b-9a77-0c5e8f2d1b64")), id: 7,
                    more: true),
                kind: "response"))
        vectors.append(
            Valid(
                name: "watch_event_new", note: "WATCH_EVENT: a new matching article, with hit and article",
                bytes: encodeResponse(
                    .watchEvent(
                        WatchEventMessage(
                            position: 42, kind: .new,
                            hit: SearchHit(
                                id: "xwlb-20240408-03", title: "疆电入川 特高压工程投运", source: "央视网《新闻联播》",
                                publishedAt: Fixtures.published, score: 0, snippet: "…疆电入川工程…",
                                highlights: [HighlightRange(start: 1, end: 5)]),
                            record: ArticleRecord(Fixtures.minimalArticle))), id: 7, more: true),
                kind: "response"))
        vectors.append(
            Valid(
                name: "watch_event_deleted", note: "WATCH_EVENT: an article was deleted (the hit holds its id)",
                bytes: encodeResponse(
                    .watchEvent(
                        WatchEventMessage(
                            position: 300, kind: .deleted,
                            hit: SearchHit(id: "b2", title: "", source: nil, publishedAt: nil, score: 0))), id: 7,
                    more: true),
                kind: "response"))
        vectors.append(
            Valid(
                name: "watch_end_overloaded",
                note: "ERROR ending a WATCH whose buffer filled: retryable, with the position to resume after",
                bytes: encodeResponse(
                    .error(
                        ProtocolError(
                            code: .overloaded, message: "watch buffer full", retryAfterMillis: 100, position: 300)),
                    id: 7),
                kind: "response"))
        vectors.append(
            Valid(
                name: "watch_unknown_position", note: "ERROR answering a WATCH whose position is from another store",
                bytes: encodeResponse(
                    .error(ProtocolError(code: .unknownPosition, message: "position from another store")), id: 8),
                kind: "response"))
        vectors.append(
            Valid(
                name: "watch_event_unmatched",
                note: "WATCH_EVENT: an article the query matched was updated and no longer matches (hit: the new version)",
                bytes: encodeResponse(
                    .watchEvent(
                        WatchEventMessage(
                            position: 301, kind: .unmatched,
                            hit: SearchHit(
                                id: "xwlb-20240408-03", title: "特高压工程投运", source: "央视网《新闻联播》",
                                publishedAt: Fixtures.published, score: 0))), id: 7, more: true),
                kind: "response"))
        return vectors
    }

    struct Invalid {
        var name: String
        var note: String
        var bytes: [UInt8]
        var limits: FrameLimits = .default
        var stage: String
        var code: ProtocolError.Code
        var requestID: UInt32?
    }

    static func frame(
        version: UInt8 = 1, flags: UInt8 = 0, opcode: UInt16, id: UInt32, payload: [UInt8],
        length: UInt32? = nil
    ) -> [UInt8] {
        var buffer = ByteBuffer()
        buffer.writeMultipleIntegers(
            version, flags, opcode, id, length ?? UInt32(payload.count), endianness: .big)
        buffer.writeBytes(payload)
        return Array(buffer.readableBytesView)
    }

    static func zlib(_ bytes: [UInt8]) -> [UInt8] {
        let deflater = Deflater(level: 6)
        var out = ByteBuffer()
        deflater.compress(ByteBuffer(bytes: bytes), into: &out)
        return Array(out.readableBytesView)
    }

    static func be32(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }

    static var invalidVectors: [Invalid] {
        let get: UInt16 = 0x0003
        let text = Array("疆电入川 特高压 ".utf8)
        let textZ = zlib(Array(repeating: text, count: 20).flatMap { $0 })
        let bomb = zlib([UInt8](repeating: 0, count: 1 << 20))
        var corrupted = textZ
        corrupted[6] ^= 0xFF
        corrupted[7] ^= 0xFF
        let small = FrameLimits(maxFrameLength: 65_536, maxDecompressedLength: 65_536)
        return [
            Invalid(
                name: "unsupported_version", note: "header version 9",
                bytes: frame(version: 9, opcode: get, id: 7, payload: [0x0A, 0x02, 0x61, 0x31]), stage: "frame",
                code: .unsupportedVersion, requestID: 7),
            Invalid(
                name: "reserved_flag", note: "flag bit 0x04 is reserved",
                bytes: frame(flags: 0x04, opcode: get, id: 7, payload: [0x0A, 0x02, 0x61, 0x31]), stage: "frame",
                code: .protocolError, requestID: 7),
            Invalid(
                name: "frame_too_large", note: "header alone declares 16 MiB + 1; rejected before any payload arrives",
                bytes: frame(opcode: 0x0008, id: 8, payload: [], length: (16 << 20) + 1), stage: "frame",
                code: .frameTooLarge, requestID: 8),
            Invalid(
                name: "compressed_too_short", note: "compressed flag with a 2-byte payload (no room for the length)",
                bytes: frame(flags: 0x01, opcode: get, id: 9, payload: [0, 0]), stage: "frame",
                code: .protocolError, requestID: 9),
            Invalid(
                name: "bomb_declared_too_large",
                note: "1 KiB zlib stream of 1 MiB zeros declaring 1 MiB; limit 64 KiB: refused before inflating",
                bytes: frame(flags: 0x01, opcode: 0x0008, id: 10, payload: be32(1 << 20) + bomb), limits: small,
                stage: "frame", code: .decompressedTooLarge, requestID: 10),
            Invalid(
                name: "bomb_lying_length",
                note: "the same stream declaring 1000 bytes: inflation stops at the declared size",
                bytes: frame(flags: 0x01, opcode: 0x0008, id: 11, payload: be32(1000) + bomb), limits: small,
                stage: "frame", code: .decompressionFailed, requestID: 11),
            Invalid(
                name: "zlib_corrupted", note: "two bytes of the deflate data flipped",
                bytes: frame(flags: 0x01, opcode: get, id: 12, payload: be32(UInt32(text.count * 20)) + corrupted),
                stage: "frame", code: .decompressionFailed, requestID: 12),
            Invalid(
                name: "zlib_truncated", note: "zlib stream cut short by 5 bytes",
                bytes: frame(
                    flags: 0x01, opcode: get, id: 13,
                    payload: be32(UInt32(text.count * 20)) + textZ.dropLast(5)), stage: "frame",
                code: .decompressionFailed, requestID: 13),
            Invalid(
                name: "zlib_trailing_bytes", note: "two bytes after the end of the zlib stream",
                bytes: frame(
                    flags: 0x01, opcode: get, id: 14, payload: be32(UInt32(text.count * 20)) + textZ + [0, 0]),
                stage: "frame", code: .decompressionFailed, requestID: 14),
            Invalid(
                name: "zlib_declared_longer", note: "declared length 1 byte more than the stream inflates to",
                bytes: frame(
                    flags: 0x01, opcode: get, id: 15, payload: be32(UInt32(text.count * 20) + 1) + textZ),
                stage: "frame", code: .decompressionFailed, requestID: 15),
            Invalid(
                name: "request_more_to_follow",
                note: "a GET request with the more-to-follow flag (requests are single frames)",
                bytes: frame(flags: 0x02, opcode: get, id: 30, payload: [0x0A, 0x02, 0x61, 0x31]), stage: "message",
                code: .malformedMessage, requestID: 30),
            Invalid(
                name: "unknown_opcode", note: "request opcode 0x0042 is not defined in v1; the connection survives",
                bytes: frame(opcode: 0x0042, id: 16, payload: []), stage: "message", code: .unknownOpcode,
                requestID: 16),
            Invalid(
                name: "invalid_utf8", note: "GET id bytes C3 28 are not UTF-8",
                bytes: frame(opcode: get, id: 17, payload: [0x0A, 0x02, 0xC3, 0x28]), stage: "message",
                code: .malformedMessage, requestID: 17),
            Invalid(
                name: "varint_too_long", note: "11-byte varint as the GET field tag",
                bytes: frame(opcode: get, id: 18, payload: [UInt8](repeating: 0xFF, count: 10) + [0x01]),
                stage: "message", code: .malformedMessage, requestID: 18),
            Invalid(
                name: "varint_overflow", note: "10-byte varint whose last byte is 0x02 (above 2^64-1)",
                bytes: frame(
                    opcode: 0x0006, id: 19,
                    payload: [0x0A, 0x01, 0x61, 0x10] + [UInt8](repeating: 0xFF, count: 9) + [0x02]),
                stage: "message", code: .malformedMessage, requestID: 19),
            Invalid(
                name: "varint_truncated", note: "payload ends inside a varint",
                bytes: frame(opcode: 0x0006, id: 20, payload: [0x0A, 0x01, 0x61, 0x10, 0x80]), stage: "message",
                code: .malformedMessage, requestID: 20),
            Invalid(
                name: "length_past_end", note: "string length 5 with 2 bytes left",
                bytes: frame(opcode: get, id: 21, payload: [0x0A, 0x05, 0x61, 0x31]), stage: "message",
                code: .malformedMessage, requestID: 21),
            Invalid(
                name: "missing_required_field", note: "GET without field 1 (id)",
                bytes: frame(opcode: get, id: 22, payload: []), stage: "message", code: .malformedMessage,
                requestID: 22),
            Invalid(
                name: "wrong_wire_type", note: "GET field 1 sent as a varint",
                bytes: frame(opcode: get, id: 23, payload: [0x08, 0x01]), stage: "message",
                code: .malformedMessage, requestID: 23),
            Invalid(
                name: "group_wire_type", note: "wire type 3 (protobuf groups) is not allowed",
                bytes: frame(opcode: get, id: 24, payload: [0x0B]), stage: "message", code: .malformedMessage,
                requestID: 24),
            Invalid(
                name: "field_number_zero", note: "tag 0x02: field number 0",
                bytes: frame(opcode: get, id: 25, payload: [0x02, 0x00]), stage: "message", code: .malformedMessage,
                requestID: 25),
            Invalid(
                name: "bad_boolean", note: "INGEST dry_run = 2",
                bytes: frame(opcode: 0x0007, id: 26, payload: [0x0A, 0x00, 0x20, 0x02]), stage: "message",
                code: .malformedMessage, requestID: 26),
            Invalid(
                name: "unknown_sort", note: "SEARCH sort = 9",
                bytes: frame(opcode: 0x0005, id: 27, payload: [0x0A, 0x01, 0x78, 0x28, 0x09]), stage: "message",
                code: .malformedMessage, requestID: 27),
            Invalid(
                name: "odd_highlights", note: "SEARCH_RESULT hit with three highlight offsets",
                bytes: frame(
                    opcode: 0x8005, id: 28, payload: [0x12, 0x08, 0x0A, 0x01, 0x61, 0x3A, 0x03, 0x01, 0x02, 0x03]),
                stage: "message", code: .malformedMessage, requestID: 28),
            Invalid(
                name: "record_without_id", note: "ARTICLE whose record has a title but no id",
                bytes: frame(opcode: 0x8003, id: 29, payload: [0x0A, 0x03, 0x1A, 0x01, 0x74]), stage: "record",
                code: .malformedMessage, requestID: 29),
            Invalid(
                name: "watch_unknown_start", note: "WATCH with start 3 (only 0, 1 and 2 exist)",
                bytes: frame(opcode: 0x000D, id: 31, payload: [0x0A, 0x01, 0x61, 0x28, 0x03]), stage: "message",
                code: .malformedMessage, requestID: 31),
        ]
    }

    /// The worked example session of PROTOCOL.md §11, frame by frame.
    static var session: [(direction: String, note: String, bytes: ByteBuffer)] {
        let hello = HelloMessage(clientName: "demo", compressions: [.zlib])
        let welcome = WelcomeMessage(serverName: "newswired/1.0", compression: .zlib)
        return [
            ("C→S", "HELLO: versions 1...1, client demo, accepts zlib", encodeRequest(.hello(hello), id: 0)),
            (
                "S→C", "WELCOME: version 1, zlib above 1024 bytes, server limits",
                encodeResponse(.welcome(welcome), id: 0)
            ),
            ("C→S", "GET a1 (request 1)", encodeRequest(.get(GetMessage(id: "a1")), id: 1)),
            (
                "C→S", "PING 0x2a (request 2), pipelined",
                encodeRequest(.ping(PingMessage(payload: ByteBuffer(bytes: [0x2A]))), id: 2)
            ),
            (
                "S→C", "PONG for request 2, before request 1's answer",
                encodeResponse(.pong(PingMessage(payload: ByteBuffer(bytes: [0x2A]))), id: 2)
            ),
            (
                "S→C", "ARTICLE for request 1",
                encodeResponse(.article(ArticleMessage(Article(id: "a1", title: "Hello 你好"))), id: 1)
            ),
            ("C→S", "GET nope (request 3)", encodeRequest(.get(GetMessage(id: "nope")), id: 3)),
            (
                "S→C", "ERROR NOT_FOUND for request 3",
                encodeResponse(.error(ProtocolError(code: .notFound, message: "no article has id nope")), id: 3)
            ),
            (
                "C→S", "SCAN by id, ids only, limit 3 (request 4)",
                encodeRequest(.scan(ScanMessage(order: .byID, limit: 3, idsOnly: true)), id: 4)
            ),
            (
                "S→C", "SCAN_BATCH, more to follow",
                encodeResponse(.scanBatch(ScanBatchMessage(ids: ["a1", "a2"])), id: 4, more: true)
            ),
            (
                "S→C", "final SCAN_BATCH with the cursor to resume from",
                encodeResponse(.scanBatch(ScanBatchMessage(ids: ["a3"], nextCursor: ByteBuffer(string: "a3"))), id: 4)
            ),
            (
                "S→C", "GOAWAY: shutting down, 5 s grace",
                encodeResponse(
                    .goAway(GoAwayMessage(code: .shuttingDown, message: "server shutting down", graceMillis: 5000)),
                    id: RequestID.connection.rawValue)
            ),
        ]
    }

    static func sessionDocument() throws -> [String: Any] {
        var frames: [[String: Any]] = []
        for (direction, note, bytes) in session {
            var wire = bytes
            var decoder = NewswireFrameDecoder()
            let frame = try #require(try decoder.decode(buffer: &wire))
            let meaning =
                frame.opcode.isResponse
                ? try Meaning.describe(Response(frame: frame)) : try Meaning.describe(Request(frame: frame))
            frames.append([
                "direction": direction, "note": note, "hex": hex(bytes.readableBytesView),
                "opcode": frame.opcode.name, "requestId": Int(frame.requestID.rawValue),
                "flags": flagNames(frame.header.flags), "meaning": meaning,
            ])
        }
        return ["description": "The worked example session of PROTOCOL.md §11, in order.", "frames": frames]
    }
}
