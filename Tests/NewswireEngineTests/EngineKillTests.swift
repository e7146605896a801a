import NewswireTestSupport
import Foundation
import NewswireEngine
import NewswireModel
import NewswireSearch
import NewswireStore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Engine under kill -9")
struct EngineKillTests {
    @Test(
        "after SIGKILL mid-stream the reopened engine holds and finds every acknowledged write, and nothing deleted",
        arguments: [("engine", UInt64(5), 40), ("engine", UInt64(9), 120), ("grouped", UInt64(7), 80)])
    func acknowledgedWritesAreSearchable(mode: String, seed: UInt64, killAfterAcks: Int) async throws {
        // Blocks (child processes, synchronous store calls, a long loop): on a thread of its own, not the
        // cooperative pool every loopback server in the test process needs.
        try await runBlocking {
            let dir = TemporaryDirectory("enginekill\(seed)")
            var expected: [ArticleID: Article?] = [:]
            var sources: [EngineStartup.Source] = []
            for round in 0..<2 {
                let run = try CrashRun.run(
                    mode: mode, directory: dir.path, seed: seed * 100 + UInt64(round), killAfterAcks: killAfterAcks)
                let status = run.exitStatus.map(String.init) ?? "-"
                #expect(
                    run.terminationSignal == SIGKILL,
                    "child must die by our SIGKILL; exit status \(status), stderr: \(run.standardError)")
                run.applyAcknowledged(to: &expected)
                var withInFlight = expected
                if let inFlight = run.inFlight { CrashRun.apply(inFlight, to: &withInFlight) }

                let engine = try NewswireEngine.open(dataDirectory: dir.path)
                sources.append(engine.startup.source)
                // The engine owns duplicateOf; compare everything else.
                var actual: [ArticleID: Article?] = [:]
                for (id, article) in zip(Array(withInFlight.keys), try engine.articles(ids: Array(withInFlight.keys))) {
                    actual[id] = .some(article.map { var a = $0; a.duplicateOf = nil; return a })
                }
                #expect(
                    differences(actual, expected) == 0 || differences(actual, withInFlight) == 0,
                    "round \(round): \(differences(actual, expected)) ids differ from the acknowledged state")
                let live = actual.compactMap { $0.value }
                #expect(engine.indexedCount == live.count)
                #expect(try engine.stats().articleCount == live.count)
                // Search a spread of the live articles (each search is a full scan in a debug build).
                let sorted = live.sorted { $0.id < $1.id }
                let step = max(1, sorted.count / 60)
                for article in stride(from: 0, to: sorted.count, by: step).map({ sorted[$0] }) {
                    // The title is "崩溃测试 <marker>"; the marker word is unique to this version of this operation.
                    let marker = String(article.title.split(separator: " ").last!)
                    let hits = try engine.search(SearchRequest(text: marker, limit: 20)).hits.map(\.id)
                    #expect(hits.contains(article.id), "\(article.id) not found by \(marker) after restart")
                }
                for (id, article) in actual where article == nil {
                    #expect(engine.isIndexed(id) == false, "deleted \(id) still indexed")
                }
                expected = actual
                try engine.close()
            }
            // The crasher snapshots every 40 changes, so at least the second open started from a snapshot.
            #expect(sources.last == .snapshot)
        }
    }

    private func differences(_ a: [ArticleID: Article?], _ b: [ArticleID: Article?]) -> Int {
        Set(a.keys).union(b.keys).filter { (a[$0] ?? nil) != (b[$0] ?? nil) }.count
    }
}
