import NewswireTestFixtures
import Foundation
import NewswireModel
import NewswireStore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Store durability under kill -9")
struct KillDurabilityTests {
    @Test(
        "acknowledged writes survive SIGKILL mid-stream; the in-flight batch is all-or-nothing; integrity_check ok",
        arguments: [(UInt64(11), 60), (UInt64(23), 150), (UInt64(37), 300)])
    func acknowledgedWritesSurvive(seed: UInt64, killAfterAcks: Int) async throws {
        // Blocks (child processes, synchronous store calls, a long loop): on a thread of its own, not the
        // cooperative pool every loopback server in the test process needs.
        try await runBlocking {
            let dir = TemporaryDirectory("kill\(seed)")
            var expected: [ArticleID: Article?] = [:]
            // Three crashes in a row on the same directory: each run also recovers the previous one's WAL.
            for round in 0..<3 {
                let run = try CrashRun.run(
                    mode: "store", directory: dir.path, seed: seed * 100 + UInt64(round),
                    killAfterAcks: killAfterAcks + round * 17)
                let status = run.exitStatus.map(String.init) ?? "-"
                #expect(
                    run.terminationSignal == SIGKILL,
                    "child must die by our SIGKILL; exit status \(status), stderr: \(run.standardError)")
                #expect(run.acknowledged.count >= killAfterAcks + round * 17)
                run.applyAcknowledged(to: &expected)
                var withInFlight = expected
                if let inFlight = run.inFlight { CrashRun.apply(inFlight, to: &withInFlight) }

                let store = try SQLiteArticleStore(directory: dir.path)
                #expect(try store.integrityCheck() == [])
                // The in-flight operation (begun, not acknowledged) is either fully applied or not at all.
                let actual = try storedState(store, ids: Array(withInFlight.keys))
                #expect(
                    differences(actual, expected) == 0 || differences(actual, withInFlight) == 0,
                    "round \(round): store differs from the acknowledged state in \(differences(actual, expected)) ids")
                // Nothing beyond what was begun: the live ids are exactly the expected ones.
                var scanned: [ArticleID] = []
                var cursor: ScanCursor?
                repeat {
                    let page = try store.scan(order: .id, after: cursor, limit: 500)
                    scanned += page.articles.map(\.id)
                    cursor = page.next
                } while cursor != nil
                let live = Set(actual.compactMap { $0.value == nil ? nil : $0.key })
                #expect(Set(scanned) == live)
                #expect(try store.count() == live.count)
                // From here on the state the store actually holds is the truth the next round builds on.
                expected = actual
                try store.close()
            }
        }
    }

    private func storedState(_ store: SQLiteArticleStore, ids: [ArticleID]) throws -> [ArticleID: Article?] {
        var state: [ArticleID: Article?] = [:]
        for (id, article) in zip(ids, try store.articles(ids)) { state[id] = .some(article) }
        return state
    }

    private func differences(_ a: [ArticleID: Article?], _ b: [ArticleID: Article?]) -> Int {
        Set(a.keys).union(b.keys).filter { (a[$0] ?? nil) != (b[$0] ?? nil) }.count
    }
}
