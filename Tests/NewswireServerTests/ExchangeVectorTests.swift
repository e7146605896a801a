import Foundation
import NIOCore
import NewswireModel
import NewswireProtocol
import NewswireServer
import NewswireTestSupport
import Testing

/// `proto-docs/vectors/exchanges.json`: what a server answers, request by request, for the rules a byte-exact
/// round trip cannot show (values that saturate, limits announced in HELLO, defaults for zero, orders).
///
/// The file is generated from ``ExchangeVectors/exchanges`` and compared byte for byte with the committed one;
/// then the committed file, not the Swift definitions, is played against a real server, so the file is what is
/// checked. `python3 proto-docs/reference/check_vectors.py --server HOST:PORT` plays the same file against any
/// running server.
enum ExchangeVectors {
    /// One expected answer: the frames a request id gets, up to the one without MORE_TO_FOLLOW.
    struct Answer {
        var requestID: UInt32
        var opcode: Opcode
        var error: ProtocolError.Code? = nil
        /// SEARCH_RESULT: the total and the number of hits.
        var total: Int? = nil
        var hits: Int? = nil
        /// SCAN_BATCH or ARTICLES: every id of the stream's frames, in order.
        var ids: [String]? = nil
        /// PUT_RESULT: how many were created.
        var created: Int? = nil
        /// PUT_RESULT: the batch positions of the rejected records, in order.
        var rejected: [Int]? = nil
        /// SEARCH_RESULT: the first facet's counts.
        var facetCounts: [String: Int]? = nil
        /// SEARCH_RESULT: every hit's snippet has at least this many characters.
        var snippetCharactersAtLeast: Int? = nil
        /// Every frame's payload is at most this many bytes on the wire.
        var payloadBytesAtMost: Int? = nil
        /// SCAN_BATCH: whether the final frame's next_cursor is empty (true) or not (false).
        var nextCursorEmpty: Bool? = nil
        /// SEARCH_RESULT: whether every hit's score is 0 (true) or every hit's is above 0 (false).
        var scoresZero: Bool? = nil

        func json() -> [String: Any] {
            var d: [String: Any] = ["requestId": Int(requestID), "opcode": opcode.name]
            if let error {
                d["code"] = Int(error.rawValue)
                d["codeName"] = error.name
            }
            if let total { d["total"] = total }
            if let hits { d["hits"] = hits }
            if let ids { d["ids"] = ids }
            if let created { d["created"] = created }
            if let rejected { d["rejected"] = rejected }
            if let facetCounts { d["facetCounts"] = facetCounts }
            if let snippetCharactersAtLeast { d["snippetCharactersAtLeast"] = snippetCharactersAtLeast }
            if let payloadBytesAtMost { d["payloadBytesAtMost"] = payloadBytesAtMost }
            if let nextCursorEmpty { d["nextCursorEmpty"] = nextCursorEmpty }
            if let scoresZero { d["scoresZero"] = scoresZero }
            return d
        }
    }

    struct Step {
        var note: String
        var bytes: ByteBuffer
        var expect: [Answer]
    }

    struct Exchange {
        var name: String
        var section: String
        var note: String
        var steps: [Step]
        /// "open": the connection stays usable; "closed": the server closes it after the answers, sending nothing more.
        var end: String
    }

    static let maxVarint: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]  // 2^64 - 1
    static let twoTo63: [UInt8] = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]  // 2^63

    static func frame(_ opcode: Opcode, id: UInt32, payload: [UInt8], flags: UInt8 = 0) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(1))
        buffer.writeInteger(flags)
        buffer.writeInteger(opcode.rawValue)
        buffer.writeInteger(id)
        buffer.writeInteger(UInt32(payload.count))
        buffer.writeBytes(payload)
        return buffer
    }

    static func request(_ request: Request, id: UInt32, compression: CompressionSettings = .disabled) -> ByteBuffer {
        var encoder = FrameEncoder(compression: compression)
        var buffer = ByteBuffer()
        encoder.encode(request, requestID: RequestID(id), into: &buffer)
        return buffer
    }

    static func hello(maxFrameLength: UInt32 = 0, zlib: Bool = false) -> Step {
        Step(
            note: "HELLO, max_frame_length \(maxFrameLength)" + (zlib ? ", accepts zlib" : ""),
            bytes: request(
                .hello(
                    HelloMessage(
                        clientName: "exchange-vectors", compressions: zlib ? [.zlib] : [],
                        maxFrameLength: maxFrameLength)), id: 0),
            expect: [Answer(requestID: 0, opcode: .welcome)])
    }

    static func ping(id: UInt32) -> Step {
        Step(
            note: "PING: the connection is still served", bytes: request(.ping(PingMessage()), id: id),
            expect: [Answer(requestID: id, opcode: .pong)])
    }

    static func field(_ number: UInt8, string: String) -> [UInt8] {
        let bytes = Array(string.utf8)
        precondition(bytes.count < 128)
        return [number << 3 | 2, UInt8(bytes.count)] + bytes
    }

    static func field(_ number: UInt8, varint: [UInt8]) -> [UInt8] { [number << 3] + varint }

    static let day: Int64 = 86_400
    static let january1: Int64 = 1_704_067_200  // 2024-01-01T00:00:00Z

    /// Three short articles about 能源 (one undated) and three long ones about 电网, each over 20 KB.
    static var articles: [Article] {
        let energy = String(repeating: "能源合作推动区域电力互联互通，绿色发展成效明显。", count: 8)
        let grid = String(repeating: "特高压电网建设持续推进，输电能力稳步提升，惠及沿线群众。", count: 260)
        func dated(_ days: Int64) -> PublishedTime {
            PublishedTime(secondsSinceEpoch: january1 + days * day, utcOffsetSeconds: 28_800)
        }
        return [
            Article(
                id: ArticleID("x1"), title: "能源合作 一", publishedAt: dated(1), source: "来源甲", paragraphs: [energy], language: "zh"),
            Article(
                id: ArticleID("x2"), title: "能源合作 二", publishedAt: dated(0), source: "来源甲", paragraphs: [energy], language: "zh"),
            Article(id: ArticleID("x3"), title: "能源合作 三", source: "来源乙", paragraphs: [energy], language: "zh"),
            Article(
                id: ArticleID("x4"), title: "电网 四", publishedAt: dated(31), source: "来源丙", paragraphs: [grid], language: "zh"),
            Article(
                id: ArticleID("x5"), title: "电网 五", publishedAt: dated(32), source: "来源丙", paragraphs: [grid], language: "zh"),
            Article(
                id: ArticleID("x6"), title: "电网 六", publishedAt: dated(33), source: "来源丙", paragraphs: [grid], language: "zh"),
        ]
    }

    static var exchanges: [Exchange] {
        let energy = field(1, string: "能源")
        let zlib = CompressionSettings(algorithm: .zlib, threshold: 0, level: 6)
        let compressedPing: ByteBuffer = {
            var encoder = FrameEncoder(compression: zlib)
            var buffer = ByteBuffer()
            encoder.encode(.ping(PingMessage(payload: ByteBuffer(repeating: 0x2A, count: 64))), requestID: RequestID(5), into: &buffer)
            return buffer
        }()
        return [
            Exchange(
                name: "setup_six_articles", section: "§5.12",
                note: "Stores the articles the later exchanges read: x1..x3 about 能源 (x3 undated), x4..x6 over 20 KB "
                    + "each. The PUT is compressed, as a client that negotiated zlib may send it.",
                steps: [
                    hello(zlib: true),
                    Step(
                        note: "PUT x1..x6, zlib", bytes: request(.put(PutMessage(articles: articles)), id: 1, compression: zlib),
                        expect: [Answer(requestID: 1, opcode: .putResult, created: 6)]),
                ], end: "open"),
            Exchange(
                name: "hello_max_frame_length_zero", section: "§6.1",
                note: "max_frame_length 0 means the default (16 MiB)",
                steps: [hello(maxFrameLength: 0), ping(id: 1)], end: "open"),
            Exchange(
                name: "hello_max_frame_length_minimum", section: "§6.1",
                note: "65536 is the smallest max_frame_length a client may announce",
                steps: [hello(maxFrameLength: 65_536), ping(id: 1)], end: "open"),
            Exchange(
                name: "hello_max_frame_length_below_minimum", section: "§6.1",
                note: "65535 is below the minimum: ERROR PROTOCOL_ERROR on HELLO's id instead of WELCOME, then close",
                steps: [
                    Step(
                        note: "HELLO, max_frame_length 65535",
                        bytes: request(
                            .hello(HelloMessage(clientName: "exchange-vectors", maxFrameLength: 65_535)), id: 0),
                        expect: [Answer(requestID: 0, opcode: .error, error: .protocolError)])
                ], end: "closed"),
            Exchange(
                name: "search_limit_max_uint64", section: "§5.1, §5.3",
                note: "a SEARCH limit of 2^64-1 is not malformed: it is beyond the limit, LIMIT_EXCEEDED",
                steps: [
                    hello(),
                    Step(
                        note: "SEARCH 能源, limit 2^64-1", bytes: frame(.search, id: 1, payload: energy + field(7, varint: maxVarint)),
                        expect: [Answer(requestID: 1, opcode: .error, error: .limitExceeded)]),
                    Step(
                        note: "SEARCH 能源, limit 2^63", bytes: frame(.search, id: 2, payload: energy + field(7, varint: twoTo63)),
                        expect: [Answer(requestID: 2, opcode: .error, error: .limitExceeded)]),
                    ping(id: 3),
                ], end: "open"),
            Exchange(
                name: "search_offset_max_uint64", section: "§5.1, §5.3",
                note: "an offset of 2^64-1 is past every hit, in every sort order: an empty page with the full total",
                steps: [
                    hello(),
                    Step(
                        note: "SEARCH 能源, offset 2^64-1, limit 10",
                        bytes: frame(.search, id: 1, payload: energy + field(6, varint: maxVarint) + field(7, varint: [10])),
                        expect: [Answer(requestID: 1, opcode: .searchResult, total: 3, hits: 0)]),
                    Step(
                        note: "the same sorted newest first (sort 1)",
                        bytes: frame(
                            .search, id: 2,
                            payload: energy + field(5, varint: [1]) + field(6, varint: maxVarint) + field(7, varint: [10])),
                        expect: [Answer(requestID: 2, opcode: .searchResult, total: 3, hits: 0)]),
                    Step(
                        note: "oldest first (sort 2), offset 2^62",
                        bytes: frame(
                            .search, id: 3,
                            payload: energy + field(5, varint: [2]) + field(6, varint: [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40])
                                + field(7, varint: [10])),
                        expect: [Answer(requestID: 3, opcode: .searchResult, total: 3, hits: 0)]),
                    ping(id: 4),
                ], end: "open"),
            Exchange(
                name: "related_limit_max_uint64", section: "§5.1, §5.7",
                note: "a RELATED limit of 2^64-1 is beyond the limit: LIMIT_EXCEEDED",
                steps: [
                    hello(),
                    Step(
                        note: "RELATED x1, limit 2^64-1",
                        bytes: frame(.related, id: 1, payload: field(1, string: "x1") + field(2, varint: maxVarint)),
                        expect: [Answer(requestID: 1, opcode: .error, error: .limitExceeded)]),
                ], end: "open"),
            Exchange(
                name: "scan_limit_max_uint64", section: "§5.1, §5.15",
                note: "a SCAN limit of 2^64-1 is no limit in practice: the whole stream",
                steps: [
                    hello(),
                    Step(
                        note: "SCAN by id, ids only, limit 2^64-1",
                        bytes: frame(
                            .scan, id: 1, payload: field(1, varint: [1]) + field(5, varint: maxVarint) + field(6, varint: [1])),
                        expect: [Answer(requestID: 1, opcode: .scanBatch, ids: ["x1", "x2", "x3", "x4", "x5", "x6"])]),
                ], end: "open"),
            Exchange(
                name: "scan_by_date_undated_last", section: "§5.15",
                note: "SCAN by date: oldest first, undated articles last",
                steps: [
                    hello(),
                    Step(
                        note: "SCAN by date, ids only",
                        bytes: frame(.scan, id: 1, payload: field(1, varint: [0]) + field(6, varint: [1])),
                        expect: [Answer(requestID: 1, opcode: .scanBatch, ids: ["x2", "x1", "x4", "x5", "x6", "x3"])]),
                ], end: "open"),
            Exchange(
                name: "zero_means_default", section: "§5.3, §5.6",
                note: "snippet_length 0 and facet_limit 0 mean the server's defaults, not zero",
                steps: [
                    hello(),
                    Step(
                        note: "SEARCH 能源, limit 3, snippets with snippet_length 0, facet source with facet_limit 0",
                        bytes: frame(
                            .search, id: 1,
                            payload: energy + field(7, varint: [3]) + field(8, varint: [1]) + field(9, varint: [0])
                                + field(10, varint: [0]) + field(11, varint: [0])),
                        expect: [
                            Answer(
                                requestID: 1, opcode: .searchResult, total: 3, hits: 3,
                                facetCounts: ["来源甲": 2, "来源乙": 1], snippetCharactersAtLeast: 20)
                        ]),
                ], end: "open"),
            Exchange(
                name: "answers_fit_max_frame_length", section: "§3.5, §6.1",
                note: "a client that announced 65536 gets no frame over 65536 bytes: a 3-article answer of over 60 KB "
                    + "arrives as a stream of frames that each fit",
                steps: [
                    hello(maxFrameLength: 65_536),
                    Step(
                        note: "GET_MANY x4 x5 x6",
                        bytes: request(.getMany(GetManyMessage(ids: ["x4", "x5", "x6"].map { ArticleID($0) })), id: 1),
                        expect: [
                            Answer(requestID: 1, opcode: .articles, ids: ["x4", "x5", "x6"], payloadBytesAtMost: 65_536)
                        ]),
                    Step(
                        note: "SCAN by id, whole articles",
                        bytes: frame(.scan, id: 2, payload: field(1, varint: [1])),
                        expect: [
                            Answer(
                                requestID: 2, opcode: .scanBatch, ids: ["x1", "x2", "x3", "x4", "x5", "x6"],
                                payloadBytesAtMost: 65_536)
                        ]),
                ], end: "open"),
            Exchange(
                name: "compressed_frame_without_compression", section: "§6.1",
                note: "a compressed frame on a connection whose WELCOME chose no compression: PROTOCOL_ERROR on its id, "
                    + "then close",
                steps: [
                    hello(),
                    Step(
                        note: "PING with the COMPRESSED flag", bytes: compressedPing,
                        expect: [Answer(requestID: 5, opcode: .error, error: .protocolError)]),
                ], end: "closed"),
            Exchange(
                name: "corrupt_compressed_frame_without_compression", section: "§6.3, §10",
                note: "a compressed frame is refused for being compressed before its content is looked at: a corrupt "
                    + "zlib stream on a connection without compression is PROTOCOL_ERROR, not DECOMPRESSION_FAILED",
                steps: [
                    hello(),
                    Step(
                        note: "PING with the COMPRESSED flag, declaring 3 bytes, a corrupt zlib stream",
                        bytes: frame(.ping, id: 6, payload: [0, 0, 0, 3, 0x78, 0x9C, 0xFF, 0xFF, 0xFF], flags: 0x01),
                        expect: [Answer(requestID: 6, opcode: .error, error: .protocolError)]),
                ], end: "closed"),
            Exchange(
                name: "compressed_bomb_before_hello", section: "§6.3, §10",
                note: "a compressed first frame declaring 4 GiB is PROTOCOL_ERROR (the first frame must be an "
                    + "uncompressed HELLO), not DECOMPRESSED_TOO_LARGE, and it is not inflated",
                steps: [
                    Step(
                        note: "PING with the COMPRESSED flag, declaring 0xFFFFFFF0 bytes",
                        bytes: frame(
                            .ping, id: 3,
                            payload: [0xFF, 0xFF, 0xFF, 0xF0, 0x78, 0x9C, 0x4B, 0x4C, 0x4A, 0x06, 0x00, 0x02, 0x4D, 0x01, 0x27],
                            flags: 0x01),
                        expect: [Answer(requestID: 3, opcode: .error, error: .protocolError)])
                ], end: "closed"),
            Exchange(
                name: "hello_more_to_follow", section: "§3.5, §2",
                note: "a HELLO with MORE_TO_FOLLOW is MALFORMED_MESSAGE on its id; an ERROR answering HELLO closes",
                steps: [
                    Step(
                        note: "HELLO with the MORE_TO_FOLLOW flag",
                        bytes: {
                            var hello = request(.hello(HelloMessage(clientName: "exchange-vectors")), id: 0)
                            hello.setInteger(UInt8(0x02), at: hello.readerIndex + 1)
                            return hello
                        }(),
                        expect: [Answer(requestID: 0, opcode: .error, error: .malformedMessage)])
                ], end: "closed"),
            Exchange(
                name: "cancel_more_to_follow", section: "§3.5",
                note: "a CANCEL with MORE_TO_FOLLOW is not acted on and is answered MALFORMED_MESSAGE on the "
                    + "connection id (a CANCEL has no answer of its own: its id names the request it would stop)",
                steps: [
                    hello(),
                    Step(
                        note: "CANCEL of request 9 with the MORE_TO_FOLLOW flag",
                        bytes: frame(.cancel, id: 9, payload: [], flags: 0x02),
                        expect: [Answer(requestID: 0xFFFF_FFFF, opcode: .error, error: .malformedMessage)]),
                    ping(id: 1),
                ], end: "open"),
            Exchange(
                name: "scan_cursor_only_with_more_to_go", section: "§5.15",
                note: "next_cursor is non-empty only when the scan stopped at its limit with articles left: a limit "
                    + "equal to what is left ends with an empty cursor",
                steps: [
                    hello(),
                    Step(
                        note: "SCAN by id, ids only, limit 5 of 6",
                        bytes: frame(.scan, id: 1, payload: field(1, varint: [1]) + field(5, varint: [5]) + field(6, varint: [1])),
                        expect: [
                            Answer(
                                requestID: 1, opcode: .scanBatch, ids: ["x1", "x2", "x3", "x4", "x5"], nextCursorEmpty: false)
                        ]),
                    Step(
                        note: "SCAN by id, ids only, limit 6 of 6",
                        bytes: frame(.scan, id: 2, payload: field(1, varint: [1]) + field(5, varint: [6]) + field(6, varint: [1])),
                        expect: [
                            Answer(
                                requestID: 2, opcode: .scanBatch, ids: ["x1", "x2", "x3", "x4", "x5", "x6"],
                                nextCursorEmpty: true)
                        ]),
                ], end: "open"),
            Exchange(
                name: "search_sorted_by_date_has_no_scores", section: "§5.6",
                note: "hits sorted by date carry score 0 (the field is absent); sorted by relevance, BM25 scores",
                steps: [
                    hello(),
                    Step(
                        note: "SEARCH 能源, newest first, limit 10",
                        bytes: frame(.search, id: 1, payload: energy + field(5, varint: [1]) + field(7, varint: [10])),
                        expect: [Answer(requestID: 1, opcode: .searchResult, total: 3, hits: 3, scoresZero: true)]),
                    Step(
                        note: "SEARCH 能源, oldest first, limit 10",
                        bytes: frame(.search, id: 2, payload: energy + field(5, varint: [2]) + field(7, varint: [10])),
                        expect: [Answer(requestID: 2, opcode: .searchResult, total: 3, hits: 3, scoresZero: true)]),
                    Step(
                        note: "SEARCH 能源, by relevance, limit 10",
                        bytes: frame(.search, id: 3, payload: energy + field(7, varint: [10])),
                        expect: [Answer(requestID: 3, opcode: .searchResult, total: 3, hits: 3, scoresZero: false)]),
                ], end: "open"),
            Exchange(
                name: "put_values_a_record_cannot_keep", section: "§5.4, §5.5, §5.13",
                note: "a published_at outside years 0001-9999 of its own offset, or with an offset that is not whole "
                    + "minutes, is a rejected record (it could not be stored exactly); the extremes that can be kept "
                    + "are stored and read back",
                steps: [
                    hello(),
                    Step(
                        note: "PUT z1 (10000-01-01T00:00:00Z), z2 (offset 28830 s), z3 (seconds 2^63-1, offset 1), "
                            + "z4 (9999-12-31T23:59:59Z, clicks -2^63), z5 (0001-01-01T00:00:00-23:59)",
                        bytes: request(
                            .put(
                                PutMessage(articles: [
                                    Article(
                                        id: ArticleID("z1"), title: "时间",
                                        publishedAt: PublishedTime(secondsSinceEpoch: 253_402_300_800)),
                                    Article(
                                        id: ArticleID("z2"), title: "时间",
                                        publishedAt: PublishedTime(secondsSinceEpoch: 1_712_541_840, utcOffsetSeconds: 28_830)),
                                    Article(
                                        id: ArticleID("z3"), title: "时间",
                                        publishedAt: PublishedTime(secondsSinceEpoch: .max, utcOffsetSeconds: 1)),
                                    Article(
                                        id: ArticleID("z4"), title: "时间",
                                        publishedAt: PublishedTime(secondsSinceEpoch: 253_402_300_799), clicks: .min),
                                    Article(
                                        id: ArticleID("z5"), title: "时间",
                                        publishedAt: PublishedTime(
                                            secondsSinceEpoch: -62_135_596_800 + 86_340, utcOffsetSeconds: -86_340)),
                                ])), id: 1),
                        expect: [Answer(requestID: 1, opcode: .putResult, created: 2, rejected: [0, 1, 2])]),
                    Step(
                        note: "GET_MANY z4, z5: both read back",
                        bytes: request(.getMany(GetManyMessage(ids: [ArticleID("z4"), ArticleID("z5")])), id: 2),
                        expect: [Answer(requestID: 2, opcode: .articles, ids: ["z4", "z5"])]),
                    ping(id: 3),
                ], end: "open"),
        ]
    }

    static func hex(_ buffer: ByteBuffer) -> String { VectorFiles.hex(buffer.readableBytesView) }

    static func document() -> [String: Any] {
        [
            "description": "What a server answers, request by request (PROTOCOL.md §12). Play the exchanges in order "
                + "against a server that starts with an empty store and needs no token: each exchange on a new "
                + "connection, each step's frame sent after the previous step's answers arrived. An answer lists "
                + "the request id, the opcode and, where given, the error code and facts about the decoded answer; "
                + "a stream's facts hold for all its frames together. end: open (the connection stays usable) or "
                + "closed (the server closes it and sends nothing more).",
            "exchanges": exchanges.map { exchange in
                [
                    "name": exchange.name, "section": exchange.section, "note": exchange.note, "end": exchange.end,
                    "steps": exchange.steps.map { step in
                        ["note": step.note, "hex": hex(step.bytes), "expect": step.expect.map { $0.json() }] as [String: Any]
                    },
                ] as [String: Any]
            },
        ]
    }

    static var fileURL: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("proto-docs/vectors/exchanges.json")
    }

    static func render(_ object: Any) -> String { VectorFiles.render(object) }

    static func bytes(fromHex hex: String) -> ByteBuffer { ByteBuffer(bytes: VectorFiles.bytes(fromHex: hex)) }

    /// Checks one committed answer against the frames the server sent for its request id.
    static func check(_ expected: [String: Any], against frames: [Frame], in name: String) throws {
        let context = "\(name), request \(expected["requestId"] ?? "?")"
        #expect(frames.allSatisfy { $0.opcode.name == expected["opcode"] as? String }, "\(context): \(frames.map(\.opcode))")
        if let code = expected["code"] as? Int {
            #expect(frames.first?.error.map { Int($0.code.rawValue) } == code, "\(context): error code")
        }
        if let limit = expected["payloadBytesAtMost"] as? Int {
            for frame in frames { #expect(Int(frame.header.payloadLength) <= limit, "\(context): a \(frame.header.payloadLength)-byte frame") }
        }
        if let ids = expected["ids"] as? [String] {
            let got: [String] =
                switch frames.first?.opcode {
                case .scanBatch?:
                    try frames.flatMap { frame in
                        let batch = try ScanBatchMessage(decoding: frame.payload)
                        return batch.ids.isEmpty ? try batch.records.map { try $0.decode().id.rawValue } : batch.ids.map(\.rawValue)
                    }
                case .articles?:
                    try frames.flatMap { try ArticlesMessage(decoding: $0.payload).records.map { try $0.decode().id.rawValue } }
                default: []
                }
            #expect(got == ids, "\(context): ids")
        }
        if let empty = expected["nextCursorEmpty"] as? Bool, let last = frames.last {
            let cursor = try ScanBatchMessage(decoding: last.payload).nextCursor
            #expect((cursor.readableBytes == 0) == empty, "\(context): next_cursor of \(cursor.readableBytes) bytes")
        }
        if let zero = expected["scoresZero"] as? Bool, let frame = frames.first {
            let scores = try SearchPage(decoding: frame.payload).hits.map(\.score)
            #expect(scores.allSatisfy { zero ? $0 == 0 : $0 > 0 }, "\(context): scores \(scores)")
        }
        if let created = expected["created"] as? Int, let frame = frames.first {
            #expect(try PutResultMessage(decoding: frame.payload).created == created, "\(context): created")
        }
        if let rejected = expected["rejected"] as? [Int], let frame = frames.first {
            let got = try PutResultMessage(decoding: frame.payload).rejected.map { Int($0.index) }
            #expect(got == rejected, "\(context): rejected")
        }
        if expected["total"] != nil || expected["hits"] != nil || expected["facetCounts"] != nil {
            let page = try SearchPage(decoding: try #require(frames.first).payload)
            if let total = expected["total"] as? Int { #expect(page.total == total, "\(context): total") }
            if let hits = expected["hits"] as? Int { #expect(page.hits.count == hits, "\(context): hits") }
            if let counts = expected["facetCounts"] as? [String: Int] {
                let got = Dictionary(uniqueKeysWithValues: (page.facets.first?.counts ?? []).map { ($0.value, $0.count) })
                #expect(got == counts, "\(context): facet counts")
            }
            if let least = expected["snippetCharactersAtLeast"] as? Int {
                #expect(page.hits.allSatisfy { $0.snippet.unicodeScalars.count >= least }, "\(context): snippets")
            }
        }
    }
}

extension ServerOverLoopback {
    @Suite("Protocol exchange vectors (proto-docs/vectors/exchanges.json)", .serialized)
    struct ExchangeVectorTests {
        @Test("the generated exchanges match the committed file byte for byte")
        func generatedMatchCommitted() throws {
            let generated = ExchangeVectors.render(ExchangeVectors.document())
            if ProcessInfo.processInfo.environment["NEWSWIRE_WRITE_VECTORS"] == "1" {
                try generated.write(to: ExchangeVectors.fileURL, atomically: true, encoding: .utf8)
            }
            let committed = try String(contentsOf: ExchangeVectors.fileURL, encoding: .utf8)
            #expect(generated == committed, "regenerate with NEWSWIRE_WRITE_VECTORS=1 swift test --filter ExchangeVectorTests")
        }

        @Test("a server that starts empty answers every committed exchange as the file says")
        func serverAnswersEveryExchange() async throws {
            let data = try Data(contentsOf: ExchangeVectors.fileURL)
            let document = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            let exchanges = try #require(document["exchanges"] as? [[String: Any]])
            try await withLoopbackServer(articles: 0) { server in
                for exchange in exchanges {
                    let name = exchange["name"] as? String ?? "?"
                    let connection = try RawConnection(port: server.port)
                    for step in exchange["steps"] as? [[String: Any]] ?? [] {
                        connection.send(ExchangeVectors.bytes(fromHex: step["hex"] as? String ?? ""))
                        for expected in step["expect"] as? [[String: Any]] ?? [] {
                            let id = UInt32(expected["requestId"] as? Int ?? -1)
                            var frames: [Frame] = []
                            while let frame = try connection.receive(1).first {
                                #expect(frame.requestID.rawValue == id, "\(name): an answer for \(frame.requestID) while waiting for \(id)")
                                frames.append(frame)
                                if !frame.header.flags.contains(.moreToFollow) { break }
                            }
                            #expect(!frames.isEmpty, "\(name): no answer for request \(id)")
                            try ExchangeVectors.check(expected, against: frames, in: name)
                        }
                    }
                    if exchange["end"] as? String == "closed" {
                        let (frames, closed) = try connection.receiveUntilClosed()
                        #expect(closed, "\(name): the server did not close the connection")
                        #expect(frames.isEmpty, "\(name): frames after the last answer: \(frames.map(\.opcode))")
                    }
                }
            }
        }
    }
}
