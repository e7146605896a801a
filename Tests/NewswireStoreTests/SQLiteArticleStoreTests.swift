import NewswireTestFixtures
import Foundation
import NewswireModel
import NewswireStore
import Testing

@Suite("SQLiteArticleStore")
struct SQLiteArticleStoreTests {
    @Test("records, sequence and identifier persist across reopen; the database passes integrity_check")
    func reopen() throws {
        let dir = TemporaryDirectory()
        let identifier: String
        do {
            let store = try SQLiteArticleStore(directory: dir.path)
            _ = try store.upsert([sampleArticle("a"), sampleArticle("b")])
            _ = try store.delete("b")
            identifier = store.storeIdentifier
            try store.close()
        }
        let store = try SQLiteArticleStore(directory: dir.path)
        #expect(store.storeIdentifier == identifier)
        #expect(try store.latestSequence == 3)
        #expect(try store.article("a") == sampleArticle("a"))
        #expect(try store.count() == 1)
        #expect(try store.integrityCheck() == [])
        let other = TemporaryDirectory()
        #expect(try SQLiteArticleStore(directory: other.path).storeIdentifier != identifier)
    }

    /// Articles of about 6 KB of text each (a distinct body per number: nothing compresses them away).
    static func bulkyArticle(_ n: Int) -> Article {
        sampleArticle("bulky-\(n)", body: (0..<40).map { "第\(n)篇第\($0)段：" + String(repeating: "电网建设\(n)", count: 12) })
    }

    @Test("a write that finds the store full is FULL, stores nothing of itself, and keeps every earlier commit")
    func fullStore() throws {
        let dir = TemporaryDirectory()
        // A real SQLITE_FULL: SQLite refuses to grow the database past its `max_page_count`, as past a full disk.
        var limited = SQLiteArticleStore.Configuration()
        limited.maximumDatabaseBytes = 512 * 1024
        var stored: [Article] = []
        var failed: [Article]?
        do {
            let store = try SQLiteArticleStore(directory: dir.path, configuration: limited)
            for batch in 0..<200 {
                let articles = (0..<4).map { Self.bulkyArticle(batch * 4 + $0) }
                do {
                    _ = try store.upsert(articles)
                    stored += articles
                } catch let error as StoreError {
                    #expect(error.code == .full)
                    #expect(error.message.contains(store.databasePath) && error.message.contains("free space"))
                    failed = articles
                    break
                }
            }
            let refused = try #require(failed, "512 KB never filled up")
            #expect(stored.count >= 8, "the limit left room for a few batches first")
            // Nothing of the refused batch, everything before it, and a sequence that counts only what was stored.
            #expect(try store.count() == stored.count)
            #expect(try store.latestSequence == UInt64(stored.count))
            #expect(try store.articles(refused.map(\.id)) == refused.map { _ in nil })
            #expect(try store.articles(stored.map(\.id)) == stored)
            #expect(try store.changes(since: 0, limit: 10_000).count == stored.count)
            try store.close()
        }
        // With room again (a larger limit, as after freeing disk space), the same write goes through.
        let roomy = try SQLiteArticleStore(directory: dir.path)
        let refused = try #require(failed)
        #expect(try roomy.upsert(refused) == refused.map { _ in .inserted })
        #expect(try roomy.count() == stored.count + refused.count)
        #expect(try roomy.integrityCheck() == [])
    }

    @Test("a data directory whose database file is not SQLite gives a cannotOpen error naming the path")
    func notADatabase() throws {
        let dir = TemporaryDirectory()
        try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: dir.file("articles.sqlite")))
        let error = #expect(throws: StoreError.self) { try SQLiteArticleStore(directory: dir.path) }
        #expect(error?.code == .cannotOpen)
        #expect(error?.message.contains(dir.file("articles.sqlite")) == true)
    }
}
