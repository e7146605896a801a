import NewswireTestSupport
import Foundation
import NewswireModel
import NewswireStore
import Testing

/// The behaviour every ``ArticleStore`` promises, run on each implementation: SQLite always, PostgreSQL when its
/// binaries are installed (``PostgresAvailability`` says why it is skipped otherwise).
@Suite("ArticleStore conformance")
struct StoreConformanceTests {
    @Test("upsert reports inserted, updated and unchanged, and an unchanged write does not move the sequence", arguments: StoreKind.available)
    func upsertOutcomes(kind: StoreKind) async throws {
        try await runBlocking {
            let fixture = try StoreUnderTest(kind)
            let store = fixture.store
            #expect(try store.latestSequence == 0)
            let a = sampleArticle("a")
            let b = sampleArticle("b")
            #expect(try store.upsert([a, b]) == [.inserted, .inserted])
            #expect(try store.latestSequence == 2)
            #expect(try store.upsert([a, b]) == [.unchanged, .unchanged])
            #expect(try store.latestSequence == 2)
            var changed = a
            changed.title = "新标题"
            #expect(try store.upsert([changed, b]) == [.updated, .unchanged])
            #expect(try store.latestSequence == 3)
            #expect(try store.article("a") == changed)
            #expect(try store.count() == 2)
            #expect(try store.upsert([]) == [])
        }
    }

    @Test("a batch that repeats an id applies its writes in order", arguments: StoreKind.available)
    func repeatedIdInBatch(kind: StoreKind) async throws {
        try await runBlocking {
            let fixture = try StoreUnderTest(kind)
            let store = fixture.store
            let first = sampleArticle("x", title: "一")
            let second = sampleArticle("x", title: "二")
            #expect(try store.upsert([first, second, second]) == [.inserted, .updated, .unchanged])
            #expect(try store.article("x") == second)
            #expect(try store.latestSequence == 2)
        }
    }

    @Test("lookup by id and by a list of ids, aligned with the request, and the stored bytes", arguments: StoreKind.available)
    func lookup(kind: StoreKind) async throws {
        try await runBlocking {
            let fixture = try StoreUnderTest(kind)
            let store = fixture.store
            let articles = (0..<5).map { sampleArticle("id-\($0)") }
            _ = try store.upsert(articles)
            #expect(try store.article("id-3") == articles[3])
            #expect(try store.article("missing") == nil)
            #expect(try store.articles(["id-4", "missing", "id-0"]) == [articles[4], nil, articles[0]])
            let encoded = try store.encodedArticles(["id-2", "nope"])
            #expect(encoded[0] == ArticleCodec.encode(articles[2]))
            #expect(encoded[1] == nil)
            #expect(try ArticleCodec.decode(encoded[0]!) == articles[2])
            #expect(try store.articles([]) == [])
        }
    }

    @Test("delete removes the record, leaves a tombstone, and reports whether it existed", arguments: StoreKind.available)
    func deleteRecord(kind: StoreKind) async throws {
        try await runBlocking {
            let fixture = try StoreUnderTest(kind)
            let store = fixture.store
            _ = try store.upsert([sampleArticle("a"), sampleArticle("b")])
            #expect(try store.delete("a"))
            #expect(try store.latestSequence == 3)
            #expect(try store.delete("a") == false)
            #expect(try store.delete("never") == false)
            #expect(try store.latestSequence == 3)
            #expect(try store.article("a") == nil)
            #expect(try store.count() == 1)
            #expect(try store.changes(since: 0, limit: 10).map(\.id) == ["b", "a"])
            #expect(try store.changes(since: 2, limit: 10) == [StoreChange(sequence: 3, id: "a", article: nil)])
            // Re-inserting a deleted id is an insert and replaces its tombstone.
            #expect(try store.upsert([sampleArticle("a")]) == [.inserted])
            #expect(try store.changes(since: 0, limit: 10).map(\.sequence) == [2, 4])
        }
    }

    @Test("a batch delete is one write: each id's existence in order, one tombstone per existing id", arguments: StoreKind.available)
    func batchDelete(kind: StoreKind) async throws {
        try await runBlocking {
            let fixture = try StoreUnderTest(kind)
            let store = fixture.store
            _ = try store.upsert([sampleArticle("a"), sampleArticle("b"), sampleArticle("c")])
            #expect(try store.delete(["a", "missing", "c", "a"]) == [true, false, true, false])
            #expect(try store.latestSequence == 5)
            #expect(try store.count() == 1)
            #expect(try store.changes(since: 3, limit: 10) == [
                StoreChange(sequence: 4, id: "a", article: nil), StoreChange(sequence: 5, id: "c", article: nil),
            ])
            #expect(try store.delete(["missing"]) == [false])
            #expect(try store.latestSequence == 5)
            #expect(try store.delete([]) == [])
        }
    }

    @Test("the change feed is compacted, ordered by sequence, paged by limit, and replays to the current state", arguments: StoreKind.available)
    func changeFeed(kind: StoreKind) async throws {
        try await runBlocking {
            let fixture = try StoreUnderTest(kind)
            let store = fixture.store
            var random = SplitMix64(seed: 42)
            var expected: [ArticleID: Article] = [:]
            var stateAt10: [ArticleID: Article]?
            for step in 0..<60 {
                let id = ArticleID("k\(random.next() % 12)")
                if random.next() % 2 == 0 || expected[id] == nil {
                    let article = sampleArticle(id.rawValue, title: "版本\(step)")
                    _ = try store.upsert([article])
                    expected[id] = article
                } else {
                    #expect(try store.delete(id))
                    expected[id] = nil
                }
                if try store.latestSequence == 10 { stateAt10 = expected }
            }
            let all = try store.changes(since: 0, limit: 1000)
            #expect(all.map(\.sequence) == all.map(\.sequence).sorted())
            #expect(Set(all.map(\.id)).count == all.count, "one entry per id")
            #expect(all.last?.sequence == (try store.latestSequence))
            #expect(all.contains { $0.isDeletion }, "the seed produces deletes")
            // Paging by limit concatenates to the whole feed.
            var paged: [StoreChange] = []
            var since: UInt64 = 0
            while true {
                let page = try store.changes(since: since, limit: 3)
                if page.isEmpty { break }
                #expect(page.count <= 3)
                paged += page
                since = page.last!.sequence
            }
            #expect(paged == all)
            // Replaying the changes after 10 over the state at 10 yields the current state.
            let at10 = try #require(stateAt10)
            var replayed = at10
            for change in try store.changes(since: 10, limit: 1000) { replayed[change.id] = change.article }
            #expect(replayed == expected)
            var fromScratch: [ArticleID: Article] = [:]
            for change in all { fromScratch[change.id] = change.article }
            #expect(fromScratch == expected)
            #expect(throws: StoreError.self) { try store.changes(since: 0, limit: 0) }
        }
    }

    @Test("scans in id order and both date orders match a sort, page by cursor, and tokens round-trip", arguments: StoreKind.available)
    func scanOrders(kind: StoreKind) async throws {
        try await runBlocking {
            let fixture = try StoreUnderTest(kind)
            let store = fixture.store
            var articles: [Article] = []
            for i in 0..<47 {
                // Days repeat (ties broken by id) and some articles are undated.
                let id = "art-" + String((i * 37) % 47)
                articles.append(sampleArticle(id, day: i % 5 == 0 ? nil : 1 + i % 9))
            }
            _ = try store.upsert(articles)
            func key(_ a: Article) -> Int64 { ScanCursor.publishedKey(of: a) }
            let byId = articles.sorted { $0.id < $1.id }
            // By date, oldest first, undated last (PROTOCOL.md §5.15).
            func datedFirst(_ a: Article) -> (Int, Int64, String) { (a.publishedAt == nil ? 1 : 0, key(a), a.id.rawValue) }
            let ascending = articles.sorted { datedFirst($0) < datedFirst($1) }
            let descending = articles.sorted { (key($0), $0.id.rawValue) > (key($1), $1.id.rawValue) }
            #expect(ascending.last?.publishedAt == nil, "undated last")
            #expect(descending.last?.publishedAt == nil, "undated last")
            let expectations = [(ScanOrder.id, byId), (.publishedAscending, ascending), (.publishedDescending, descending)]
            for (order, sorted) in expectations {
                for limit in [1, 5, 47, 100] {
                    var collected: [Article] = []
                    var cursor: ScanCursor?
                    var pages = 0
                    repeat {
                        let page = try store.scan(order: order, after: cursor, limit: limit)
                        collected += page.articles
                        // Carry the cursor as a token, the way a client would.
                        cursor = page.next.map { ScanCursor(token: $0.token)! }
                        pages += 1
                    } while cursor != nil && pages < 100
                    #expect(collected == sorted, "order \(order) limit \(limit)")
                    // A full page always carries a cursor, so an exact multiple ends with one empty page.
                    #expect(pages == 47 / limit + 1)
                }
            }
        }
    }

    @Test("scan rejects an out-of-range limit and a cursor from another order", arguments: StoreKind.available)
    func scanErrors(kind: StoreKind) async throws {
        try await runBlocking {
            let fixture = try StoreUnderTest(kind)
            let store = fixture.store
            for limit in [0, -1, ScanPage.maximumLimit + 1] {
                let error = #expect(throws: StoreError.self) { try store.scan(order: .id, after: nil, limit: limit) }
                #expect(error?.code == .invalidArgument)
                #expect(error?.message.contains("\(limit)") == true)
            }
            let error = #expect(throws: StoreError.self) {
                try store.scan(order: .id, after: ScanCursor(order: .publishedAscending, id: "a"), limit: 5)
            }
            #expect(error?.code == .invalidArgument)
            #expect(ScanCursor(token: "garbage") == nil)
            #expect(ScanCursor(token: "9:0:x") == nil)
            #expect(ScanCursor(token: "2:-5:a:b") == ScanCursor(order: .publishedDescending, id: "a:b", publishedKey: -5))
        }
    }

    @Test("an article with an empty id is rejected and nothing of its batch is written", arguments: StoreKind.available)
    func emptyId(kind: StoreKind) async throws {
        try await runBlocking {
            let fixture = try StoreUnderTest(kind)
            let store = fixture.store
            let error = #expect(throws: StoreError.self) {
                try store.upsert([sampleArticle("ok"), sampleArticle("")])
            }
            #expect(error?.code == .invalidRecord)
            #expect(try store.count() == 0)
        }
    }

    @Test("records, sequence and identifier persist across reopen; another store has another identifier",
        arguments: StoreKind.available)
    func reopen(kind: StoreKind) async throws {
        try await runBlocking {
            let fixture = try StoreUnderTest(kind)
            _ = try fixture.store.upsert([sampleArticle("a"), sampleArticle("b")])
            _ = try fixture.store.delete("b")
            let identifier = fixture.store.storeIdentifier
            try fixture.reopen()
            let store = fixture.store
            #expect(store.storeIdentifier == identifier)
            #expect(try store.latestSequence == 3)
            #expect(try store.article("a") == sampleArticle("a"))
            #expect(try store.count() == 1)
            #expect(try store.changes(since: 0, limit: 10).map(\.id) == ["a", "b"])
            #expect(try StoreUnderTest(kind).store.storeIdentifier != identifier)
        }
    }

    @Test("a second handle on the same data sees every write of the first at once", arguments: StoreKind.available)
    func secondHandle(kind: StoreKind) async throws {
        try await runBlocking {
            let fixture = try StoreUnderTest(kind)
            let other = try fixture.openAnother()
            defer { try? other.close() }
            _ = try fixture.store.upsert([sampleArticle("a"), sampleArticle("b")])
            #expect(try other.article("b") == sampleArticle("b"))
            #expect(try other.latestSequence == 2)
            #expect(other.storeIdentifier == fixture.store.storeIdentifier)
        }
    }
}

@Suite("PostgreSQL availability")
struct PostgresAvailability {
    @Test("PostgreSQL store tests run here", .enabled(if: TemporaryPostgres.isAvailable, "skipped: \(TemporaryPostgres.unavailableReason ?? "")"))
    func available() async throws {
        try await runBlocking {
            #expect(StoreKind.available.contains(.postgres))
        }
    }
}
