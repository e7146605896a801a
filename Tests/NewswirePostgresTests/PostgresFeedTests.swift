import Foundation
import NewswireModel
import NIOConcurrencyHelpers
import NewswirePostgres
import NewswireStore
import NewswireTestSupport
import Testing

/// The hard part of cluster mode's store: a change feed that never skips a write, whoever commits it.
@Suite(
    "PostgreSQL change feed",
    .enabled(if: TemporaryPostgres.isAvailable, "skipped: \(TemporaryPostgres.unavailableReason ?? "")"))
struct PostgresFeedTests {
    /// Writers on four store instances (four nodes: separate connection pools) commit batches concurrently while
    /// two followers read the feed in small pages, each from where it stopped. A feed whose positions could
    /// commit out of order (a plain sequence) lets a follower pass a position whose transaction is still open, so
    /// it never sees that write: its final state would differ from the primary's.
    @Test("followers reading during concurrent writers on several nodes end with exactly the primary's set")
    func gapFreeUnderConcurrentWriters() async throws {
        try await runBlocking {
            let url = try SharedTestPostgres.freshDatabaseURL()
            let writers = try (0..<4).map { _ in try PostgresArticleStore(url: url) }
            let followerStores = try (0..<2).map { _ in try PostgresArticleStore(url: url) }
            defer { for store in writers + followerStores { try? store.close() } }
            let writesPerWriter = 60
            let done = NIOLockedValueBox(0)
            let failures = NIOLockedValueBox<[String]>([])
            let group = DispatchGroup()
            for (w, store) in writers.enumerated() {
                group.enter()
                Thread {
                    defer {
                        done.withLockedValue { $0 += 1 }
                        group.leave()
                    }
                    var random = SplitMix64(seed: UInt64(w) + 1)
                    do {
                        for step in 0..<writesPerWriter {
                            // Ids overlap across writers, so updates and deletes race with inserts of the same id.
                            let id = ArticleID("g\(random.next(below: 40))")
                            if random.next(below: 5) == 0 {
                                _ = try store.delete(id)
                            } else {
                                let batch = (0..<(1 + random.next(below: 3))).map { k in
                                    sampleArticle(
                                        k == 0 ? id.rawValue : "g\(random.next(below: 40))", title: "w\(w) s\(step) k\(k)")
                                }
                                _ = try store.upsert(batch)
                            }
                        }
                    } catch {
                        failures.withLockedValue { $0.append("writer \(w): \(error)") }
                    }
                }.start()
            }
            // Followers poll while the writers run, then drain to the head.
            var followed: [[ArticleID: Article]] = []
            for store in followerStores {
                var state: [ArticleID: Article] = [:]
                var position: UInt64 = 0
                var pages = 0
                while true {
                    let writersDone = done.withLockedValue { $0 } == writers.count
                    let page = try store.changes(since: position, limit: 3)
                    for change in page {
                        #expect(change.sequence > position, "positions only grow")
                        state[change.id] = change.article
                        position = change.sequence
                    }
                    pages += 1
                    if page.isEmpty, writersDone { break }
                }
                #expect(pages > 1)
                followed.append(state)
            }
            group.wait()
            #expect(failures.withLockedValue { $0 } == [])
            // The primary's set, read in one go after every writer finished.
            let primary = followerStores[0]
            var expected: [ArticleID: Article] = [:]
            var cursor: ScanCursor?
            repeat {
                let page = try primary.scan(order: .id, after: cursor, limit: 100)
                for article in page.articles { expected[article.id] = article }
                cursor = page.next
            } while cursor != nil
            #expect(!expected.isEmpty)
            for (n, state) in followed.enumerated() {
                let missing = Set(expected.keys).subtracting(state.keys)
                let extra = Set(state.keys).subtracting(expected.keys)
                let stale = expected.filter { state[$0.key] != nil && state[$0.key] != $0.value }.map(\.key)
                #expect(
                    missing.isEmpty && extra.isEmpty && stale.isEmpty,
                    "follower \(n): missing \(missing.sorted()), extra \(extra.sorted()), stale \(stale.sorted())")
            }
        }
    }

    @Test("a libpq-style URL parses into hosts, user and database; the password never appears in its description")
    func urlParsing() async throws {
        try await runBlocking {
            let url = try PostgresStoreURL(
                parsing: "postgres://news:s3cret@db1:5433,db2/archive", environment: [:])
            #expect(url.hosts == [.init(name: "db1", port: 5433), .init(name: "db2", port: 5432)])
            #expect(url.username == "news")
            #expect(url.database == "archive")
            #expect(url.password == "s3cret")
            #expect(!url.description.contains("s3cret"))
            let fromEnvironment = try PostgresStoreURL(
                parsing: "postgresql://news@h/archive", environment: ["PGPASSWORD": "pw"])
            #expect(fromEnvironment.password == "pw")
            let passfile = TemporaryDirectory()
            let path = passfile.file("pgpass")
            try "# comment\nother:*:*:*:no\nh:5432:archive:news:frompass\n".write(
                toFile: path, atomically: true, encoding: .utf8)
            #expect(
                try PostgresStoreURL(parsing: "postgres://news@h/archive", environment: ["PGPASSFILE": path]).password
                    == "frompass")
            for bad in ["mysql://x@h/db", "postgres://x@/db", "postgres://x@h:99999/db", "postgres://x@h1,,h2/db"] {
                let error = #expect(throws: StoreError.self) { try PostgresStoreURL(parsing: bad, environment: [:]) }
                #expect(error?.code == .invalidArgument, "\(bad)")
            }
        }
    }

    @Test("opening a store on hosts where none is reachable fails with an error naming every host tried")
    func noPrimary() async throws {
        try await runBlocking {
            let url = try PostgresStoreURL(parsing: "postgres://postgres@127.0.0.1:1,127.0.0.1:2/x", environment: [:])
            let error = #expect(throws: StoreError.self) {
                try PostgresArticleStore(
                    url: url, configuration: .init(failoverTimeout: .milliseconds(200), connectTimeout: .milliseconds(200)))
            }
            #expect(error?.code == .cannotOpen)
            #expect(error?.message.contains("127.0.0.1:1") == true && error?.message.contains("127.0.0.1:2") == true)
        }
    }
}
