import Foundation
import NewswireClient
import NewswireTestSupport
import Testing

@Suite("newswire bench --histogram, --plot and bench plot (subprocess)", .serialized, .timeLimit(.minutes(5)))
struct BenchOutputTests {
    @Test("Ctrl-C stops a run early: it reports what it measured and exits 130", arguments: ["closed", "open"])
    func interrupted(mode: String) async throws {
        let server = try await cliServer(extra: 0)
        defer { Task { try? await server.stop() } }
        let loop = mode == "open" ? ["--rate", "2000"] : []
        let bench = try Subprocess(
            Executables.newswire,
            ["bench", "--connections", "2", "--duration", "10m", "--warmup", "0", "--mix", "ping=1", "--json"] + loop,
            environment: ["NEWSWIRE_ADDR": "127.0.0.1:\(server.port)"])
        // Interrupted once requests are being answered, far before the ten minutes it asked for.
        let client = NewswireClient(configuration: .init(host: "127.0.0.1", port: server.port))
        var answered = false
        let deadline = ContinuousClock.now + .seconds(60)
        while !answered, ContinuousClock.now < deadline {
            if case .integer(let pings)? = try await client.stats()["requests.ping.ok"], pings > 100 { answered = true }
            else { try await Task.sleep(for: .milliseconds(20)) }
        }
        await client.shutdown()
        #expect(answered, "the bench never got going")
        bench.signal(SIGINT)
        let guardTask = Task {
            try await Task.sleep(for: .seconds(60))
            bench.signal(SIGKILL)
        }
        let finished = await bench.finished()
        guardTask.cancel()
        #expect(finished.status == 130, "\(finished)")
        #expect(finished.stderr.contains("stopping early"), "\(finished)")
        let result = try #require(try JSONSerialization.jsonObject(with: Data(finished.stdout.utf8)) as? [String: Any])
        #expect((result["requests"] as? Int ?? 0) > 0, "\(result)")
        #expect((result["errors"] as? [String: Any])?.isEmpty ?? true, "no request lost to the stop: \(result)")
    }

    @Test("an open-loop run writes the corrected and uncorrected .hgrm files and a plot; bench plot compares them")
    func histogramsAndPlots() async throws {
        let server = try await cliServer(extra: 20)
        defer { Task { try? await server.stop() } }
        let directory = TemporaryDirectory()
        let hgrm = directory.file("run.hgrm")
        let svg = directory.file("run.svg")
        let run = try await newswire(
            ["bench", "--connections", "2", "--pipeline", "4", "--rate", "400", "--duration", "500ms", "--warmup", "0",
             "--histogram", hgrm, "--plot", svg, "--json"], port: server.port)
        #expect(run.status == 0 || run.status == 1, "\(run)")  // 1: some requests NOT_SENT on a busy machine
        let result = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let answered = try #require(result["requests"] as? Int)
        for path in [hgrm, directory.file("run.service.hgrm"), svg] {
            #expect(FileManager.default.fileExists(atPath: path), "\(path) is missing after \(run)")
        }
        for path in [hgrm, directory.file("run.service.hgrm")] {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            #expect(text.hasPrefix("       Value     Percentile TotalCount 1/(1-Percentile)"))
            #expect(text.contains("Total count    = \(String(repeating: " ", count: 12 - String(answered).count))\(answered)]"))
        }
        let drawn = try String(contentsOfFile: svg, encoding: .utf8)
        #expect(drawn.contains("(corrected)") && drawn.contains("(uncorrected)"))
        let comparison = directory.file("cmp.svg")
        let plot = try await newswire(["bench", "plot", "first=\(hgrm)", directory.file("run.service.hgrm"), "-o", comparison])
        #expect(plot.status == 0, "\(plot)")
        let chart = try String(contentsOfFile: comparison, encoding: .utf8)
        #expect(chart.components(separatedBy: "<polyline").count - 1 == 2)
        #expect(chart.contains(">first<") && chart.contains(">run.service<"))
        let bad = try await newswire(["bench", "plot", svg, "-o", comparison])
        #expect(bad.status == 1 && bad.stderrLines.count == 1, "\(bad)")
        try await server.stop()
    }

    @Test("bench and bench watch take the token from --token-file and NEWSWIRE_TOKEN_FILE, as every remote command does; they refuse TLS options")
    func tokenFromFile() async throws {
        let writeToken = "bench-write-token-1f2e3d"
        let readToken = "bench-read-token-4c5b6a"
        let server = try await TestServer.start(
            configure: {
                $0.writeToken = writeToken
                $0.readToken = readToken
            }, prepare: { engine in _ = try engine.put([syntheticArticle(1), syntheticArticle(2)]) })
        defer { Task { try? await server.stop() } }
        let directory = TemporaryDirectory()
        let readFile = directory.file("read.token")
        let writeFile = directory.file("write.token")
        try "\(readToken)\n".write(toFile: readFile, atomically: true, encoding: .utf8)
        try "\(writeToken)\n".write(toFile: writeFile, atomically: true, encoding: .utf8)
        let get = ["bench", "--connections", "1", "--requests", "20", "--warmup", "0", "--json"]
        let address = ["NEWSWIRE_ADDR": "127.0.0.1:\(server.port)"]
        for (arguments, environment) in [
            (get + ["--token-file", readFile], address),
            (get, address.merging(["NEWSWIRE_TOKEN_FILE": readFile]) { $1 }),
        ] {
            let run = try await Subprocess(Executables.newswire, arguments, environment: environment).finished()
            #expect(run.status == 0, "\(arguments) \(environment): \(run)")
            let result = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
            #expect(result["requests"] as? Int == 20, "\(run)")
        }
        let withoutToken = try await Subprocess(Executables.newswire, get, environment: address).finished()
        #expect(withoutToken.status == 1 && withoutToken.stderr.contains("UNAUTHORISED"), "\(withoutToken)")
        let queries = directory.file("standing.txt")
        try "疆电入川\n".write(toFile: queries, atomically: true, encoding: .utf8)
        let records = directory.file("records.jsonl")
        let record = #"{"id": "bench-watch-token-1", "title": "疆电入川工程投运", "published": "2024-05-01", "source": "测试", "url": null, "body": "疆电入川工程今天投运。"}"#
        try (record + "\n").write(toFile: records, atomically: true, encoding: .utf8)
        let watch = try await Subprocess(
            Executables.newswire,
            ["bench", "watch", "--watchers", "1", "--queries", queries, "--jsonl", records, "--token-file", writeFile],
            environment: address
        ).finished()
        #expect(watch.status == 0, "\(watch)")
        let watched = try #require(try JSONSerialization.jsonObject(with: Data(watch.stdout.utf8)) as? [String: Any])
        #expect(watched["events"] as? Int == 1, "\(watch)")
        for command in [get, ["bench", "watch", "--watchers", "1", "--queries", queries, "--jsonl", records]] {
            let tls = try await Subprocess(Executables.newswire, command + ["--tls"], environment: address).finished()
            #expect(tls.status == 64 && tls.stderr.contains("speaks plain TCP only"), "\(tls)")
        }
        try await server.stop()
    }

    @Test("bench with several nodes spreads its connections over them; a node it cannot reach fails the run, named")
    func severalNodes() async throws {
        let first = try await TestServer.start()
        let second = try await TestServer.start()
        defer { Task { try? await first.stop(); try? await second.stop() } }
        let hosts = "127.0.0.1:\(first.port),127.0.0.1:\(second.port)"
        let run = try await newswire(
            ["bench", "--host", hosts, "--connections", "4", "--requests", "200", "--warmup", "0", "--mix", "ping=1", "--json"])
        #expect(run.status == 0, "\(run)")
        let result = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect(result["target"] as? String == hosts, "\(result)")
        for server in [first, second] {
            let client = NewswireClient(configuration: .init(host: "127.0.0.1", port: server.port))
            let pings = try await client.stats()["requests.ping.ok"]
            await client.shutdown()
            #expect(pings == .integer(100), "each node gets half the connections: \(String(describing: pings))")
        }
        let closed = try HeldPort(listening: false)
        let down = try await newswire(
            ["bench", "--host", "127.0.0.1:\(first.port),127.0.0.1:\(closed.port)", "--connections", "2", "--requests",
             "20", "--warmup", "0", "--mix", "ping=1"])
        #expect(down.status == 3 && down.stderr.contains("127.0.0.1:\(closed.port)"), "\(down)")
        try await first.stop()
        try await second.stop()
    }

    @Test("a --requests run cut by --time-limit says so and exits 1; --requests with --duration is a usage error")
    func requestCountNotReached() async throws {
        let server = try await TestServer.start()
        defer { Task { try? await server.stop() } }
        // A million PINGs one at a time cannot be answered within 200 ms.
        let cut = try await newswire(
            ["bench", "--connections", "1", "--requests", "1000000", "--time-limit", "200ms", "--warmup", "0", "--mix", "ping=1"],
            port: server.port)
        #expect(cut.status == 1, "\(cut)")
        #expect(cut.stderr.contains("newswire: bench: --time-limit 200ms ended the run after"), "\(cut)")
        #expect(cut.stderr.contains("of 1000000 requests were answered"), "\(cut)")
        // An empty store answered: nothing to GET is the server's answer (exit 1), not an unreachable server (3).
        let empty = try await newswire(["bench", "--requests", "10", "--warmup", "0"], port: server.port)
        #expect(empty.status == 1 && empty.stderr.contains("stores no articles"), "\(empty)")
        let both = try await newswire(["bench", "--requests", "10", "--duration", "1s"], port: server.port)
        #expect(both.status == 64 && both.stderr.contains("give --duration or --requests, not both"), "\(both)")
        try await server.stop()
    }

    /// `--queries` is declared by `bench` too; the subcommand must still get the path given after it.
    @Test("bench watch reads the --queries file it is given, not its default, from any working directory")
    func benchWatchQueriesFile() async throws {
        let server = try await cliServer()
        defer { Task { try? await server.stop() } }
        let directory = TemporaryDirectory()
        let queries = directory.file("standing.txt")
        try "# one standing query\n疆电入川\n".write(toFile: queries, atomically: true, encoding: .utf8)
        let records = directory.file("records.jsonl")
        let record = #"{"id": "bench-watch-queries-1", "title": "疆电入川工程投运", "published": "2024-05-01", "source": "测试", "url": null, "body": "疆电入川工程今天投运。"}"#
        try (record + "\n").write(toFile: records, atomically: true, encoding: .utf8)
        // The lean watchers, then the client library's (the record deleted in between, so it is new again): each
        // sees exactly its one event.
        for (index, reader) in [[], ["--client-library"]].enumerated() {
            if index == 1 { _ = try server.engine.delete(ids: ["bench-watch-queries-1"]) }
            let run = try await Subprocess(
                Executables.newswire,
                ["bench", "watch", "--watchers", "1", "--queries", queries, "--jsonl", records] + reader,
                environment: ["NEWSWIRE_ADDR": "127.0.0.1:\(server.port)"], currentDirectory: directory.path
            ).finished()
            #expect(run.status == 0, "\(run)")
            let result = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
            #expect(result["events"] as? Int == 1, "\(reader) \(run)")
        }
        try await server.stop()
    }
}
