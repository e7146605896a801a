import NIOCore
import NewswireModel
import Testing

@testable import NewswireProtocol

@Suite("Encoder, wire primitives and handshake")
struct EncoderAndHandshakeTests {
    @Test("varints and zigzag round-trip at their boundaries with canonical lengths")
    func varints() throws {
        let cases: [(UInt64, Int)] = [
            (0, 1), (1, 1), (127, 1), (128, 2), (16_383, 2), (16_384, 3), (UInt64(UInt32.max), 5),
            (1 << 63, 10), (UInt64.max, 10),
        ]
        for (value, size) in cases {
            var buffer = ByteBuffer()
            buffer.writeVarint(value)
            #expect(buffer.readableBytes == size, "\(value)")
            #expect(varintSize(value) == size)
            var reader = WireReader(buffer, message: "Test")
            #expect(try reader.readVarint() == value)
        }
        for value: Int64 in [0, -1, 1, -64, 63, .min, .max] {
            #expect(unZigZag(zigZag(value)) == value)
        }
        #expect(zigZag(-1) == 1)
        #expect(zigZag(1) == 2)
    }

    @Test("nested messages longer than 127 bytes get a canonical multi-byte length")
    func nestedLengthShift() throws {
        var buffer = ByteBuffer()
        buffer.writeMessageField(1) { $0.writeStringField(1, String(repeating: "疆", count: 100)) }
        // tag, 2-byte length (303 = 0xAF 0x02), inner tag, 2-byte inner length (300), 300 bytes.
        #expect(buffer.readableBytes == 1 + 2 + 1 + 2 + 300)
        #expect(Array(buffer.readableBytesView.prefix(6)) == [0x0A, 0xAF, 0x02, 0x0A, 0xAC, 0x02])
    }

    @Test("payloads below the threshold, or that do not shrink, go uncompressed")
    func compressionDecisions() throws {
        var encoder = FrameEncoder(compression: CompressionSettings(algorithm: .zlib, threshold: 512))
        var decoder = NewswireFrameDecoder()

        var small = ByteBuffer()
        encoder.encode(.get(GetMessage(id: "a1")), requestID: RequestID(1), into: &small)
        #expect(try decoder.decode(buffer: &small)?.wasCompressed == false)

        var random = SplitMix64(seed: 7)
        let noise = ByteBuffer(bytes: (0..<4096).map { _ in UInt8(truncatingIfNeeded: random.next()) })
        var incompressible = ByteBuffer()
        encoder.encode(.ping(PingMessage(payload: noise)), requestID: RequestID(2), into: &incompressible)
        let noiseFrame = try #require(try decoder.decode(buffer: &incompressible))
        #expect(!noiseFrame.wasCompressed)
        #expect(try Request(frame: noiseFrame) == .ping(PingMessage(payload: noise)))

        var large = ByteBuffer()
        encoder.encode(.article(ArticleMessage(Fixtures.longArticle)), requestID: RequestID(3), into: &large)
        let wireLength = large.readableBytes
        let frame = try #require(try decoder.decode(buffer: &large))
        #expect(frame.wasCompressed)
        #expect(wireLength < frame.payload.readableBytes)

        var disabled = FrameEncoder()
        var plain = ByteBuffer()
        disabled.encode(.article(ArticleMessage(Fixtures.longArticle)), requestID: RequestID(3), into: &plain)
        #expect(try decoder.decode(buffer: &plain)?.wasCompressed == false)
    }

    @Test("a cached record and a pre-compressed payload produce the same frames as encoding afresh")
    func cachedPayloads() throws {
        let record = ArticleRecord(Fixtures.longArticle)
        var fresh = FrameEncoder()
        var a = ByteBuffer()
        fresh.encode(.article(ArticleMessage(Fixtures.longArticle)), requestID: RequestID(5), into: &a)
        var b = ByteBuffer()
        fresh.encode(.article(ArticleMessage(record: record)), requestID: RequestID(5), into: &b)
        #expect(a == b)

        var payload = ByteBuffer()
        ArticleMessage(record: record).encode(into: &payload)
        var encoder = FrameEncoder(compression: .zlib)
        let compressed = encoder.compressPayload(payload)
        let zlib = try #require(compressed)
        var cached = Self.articleFrame(zlib: zlib, of: payload, id: 6, encoder: &encoder)
        var live = ByteBuffer()
        encoder.encode(.article(ArticleMessage(record: record)), requestID: RequestID(6), into: &live)
        #expect(cached == live)
        var decoder = NewswireFrameDecoder()
        let frame = try #require(try decoder.decode(buffer: &cached))
        #expect(frame.payload == payload)
    }

    /// An ARTICLE frame carrying `zlib`, the compressed form of `payload`.
    static func articleFrame(zlib: ByteBuffer, of payload: ByteBuffer, id: UInt32, encoder: inout FrameEncoder)
        -> ByteBuffer
    {
        var frame = ByteBuffer()
        encoder.encode(
            OutboundFrame(
                opcode: .article, requestID: RequestID(id),
                payload: .precompressed(zlib: zlib, uncompressedLength: UInt32(payload.readableBytes))),
            into: &frame)
        return frame
    }

    @Test("libdeflate's zlib streams decode like zlib's; payloads that do not shrink are left uncompressed")
    func payloadCompressor() throws {
        var payload = ByteBuffer()
        ArticleMessage(record: ArticleRecord(Fixtures.longArticle)).encode(into: &payload)
        let compressor = PayloadCompressor()
        let zlib = try #require(compressor.compress(payload))
        #expect(zlib.readableBytes + 4 < payload.readableBytes)
        var encoder = FrameEncoder(compression: .zlib)
        var wire = Self.articleFrame(zlib: zlib, of: payload, id: 7, encoder: &encoder)
        var decoder = NewswireFrameDecoder()
        let frame = try #require(try decoder.decode(buffer: &wire))
        #expect(frame.wasCompressed)
        #expect(frame.payload == payload)

        var random = SplitMix64(seed: 11)
        let noise = ByteBuffer(bytes: (0..<4096).map { _ in UInt8(truncatingIfNeeded: random.next()) })
        #expect(compressor.compress(noise) == nil)
        #expect(compressor.compress(ByteBuffer(bytes: [1, 2, 3])) == nil)
    }

    @Test("the handshake picks the highest common version and the server's preferred offered compression")
    func negotiation() throws {
        let policy = HandshakePolicy(
            supportedVersions: 1...3, serverName: "newswired/test", compressions: [.zlib],
            limits: FrameLimits(maxFrameLength: 1 << 20))
        let hello = HelloMessage(versions: 1...2, clientName: "t", compressions: [.zlib], maxFrameLength: 1 << 18)
        let handshake = try policy.negotiate(hello)
        #expect(handshake.welcome.version == 2)
        #expect(handshake.welcome.compression == .zlib)
        #expect(handshake.welcome.maxFrameLength == 1 << 20)
        #expect(handshake.clientMaxFrameLength == 1 << 18)
        #expect(handshake.compression.algorithm == .zlib)
        #expect(try hello.accept(handshake.welcome) == handshake)

        let noCompression = try policy.negotiate(HelloMessage(clientName: "t", compressions: []))
        #expect(noCompression.welcome.compression == .none)
        #expect(noCompression.clientMaxFrameLength == ProtocolLimits.defaultMaxFrameLength)

        let mismatch = try #require(throws: ProtocolError.self) {
            try policy.negotiate(HelloMessage(versions: 4...5, clientName: "future"))
        }
        #expect(mismatch.code == .unsupportedVersion)
        #expect(mismatch.supportedVersions == 1...3)
        #expect(mismatch.message.contains("4...5"))
        #expect(!mismatch.isRetryable)

        let tiny = try #require(throws: ProtocolError.self) {
            try policy.negotiate(HelloMessage(clientName: "t", maxFrameLength: 1024))
        }
        #expect(tiny.code == .protocolError)
        #expect(tiny.message.contains("65536"))

        let cramped = try #require(throws: ProtocolError.self) {
            try hello.accept(WelcomeMessage(serverName: "s", compression: .zlib, maxFrameLength: 100))
        }
        #expect(cramped.code == .protocolError)

        let unexpected = WelcomeMessage(version: 1, serverName: "s", compression: .zlib)
        let refused = try #require(throws: ProtocolError.self) {
            try HelloMessage(clientName: "t", compressions: []).accept(unexpected)
        }
        #expect(refused.code == .protocolError)
    }

    @Test("a HELLO version range that is not one is MALFORMED_MESSAGE naming the range, not the last field read")
    func badVersionRanges() throws {
        for (minimum, maximum) in [(0, 1), (1, 256), (2, 1)] {
            var payload = ByteBuffer()
            payload.writeVarintField(1, UInt64(minimum))
            payload.writeVarintField(2, UInt64(maximum))
            payload.writeBytes([3 << 3 | 2, 1, 0x63])  // client_name "c", read last
            let error = try #require(throws: ProtocolError.self) { try HelloMessage(decoding: payload) }
            #expect(error.code == .malformedMessage)
            #expect(error.message == "Hello: version range \(minimum)...\(maximum) is empty or outside 1...255")
        }
    }

    @Test("a HELLO without its version range names the field that is missing")
    func missingVersionFields() throws {
        for (fields, expected) in [
            ([1], "Hello: required field 2 (max_version) is missing"),
            ([2], "Hello: required field 1 (min_version) is missing"),
            ([], "Hello: required fields 1 (min_version) and 2 (max_version) are missing"),
        ] {
            var payload = ByteBuffer()
            for field in fields { payload.writeVarintField(UInt32(field), 1) }
            let error = try #require(throws: ProtocolError.self) { try HelloMessage(decoding: payload) }
            #expect(error.code == .malformedMessage)
            #expect(error.message == expected)
        }
    }

    @Test("error codes keep their numbers, names, retry and close rules")
    func errorTable() {
        let table: [(ProtocolError.Code, UInt32, String, Bool, Bool)] = [
            (.protocolError, 1, "PROTOCOL_ERROR", false, true),
            (.unsupportedVersion, 2, "UNSUPPORTED_VERSION", false, true),
            (.frameTooLarge, 3, "FRAME_TOO_LARGE", false, true),
            (.decompressionFailed, 4, "DECOMPRESSION_FAILED", false, true),
            (.decompressedTooLarge, 5, "DECOMPRESSED_TOO_LARGE", false, true), (.timeout, 6, "TIMEOUT", true, true),
            (.malformedMessage, 16, "MALFORMED_MESSAGE", false, false),
            (.unknownOpcode, 17, "UNKNOWN_OPCODE", false, false),
            (.unauthorised, 18, "UNAUTHORISED", false, false), (.notFound, 19, "NOT_FOUND", false, false),
            (.badQuery, 20, "BAD_QUERY", false, false), (.parseFailed, 21, "PARSE_FAILED", false, false),
            (.invalidRecord, 22, "INVALID_RECORD", false, false), (.limitExceeded, 23, "LIMIT_EXCEEDED", false, false),
            (.cancelled, 24, "CANCELLED", false, false), (.unknownPosition, 25, "UNKNOWN_POSITION", false, false),
            (.overloaded, 32, "OVERLOADED", true, false),
            (.shuttingDown, 33, "SHUTTING_DOWN", true, false), (.internal, 34, "INTERNAL", true, false),
            (.storageFull, 35, "STORAGE_FULL", true, false),
        ]
        #expect(table.map(\.0) == ProtocolError.Code.allKnown)
        for (code, number, name, retryable, closes) in table {
            #expect(code.rawValue == number)
            #expect(code.name == name)
            #expect(code.isRetryableByDefault == retryable, "\(name)")
            #expect(code.closesConnection == closes, "\(name)")
        }
        #expect(ProtocolError.Code(rawValue: 999).name == "CODE_999")
    }

    @Test("a request frame with more-to-follow is malformed (v1 requests are single frames)")
    func requestWithMoreFlag() throws {
        var encoder = FrameEncoder()
        var wire = ByteBuffer()
        encoder.encode(opcode: .put, requestID: RequestID(9), flags: .moreToFollow, into: &wire) {
            PutMessage(articles: [Fixtures.minimalArticle]).encode(into: &$0)
        }
        var decoder = NewswireFrameDecoder()
        let frame = try #require(try decoder.decode(buffer: &wire))
        let error = try #require(throws: ProtocolError.self) { try Request(frame: frame) }
        #expect(error.code == .malformedMessage)
        #expect(error.requestID == RequestID(9))
    }

    @Test("record batches respect the payload budget, keep order, and each fits its ARTICLES frame")
    func batching() throws {
        let records = (0..<50).map { i in
            var article = Fixtures.longArticle
            article.id = ArticleID("batch-\(i)")
            return ArticleRecord(article)
        }
        let budget = 8_000
        let batches = ArticleRecord.batches(records, maxPayloadLength: budget)
        #expect(batches.flatMap { $0 } == records)
        #expect(batches.count > 1)
        for batch in batches {
            var payload = ByteBuffer()
            ArticlesMessage(records: batch).encode(into: &payload)
            #expect(payload.readableBytes <= budget)
            #expect(payload.readableBytes == batch.reduce(0) { $0 + $1.encodedFieldSize })
        }
        #expect(ArticleRecord.batches(records, maxPayloadLength: 10).count == records.count)
        #expect(ArticleRecord.batches([], maxPayloadLength: 10).isEmpty)
    }

    @Test("a frame ends its request when it is an ERROR or has no more-to-follow")
    func endsRequest() {
        func frame(_ opcode: Opcode, _ flags: FrameFlags) -> Frame {
            Frame(
                header: FrameHeader(flags: flags, opcode: opcode, requestID: RequestID(1), payloadLength: 0),
                payload: ByteBuffer())
        }
        #expect(frame(.scanBatch, []).endsRequest)
        #expect(!frame(.scanBatch, .moreToFollow).endsRequest)
        #expect(frame(.error, .moreToFollow).endsRequest)
    }

    @Test("request ids: the reserved server range and client wrap-around")
    func requestIDs() {
        #expect(RequestID.connection.isServerInitiated)
        #expect(!RequestID.maxClient.isServerInitiated)
        #expect(RequestID.maxClient.nextClientID == RequestID(0))
        #expect(RequestID(7).nextClientID == RequestID(8))
        #expect(Opcode.goAway.isResponse && !Opcode.cancel.isResponse)
        #expect(Opcode(rawValue: 0x1234).name == "0x1234")
    }
}
