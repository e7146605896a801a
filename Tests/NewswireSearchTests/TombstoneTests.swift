import NewswireModel
import Testing

@testable import NewswireSearch

/// Replaced and removed articles do not pile up: segments drop them when they merge or pass the deleted share,
/// the id table leaves no tombstone slots, and results stay exactly the oracle's throughout.
@Suite struct TombstoneTests {
    /// Fixture articles copied `copies` times under new ids (one bulk batch).
    static func copies(_ copies: Int) -> [Article] {
        (0..<copies).flatMap { k in
            Fixtures.articles.map { article in
                var copy = article
                copy.id = ArticleID("\(article.id.rawValue)-\(k)")
                return copy
            }
        }
    }

    @Test func updatesAndDeletesInTheBulkSegmentArePrunedAndResultsStayExact() throws {
        let articles = Self.copies(12)
        let (index, oracle0) = ExactnessTests.indexAndOracle(articles)
        var oracle = oracle0
        #expect(index.segmentSizes == [articles.count])
        let queries = ExactnessTests.sampleQueries(from: articles, count: 150, seed: 17) + ["税政", "人民共和", "修订"]

        // Update and delete articles of the bulk segment one at a time, checking the invariant after each write:
        // no segment holds more than a third of its documents dead.
        var rng = SplitMix64(seed: 5)
        var sawBulkRewritten = false
        for (step, article) in articles.shuffled(using: &rng).prefix(articles.count / 2).enumerated() {
            if step % 3 == 0 {
                index.remove(id: article.id)
                oracle.remove(id: article.id)
            } else {
                var changed = article
                changed.paragraphs.append("第\(step)次修订：税政人民共和")
                index.upsert(changed)
                oracle.upsert(changed)
            }
            for (size, deleted) in zip(index.segmentSizes, index.segmentDeletions) {
                #expect(deleted * 3 <= size, "segment of \(size) holds \(deleted) deleted")
            }
            if index.segmentSizes.allSatisfy({ $0 < articles.count }) { sawBulkRewritten = true }
            #expect(index.locationSlots == index.count)
        }
        // The bulk segment itself was rewritten (its dead copies dropped), not only the small new ones.
        #expect(sawBulkRewritten)
        #expect(index.count == oracle.count)
        try ExactnessTests.check(index, oracle, queries: queries)

        // Merging everything leaves no dead document anywhere.
        index.mergeAllForTesting()
        #expect(index.segmentDeletions == [0])
        #expect(index.statistics.deletedArticles == 0)
        try ExactnessTests.check(index, oracle, queries: queries)
    }

    /// The id table under removals in every order (backward-shift deletion across wrap-around probe runs): every
    /// id is found exactly while present, and no slot is left behind.
    @Test func idTableRemovalsLeaveNoTombstones() {
        let articles = (0..<400).map { i in
            Article(id: ArticleID("id-\(i * 7919 % 1000)"), title: "标题\(i)", paragraphs: ["正文\(i)"])
        }
        let index = SearchIndex()
        index.upsert(contentsOf: Array(articles.prefix(250)))
        for article in articles.dropFirst(250) { index.upsert(article) }
        var present = Set(articles.map(\.id))
        var rng = SplitMix64(seed: 23)
        for (step, article) in articles.shuffled(using: &rng).enumerated() {
            if step % 4 == 3 {
                index.upsert(article)
                present.insert(article.id)
            } else {
                index.remove(id: article.id)
                present.remove(article.id)
            }
            #expect(index.locationSlots == present.count)
            if step % 25 == 0 {
                for other in articles { #expect(index.contains(id: other.id) == present.contains(other.id)) }
            }
        }
        for other in articles { #expect(index.contains(id: other.id) == present.contains(other.id)) }
        #expect(index.count == present.count)
    }
}
