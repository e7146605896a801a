import NIOCore
import NewswireModel
import NewswireProtocol
import NewswireServer
import NewswireTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Frames as a client writes them.
func requestBytes(_ requests: [(Request, UInt32)]) -> ByteBuffer {
    var encoder = FrameEncoder()
    var buffer = ByteBuffer()
    for (request, id) in requests { encoder.encode(request, requestID: RequestID(id), into: &buffer) }
    return buffer
}

/// Runs `body` against a fresh loopback server holding `articles` articles, and stops the server afterwards.
func withLoopbackServer(
    articles: Int, configure: (inout ServerConfiguration) -> Void = { _ in },
    _ body: (TestServer) async throws -> Void
) async throws {
    let server = try await LoopbackServer.start(articles: articles, configure: configure)
    do {
        // The test peers read with blocking sockets: off the cooperative pool the server needs to answer them.
        try await runBlockingAsync { try await body(server) }
    } catch {
        try await server.stop()
        throw error
    }
    try await server.stop()
}

/// Every server test binds real sockets and runs a server: one at a time, so none starves another's timeouts.
@Suite("Server over loopback", .serialized)
struct ServerOverLoopback {}

extension ServerOverLoopback {
@Suite("Server: cached GETs answered in the pipeline", .serialized)
struct CachedGetFastPathTests {
    let hello = Request.hello(HelloMessage(clientName: "fast-path-test", compressions: [.zlib]))

    @Test("a GET pipelined behind HELLO is answered after WELCOME, and cache hits equal the first answer")
    func orderingAndEquality() async throws {
        try await withLoopbackServer(articles: 3) { server in
        let connection = try RawConnection(port: server.port)
        let get = Request.get(GetMessage(id: ArticleID("load-1")))
        // HELLO and GET in one write: the GET must not be answered before WELCOME.
        connection.send(requestBytes([(hello, 0), (get, 1)]))
        let first = try connection.receive(2)
        #expect(first.map(\.opcode) == [.welcome, .article])
        // The miss filled the cache; these are hits, answered in the pipeline, compressed once and reused.
        connection.send(requestBytes((2..<6).map { (get, UInt32($0)) }))
        let hits = try connection.receive(4)
        #expect(hits.map(\.opcode) == [.article, .article, .article, .article])
        #expect(Set(hits.map(\.requestID.rawValue)) == [2, 3, 4, 5])
        for hit in hits {
            #expect(hit.wasCompressed)
            #expect(hit.payload == first[1].payload)
        }
        let article = try ArticleMessage(decoding: hits[0].payload).record.decode()
        #expect(article.id == ArticleID("load-1"))
        #expect(article.title == LoopbackServer.article(1).title)
        }
    }

    @Test("non-canonical GET encodings, misses and unknown ids still get their proper answers")
    func fallbacks() async throws {
        try await withLoopbackServer(articles: 3) { server in
        let connection = try RawConnection(port: server.port)
        connection.send(requestBytes([(hello, 0), (.get(GetMessage(id: ArticleID("load-2"))), 1)]))
        #expect(try connection.receive(2).map(\.opcode) == [.welcome, .article])
        // The same id with an unknown field appended (skipped by decoders): not the canonical form, so the
        // connection decodes it in full, and it is still answered from the cache with the same record.
        var payload = ByteBuffer()
        GetMessage(id: ArticleID("load-2")).encode(into: &payload)
        payload.writeBytes([0x78, 0x01])  // field 15, varint 1
        var frame = ByteBuffer()
        FrameHeader(opcode: .get, requestID: RequestID(7), payloadLength: UInt32(payload.readableBytes))
            .write(into: &frame)
        frame.writeBuffer(&payload)
        connection.send(frame)
        let answered = try connection.receive(1)
        #expect(answered.map(\.opcode) == [.article])
        #expect(answered.first?.requestID == RequestID(7))
        #expect(try ArticleMessage(decoding: answered[0].payload).record.decode().id == ArticleID("load-2"))
        // An unknown id is a miss: NOT_FOUND from the connection task, as before.
        connection.send(requestBytes([(.get(GetMessage(id: ArticleID("load-99"))), 8)]))
        let missing = try connection.receive(1)
        #expect(missing.map(\.opcode) == [.error])
        if case .error(let error)? = try? Response(frame: missing[0]) {
            #expect(error.code == .notFound)
        } else {
            Issue.record("expected an ERROR frame")
        }
        }
    }

    @Test("each GET counts once in cache.hits or cache.misses: a miss the pipeline passes on is not counted twice")
    func cacheCountsEachGetOnce() async throws {
        try await withLoopbackServer(articles: 3) { server in
        func counts(_ connection: RawConnection, id: UInt32) throws -> (hits: Int64, misses: Int64) {
            connection.send(requestBytes([(.stats, id)]))
            guard case .stats(let stats)? = try? Response(frame: try connection.receive(1)[0]) else {
                Issue.record("expected STATS_RESULT")
                return (0, 0)
            }
            func value(_ name: String) -> Int64 {
                guard case .integer(let value)? = stats.entries.first(where: { $0.name == name })?.value else { return -1 }
                return value
            }
            return (value("cache.hits"), value("cache.misses"))
        }
        for (index, hello) in [hello, .hello(HelloMessage(clientName: "fast-path-test"))].enumerated() {
            // Each connection's own ids: what the other one cached does not count here.
            let stored = ArticleID("load-\(index + 1)")
            let connection = try RawConnection(port: server.port)
            connection.send(requestBytes([(hello, 0)]))
            _ = try connection.receive(1)
            let before = try counts(connection, id: 1)
            // An uncached id (read from the store, then cached) and an unknown one: two misses.
            connection.send(requestBytes([(.get(GetMessage(id: stored)), 2), (.get(GetMessage(id: ArticleID("load-99"))), 3)]))
            #expect(Set(try connection.receive(2).map(\.opcode)) == [.article, .error])
            // Four cached GETs answered in the pipeline: four hits.
            connection.send(requestBytes((4..<8).map { (.get(GetMessage(id: stored)), UInt32($0)) }))
            #expect(try connection.receive(4).map(\.opcode) == [.article, .article, .article, .article])
            let after = try counts(connection, id: 8)
            #expect(after.misses - before.misses == 2, "zlib: \(index == 0)")
            #expect(after.hits - before.hits == 4, "zlib: \(index == 0)")
        }
        }
    }

    @Test("cached answers the socket has not taken count against the server-wide budget until they are read")
    func unsentAnswersHoldTheBudget() async throws {
        try await withLoopbackServer(articles: 3) { server in
        let plainHello = Request.hello(HelloMessage(clientName: "fast-path-test"))
        let probe = try RawConnection(port: server.port)
        probe.send(requestBytes([(plainHello, 0)]))
        _ = try probe.receive(1)
        var probeID: UInt32 = 1
        func queuedBytes() throws -> Int64 {
            probe.send(requestBytes([(.stats, probeID)]))
            probeID += 1
            let frame = try #require(try probe.receive(1).first)
            for entry in try StatsMessage(decoding: frame.payload).entries where entry.name == "responses.queued_bytes" {
                if case .integer(let value) = entry.value { return value }
            }
            Issue.record("STATS has no responses.queued_bytes")
            return -1
        }
        // A reader with a tiny receive buffer that reads nothing until told: once the kernel's buffers are full,
        // the server holds the rest of its cached answers.
        let reader = try RawConnection(port: server.port, receiveBufferBytes: 4096)
        let get = Request.get(GetMessage(id: ArticleID("load-1")))
        reader.send(requestBytes([(plainHello, 0), (get, 1)]))
        #expect(try reader.receive(2).map(\.opcode) == [.welcome, .article])
        var sent: UInt32 = 1
        var queued: Int64 = 0
        while queued == 0, sent < 20_000 {
            reader.send(requestBytes((1...16).map { (get, sent + UInt32($0)) }))
            sent += 16
            queued = try queuedBytes()
        }
        #expect(queued > 0, "the server never held an unsent answer")
        // Reading everything lets the answers leave, and every byte held comes back to the budget.
        let answers = try reader.receive(Int(sent) - 1)
        #expect(answers.count == Int(sent) - 1)
        #expect(answers.allSatisfy { $0.opcode == .article })
        var attempts = 0
        repeat {
            queued = try queuedBytes()
            attempts += 1
        } while queued != 0 && attempts < 1_000
        #expect(queued == 0)
        }
    }

    @Test("a cached GET split byte by byte is answered, and a header the decoder rejects still gets its error")
    func splitFramesAndBadHeaders() async throws {
        try await withLoopbackServer(articles: 2) { server in
        let connection = try RawConnection(port: server.port)
        let get = Request.get(GetMessage(id: ArticleID("load-0")))
        connection.send(requestBytes([(hello, 0), (get, 1)]))
        #expect(try connection.receive(2).map(\.opcode) == [.welcome, .article])
        // Now cached: the same GET arrives one byte per write, then a second one in the same final write.
        let bytes = requestBytes([(get, 2)])
        for index in 0..<bytes.readableBytes - 1 {
            connection.send(bytes.getSlice(at: index, length: 1)!)
            usleep(2000)
        }
        var tail = bytes.getSlice(at: bytes.readableBytes - 1, length: 1)!
        var next = requestBytes([(get, 3)])
        tail.writeBuffer(&next)
        connection.send(tail)
        let answers = try connection.receive(2)
        #expect(answers.map(\.opcode) == [.article, .article])
        #expect(Set(answers.map(\.requestID.rawValue)) == [2, 3])
        // A version-9 header: the decoder's UNSUPPORTED_VERSION, then the server closes the connection.
        var bad = ByteBuffer()
        FrameHeader(version: 9, opcode: .get, requestID: RequestID(4), payloadLength: 0).write(into: &bad)
        connection.send(bad)
        let refused = try connection.receive(1)
        #expect(refused.map(\.opcode) == [.error])
        if let frame = refused.first, case .error(let error)? = try? Response(frame: frame) {
            #expect(error.code == .unsupportedVersion)
        } else {
            Issue.record("expected an ERROR frame")
        }
        }
    }
}
}
