import NIOCore
import NewswireModel
import Testing

@testable import NewswireProtocol

@Suite("Round trips")
struct RoundTripTests {
    @Test("every request survives encode → frame → decode", arguments: [false, true])
    func requests(compressed: Bool) throws {
        var encoder = FrameEncoder(
            compression: compressed ? CompressionSettings(algorithm: .zlib, threshold: 0) : .disabled)
        var decoder = NewswireFrameDecoder()
        for (index, (name, request)) in Fixtures.requests.enumerated() {
            var wire = ByteBuffer()
            encoder.encode(request, requestID: RequestID(UInt32(index)), into: &wire)
            let frame = try #require(try decoder.decode(buffer: &wire), "\(name)")
            #expect(wire.readableBytes == 0)
            #expect(frame.requestID == RequestID(UInt32(index)))
            #expect(try Request(frame: frame) == request, "\(name)")
        }
    }

    @Test("§5.17: an ERROR message over 1,024 bytes is cut at a character boundary and ends with …")
    func longErrorMessagesAreCut() throws {
        for (unit, count) in [("没", 5_000), ("a", 70_000), ("é", 600), ("x", 1_024)] {
            let message = String(repeating: unit, count: count)
            var wire = ByteBuffer()
            ProtocolError(code: .notFound, message: message).encodeFields(into: &wire)
            let decoded = try ProtocolError(wirePayload: wire)
            #expect(decoded.message.utf8.count <= Limits.maxErrorMessageBytes)
            if message.utf8.count <= Limits.maxErrorMessageBytes {
                #expect(decoded.message == message)
            } else {
                #expect(decoded.message.hasSuffix("…"))
                #expect(message.hasPrefix(decoded.message.dropLast()))
                #expect(decoded.message.utf8.count > Limits.maxErrorMessageBytes - 4)
            }
        }
    }

    @Test("every response survives encode → frame → decode", arguments: [false, true])
    func responses(compressed: Bool) throws {
        var encoder = FrameEncoder(
            compression: compressed ? CompressionSettings(algorithm: .zlib, threshold: 0) : .disabled)
        var decoder = NewswireFrameDecoder()
        for (index, (name, response)) in Fixtures.responses.enumerated() {
            var wire = ByteBuffer()
            encoder.encode(response, requestID: RequestID(UInt32(index)), moreToFollow: index % 2 == 0, into: &wire)
            let frame = try #require(try decoder.decode(buffer: &wire), "\(name)")
            #expect(frame.hasMoreToFollow == (index % 2 == 0))
            var expected = response
            if case .error(let error) = response { expected = .error(error.with(requestID: RequestID(UInt32(index)))) }
            #expect(try Response(frame: frame) == expected, "\(name)")
        }
    }

    @Test("articles survive their record encoding exactly")
    func articles() throws {
        for article in [Fixtures.article, Fixtures.minimalArticle] {
            #expect(try ArticleRecord(article).decode() == article)
        }
        var negative = Fixtures.minimalArticle
        negative.clicks = -5
        negative.url = ""
        negative.publishedAt = PublishedTime(secondsSinceEpoch: -86_400 * 365, utcOffsetSeconds: -18_000)
        #expect(try ArticleRecord(negative).decode() == negative)
    }
}
