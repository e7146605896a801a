import Foundation
import Testing

/// The extraction test fixtures (`Tests/ArticleExtractionTests/Fixtures`), as paths the CLI can read.
private func fixture(_ name: String) -> String {
    Executables.packageRoot + "/Tests/ArticleExtractionTests/Fixtures/" + name
}

@Suite("newswire parse and the documented exit codes (subprocess)", .timeLimit(.minutes(5)))
struct ParseAndExitCodeTests {
    @Test("parse keeps going: each bad file is one stderr line naming it, the good ones print in order, exit 1")
    func parseReportsEachBadFile() async throws {
        let files = ["utf8-news.html", "empty.txt", "image.png", "undecodable.txt", "english.html", "no-article.html"]
        let run = try await newswire(["parse", "--json", "--jobs", "2"] + files.map(fixture))
        #expect(run.status == 1, "\(run)")
        let out = run.stdout.split(separator: "\n").map(String.init)
        #expect(out.count == 2, "\(run)")
        #expect(out.first?.hasPrefix("{\"id\":") == true && out.first?.contains("示例市召开春季农业生产现场推进会") == true)
        #expect(out.last?.contains("City Council Approves New Riverside Park") == true)
        #expect(run.stderrLines.count == 4, "\(run)")
        for (line, file) in zip(run.stderrLines, ["empty.txt", "image.png", "undecodable.txt", "no-article.html"]) {
            #expect(line.hasPrefix("newswire parse: \(fixture(file)): "), "\(line)")
        }

        let summary = try await newswire(["parse", fixture("jsonld.html")])
        #expect(summary.status == 0, "\(summary)")
        #expect(summary.stdout.contains("title         长江流域开展水生生物多样性调查"), "\(summary)")
        #expect(summary.stderr.isEmpty, "\(summary)")
    }

    /// Files anywhere among the options and after `--` all parse, in argument order, as each file alone prints it.
    @Test("many files among options and after --: every one parses, in argument order")
    func manyFilesAmongOptions() async throws {
        let names = ["utf8-news.html", "english.html", "jsonld.html"]
        var alone: [String: String] = [:]
        for name in names {
            let run = try await newswire(["parse", "--json", fixture(name)])
            #expect(run.status == 0, "\(run)")
            alone[name] = run.stdout
        }
        let order = (0..<60).map { names[($0 * 7) % names.count] }
        let arguments =
            ["parse", fixture(order[0]), "--json"] + order[1..<30].map(fixture) + ["--jobs", "2"]
            + order[30..<40].map(fixture) + ["--timezone", "+08:00", "--"] + order[40...].map(fixture)
        let run = try await newswire(arguments)
        #expect(run.status == 0, "\(run)")
        #expect(run.stdout == order.map { alone[$0]! }.joined(), "\(run)")
    }

    /// README "Exit codes": 0 success, 1 the server answered with an error or an input failed, 2 not found,
    /// 3 cannot reach the server, 64 usage error (130, Ctrl-C, has its own test in CLITests).
    @Test("each documented exit code, from the command that produces it")
    func documentedExitCodes() async throws {
        let server = try await cliServer()
        defer { Task { try? await server.stop() } }
        let refusing = try HeldPort(listening: false)
        let cases: [(arguments: [String], port: Int?, status: Int32)] = [
            (["ping"], server.port, 0),
            (["get", "a88f8155a19674d9dfee154eb3f71126"], server.port, 0),
            (["parse", fixture("utf8-news.html")], nil, 0),
            (["search", "-上海"], server.port, 1),
            (["parse", fixture("empty.txt")], nil, 1),
            (["get", "0000000000000000000000000000dead"], server.port, 2),
            (["ping"], refusing.port, 3),
            (["get"], server.port, 64),
            (["search", "x", "--limit", "-1"], server.port, 64),
            (["no-such-command"], nil, 64),
        ]
        for (arguments, port, status) in cases {
            let run: Finished
            if let port { run = try await newswire(arguments, port: port) } else { run = try await newswire(arguments) }
            #expect(run.status == status, "newswire \(arguments.joined(separator: " ")): \(run)")
            if status != 0 { #expect(!run.stderr.isEmpty, "newswire \(arguments.joined(separator: " ")): \(run)") }
        }
        refusing.close()
        try await server.stop()
    }
}
