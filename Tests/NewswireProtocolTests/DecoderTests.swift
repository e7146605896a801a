import NIOCore
import NIOEmbedded
import NIOTestUtils
import NewswireModel
import Testing

@testable import NewswireProtocol

@Suite("Frame decoder")
struct DecoderTests {
    static func frames(compression: CompressionSettings) -> (ByteBuffer, [Frame]) {
        var encoder = FrameEncoder(compression: compression)
        var wire = ByteBuffer()
        var expected: [Frame] = []
        let responses: [Response] = [
            .article(ArticleMessage(Fixtures.longArticle)), .pong(PingMessage()),
            .searchResult(Fixtures.longSearchPage), .article(ArticleMessage(Fixtures.article)),
        ]
        for (index, response) in responses.enumerated() {
            let start = wire.writerIndex
            encoder.encode(response, requestID: RequestID(UInt32(index)), moreToFollow: index == 1, into: &wire)
            var payload = ByteBuffer()
            response.encode(into: &payload)
            let header = FrameHeader.peek(wire.getSlice(at: start, length: FrameHeader.length)!)!
            expected.append(Frame(header: header, payload: payload))
        }
        return (wire, expected)
    }

    @Test("ByteToMessageDecoderVerifier accepts the decoder, compressed and not", arguments: [false, true])
    func verifier(compressed: Bool) throws {
        let (wire, expected) = Self.frames(compression: compressed ? .zlib : .disabled)
        #expect(expected.contains { $0.wasCompressed } == compressed)
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: [(wire, expected)]) {
            NewswireFrameDecoder()
        }
    }

    @Test("a frame cut at every byte boundary waits for more and never consumes a partial frame")
    func truncationAtEveryBoundary() throws {
        let (wire, expected) = Self.frames(compression: .zlib)
        let firstLength = FrameHeader.length + Int(expected[0].header.payloadLength)
        for cut in 0..<firstLength {
            var partial = wire.getSlice(at: 0, length: cut)!
            var decoder = NewswireFrameDecoder()
            #expect(try decoder.decode(buffer: &partial) == nil, "cut at \(cut)")
            #expect(partial.readerIndex == 0, "cut at \(cut) consumed bytes")
        }
        var exact = wire.getSlice(at: 0, length: firstLength)!
        var decoder = NewswireFrameDecoder()
        #expect(try decoder.decode(buffer: &exact) == expected[0])
    }

    @Test("a payload cut at every byte boundary is rejected as malformed or decodes to something else")
    func payloadTruncation() throws {
        for (name, request) in Fixtures.requests {
            var payload = ByteBuffer()
            request.encode(into: &payload)
            for cut in 0..<payload.readableBytes {
                let slice = payload.getSlice(at: 0, length: cut)!
                do {
                    let decoded = try Request.decode(opcode: request.opcode, payload: slice)
                    #expect(decoded != request, "\(name) cut at \(cut) decoded to the full message")
                } catch {
                    #expect(error.code == .malformedMessage, "\(name) cut at \(cut): \(error)")
                }
            }
        }
        for (name, response) in Fixtures.responses {
            var payload = ByteBuffer()
            response.encode(into: &payload)
            for cut in 0..<payload.readableBytes {
                let slice = payload.getSlice(at: 0, length: cut)!
                do {
                    let decoded = try Response.decode(opcode: response.opcode, payload: slice)
                    if decoded == response {
                        // Only possible when the cut falls inside a record, which decodes lazily.
                        guard case .article(let message) = decoded else {
                            Issue.record("\(name) cut at \(cut) decoded to the full message")
                            continue
                        }
                        #expect(throws: ProtocolError.self) { try message.record.decode() }
                    }
                } catch {
                    #expect(error.code == .malformedMessage, "\(name) cut at \(cut): \(error)")
                }
            }
        }
    }

    @Test("an HTTP request is refused as an unsupported version at once")
    func httpGarbage() throws {
        var buffer = ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        var decoder = NewswireFrameDecoder()
        let error = try #require(throws: ProtocolError.self) { try decoder.decode(buffer: &buffer) }
        #expect(error.code == .unsupportedVersion)
        #expect(error.supportedVersions == 1...1)
        #expect(error.code.closesConnection)
    }

    @Test("random garbage yields frames, a need for more bytes, or a ProtocolError; never a crash")
    func randomGarbage() throws {
        var generator = SplitMix64(seed: 0x5EED)
        for _ in 0..<2_000 {
            let count = Int(generator.next() % 64)
            var bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            if !bytes.isEmpty, generator.next() % 2 == 0 { bytes[0] = 1 }  // valid version half the time
            if bytes.count > 1, generator.next() % 2 == 0 { bytes[1] &= 0x03 }
            var buffer = ByteBuffer(bytes: bytes)
            var decoder = NewswireFrameDecoder(limits: FrameLimits(maxFrameLength: 1 << 16))
            do {
                while let frame = try decoder.decode(buffer: &buffer) {
                    if frame.opcode.isResponse {
                        _ = try? Response(frame: frame)
                    } else {
                        _ = try? Request(frame: frame)
                    }
                }
            } catch {
                #expect(error.code.closesConnection)
            }
        }
    }

    @Test("an oversized header fails the pipeline before any payload is buffered")
    func oversizedHeaderInPipeline() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(NewswireFrameDecoder()))
        var header = ByteBuffer()
        FrameHeader(opcode: .put, requestID: RequestID(42), payloadLength: UInt32.max).write(into: &header)
        let error = try #require(throws: ProtocolError.self) { try channel.writeInbound(header) }
        #expect(error.code == .frameTooLarge)
        #expect(error.requestID == RequestID(42))
        #expect(error.message.contains("4294967295"))
        _ = try? channel.finish()
    }

    @Test("a zlib bomb is refused without allocating the claimed size")
    func bombAllocation() throws {
        var deflated = ByteBuffer()
        Deflater(level: 9).compress(ByteBuffer(repeating: 0, count: 8 << 20), into: &deflated)
        #expect(deflated.readableBytes < 10_000)
        let limits = FrameLimits(maxFrameLength: 1 << 20, maxDecompressedLength: 1 << 20)

        // Declares its true size (8 MiB): refused from the declared length alone.
        var honest = ByteBuffer()
        FrameHeader(
            flags: .compressed, opcode: .put, requestID: RequestID(1), payloadLength: UInt32(4 + deflated.readableBytes)
        )
        .write(into: &honest)
        honest.writeInteger(UInt32(8 << 20))
        honest.writeImmutableBuffer(deflated)
        var decoder = NewswireFrameDecoder(limits: limits)
        let refused = try #require(throws: ProtocolError.self) { try decoder.decode(buffer: &honest) }
        #expect(refused.code == .decompressedTooLarge)
        #expect(decoder.inflater.largestAllocation == 0)

        // Lies (declares 4 KiB): inflation stops at the declared size plus one byte.
        var liar = ByteBuffer()
        FrameHeader(
            flags: .compressed, opcode: .put, requestID: RequestID(2), payloadLength: UInt32(4 + deflated.readableBytes)
        )
        .write(into: &liar)
        liar.writeInteger(UInt32(4096))
        liar.writeImmutableBuffer(deflated)
        let failed = try #require(throws: ProtocolError.self) { try decoder.decode(buffer: &liar) }
        #expect(failed.code == .decompressionFailed)
        #expect(failed.requestID == RequestID(2))
        #expect(decoder.inflater.largestAllocation <= 8192)
    }

    @Test("behind a shut compression gate a compressed frame is PROTOCOL_ERROR from its header alone; open, it inflates")
    func compressionGate() throws {
        var deflated = ByteBuffer()
        Deflater(level: 9).compress(ByteBuffer(repeating: 0, count: 8 << 20), into: &deflated)
        let gate = CompressionGate()
        var decoder = NewswireFrameDecoder(compressionGate: gate)
        // Its header alone, and the whole frame of a bomb declaring 4 GiB: refused for being compressed at all,
        // not for what it holds (PROTOCOL.md §6.3), and nothing is inflated.
        var header = ByteBuffer()
        FrameHeader(flags: .compressed, opcode: .ping, requestID: RequestID(7), payloadLength: 64).write(into: &header)
        var bomb = ByteBuffer()
        FrameHeader(
            flags: .compressed, opcode: .put, requestID: RequestID(8), payloadLength: UInt32(4 + deflated.readableBytes)
        )
        .write(into: &bomb)
        bomb.writeInteger(UInt32.max - 15)
        bomb.writeImmutableBuffer(deflated)
        for (id, var wire) in [(UInt32(7), header), (UInt32(8), bomb)] {
            let refused = try #require(throws: ProtocolError.self) { try decoder.decode(buffer: &wire) }
            #expect(refused.code == .protocolError && refused.requestID == RequestID(id))
            #expect(refused.message.contains("before WELCOME"))
        }
        #expect(decoder.inflater.largestAllocation == 0)

        // Plain frames pass a shut gate; once open, compressed frames inflate as before.
        var plain = ByteBuffer()
        var plainEncoder = FrameEncoder()
        plainEncoder.encode(.ping(PingMessage()), requestID: RequestID(1), into: &plain)
        #expect(try decoder.decode(buffer: &plain)?.wasCompressed == false)
        gate.openGate()
        var wire = ByteBuffer()
        var encoder = FrameEncoder(compression: CompressionSettings(algorithm: .zlib, threshold: 0))
        encoder.encode(.article(ArticleMessage(Fixtures.longArticle)), requestID: RequestID(2), into: &wire)
        try Self.expectLongArticle(try #require(try decoder.decode(buffer: &wire)))
    }

    /// `frame` arrived compressed and holds ``Fixtures/longArticle``.
    static func expectLongArticle(_ frame: Frame) throws {
        #expect(frame.wasCompressed)
        guard case .article(let message) = try Response(frame: frame) else {
            Issue.record("not an article")
            return
        }
        #expect(try message.record.decode() == Fixtures.longArticle)
    }

    @Test("one inflate stream is reused across many frames, including after a failed one")
    func streamReuse() throws {
        var encoder = FrameEncoder(compression: CompressionSettings(algorithm: .zlib, threshold: 0))
        var decoder = NewswireFrameDecoder()
        for round in 0..<50 {
            var wire = ByteBuffer()
            encoder.encode(
                .article(ArticleMessage(Fixtures.longArticle)), requestID: RequestID(UInt32(round)), into: &wire)
            if round == 25 {
                var corrupt = wire
                corrupt.setInteger(UInt8(0xFF), at: corrupt.writerIndex - 10)
                #expect(throws: ProtocolError.self) { try decoder.decode(buffer: &corrupt) }
            }
            try Self.expectLongArticle(try #require(try decoder.decode(buffer: &wire)))
        }
    }
}
