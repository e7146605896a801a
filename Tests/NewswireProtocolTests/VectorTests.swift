import Foundation
import NIOCore
import NewswireModel
import Testing

@testable import NewswireProtocol

/// The committed test vectors in proto-docs/vectors/ (PROTOCOL.md §12).
///
/// Normal runs compare the vectors generated from ``Fixtures`` with the committed files byte for byte, and
/// decode every committed vector independently. `NEWSWIRE_WRITE_VECTORS=1 swift test --filter VectorTests`
/// rewrites the files after an intentional codec change.
@Suite("Test vectors")
struct VectorTests {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("proto-docs/vectors")
    static let writing = ProcessInfo.processInfo.environment["NEWSWIRE_WRITE_VECTORS"] == "1"

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

    // MARK: Rendering

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    static func flagNames(_ flags: FrameFlags) -> [String] {
        var names: [String] = []
        if flags.contains(.compressed) { names.append("COMPRESSED") }
        if flags.contains(.moreToFollow) { names.append("MORE_TO_FOLLOW") }
        return names
    }

    static func render(_ object: Any) -> String {
        let data = try! JSONSerialization.data(
            withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    static func validDocument() throws -> [String: Any] {
        var entries: [[String: Any]] = []
        for vector in validVectors {
            var wire = vector.bytes
            var decoder = NewswireFrameDecoder()
            let frame = try #require(try decoder.decode(buffer: &wire))
            let header = frame.header
            var entry: [String: Any] = [
                "name": vector.name, "note": vector.note, "kind": vector.kind,
                "hex": hex(vector.bytes.readableBytesView),
                "header": [
                    "version": Int(header.version), "flags": flagNames(header.flags), "opcode": header.opcode.name,
                    "opcodeValue": Int(header.opcode.rawValue), "requestId": Int(header.requestID.rawValue),
                    "payloadLength": Int(header.payloadLength),
                ] as [String: Any],
                "payloadHex": hex(frame.payload.readableBytesView),
            ]
            if frame.wasCompressed { entry["uncompressedLength"] = frame.payload.readableBytes }
            entry["meaning"] =
                vector.kind == "request"
                ? try Meaning.describe(Request(frame: frame)) : try Meaning.describe(Response(frame: frame))
            entries.append(entry)
        }
        return [
            "description": "Valid Newswire v1 frames. hex is the whole frame; payloadHex the payload after "
                + "inflating; meaning the decoded message (PROTOCOL.md §12).",
            "zlibVersion": linkedZlibVersion, "zlibLevel": 6, "vectors": entries,
        ]
    }

    static func invalidDocument() -> [String: Any] {
        let entries: [[String: Any]] = invalidVectors.map { vector in
            [
                "name": vector.name, "note": vector.note, "hex": hex(vector.bytes), "stage": vector.stage,
                "limits": [
                    "maxFrameLength": Int(vector.limits.maxFrameLength),
                    "maxDecompressedLength": Int(vector.limits.maxDecompressedLength),
                ],
                "error": [
                    "code": Int(vector.code.rawValue), "codeName": vector.code.name,
                    "requestId": vector.requestID.map { Int($0) } ?? NSNull(),
                    "closesConnection": vector.code.closesConnection,
                ] as [String: Any],
            ]
        }
        return [
            "description": "Invalid Newswire v1 input. stage says which step rejects it: frame (the frame "
                + "decoder, connection closes), message (payload decoding, connection survives) or record (an "
                + "article record inside a valid response). error is what the receiver reports (PROTOCOL.md §12).",
            "vectors": entries,
        ]
    }

    static func committed(_ file: String) throws -> [String: Any] {
        let data = try Data(contentsOf: directory.appendingPathComponent(file))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    static func bytes(fromHex hex: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            bytes.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }

    // MARK: Tests

    @Test("generated vectors match the committed files byte for byte")
    func generatedMatchCommitted() throws {
        let valid = try Self.validDocument()
        let invalid = Self.invalidDocument()
        if Self.writing {
            try FileManager.default.createDirectory(at: Self.directory, withIntermediateDirectories: true)
            try Self.render(valid).write(
                to: Self.directory.appendingPathComponent("valid.json"), atomically: true, encoding: .utf8)
            try Self.render(invalid).write(
                to: Self.directory.appendingPathComponent("invalid.json"), atomically: true, encoding: .utf8)
            try Self.render(try Self.sessionDocument()).write(
                to: Self.directory.appendingPathComponent("session.json"), atomically: true, encoding: .utf8)
        }
        #expect(
            Self.render(try Self.sessionDocument()) == Self.render(try Self.committed("session.json")),
            "session.json differs from the codec's output")
        let committedValid = try Self.committed("valid.json")
        let committedInvalid = try Self.committed("invalid.json")
        #expect(Self.render(invalid) == Self.render(committedInvalid), "invalid.json differs from the codec's output")

        let sameZlib = committedValid["zlibVersion"] as? String == linkedZlibVersion
        let generated = valid["vectors"] as! [[String: Any]]
        let stored = committedValid["vectors"] as! [[String: Any]]
        #expect(generated.count == stored.count)
        for (mine, theirs) in zip(generated, stored) {
            let compressed = (mine["header"] as! [String: Any])["flags"] as! [String] != []
            if compressed && !sameZlib {
                // Another zlib may deflate differently; the payload and meaning must still agree.
                #expect(mine["payloadHex"] as? String == theirs["payloadHex"] as? String, "\(mine["name"]!)")
                #expect(Self.render(mine["meaning"]!) == Self.render(theirs["meaning"]!), "\(mine["name"]!)")
            } else {
                #expect(Self.render(mine) == Self.render(theirs), "vector \(mine["name"]!) differs")
            }
        }
    }

    @Test("every committed valid vector decodes to its stated header, payload and meaning")
    func committedValidDecode() throws {
        let stored = try Self.committed("valid.json")["vectors"] as! [[String: Any]]
        #expect(stored.count >= 30)
        for vector in stored {
            let name = vector["name"] as! String
            var wire = ByteBuffer(bytes: Self.bytes(fromHex: vector["hex"] as! String))
            var decoder = NewswireFrameDecoder()
            let frame = try #require(try decoder.decode(buffer: &wire), "\(name)")
            #expect(wire.readableBytes == 0, "\(name): bytes left after the frame")
            let header = vector["header"] as! [String: Any]
            #expect(Int(frame.header.version) == header["version"] as! Int)
            #expect(Self.flagNames(frame.header.flags) == header["flags"] as! [String], "\(name)")
            #expect(Int(frame.opcode.rawValue) == header["opcodeValue"] as! Int, "\(name)")
            #expect(frame.opcode.name == header["opcode"] as! String, "\(name)")
            #expect(Int(frame.requestID.rawValue) == header["requestId"] as! Int, "\(name)")
            #expect(Int(frame.header.payloadLength) == header["payloadLength"] as! Int, "\(name)")
            #expect(Self.hex(frame.payload.readableBytesView) == vector["payloadHex"] as! String, "\(name)")
            let meaning =
                vector["kind"] as! String == "request"
                ? try Meaning.describe(Request(frame: frame)) : try Meaning.describe(Response(frame: frame))
            #expect(Self.render(meaning) == Self.render(vector["meaning"]!), "\(name): decoded meaning differs")
        }
    }

    @Test("every committed invalid vector fails with its documented error")
    func committedInvalidFail() throws {
        let stored = try Self.committed("invalid.json")["vectors"] as! [[String: Any]]
        #expect(stored.count >= 20)
        for vector in stored {
            let name = vector["name"] as! String
            let limitsObject = vector["limits"] as! [String: Any]
            let limits = FrameLimits(
                maxFrameLength: UInt32(limitsObject["maxFrameLength"] as! Int),
                maxDecompressedLength: UInt32(limitsObject["maxDecompressedLength"] as! Int))
            let expected = vector["error"] as! [String: Any]
            let stage = vector["stage"] as! String
            var wire = ByteBuffer(bytes: Self.bytes(fromHex: vector["hex"] as! String))
            var decoder = NewswireFrameDecoder(limits: limits)
            var failure: ProtocolError?
            var failedAt = "none"
            do {
                let frame = try #require(try decoder.decode(buffer: &wire), "\(name): incomplete frame")
                failedAt = "message"
                if frame.opcode.isResponse {
                    let response = try Response(frame: frame)
                    failedAt = "record"
                    if case .article(let message) = response { _ = try message.record.decode() }
                } else {
                    _ = try Request(frame: frame)
                }
                failedAt = "none"
            } catch let error as ProtocolError {
                failure = error
                if failedAt == "none" { failedAt = "frame" }
            }
            let error = try #require(failure, "\(name) was accepted")
            #expect(failedAt == stage, "\(name)")
            #expect(Int(error.code.rawValue) == expected["code"] as! Int, "\(name): \(error)")
            #expect(error.code.closesConnection == expected["closesConnection"] as! Bool)
            if stage != "record" {
                #expect(error.requestID.map { Int($0.rawValue) } == expected["requestId"] as? Int, "\(name)")
            }
            #expect(!error.message.isEmpty)
        }
    }
}
