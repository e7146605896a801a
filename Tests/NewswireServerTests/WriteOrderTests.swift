import NIOCore
import NewswireModel
import NewswireProtocol
import NewswireServer
import NewswireTestSupport
import Testing

extension ServerOverLoopback {
    /// README "Durability", PROTOCOL.md §3.3 and §5.14: a connection's writes take effect in arrival order, however
    /// long each one's own work (an INGEST's parse) takes.
    @Suite("Server: one connection's writes in arrival order", .serialized)
    struct WriteOrderTests {
        let hello = Request.hello(HelloMessage(clientName: "write-order-test"))

        static func answer(_ frames: [Frame], id: UInt32) throws -> Response {
            let frame = try #require(frames.first { $0.requestID == RequestID(id) }, "no answer to \(id)")
            return try Response(frame: frame)
        }

        static func storedTitle(_ connection: RawConnection, id: ArticleID, requestID: UInt32) throws -> String? {
            connection.send(requestBytes([(.get(GetMessage(id: id)), requestID)]))
            guard case .article(let message) = try Response(frame: try connection.receive(1)[0]) else { return nil }
            return try message.record.decode().title
        }

        @Test("a PUT pipelined behind an INGEST of the same article (a page that takes long to parse) is applied after it")
        func putBehindSlowIngest() async throws {
            try await withLoopbackServer(articles: 0) { server in
                let connection = try RawConnection(port: server.port)
                connection.send(requestBytes([(hello, 0)]))
                _ = try connection.receive(1)
                // A large page: its parse takes far longer than the PUT's decode.
                let paragraphs = (0..<4_000).map { "<p>第\($0)段：疆电入川工程建设进展顺利，各方协同推进能源合作项目。</p>" }
                let page = "<html><head><title>疆电入川工程进展</title></head><body><h1>疆电入川工程进展</h1>"
                    + paragraphs.joined() + "</body></html>"
                let url = "https://news.example.org/2024/05/order.html"
                let ingest = IngestMessage(page: ByteBuffer(string: page), url: url)
                var dryRun = ingest
                dryRun.dryRun = true
                connection.send(requestBytes([(.ingest(dryRun), 1)]))
                guard case .ingestResult(let parsed) = try Self.answer(try connection.receive(1), id: 1) else {
                    Issue.record("no INGEST_RESULT for the dry run")
                    return
                }
                var correction = try parsed.record.decode()
                correction.title = "更正后的标题"
                correction.paragraphs = ["更正后的正文。"]
                // Both in one segment: the INGEST arrived first, so the PUT's version is what stays.
                connection.send(requestBytes([(.ingest(ingest), 2), (.put(PutMessage(articles: [correction])), 3)]))
                let answers = try connection.receive(2)
                guard case .ingestResult(let ingested) = try Self.answer(answers, id: 2),
                    case .putResult(let put) = try Self.answer(answers, id: 3)
                else {
                    Issue.record("unexpected answers \(answers.map(\.opcode))")
                    return
                }
                #expect(ingested.outcome == .created)
                #expect(put.updated == 1 && put.created == 0, "\(put)")
                #expect(try Self.storedTitle(connection, id: correction.id, requestID: 4) == "更正后的标题")
            }
        }

        @Test("a shutdown without grace answers a write SHUTTING_DOWN only if it did not run: those are not stored, every other is")
        func shutdownAnswersWhatRan() async throws {
            let directory = TemporaryDirectory("write-order-shutdown")
            let server = try await TestServer.start(
                dataDirectory: directory.path, configure: { $0.limits.shutdownGracePeriod = .zero })
            let (answered, stopping) = try await runBlockingAsync { () -> ([UInt32: Response], Task<Void, any Error>) in
                let connection = try RawConnection(port: server.port)
                connection.send(requestBytes([(hello, 0)]))
                _ = try connection.receive(1)
                // 120 writes in flight (the in-flight limit is 128), then the shutdown: some ran, some did not.
                connection.send(
                    requestBytes(
                        (1...120).map { n in
                            let article = Article(
                                id: ArticleID("shutdown-\(n)"), title: "关闭时的写入 \(n)", paragraphs: ["正文 \(n)。"])
                            return (.put(PutMessage(articles: [article])), UInt32(n))
                        }))
                // Once the first is answered the server is working through them: shut it down.
                let first = try connection.receive(1)
                let stopping = Task { try await server.stop() }
                var answered: [UInt32: Response] = [:]
                for frame in try first + connection.receiveUntilClosed().frames
                where (1...120).contains(frame.requestID.rawValue) {
                    answered[frame.requestID.rawValue] = try Response(frame: frame)
                }
                return (answered, stopping)
            }
            try await stopping.value
            let reopened = try await TestServer.start(dataDirectory: directory.path)
            var notRun = 0
            for (n, response) in answered {
                let stored = try reopened.engine.article(id: ArticleID("shutdown-\(n)")) != nil
                switch response {
                case .putResult(let result):
                    #expect(result.created == 1 && stored, "write \(n) answered \(result) but stored: \(stored)")
                case .error(let error) where error.code == .shuttingDown:
                    notRun += 1
                    #expect(!stored, "write \(n) answered SHUTTING_DOWN was stored")
                default:
                    Issue.record("write \(n) answered \(String(describing: response))")
                }
            }
            // Those the server had not read when it closed are dropped unanswered (PROTOCOL.md §6.4); they did
            // not run either.
            for n in 1...120 where answered[UInt32(n)] == nil {
                #expect(try reopened.engine.article(id: ArticleID("shutdown-\(n)")) == nil, "unanswered write \(n) was stored")
            }
            #expect(!answered.isEmpty)
            try await reopened.stop()
        }

        @Test("six PUTs of one id pipelined in one segment leave the last one stored, each answered in order")
        func pipelinedVersions() async throws {
            try await withLoopbackServer(articles: 0) { server in
                let connection = try RawConnection(port: server.port)
                connection.send(requestBytes([(hello, 0)]))
                _ = try connection.receive(1)
                let id = ArticleID("write-order-1")
                var requestID: UInt32 = 1
                for round in 0..<30 {
                    let versions = (0..<6).map { version in
                        Article(id: id, title: "第\(round)轮 版本\(version)", paragraphs: ["正文 \(round) \(version)。"])
                    }
                    let first = requestID
                    connection.send(
                        requestBytes(versions.enumerated().map { (.put(PutMessage(articles: [$1])), first + UInt32($0)) }))
                    let answers = try connection.receive(6)
                    for offset in 0..<6 {
                        guard case .putResult(let result) = try Self.answer(answers, id: first + UInt32(offset)) else {
                            Issue.record("round \(round): no PUT_RESULT for version \(offset)")
                            return
                        }
                        // Every version differs from the one before it: each is an update (the very first a creation).
                        let expectedCreated = round == 0 && offset == 0 ? 1 : 0
                        #expect(result.created == expectedCreated && result.updated == 1 - expectedCreated, "\(result)")
                    }
                    requestID += 6
                    #expect(try Self.storedTitle(connection, id: id, requestID: requestID) == "第\(round)轮 版本5")
                    requestID += 1
                }
            }
        }
    }
}
