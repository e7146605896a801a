import NewswireModel
import Testing

@testable import NewswireServer

@Suite("Record cache: invalidation and fill are ordered")
struct RecordCacheFillTests {
    static let old = Article(id: ArticleID("a1"), title: "old title", paragraphs: ["old"])

    @Test("a GET that read the store before a write does not cache its stale record after the write's invalidation")
    func staleFillAfterInvalidation() {
        let cache = RecordCache(capacityBytes: 1 << 20)
        // The interleaving, forced: GET reads the epoch and the store (old record), the write commits and
        // invalidates, then the GET fills the cache.
        let epoch = cache.epoch
        cache.invalidate([Self.old.id])
        let answered = cache.insert(Self.old, readAt: epoch)
        #expect(Array(answered.idBytes) == Array("a1".utf8))  // the GET still answers with what it read
        #expect(cache.entry(for: Self.old.id) == nil)  // but the stale record is not served to the next GET
    }

    @Test("a fill with no write in between is kept")
    func freshFillIsKept() {
        let cache = RecordCache(capacityBytes: 1 << 20)
        let epoch = cache.epoch
        cache.insert(Self.old, readAt: epoch)
        #expect(cache.entry(for: Self.old.id) != nil)
    }
}
