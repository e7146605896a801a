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

    @Test("a data directory whose database file is not SQLite gives a cannotOpen error naming the path")
    func notADatabase() throws {
        let dir = TemporaryDirectory()
        try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: dir.file("articles.sqlite")))
        let error = #expect(throws: StoreError.self) { try SQLiteArticleStore(directory: dir.path) }
        #expect(error?.code == .cannotOpen)
        #expect(error?.message.contains(dir.file("articles.sqlite")) == true)
    }
}
