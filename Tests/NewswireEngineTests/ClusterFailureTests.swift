import Foundation
import NewswireModel
import NewswirePostgres
import NewswireSearch
import NewswireStore
import NewswireTestSupport
import Testing

@testable import NewswireEngine

#if canImport(Glibc)
    import Glibc
#endif

/// A cluster node (`newswire-crasher cluster`: a grouped engine over PostgreSQL, acknowledging each durable write)
/// dies, or the PostgreSQL primary under it dies, mid-load.
@Suite(
    "Cluster failures", .serialized,
    .enabled(if: TemporaryPostgres.isAvailable, "skipped: \(TemporaryPostgres.unavailableReason ?? "")"))
struct ClusterFailureTests {
    /// Every acknowledged write (and possibly the one in flight) must be in `engine`, duplicateOf aside.
    static func checkHolds(_ run: CrashRun, _ engine: NewswireEngine, _ what: String) throws {
        var expected: [ArticleID: Article?] = [:]
        run.applyAcknowledged(to: &expected)
        var withInFlight = expected
        if let inFlight = run.inFlight { CrashRun.apply(inFlight, to: &withInFlight) }
        let ids = Array(withInFlight.keys)
        var actual: [ArticleID: Article?] = [:]
        for (id, article) in zip(ids, try engine.articles(ids: ids)) {
            actual[id] = .some(article.map { var a = $0; a.duplicateOf = nil; return a })
        }
        func differences(_ a: [ArticleID: Article?], _ b: [ArticleID: Article?]) -> [ArticleID] {
            Set(a.keys).union(b.keys).filter { (a[$0] ?? nil) != (b[$0] ?? nil) }.sorted()
        }
        let lost = differences(actual, expected)
        #expect(
            lost.isEmpty || differences(actual, withInFlight).isEmpty,
            "\(what): \(lost.count) ids differ from the acknowledged state: \(lost.prefix(5))")
        // The node's index agrees with its records.
        for (id, article) in actual {
            #expect(engine.isIndexed(id) == (article != nil), "\(what): index disagrees on \(id)")
        }
    }

    @Test("kill -9 of a node mid-load loses no acknowledged write: another node and the restarted one hold them all")
    func nodeKilledMidLoad() async throws {
        try await runBlocking {
            let url = try SharedTestPostgres.freshDatabaseURL()
            let observerDirectory = TemporaryDirectory("observer")
            let observer = try NewswireEngine.open(
                store: PostgresArticleStore(url: url), dataDirectory: observerDirectory.path)
            // Closed (its snapshot written) before its directory goes.
            defer { withExtendedLifetime(observerDirectory) { try? observer.close() } }
            let crashedDirectory = TemporaryDirectory("crashed")
            let run = try CrashRun.run(
                mode: "cluster", directory: crashedDirectory.path, seed: 41, killAfterAcks: 60, extraArguments: [url],
                watchdogSeconds: 420)
            #expect(run.terminationSignal == SIGKILL, "the node dies by our SIGKILL; stderr: \(run.standardError)")
            let head = try observer.store.latestSequence
            #expect(try observer.waitUntilApplied(head, timeout: .seconds(60)))
            try Self.checkHolds(run, observer, "observer node")
            let restarted = try NewswireEngine.open(
                store: PostgresArticleStore(url: url), dataDirectory: crashedDirectory.path)
            defer { withExtendedLifetime(crashedDirectory) { try? restarted.close() } }
            try Self.checkHolds(run, restarted, "restarted node")
        }
    }

    /// The writer's store calls must all end once the primary is gone: a statement issued on a connection the
    /// dead primary had just closed was never answered (PostgresNIO drops it), and the writer stalled after the
    /// promotion. Store connections now issue statements on their event loop and bound each wait (see
    /// `StoreConnection` in NewswirePostgres).
    @Test("primary SIGKILLed mid-ingest, sync standby promoted: acknowledged writes survive everywhere, ingest resumes")
    func primaryFailover() async throws {
        try await runBlocking {
            let primary = try TemporaryPostgres()
            let standby = try primary.makeStandby(synchronous: true)
            let database = try primary.createDatabase("failover")
            let url = "postgres://postgres@127.0.0.1:\(primary.port),127.0.0.1:\(standby.port)/\(database)"
            let observerDirectory = TemporaryDirectory("observer")
            let observer = try NewswireEngine.open(
                store: PostgresArticleStore(url: url), dataDirectory: observerDirectory.path)
            defer { withExtendedLifetime(observerDirectory) { try? observer.close() } }
            let writerDirectory = TemporaryDirectory("writer")
            defer { withExtendedLifetime(writerDirectory) {} }
            let killAt = 30
            var failedOverAt: Int?
            let run = try CrashRun.run(
                mode: "cluster", directory: writerDirectory.path, seed: 43, killAfterAcks: killAt + 30,
                extraArguments: [url], watchdogSeconds: 420
            ) { acknowledged in
                guard failedOverAt == nil, acknowledged >= killAt else { return }
                failedOverAt = acknowledged
                try primary.kill9()
                try standby.promote()
            }
            #expect(failedOverAt != nil)
            #expect(
                run.terminationSignal == SIGKILL,
                "the writer kept acknowledging after the failover until we killed it; stderr: \(run.standardError)")
            #expect(run.acknowledged.count >= killAt + 30, "ingest resumed on the promoted standby")
            // The new primary holds every acknowledged write; so does the node that never restarted.
            let newPrimary = try PostgresArticleStore(url: standby.url(database: database))
            defer { try? newPrimary.close() }
            let head = try newPrimary.latestSequence
            #expect(try observer.waitUntilApplied(head, timeout: .seconds(60)), "the observer node follows the new primary")
            try Self.checkHolds(run, observer, "observer node after failover")
            var expected: [ArticleID: Article?] = [:]
            run.applyAcknowledged(to: &expected)
            let stored = try newPrimary.articles(Array(expected.keys))
            var missing = 0
            for ((id, article), actual) in zip(expected, stored) where article != nil {
                var a = actual
                a?.duplicateOf = nil
                if a != article { missing += 1; Issue.record("acknowledged \(id) differs on the new primary") }
                if missing > 5 { break }
            }
            #expect(try observer.stats().storeDescription.contains("\(standby.port)"))
        }
    }
}
