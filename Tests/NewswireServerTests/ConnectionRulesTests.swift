import NIOCore
import NewswireModel
import NewswireProtocol
import NewswireServer
import NewswireTestSupport
import Testing

/// The server answers every frame as PROTOCOL.md says: each test here is a place where it once did not.
extension ServerOverLoopback {
@Suite("Server: connection rules over real sockets", .serialized)
struct ConnectionRulesTests {
    static func hello(maxFrameLength: UInt32 = 0, compressions: [CompressionAlgorithm] = [], token: String? = nil)
        -> Request
    {
        .hello(
            HelloMessage(
                clientName: "spec-client", compressions: compressions, token: token, maxFrameLength: maxFrameLength))
    }

    /// A frame with a hand-written payload, as a client written from the spec would send it.
    static func rawFrame(_ opcode: Opcode, id: UInt32, payload: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer()
        FrameHeader(opcode: opcode, requestID: RequestID(id), payloadLength: UInt32(payload.count)).write(into: &buffer)
        buffer.writeBytes(payload)
        return buffer
    }

    static let maxVarint: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]  // 2^64 - 1

    @Test("§3.3: a GET reusing the id of a SCAN stream in flight is PROTOCOL_ERROR and closes, never answered")
    func requestReusingAStreamID() async throws {
        try await withLoopbackServer(articles: 400) { server in
            let connection = try RawConnection(port: server.port)
            let get = Request.get(GetMessage(id: ArticleID("load-1")))
            connection.send(requestBytes([(Self.hello(maxFrameLength: 65536), 0), (get, 1)]))
            #expect(try connection.receive(2).map(\.opcode) == [.welcome, .article])  // load-1 is now cached
            connection.send(requestBytes([(.scan(ScanMessage(order: .byID)), 21), (get, 21)]))
            let (frames, closed) = try connection.receiveUntilClosed()
            #expect(closed)
            #expect(!frames.contains { $0.opcode == .article }, "the GET under the stream's id was answered")
            let errors = frames.compactMap(\.error)
            #expect(errors.map(\.code) == [.protocolError])
            #expect(frames.last?.requestID == RequestID(21))
        }
    }

    @Test("§6.3: the last refused write before the auth-failure cap is answered, then the connection closes cleanly")
    func lastRefusalIsAnswered() async throws {
        try await withLoopbackServer(articles: 1, configure: { $0.writeToken = "secret" }) { server in
            let connection = try RawConnection(port: server.port)
            var requests: [(Request, UInt32)] = [(Self.hello(), 0)]
            for id in 1...11 { requests.append((.delete(DeleteMessage(ids: [ArticleID("load-0")])), UInt32(id))) }
            // Pipelined requests behind the cap: never run, and their unread bytes must not reset the connection.
            for id in 12...200 { requests.append((.ping(PingMessage()), UInt32(id))) }
            connection.send(requestBytes(requests))
            let (frames, closed) = try connection.receiveUntilClosed()
            #expect(closed)
            #expect(frames.first?.opcode == .welcome)
            let refusals = frames.compactMap(\.error)
            #expect(refusals.count == Limits.defaultMaxAuthFailures)
            #expect(refusals.allSatisfy { $0.code == .unauthorised })
            #expect(refusals.map(\.requestID) == (1...10).map { RequestID(UInt32($0)) })
            #expect(refusals.last?.message.contains("closing") == true)
            #expect(!frames.contains { $0.opcode == .pong })
        }
    }

    @Test("§3.5: no frame exceeds the client's max_frame_length; an answer that cannot be split is LIMIT_EXCEEDED")
    func framesWithinTheClientsLimit() async throws {
        try await withLoopbackServer(articles: 400) { server in
            let connection = try RawConnection(port: server.port)
            let limit = Limits.minimumMaxFrameLength
            connection.send(
                requestBytes([
                    (Self.hello(maxFrameLength: limit), 0),
                    (.scan(ScanMessage(order: .byID)), 1),
                    (.getMany(GetManyMessage(ids: (0..<400).map { ArticleID("load-\($0)") })), 2),
                    (.search(SearchRequest(text: "能源", limit: 10_000, includeSnippets: true)), 3),
                ]))
            var frames = try connection.receive(1)
            var scanned = 0
            var fetched = 0
            var searchAnswer: Frame?
            var finished = Set<UInt32>()
            while finished.count < 3 {
                let next = try connection.receive(1)
                guard let frame = next.first else { break }
                frames.append(frame)
                switch frame.opcode {
                case .scanBatch:
                    scanned += try ScanBatchMessage(decoding: frame.payload).records.count
                case .articles:
                    fetched += try ArticlesMessage(decoding: frame.payload).records.count
                default:
                    if frame.requestID == RequestID(3) { searchAnswer = frame }
                }
                if !frame.header.flags.contains(.moreToFollow) { finished.insert(frame.requestID.rawValue) }
            }
            for frame in frames {
                #expect(frame.header.payloadLength <= limit, "a \(frame.opcode) frame of \(frame.header.payloadLength) bytes")
            }
            #expect(scanned == 400)
            #expect(fetched == 400)
            #expect(frames.filter { $0.opcode == .scanBatch }.count > 1)
            #expect(searchAnswer?.error?.code == .limitExceeded)
        }
    }

    @Test("§5.3, §5.6: snippet_length 0 and facet_limit 0 mean the server's defaults")
    func zeroMeansDefault() async throws {
        try await withLoopbackServer(articles: 20) { server in
            let connection = try RawConnection(port: server.port)
            let search = SearchRequest(
                text: "能源", limit: 3, includeSnippets: true, snippetLength: 0, facets: [.source], facetLimit: 0)
            connection.send(requestBytes([(Self.hello(), 0), (.search(search), 1)]))
            let frames = try connection.receive(2)
            let page = try SearchPage(decoding: try #require(frames.last).payload)
            #expect(page.hits.count == 3)
            #expect(page.hits.allSatisfy { $0.snippet.count > 20 })
            #expect(page.facets.first?.counts.first == FacetCount(value: "测试来源", count: 20))
        }
    }

    @Test("§10: a search result reaching the threshold goes compressed to a zlib connection, plain to others")
    func searchResultsCompressedOnlyWhenAgreed() async throws {
        try await withLoopbackServer(articles: 20) { server in
            let search = Request.search(SearchRequest(text: "能源", limit: 10, includeSnippets: true))
            var pages: [SearchPage] = []
            for compressions in [[CompressionAlgorithm.zlib], []] {
                let connection = try RawConnection(port: server.port)
                connection.send(requestBytes([(Self.hello(compressions: compressions), 0), (search, 1)]))
                let answer = try #require(try connection.receive(2).last)
                #expect(answer.opcode == .searchResult)
                #expect(answer.wasCompressed == !compressions.isEmpty)
                #expect(answer.payload.readableBytes >= Int(ProtocolLimits.defaultCompressionThreshold))
                pages.append(try SearchPage(decoding: answer.payload))
            }
            #expect(pages[0].hits.count == 10)
            #expect(pages[0].hits == pages[1].hits)
            #expect(pages[0].total == pages[1].total)
        }
    }

    @Test("§5.1: uint values of 2^63 and more keep their meaning: LIMIT_EXCEEDED, an empty page, a whole stream")
    func hugeUnsignedValues() async throws {
        try await withLoopbackServer(articles: 30) { server in
            let connection = try RawConnection(port: server.port)
            let text: [UInt8] = [0x0A, 0x06] + Array("能源".utf8)
            var bytes = requestBytes([(Self.hello(), 0)])
            var searchLimit = Self.rawFrame(.search, id: 1, payload: text + [0x38] + Self.maxVarint)
            var searchOffset = Self.rawFrame(.search, id: 2, payload: text + [0x30] + Self.maxVarint + [0x38, 0x0A])
            var scan = Self.rawFrame(.scan, id: 3, payload: [0x08, 0x01, 0x28] + Self.maxVarint + [0x30, 0x01])
            bytes.writeBuffer(&searchLimit)
            bytes.writeBuffer(&searchOffset)
            bytes.writeBuffer(&scan)
            connection.send(bytes)
            var answers: [UInt32: [Frame]] = [:]
            var finished = 0
            _ = try connection.receive(1)
            while finished < 3, let frame = try connection.receive(1).first {
                answers[frame.requestID.rawValue, default: []].append(frame)
                if !frame.header.flags.contains(.moreToFollow) { finished += 1 }
            }
            #expect(answers[1]?.first?.error?.code == .limitExceeded)
            let page = try SearchPage(decoding: try #require(answers[2]?.first).payload)
            #expect(page.hits.isEmpty && page.total == 30)
            let ids = try (answers[3] ?? []).flatMap { try ScanBatchMessage(decoding: $0.payload).ids }
            #expect(ids.count == 30)
        }
    }

    @Test("§5.15: SCAN by date is oldest first, ties by id, undated articles last")
    func scanByDateUndatedLast() async throws {
        let dated = { (id: String, seconds: Int64) in
            Article(
                id: ArticleID(id), title: "t \(id)",
                publishedAt: PublishedTime(secondsSinceEpoch: seconds, utcOffsetSeconds: 0), paragraphs: ["p"])
        }
        let undated = { (id: String) in Article(id: ArticleID(id), title: "t \(id)", paragraphs: ["p"]) }
        let server = try await TestServer.start(prepare: { engine in
            _ = try engine.put([undated("u2"), dated("d2", 200), undated("u1"), dated("d1", 100), dated("d0", 200)])
        })
        try await runBlocking {
            let connection = try RawConnection(port: server.port)
            // Limit 2 per SCAN, resumed from the cursor, so the walk crosses from dated to undated across pages.
            connection.send(requestBytes([(Self.hello(), 0), (.scan(ScanMessage(order: .byDate, limit: 2, idsOnly: true)), 1)]))
            var frames = try connection.receive(2)
            var ids: [ArticleID] = []
            var id: UInt32 = 1
            while true {
                let batch = try ScanBatchMessage(decoding: try #require(frames.last).payload)
                ids += batch.ids
                guard batch.nextCursor.readableBytes > 0, id < 10 else { break }
                id += 1
                connection.send(
                    requestBytes([(.scan(ScanMessage(order: .byDate, cursor: batch.nextCursor, limit: 2, idsOnly: true)), id)]))
                frames = try connection.receive(1)
            }
            #expect(ids == ["d1", "d0", "d2", "u1", "u2"].map { ArticleID($0) })
        }
        try await server.stop()
    }

    @Test("STATS requests.in_flight counts requests accepted and not yet answered: a stream that waits, and the STATS")
    func requestsInFlight() async throws {
        try await withLoopbackServer(articles: 1500, configure: { $0.limits.maxQueuedResponseBytes = 16 << 10 }) {
            server in
            // A SCAN of whole articles (about 4 MB, more than loopback socket buffers take) to a reader that never
            // reads: the stream waits for room and stays in flight.
            let stalled = try RawConnection(port: server.port, receiveBufferBytes: 4096)
            stalled.send(requestBytes([(Self.hello(), 0), (.scan(ScanMessage(order: .byID)), 1)]))
            let probe = try RawConnection(port: server.port)
            probe.send(requestBytes([(Self.hello(), 0)]))
            _ = try probe.receive(1)
            // Until the stalled connection's SCAN is seen in flight (its HELLO and SCAN may still be on the way).
            var inFlight: Int64 = 0
            var id: UInt32 = 1
            while inFlight < 2, id < 2_000 {
                probe.send(requestBytes([(.stats, id)]))
                let frame = try #require(try probe.receive(1).first)
                for entry in try StatsMessage(decoding: frame.payload).entries where entry.name == "requests.in_flight" {
                    if case .integer(let value) = entry.value { inFlight = value }
                }
                #expect(inFlight >= 1, "the STATS being answered is itself in flight")
                id += 1
            }
            #expect(inFlight == 2)
            _ = stalled
        }
    }

    @Test("§3.5: a write whose answer might not fit the client's max frame length is refused and writes nothing")
    func writesWhoseAnswerCannotFitWriteNothing() async throws {
        try await withLoopbackServer(articles: 3) { server in
            let connection = try RawConnection(port: server.port)
            // Five good records, then a hundred whose 1,029-byte ids are rejected: the rejections alone pass 64 KiB.
            let good = (0..<5).map { Article(id: ArticleID("fit-\($0)"), title: "标题", paragraphs: ["正文"]) }
            let longIDs = (0..<100).map {
                Article(id: ArticleID(String(repeating: "k", count: 1_025) + "\($0 + 1000)"), title: "t", paragraphs: ["p"])
            }
            // A page whose article alone passes 64 KiB.
            let page = "<html><head><title>长文</title></head><body><article>"
                + (0..<80).map { "<p>第\($0)段：" + String(repeating: "长篇报道的正文。", count: 40) + "</p>" }.joined()
                + "</article></body></html>"
            // DELETE of an existing record and a thousand absent ids: every one could be missing.
            let absent = (0..<1_000).map { ArticleID(String(repeating: "a", count: 100) + "\($0)") }
            connection.send(
                requestBytes([
                    (Self.hello(maxFrameLength: 65_536), 0), (.put(PutMessage(articles: good + longIDs)), 1),
                    (.ingest(IngestMessage(page: ByteBuffer(string: page), url: "https://example.com/long")), 2),
                    (.delete(DeleteMessage(ids: [ArticleID("load-1")] + absent)), 3),
                ]))
            var answers: [UInt32: Response] = [:]
            // Answered in any order; the check of what is stored goes after all three.
            while answers.count < 3 {
                let frame = try #require(try connection.receive(1).first, "the connection closed or went quiet")
                if frame.requestID.rawValue != 0 { answers[frame.requestID.rawValue] = try Response(frame: frame) }
            }
            connection.send(requestBytes([(.getMany(GetManyMessage(ids: good.map(\.id) + [ArticleID("load-1")])), 4)]))
            while answers.count < 4 {
                let frame = try #require(try connection.receive(1).first, "the connection closed or went quiet")
                if frame.requestID.rawValue != 0 { answers[frame.requestID.rawValue] = try Response(frame: frame) }
            }
            for id: UInt32 in [1, 2, 3] {
                guard case .error(let error) = answers[id] else {
                    Issue.record("request \(id): expected LIMIT_EXCEEDED, got \(String(describing: answers[id]))")
                    continue
                }
                #expect(error.code == .limitExceeded, "request \(id)")
                #expect(error.message.contains("nothing was written"), "\(error.message)")
            }
            // Nothing was written: the good records are not there, the record the DELETE named still is.
            guard case .articles(let found) = answers[4] else {
                Issue.record("expected ARTICLES, got \(String(describing: answers[4]))")
                return
            }
            #expect(found.records.count == 1)
            #expect(Set(found.missing) == Set(good.map(\.id)))
        }
    }

    @Test("§9: a record stream to a slow reader waits for room for its final frame too, and ends complete")
    func streamsFinalFrameWaitsForRoom() async throws {
        try await withLoopbackServer(articles: 1500, configure: { $0.limits.maxQueuedResponseBytes = 16 << 10 }) {
            server in
            // Several 1 MiB frames to a reader that reads nothing until it has asked for them all: each frame waits
            // until the one before has left, and so must the final one (it was refused OVERLOADED as if it were a
            // single answer, while the frame before it still waited for the kernel).
            let ids = (0..<1500).map { ArticleID("load-\($0)") }
            let connection = try RawConnection(port: server.port, receiveBufferBytes: 4096)
            connection.send(
                requestBytes([
                    (Self.hello(), 0), (.getMany(GetManyMessage(ids: ids)), 1),
                    (.scan(ScanMessage(order: .byID)), 2),
                ]))
            var records: [UInt32: Int] = [:]
            var finished: Set<UInt32> = []
            while finished.count < 2 {
                let frame = try #require(try connection.receive(1).first, "the connection closed or went quiet")
                let id = frame.requestID.rawValue
                guard id != 0 else { continue }  // WELCOME
                switch try Response(frame: frame) {
                case .articles(let message):
                    records[id, default: 0] += message.records.count
                    #expect(message.missing.isEmpty)
                case .scanBatch(let message):
                    records[id, default: 0] += message.records.count
                case let other:
                    Issue.record("request \(id): expected records, got \(other)")
                }
                if !frame.hasMoreToFollow { finished.insert(id) }
            }
            #expect(records == [1: 1500, 2: 1500])
        }
    }

    @Test("memory: slow readers at the connection limit hold no more than the server-wide answer budget")
    func slowReadersAreBounded() async throws {
        let perConnection = 16 << 10
        let total = 64 << 10
        let slowReaders = 8
        try await withLoopbackServer(
            articles: 300,
            configure: {
                $0.limits.maxConnections = slowReaders + 1
                $0.limits.maxQueuedResponseBytes = perConnection
                $0.limits.maxQueuedResponseBytesTotal = total
            }
        ) { server in
            var readers: [RawConnection] = []
            let flood = requestBytes(
                [(Self.hello(), 0)]
                    // Cheap searches (no snippets) with large answers: the test exercises memory, not the thread
                    // pool the other tests' servers share.
                    + (1...3).map { (.search(SearchRequest(text: "能源", limit: 300, includeSnippets: false)), UInt32($0)) })
            for _ in 0..<slowReaders {
                let reader = try RawConnection(port: server.port, receiveBufferBytes: 4096)
                reader.send(flood)
                readers.append(reader)
            }
            // A well-behaved client on the last slot keeps being served, and watches the server's accounts.
            let probe = try RawConnection(port: server.port)
            probe.send(requestBytes([(Self.hello(), 0)]))
            _ = try probe.receive(1)
            // Until every slow reader's first SEARCH was answered (or refused): by then each connection has
            // produced what it can before its budget stops it.
            var answered: Int64 = 0
            var refused: Int64 = 0
            var peak: Int64 = 0
            var id: UInt32 = 1
            while answered < Int64(slowReaders), id < 2_000 {
                probe.send(requestBytes([(.stats, id)]))
                let frame = try #require(try probe.receive(1).first)
                #expect(frame.opcode == .statsResult, "the probe was not served: \(String(describing: frame.error))")
                answered = 0
                for entry in try StatsMessage(decoding: frame.payload).entries {
                    guard case .integer(let value) = entry.value else { continue }
                    if entry.name.hasPrefix("requests.search.") { answered += value }
                    if entry.name == "responses.refused_for_memory" { refused = value }
                    if entry.name == "responses.queued_bytes_peak" { peak = value }
                }
                id += 1
            }
            #expect(answered >= Int64(slowReaders))
            // The bound (SECURITY.md): the server-wide budget, plus one small answer per connection.
            #expect(peak <= Int64(total + (slowReaders + 1) * (64 << 10)))
            #expect(peak > 0)
            _ = refused
            _ = readers
        }
    }
}
}
