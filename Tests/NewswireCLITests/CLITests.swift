import ArticleExtraction
import Foundation
import Logging
import NewswireEngine
import NewswireModel
import NewswireServer
import NewswireTestSupport
import Testing

/// A server for the CLI to talk to: the seed page plus `extra` synthetic articles (for long outputs).
func cliServer(extra: Int = 0) async throws -> TestServer {
    try await TestServer.start(prepare: { engine in
        var quiet = Logger(label: "seeds")
        quiet.logLevel = .critical
        _ = try SeedLoader.load(
            directory: Executables.packageRoot + "/seeds", into: engine, extractor: ArticleExtractor(), logger: quiet)
        if extra > 0 { _ = try engine.put((0..<extra).map(syntheticArticle)) }
    })
}

func syntheticArticle(_ n: Int) -> Article {
    Article(
        id: ArticleID("cli-\(n)"), title: "第\(n)号测试文章 新疆能源合作\(n % 2 == 0 ? " 上海" : "")",
        publishedAt: PublishedTime(secondsSinceEpoch: 1_700_000_000 + Int64(n) * 86_400, utcOffsetSeconds: 28_800),
        source: n % 3 == 0 ? "甲来源" : "乙来源",
        paragraphs: [String(repeating: "这是第\(n)篇用于命令行测试的文章，内容涉及新疆与四川的能源合作。", count: 8)],
        language: "zh")
}

/// A page the server parses into a distinct article (title and body carry `n`).
func page(_ n: Int) -> String {
    let body = (0..<6).map { "<p>第\(n)号页面的第\($0)段：新疆与四川深化能源合作，推进疆电入川等重点项目，保障能源安全。</p>" }
    return """
        <html><head><meta charset="utf-8"><title>第\(n)号测试页面标题</title></head>
        <body><h1>第\(n)号测试页面标题</h1><div class="article">\(body.joined())</div></body></html>
        """
}

/// The JSON document `search --json` printed.
func searchJSON(_ finished: Finished) throws -> (total: Int, ids: [String]) {
    let object = try #require(
        try JSONSerialization.jsonObject(with: Data(finished.stdout.utf8)) as? [String: Any], "\(finished)")
    let hits = try #require(object["hits"] as? [[String: Any]])
    return (try #require(object["total"] as? Int), hits.compactMap { $0["id"] as? String })
}

@Suite("newswire as a user runs it (subprocess)", .serialized, .timeLimit(.minutes(5)))
struct CLITests {
    @Test("a reader that goes away (| head) ends search, stats, get and parse quietly: SIGPIPE or 0, no crash")
    func brokenPipe() async throws {
        let server = try await cliServer(extra: 300)
        defer { Task { try? await server.stop() } }
        let commands: [[String]] = [
            ["search", "新疆", "--limit", "300"], ["stats"], ["get", "a88f8155a19674d9dfee154eb3f71126"],
            ["search", "新疆", "--limit", "300", "--json"],
        ]
        for arguments in commands {
            let finished = try await newswire(arguments, port: server.port, stdoutReaderClosed: true)
            #expect(finished.signal == SIGPIPE || finished.status == 0, "\(arguments): \(finished)")
            #expect(finished.stderr.isEmpty, "\(arguments): \(finished)")
        }
        let parse = try await newswire(["parse", "seeds/000_f02fe202e61b6c80.txt"], stdoutReaderClosed: true)
        #expect(parse.signal == SIGPIPE || parse.status == 0, "\(parse)")
        #expect(parse.stderr.isEmpty, "\(parse)")
        try await server.stop()
    }

    @Test("a mistyped option is a usage error naming the closest one, not a query word")
    func unknownOptions() async throws {
        let mistyped = try await newswire(["search", "新疆", "--limt", "3"], port: 1)
        #expect(mistyped.status == 64, "\(mistyped)")
        #expect(mistyped.stderr.contains("Unknown option '--limt'. Did you mean '--limit'?"), "\(mistyped)")
        let short = try await newswire(["search", "新疆", "-l", "3"], port: 1)
        #expect(short.status == 64, "\(short)")
        #expect(short.stderr.contains("Unknown option '-l'"), "\(short)")
        let ping = try await newswire(["ping", "--prot", "7411"])
        #expect(ping.status == 64 && ping.stderr.contains("Did you mean '--port'?"), "\(ping)")
    }

    @Test("query words starting with - are exclusions, before or after --; options after them still apply")
    func exclusionsAndDoubleDash() async throws {
        let server = try await cliServer(extra: 40)
        defer { Task { try? await server.stop() } }
        let all = try searchJSON(try await newswire(["search", "新疆能源合作", "--json", "--limit", "100"], port: server.port))
        #expect(all.total == 40)
        let afterDashes = try await newswire(["search", "--json", "--limit", "100", "--", "-上海", "新疆能源合作"], port: server.port)
        #expect(afterDashes.status == 0, "\(afterDashes)")
        let excluded = try searchJSON(afterDashes)
        #expect(excluded.total == 20)  // the odd-numbered ones: the even ones say 上海 in the title
        #expect(excluded.ids.allSatisfy { Int($0.dropFirst(4))! % 2 == 1 }, "\(excluded.ids)")
        let inline = try searchJSON(try await newswire(["search", "新疆能源合作", "-上海", "--json", "--limit", "100"], port: server.port))
        #expect(inline.total == 20 && Set(inline.ids) == Set(excluded.ids))
        // A lone exclusion is the server's documented BAD_QUERY (exit 1), not a usage error.
        let lone = try await newswire(["search", "--", "-上海"], port: server.port)
        #expect(lone.status == 1 && lone.stderrLines.count == 1 && lone.stderr.hasPrefix("newswire: BAD_QUERY:"), "\(lone)")
        try await server.stop()
    }

    @Test("connection options before the command, as redis-cli and psql users type them")
    func globalOptionsFirst() async throws {
        let server = try await cliServer()
        defer { Task { try? await server.stop() } }
        let first = try await newswire(["--host", "127.0.0.1", "--port", "\(server.port)", "ping"])
        #expect(first.status == 0 && first.stdout.hasPrefix("pong from 127.0.0.1:\(server.port)"), "\(first)")
        let mixed = try await newswire(["--port=\(server.port)", "--json", "search", "疆电入川"])
        #expect(try searchJSON(mixed).total == 1)
        let after = try await newswire(["ping", "--host", "127.0.0.1", "--port", "\(server.port)"])
        #expect(after.status == 0, "\(after)")
        try await server.stop()
    }

    @Test("the empty query lists every article, with the date and source filters")
    func emptyQueryBrowses() async throws {
        let server = try await cliServer(extra: 30)
        defer { Task { try? await server.stop() } }
        let quoted = try searchJSON(try await newswire(["search", "", "--json", "--limit", "100"], port: server.port))
        #expect(quoted.total == 31)
        let bare = try searchJSON(try await newswire(["search", "--json", "--limit", "100", "--sort", "date"], port: server.port))
        #expect(bare.total == 31)
        #expect(bare.ids.prefix(2) == ["a88f8155a19674d9dfee154eb3f71126", "cli-29"])  // newest first
        let source = try searchJSON(try await newswire(["search", "--json", "--source", "甲来源", "--limit", "100"], port: server.port))
        #expect(source.total == 10)  // n % 3 == 0 for n in 0..<30
        // cli-n is published 1_700_000_000 + n days (2023-11-15 06:13 +08:00 for n = 0).
        let dated = try searchJSON(
            try await newswire(["search", "--json", "--after", "2023-12-01", "--before", "2023-12-05"], port: server.port))
        #expect(Set(dated.ids) == ["cli-16", "cli-17", "cli-18", "cli-19"])
        try await server.stop()
    }

    @Test("Ctrl-C mid-ingest: the line is finished, what was acknowledged is printed with how to resume, exit 130")
    func interruptedIngest() async throws {
        let server = try await cliServer()
        defer { Task { try? await server.stop() } }
        let directory = TemporaryDirectory()
        var paths: [String] = []
        for n in 0..<3 {
            let path = directory.file("page-\(n).html")
            try page(n).write(toFile: path, atomically: true, encoding: .utf8)
            paths.append(path)
        }
        // The fourth input is a FIFO nobody writes to: the first three are sent and answered, then the ingest
        // waits on it, so the interrupt lands mid-ingest with exactly three acknowledged.
        let fifo = directory.file("stalled-page")
        #expect(mkfifo(fifo, 0o600) == 0)
        let ingest = try Subprocess(
            Executables.newswire, ["ingest", "--concurrency", "1"] + paths + [fifo],
            environment: ["NEWSWIRE_ADDR": "127.0.0.1:\(server.port)"])
        // Once it opens the FIFO, it has counted the third answer (with one request in flight it reads the next
        // input only after the previous answer).
        let writer = try await openWhenRead(fifo)
        #expect(try server.engine.stats().articleCount == 4)  // the seed and three pages
        ingest.signal(SIGINT)
        let finished = await ingest.finished()
        close(writer)
        #expect(finished.status == 130, "\(finished)")
        #expect(finished.stderrLines.count == 1, "\(finished)")
        #expect(finished.stderr.contains("interrupted: 3 acknowledged and stored (ingested 3,"), "\(finished)")
        #expect(finished.stderr.contains("Run the same command again to resume"), "\(finished)")
        try await server.stop()
    }

    @Test("a server that goes away mid-ingest is a broken connection, with what was stored and how to resume")
    func brokenConnectionMidIngest() async throws {
        let server = try await cliServer()
        let directory = TemporaryDirectory()
        let first = directory.file("page-0.html")
        try page(0).write(toFile: first, atomically: true, encoding: .utf8)
        let fifo = directory.file("late-page")
        #expect(mkfifo(fifo, 0o600) == 0)
        let ingest = try Subprocess(
            Executables.newswire, ["ingest", "--concurrency", "1", first, fifo],
            environment: ["NEWSWIRE_ADDR": "127.0.0.1:\(server.port)"])
        let writer = try await openWhenRead(fifo)  // the first page is answered and counted
        try await server.stop()
        // Now release the second page: sending it finds the server gone.
        _ = page(1).withCString { write(writer, $0, strlen($0)) }
        close(writer)
        let finished = await ingest.finished()
        #expect(finished.status == 3, "\(finished)")
        #expect(finished.stderrLines.count == 1, "\(finished)")
        #expect(finished.stderr.contains("broke"), "\(finished)")
        #expect(finished.stderr.contains("1 acknowledged before that are stored"), "\(finished)")
        #expect(!finished.stderr.contains("is newswired running"), "\(finished)")
    }

    @Test("a port where another service answers is one line saying it is not a Newswire server, exit 3 (no server reached)")
    func anotherServiceOnThePort() async throws {
        let http = try HeldPort()
        http.answerOnce(with: "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        let finished = try await newswire(["ping", "--port", "\(http.port)"])
        #expect(finished.status == 3, "\(finished)")
        #expect(finished.stderrLines.count == 1, "\(finished)")
        #expect(
            finished.stderr.hasPrefix("newswire: PROTOCOL_VIOLATION: 127.0.0.1:\(http.port) does not answer as a Newswire server"),
            "\(finished)")
        http.close()
    }

    @Test("a refused connection is one line in the user's terms, exit 3, no usage text")
    func refusedConnection() async throws {
        let closed = try HeldPort(listening: false)
        let finished = try await newswire(["ping", "--port", "\(closed.port)"])
        #expect(finished.status == 3, "\(finished)")
        #expect(
            finished.stderr
                == "newswire: CONNECTION_FAILED: cannot connect to 127.0.0.1:\(closed.port): connection refused "
                + "(is newswired running there?)\n", "\(finished)")
        // Several endpoints, none up: the message names them all, not only the first.
        let other = try HeldPort(listening: false)
        let none = try await newswire(
            ["ping"], environment: ["NEWSWIRE_ADDR": "127.0.0.1:\(closed.port),127.0.0.1:\(other.port)"])
        #expect(none.status == 3, "\(none)")
        #expect(
            none.stderr
                == "newswire: CONNECTION_FAILED: cannot connect to any of 127.0.0.1:\(closed.port), "
                + "127.0.0.1:\(other.port): connection refused (is newswired running there?)\n", "\(none)")
        // A name that does not resolve says so.
        let unknown = try await newswire(["ping", "--host", "no-such-host.invalid"])
        #expect(unknown.status == 3, "\(unknown)")
        #expect(
            unknown.stderr == "newswire: CONNECTION_FAILED: cannot connect to no-such-host.invalid:7411: unknown host "
                + "no-such-host.invalid\n", "\(unknown)")
        // The load generator says the same, whether its first connection is the client library's (the ids to GET)
        // or its own (PING only, and the watch bench).
        let pages = FileManager.default.temporaryDirectory.appendingPathComponent("newswire-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: pages, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: pages) }
        try Data("<html><body><p>页</p></body></html>".utf8).write(to: pages.appendingPathComponent("a.html"))
        let refused = "cannot connect to 127.0.0.1:\(closed.port): connection refused (is newswired running there?)\n"
        for (arguments, prefix) in [
            (["bench", "-d", "1s"], "newswire: bench: CONNECTION_FAILED: "),
            (["bench", "-d", "1s", "--mix", "ping=1"], "newswire: bench: "),
            (["bench", "watch", "--watchers", "1", "--pages", pages.path], "newswire: bench watch: "),
        ] {
            let bench = try await newswire(arguments + ["--port", "\(closed.port)"])
            #expect(bench.status == 3, "\(arguments): \(bench)")
            #expect(bench.stderr == prefix + refused, "\(arguments): \(bench)")
        }
        other.close()
        closed.close()
    }

    @Test("several endpoints (NEWSWIRE_ADDR list, --host list): a node that refuses is skipped and another answers")
    func severalEndpoints() async throws {
        let server = try await cliServer()
        defer { Task { try? await server.stop() } }
        let closed = try HeldPort(listening: false)
        let fromEnvironment = try await newswire(
            ["search", "疆电入川", "--json"],
            environment: ["NEWSWIRE_ADDR": "127.0.0.1:\(closed.port),127.0.0.1:\(server.port)"])
        #expect(fromEnvironment.status == 0, "\(fromEnvironment)")
        #expect(try searchJSON(fromEnvironment).ids == ["a88f8155a19674d9dfee154eb3f71126"])
        let fromFlag = try await newswire(
            ["--host", "127.0.0.1:\(closed.port), 127.0.0.1", "--port", "\(server.port)", "get",
             "a88f8155a19674d9dfee154eb3f71126", "--json"])
        #expect(fromFlag.status == 0, "\(fromFlag)")
        #expect(fromFlag.stdout.contains(#""title":"新疆党政代表团赴四川省学习考察""#), "\(fromFlag)")
        for bad in ["127.0.0.1:7411,", "127.0.0.1:http", ":7411"] {
            let refused = try await newswire(["ping", "--host", bad])
            #expect(refused.status == 64, "\(bad): \(refused)")
            #expect(refused.stderr.contains("--host"), "\(bad): \(refused)")
        }
        closed.close()
        try await server.stop()
    }

    @Test("stats --every samples over one connection: --count objects with the time, one per line; bad values are usage errors")
    func statsEvery() async throws {
        let server = try await cliServer()
        defer { Task { try? await server.stop() } }
        let json = try await newswire(["stats", "--every", "0.01", "--count", "3", "--json"], port: server.port)
        #expect(json.status == 0 && json.stderr.isEmpty, "\(json)")
        let lines = json.stdout.split(separator: "\n")
        try #require(lines.count == 3, "\(json)")
        let samples = try lines.map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
        }
        let times = try samples.map { try #require($0["time"] as? Double, "\($0)") }
        #expect(times == times.sorted() && times[0] > 1_600_000_000, "\(times)")
        // One connection for all samples: the server accepted no other while they were taken.
        let accepted = samples.map { $0["connections.accepted"] as? Int }
        #expect(accepted[0] != nil && Set(accepted).count == 1, "\(accepted)")
        #expect(samples.allSatisfy { $0["server.version"] as? String == NewswireVersion.current }, "\(samples)")

        let text = try await newswire(["stats", "--every", "0.01", "--count", "2"], port: server.port)
        #expect(text.status == 0, "\(text)")
        let blocks = text.stdout.components(separatedBy: "\n\n")
        #expect(blocks.count == 2 && blocks.allSatisfy { $0.hasPrefix("time  ") && $0.contains("server.version") }, "\(text)")

        for (arguments, message) in [
            (["stats", "--count", "3"], "--count needs --every"),
            (["stats", "--every", "0"], "--every must be between 0.001 and 86400 seconds"),
            (["stats", "--every", "1", "--count", "0"], "--count must be 1 or more"),
        ] {
            let refused = try await newswire(arguments, port: server.port)
            #expect(refused.status == 64 && refused.stderr.contains(message), "\(arguments): \(refused)")
        }
        try await server.stop()
    }

    @Test("stats with several endpoints asks every node in turn and names it; a node that refuses is said, exit 3")
    func statsPerNode() async throws {
        let first = try await cliServer()
        defer { Task { try? await first.stop() } }
        let second = try await cliServer(extra: 3)
        defer { Task { try? await second.stop() } }
        let nodes = ["127.0.0.1:\(first.port)", "127.0.0.1:\(second.port)"]
        let sampled = try await newswire(
            ["stats", "--host", nodes.joined(separator: ","), "--every", "0.01", "--count", "2", "--json"])
        #expect(sampled.status == 0 && sampled.stderr.isEmpty, "\(sampled)")
        let objects = try sampled.stdout.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
        }
        #expect(objects.map { $0["node"] as? String } == nodes + nodes, "\(sampled)")
        #expect(objects.map { $0["articles.count"] as? Int } == [1, 4, 1, 4], "\(sampled)")
        #expect(objects.allSatisfy { $0["time"] is Double }, "\(sampled)")

        let closed = try HeldPort(listening: false)
        let once = try await newswire(["stats", "--host", "\(nodes[0]),127.0.0.1:\(closed.port)"])
        #expect(once.status == 3, "\(once)")
        #expect(once.stdout.hasPrefix("node  \(nodes[0])\n") && once.stdout.contains("articles.count"), "\(once)")
        #expect(
            once.stderrLines.count == 1 && once.stderr.contains("cannot connect to 127.0.0.1:\(closed.port)"),
            "\(once)")
        closed.close()
        try await first.stop()
        try await second.stop()
    }

    @Test("runtime errors print no usage text: not found exits 2, one line")
    func notFoundIsOneLine() async throws {
        let server = try await cliServer()
        defer { Task { try? await server.stop() } }
        let finished = try await newswire(["get", "0000000000000000000000000000dead"], port: server.port)
        #expect(finished.status == 2, "\(finished)")
        #expect(finished.stderrLines.count == 1 && finished.stderr.hasPrefix("newswire: NOT_FOUND:"), "\(finished)")
        #expect(!finished.stderr.contains("Usage"))
        try await server.stop()
    }

    @Test("ingest of a JSON Lines file without --jsonl says to use --jsonl, before sending anything")
    func jsonLinesHint() async throws {
        let directory = TemporaryDirectory()
        let path = directory.file("records.txt")
        try """
            {"id":"1","title":"一","published":"2024-01-01","source":"s","url":"u","body":"正文"}
            {"id":"2","title":"二","published":"2024-01-02","source":"s","url":"u","body":"正文"}
            """.write(toFile: path, atomically: true, encoding: .utf8)
        let finished = try await newswire(["ingest", path], port: 1)
        #expect(finished.status == 64, "\(finished)")
        #expect(finished.stderr.contains("\(path) holds JSON Lines records, not pages: use --jsonl"), "\(finished)")
    }

    @Test("ingest --jsonl stores each record's last line: corrections a few lines after their article, across batch boundaries")
    func ingestKeepsTheLastVersion() async throws {
        let server = try await TestServer.start()
        defer { Task { try? await server.stop() } }
        let directory = TemporaryDirectory()
        func line(_ n: Int, _ version: String) -> String {
            #"{"id": "correction-\#(n)", "title": "标题\#(n)", "published": "2024-01-01", "source": "测试", "url": null, "body": "正文\#(version) \#(n)"}"#
        }
        // Record n, then (three lines later) its correction: 4,000 lines, eight batches of 500 sent concurrently.
        var lines: [String] = []
        for n in 0..<2_000 {
            lines.append(line(n, "第一版"))
            if n >= 3 { lines.append(line(n - 3, "更正版")) }
        }
        for n in 1_997..<2_000 { lines.append(line(n, "更正版")) }
        let file = directory.file("corrections.jsonl")
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let run = try await newswire(["ingest", "--jsonl", file], port: server.port)
        #expect(run.status == 0, "\(run)")
        var old: [Int] = []
        for n in 0..<2_000 {
            let article = try server.engine.article(id: ArticleID("correction-\(n)"))
            if article?.paragraphs.first?.hasPrefix("正文更正版") != true { old.append(n) }
        }
        #expect(old.isEmpty, "kept an earlier version: \(old)")
        try await server.stop()
    }

    @Test("ingest of a path that is not there is a failed input (exit 1, one line), not a usage error")
    func ingestOfAMissingPath() async throws {
        let server = try await TestServer.start()
        let directory = TemporaryDirectory()
        let finished = try await newswire(["ingest", directory.file("nowhere")], port: server.port)
        #expect(finished.status == 1, "\(finished)")
        #expect(finished.stderr.contains("nowhere: no such file or directory"), "\(finished)")
        #expect(!finished.stderr.contains("USAGE") && !finished.stderr.contains("Usage"), "\(finished)")
        try await server.stop()
    }

    @Test("--limit and --offset: help and errors agree on the range; a negative offset is named as such")
    func limitsAgree() async throws {
        let help = try await newswire(["search", "--help"])
        #expect(help.stdout.contains("0...10000"), "\(help)")
        let over = try await newswire(["search", "x", "--limit", "10001"], port: 1)
        #expect(over.status == 64 && over.stderr.contains("--limit 10001 is outside 0...10000"), "\(over)")
        let negative = try await newswire(["search", "x", "--offset", "-1"], port: 1)
        #expect(negative.status == 64, "\(negative)")
        #expect(negative.stderr.contains("--offset -1 is negative"), "\(negative)")
        #expect(!negative.stderr.contains("Missing value"), "\(negative)")
    }

    @Test("search --help shows the query syntax itself")
    func searchHelpShowsSyntax() async throws {
        let help = try await newswire(["search", "--help"])
        #expect(help.status == 0)
        for piece in ["新疆 OR 四川", "title:", "after:2024-04-01", "-上海", "\"hong kong\"", "every article"] {
            #expect(help.stdout.contains(piece), "missing \(piece)")
        }
    }

    @Test("--version on both executables, the same version")
    func versions() async throws {
        let cli = try await newswire(["--version"])
        let server = try await Subprocess(Executables.newswired, ["--version"]).finished()
        #expect(cli.status == 0 && server.status == 0)
        #expect(cli.stdout == "newswire \(NewswireVersion.current)\n")
        #expect(server.stdout == "newswired \(NewswireVersion.current)\n")
    }

    @Test("every connection option in --help is one the command line accepts before the command")
    func connectionOptionsListed() async throws {
        let help = try await newswire(["ping", "--help"])
        for option in ["--host", "--port", "--token", "--token-file", "--tls", "--tls-ca", "--timeout", "--json"] {
            #expect(help.stdout.contains(option), "\(option) not in ping --help")
        }
    }
}

/// Opens `fifo` for writing once its reader has opened it (polled with O_NONBLOCK on a dispatch thread: a blocking
/// open would wait forever if the reader never came). Returns the descriptor, in blocking mode.
func openWhenRead(_ fifo: String) async throws -> Int32 {
    let descriptor: Int32 = await withCheckedContinuation { continuation in
        DispatchQueue.global().async {
            let deadline = Date().addingTimeInterval(120)
            while Date() < deadline {
                let descriptor = open(fifo, O_WRONLY | O_NONBLOCK)
                if descriptor >= 0 {
                    _ = fcntl(descriptor, F_SETFL, 0)
                    return continuation.resume(returning: descriptor)
                }
                usleep(10_000)
            }
            continuation.resume(returning: -1)
        }
    }
    try #require(descriptor >= 0, "nobody opened \(fifo) for reading")
    return descriptor
}
