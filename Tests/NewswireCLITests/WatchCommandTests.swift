import Foundation
import NewswireClient
import NewswireEngine
import NewswireModel
import NewswireTestSupport
import Testing

/// `newswire watch` as a user runs it: one JSON object per line, Ctrl-C prints where to resume.
@Suite("newswire watch (subprocess)", .serialized, .timeLimit(.minutes(5)))
struct WatchCommandTests {
    static func article(_ n: Int, matching: Bool) -> Article {
        Article(
            id: ArticleID("watch-cli-\(n)"), title: matching ? "疆电入川 工程 \(n)" : "体育 \(n)",
            publishedAt: PublishedTime(secondsSinceEpoch: 1_710_000_000 + Int64(n), utcOffsetSeconds: 28_800),
            source: "测试来源", paragraphs: [matching ? "第\(n)篇：疆电入川。" : "第\(n)篇：比赛。"], language: "zh")
    }

    static func event(_ line: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
    }

    @Test("--json prints one event per line; Ctrl-C prints the position; --since resumes with nothing twice")
    func tailAndResume() async throws {
        let server = try await TestServer.start()
        defer { Task { try? await server.stop() } }
        let store = server.engine.storeIdentifier
        let start = "\(try server.engine.latestPosition())@\(store)"
        let first = try Subprocess(
            Executables.newswire, ["watch", "疆电入川", "--json", "--since", start],
            environment: ["NEWSWIRE_ADDR": "127.0.0.1:\(server.port)"])
        _ = try server.engine.put((0..<4).map { Self.article($0, matching: $0 != 1) })
        let third = try #require(await first.stdoutLine { $0.contains("watch-cli-3") })
        first.signal(SIGINT)
        let stopped = await first.finished()
        #expect(stopped.status == 130, "\(stopped)")
        let lines = stopped.stdout.split(separator: "\n").map(String.init)
        let all = try lines.map(Self.event)
        // Written before or after the watch was registered: when replayed, the article that does not match comes
        // as unmatched (the replay cannot tell whether the client saw it match before); live, it is not sent.
        #expect(all.filter { $0["kind"] as? String == "unmatched" }.allSatisfy { $0["id"] as? String == "watch-cli-1" })
        let events = all.filter { $0["kind"] as? String != "unmatched" }
        #expect(events.map { $0["id"] as? String } == ["watch-cli-0", "watch-cli-2", "watch-cli-3"])
        #expect(events.allSatisfy { ($0["position"] as? String)?.hasSuffix("@" + store) == true })
        #expect(try Self.event(third)["title"] as? String == "疆电入川 工程 3")
        let resume = try #require(
            stopped.stderrLines.first { $0.contains("resume with --since") }?.components(separatedBy: "--since ").last)
        #expect(resume == events.last?["position"] as? String)

        // Written while nobody watched: a new match, and an article it printed updated so it no longer matches.
        // The resumed watch replays both (the second as unmatched), and nothing it printed before.
        _ = try server.engine.put([Self.article(4, matching: true), Self.article(0, matching: false)])
        let second = try Subprocess(
            Executables.newswire, ["watch", "疆电入川", "--json", "--since", resume],
            environment: ["NEWSWIRE_ADDR": "127.0.0.1:\(server.port)"])
        _ = try #require(await second.stdoutLine { $0.contains("watch-cli-0") })
        second.signal(SIGINT)
        let resumed = await second.finished()
        let replayed = try resumed.stdout.split(separator: "\n").map { try Self.event(String($0)) }
        #expect(replayed.map { $0["id"] as? String } == ["watch-cli-4", "watch-cli-0"], "\(resumed)")
        #expect(replayed.map { $0["kind"] as? String } == ["changed", "unmatched"])
    }

    @Test("a reader that goes away ends the watch at once, with no event to write (as `tail -f | head` does)")
    func readerGoesAway() async throws {
        let server = try await TestServer.start()
        defer { Task { try? await server.stop() } }
        // Nothing matches and nothing is written: only the closed pipe can end it.
        let watch = try Subprocess(
            Executables.newswire, ["watch", "不会出现的词语"], environment: ["NEWSWIRE_ADDR": "127.0.0.1:\(server.port)"],
            stdoutReaderClosed: true)
        await Self.expectEndedByItsReaderLeaving(watch)
    }

    /// Waits for `watch` to end (bounded, not timed: a watch that missed its reader leaving would run until the
    /// bound kills it) and expects it to have said where to resume, then ended by SIGPIPE.
    static func expectEndedByItsReaderLeaving(
        _ watch: Subprocess, sourceLocation: SourceLocation = #_sourceLocation
    ) async {
        let guardTask = Task {
            try await Task.sleep(for: .seconds(60))
            watch.signal(SIGKILL)
        }
        let finished = await watch.finished()
        guardTask.cancel()
        #expect(finished.signal == SIGPIPE, "ended as a filter whose reader left: \(finished)", sourceLocation: sourceLocation)
        #expect(finished.stderr.contains("(its reader went away)"), "\(finished)", sourceLocation: sourceLocation)
    }

    @Test("a reader gone when events are written: the watch still says where to resume before SIGPIPE ends it")
    func readerGoneWhileWriting() async throws {
        let server = try await TestServer.start()
        defer { Task { try? await server.stop() } }
        _ = try server.engine.put((0..<200).map { Self.article($0, matching: true) })
        // A replay from the start writes at once into a pipe whose reader is gone: the write's EPIPE, not the
        // poll on the idle pipe, is what finds it (before, that killed the process with nothing said).
        let watch = try Subprocess(
            Executables.newswire, ["watch", "疆电入川", "--from-start"],
            environment: ["NEWSWIRE_ADDR": "127.0.0.1:\(server.port)"], stdoutReaderClosed: true)
        await Self.expectEndedByItsReaderLeaving(watch)
    }

    @Test("a watch the server refuses for its watch limit says so on stderr while it waits to start")
    func refusedAtTheWatchLimit() async throws {
        let server = try await TestServer.start(configure: { $0.limits.maxWatches = 1 })
        defer { Task { try? await server.stop() } }
        let environment = ["NEWSWIRE_ADDR": "127.0.0.1:\(server.port)"]
        let first = try Subprocess(Executables.newswire, ["watch", "能源"], environment: environment)
        let observer = NewswireClient(configuration: .init(port: server.port))
        // Bounded: the first watch is registered before the second asks.
        let deadline = ContinuousClock.now + .seconds(60)
        while try await observer.stats()["watches.open"] != .integer(1), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        let second = try Subprocess(Executables.newswire, ["watch", "电网"], environment: environment)
        // Bounded, not timed: a watch that never says why it waits is killed here and fails below.
        let guardTask = Task {
            try await Task.sleep(for: .seconds(60))
            second.signal(SIGKILL)
        }
        let said = await second.stderrLine { $0.contains("OVERLOADED") }
        guardTask.cancel()
        #expect(said?.contains("--max-watches") == true, "\(said ?? "stderr closed")")
        #expect(said?.contains("retrying in") == true, "\(said ?? "")")
        second.signal(SIGINT)
        first.signal(SIGINT)
        #expect(await second.finished().status == 130)
        #expect(await first.finished().status == 130)
        await observer.shutdown()
    }

    @Test("a bad query and a malformed --since are errors with their exit codes")
    func errors() async throws {
        let server = try await TestServer.start()
        defer { Task { try? await server.stop() } }
        let bad = try await newswire(["watch", "\"疆电入川"], port: server.port)
        #expect(bad.status == 1 && bad.stderr.contains("BAD_QUERY"), "\(bad)")
        let malformed = try await newswire(["watch", "能源", "--since", "yesterday"], port: server.port)
        #expect(malformed.status == 64, "\(malformed)")
        let foreign = try await newswire(["watch", "能源", "--since", "1@another-store"], port: server.port)
        #expect(foreign.status == 1 && foreign.stderr.contains("UNKNOWN_POSITION"), "\(foreign)")
    }
}
