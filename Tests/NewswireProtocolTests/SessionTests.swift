import NIOCore
import NIOEmbedded
import NewswireModel
import Testing

@testable import NewswireProtocol

/// A client and a server built only from the codec's public API, exchanging bytes in memory: the shape of the
/// connection loops in NewswireServer and NewswireClient.
@Suite("Sessions over the codec")
struct SessionTests {
    struct Peer {
        var encoder = FrameEncoder()
        var decoder = NewswireFrameDecoder()
        var inbox = ByteBuffer()

        mutating func receive(_ bytes: ByteBuffer) throws -> [Frame] {
            var bytes = bytes
            inbox.writeBuffer(&bytes)
            var frames: [Frame] = []
            while let frame = try decoder.decode(buffer: &inbox) { frames.append(frame) }
            return frames
        }
    }

    @Test("handshake, 200 pipelined GETs answered out of order from a compressed cache, a stream, GOAWAY")
    func fullSession() throws {
        let articles = (0..<200).map { i in
            var article = Fixtures.longArticle
            article.id = ArticleID("doc-\(i)")
            return article
        }
        var client = Peer()
        var server = Peer()
        var machine = ServerConnectionStateMachine(policy: HandshakePolicy(serverName: "test", maxInFlight: 256))

        // Handshake.
        let hello = HelloMessage(clientName: "session-test", compressions: [.zlib])
        var wire = ByteBuffer()
        client.encoder.encode(.hello(hello), requestID: RequestID(0), into: &wire)
        let helloFrame = try #require(try server.receive(wire).first)
        guard case .sendWelcome(let welcome, let handshake) = machine.frameReceived(helloFrame) else {
            Issue.record("no WELCOME")
            return
        }
        wire.clear()
        server.encoder.encode(.welcome(welcome), requestID: RequestID(0), into: &wire)
        server.encoder.compression = handshake.compression
        guard case .welcome(let received) = try Response(frame: try #require(try client.receive(wire).first)) else {
            Issue.record("no WELCOME at the client")
            return
        }
        client.encoder.compression = try hello.accept(received).compression

        // The server's cache: each record's ARTICLE payload compressed once.
        var cache: [ArticleID: OutboundFrame] = [:]
        for article in articles {
            var payload = ByteBuffer()
            ArticleMessage(article).encode(into: &payload)
            let compressed = server.encoder.compressPayload(payload)
            let zlib = try #require(compressed)
            cache[article.id] = OutboundFrame(
                opcode: .article, requestID: RequestID(0),
                payload: .precompressed(zlib: zlib, uncompressedLength: UInt32(payload.readableBytes)))
        }

        // 200 pipelined GETs in one write.
        wire.clear()
        for (index, article) in articles.enumerated() {
            client.encoder.encode(
                .get(GetMessage(id: article.id)), requestID: RequestID(UInt32(index + 1)), into: &wire)
        }
        var running: [(RequestID, ArticleID)] = []
        for frame in try server.receive(wire) {
            guard case .run(.get(let get), let id) = machine.frameReceived(frame) else {
                Issue.record("GET not run")
                return
            }
            running.append((id, get.id))
        }
        #expect(running.count == 200)
        #expect(machine.inFlightIDs.count == 200)

        // Answered in reverse order.
        wire.clear()
        for (id, articleID) in running.reversed() {
            var frame = try #require(cache[articleID])
            frame.requestID = id
            server.encoder.encode(frame, into: &wire)
            _ = machine.requestFinished(id)
        }
        var answered = 0
        for frame in try client.receive(wire) {
            #expect(frame.wasCompressed && frame.endsRequest)
            guard case .article(let message) = try Response(frame: frame) else {
                Issue.record("not an ARTICLE")
                return
            }
            #expect(try message.record.decode() == articles[Int(frame.requestID.rawValue) - 1])
            answered += 1
        }
        #expect(answered == 200)
        #expect(machine.inFlightIDs.isEmpty)

        // A SCAN answered as a stream split to fit 16 KiB frames.
        wire.clear()
        client.encoder.encode(.scan(ScanMessage(limit: 200)), requestID: RequestID(500), into: &wire)
        let scanFrame = try #require(try server.receive(wire).first)
        #expect(machine.frameReceived(scanFrame) == .run(.scan(ScanMessage(limit: 200)), RequestID(500)))
        let batches = ArticleRecord.batches(articles.map(ArticleRecord.init), maxPayloadLength: 16 << 10)
        wire.clear()
        for (index, batch) in batches.enumerated() {
            server.encoder.encode(
                .scanBatch(ScanBatchMessage(records: batch)), requestID: RequestID(500),
                moreToFollow: index < batches.count - 1, into: &wire)
        }
        _ = machine.requestFinished(RequestID(500))
        var streamed: [Article] = []
        var ended = false
        for frame in try client.receive(wire) {
            #expect(!ended)
            guard case .scanBatch(let batch) = try Response(frame: frame) else { return }
            streamed += try batch.records.map { try $0.decode() }
            ended = frame.endsRequest
        }
        #expect(ended && streamed == articles && batches.count > 5)

        // GOAWAY while a request runs, then a late request gets SHUTTING_DOWN.
        wire.clear()
        client.encoder.encode(.stats, requestID: RequestID(499), into: &wire)
        #expect(machine.frameReceived(try #require(try server.receive(wire).first)) == .run(.stats, RequestID(499)))
        guard case .goAway(let goAway) = machine.shutdownRequested(message: "server shutting down", graceMillis: 1_000)
        else {
            Issue.record("no GOAWAY")
            return
        }
        wire.clear()
        server.encoder.encode(.goAway(goAway), requestID: .connection, into: &wire)
        let goAwayFrame = try #require(try client.receive(wire).first)
        #expect(goAwayFrame.requestID.isServerInitiated)
        #expect(try Response(frame: goAwayFrame) == .goAway(goAway))
        wire.clear()
        client.encoder.encode(.stats, requestID: RequestID(501), into: &wire)
        guard case .answer(let error) = machine.frameReceived(try #require(try server.receive(wire).first)) else {
            Issue.record("late request not rejected")
            return
        }
        #expect(error.code == .shuttingDown && error.isRetryable)
    }

    @Test("the channel handlers: OutboundFrames through NewswireFrameEncoder decode back through the decoder")
    func channelHandlers() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(
            MessageToByteHandler(NewswireFrameEncoder(compression: CompressionSettings(algorithm: .zlib, threshold: 0)))
        )
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(NewswireFrameDecoder()))
        let responses: [Response] = [
            .article(ArticleMessage(Fixtures.longArticle)), .searchResult(Fixtures.longSearchPage),
            .pong(PingMessage()),
        ]
        for (index, response) in responses.enumerated() {
            try channel.writeOutbound(OutboundFrame(response, requestID: RequestID(UInt32(index))))
        }
        var compressedFrames = 0
        while let bytes = try channel.readOutbound(as: ByteBuffer.self) {
            if let header = FrameHeader.peek(bytes), header.flags.contains(.compressed) { compressedFrames += 1 }
            try channel.writeInbound(bytes)
        }
        #expect(compressedFrames == 2)
        for (index, response) in responses.enumerated() {
            let frame = try #require(try channel.readInbound(as: Frame.self))
            #expect(frame.requestID == RequestID(UInt32(index)))
            #expect(try Response(frame: frame) == response)
        }
        #expect(try channel.finish().isClean)
    }
}
