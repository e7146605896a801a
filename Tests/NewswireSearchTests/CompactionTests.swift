import NewswireModel
import Testing

@testable import NewswireSearch

/// Once writes go quiet the index folds the segments they left into at most two: the oldest, and one holding
/// everything newer until that holds an eighth of the oldest's articles, when the two become one. Results stay
/// exactly the oracle's.
@Suite struct CompactionTests {
    /// Fixture articles under new ids `prefix-k`, `count` of them (the fixtures repeated).
    static func articles(_ prefix: String, _ count: Int) -> [Article] {
        (0..<count).map { k in
            var copy = Fixtures.articles[k % Fixtures.articles.count]
            copy.id = ArticleID("\(prefix)-\(k)")
            return copy
        }
    }

    /// Installs each batch as its own segment, as a burst of group commits leaves them before merges run.
    static func install(_ batches: [[Article]], into index: SearchIndex, _ oracle: inout BruteForceIndex) {
        for batch in batches {
            index.install(index.prepare(contentsOf: batch))
            for article in batch { oracle.upsert(article) }
        }
    }

    @Test func aBurstOfSegmentsBecomesOneWithTheSameResults() throws {
        let index = SearchIndex()
        var oracle = BruteForceIndex()
        var rng = SplitMix64(seed: 23)
        let all = Self.articles("burst", 400)
        var batches: [[Article]] = []
        var i = 0
        while i < all.count {
            let n = [1, 3, 8, 17, 40].randomElement(using: &rng)!
            batches.append(Array(all[i..<min(all.count, i + n)]))
            i += n
        }
        let early = batches.count / 3
        Self.install(Array(batches[..<early]), into: index, &oracle)
        // Replaced and removed articles (a removal runs the merge policy), then the rest of the burst.
        for article in batches[..<early].joined().shuffled(using: &rng).prefix(30) {
            if Bool.random(using: &rng) {
                index.remove(id: article.id)
                oracle.remove(id: article.id)
            } else {
                var changed = article
                changed.paragraphs.append("修订：税政人民共和")
                index.install(index.prepare(contentsOf: [changed]))
                oracle.upsert(changed)
            }
        }
        Self.install(Array(batches[early...]), into: index, &oracle)
        #expect(index.segmentSizes.count > 10)
        let queries = ExactnessTests.sampleQueries(from: all, count: 150, seed: 29) + ["税政", "人民共和", "修订"]
        try ExactnessTests.check(index, oracle, queries: queries)

        #expect(index.compactSegments())
        #expect(index.segmentSizes.count == 1)
        #expect(index.segmentDeletions == [0])
        #expect(index.count == oracle.count)
        try ExactnessTests.check(index, oracle, queries: queries)
        // Nothing left to fold.
        #expect(!index.compactSegments())
    }

    @Test func aSmallTailIsFoldedApartFromTheOldestSegmentUntilItHoldsAnEighthOfIt() throws {
        let index = SearchIndex()
        var oracle = BruteForceIndex()
        // Sizes the merge policy leaves alone (each newer one under half the one before it).
        Self.install(
            [Self.articles("old", 200), Self.articles("a", 8), Self.articles("b", 3), Self.articles("c", 1)],
            into: index, &oracle)
        #expect(index.segmentSizes == [200, 8, 3, 1])

        #expect(index.compactSegments())
        #expect(index.segmentSizes == [200, 12], "the oldest segment is not rewritten for a small tail")
        // Two segments and a tail under an eighth of the oldest: nothing to do.
        #expect(!index.compactSegments())
        #expect(index.segmentSizes == [200, 12])

        // The tail grows past an eighth of the oldest (the merge policy folds 12 and 30 first): one segment.
        Self.install([Self.articles("d", 30)], into: index, &oracle)
        #expect(index.compactSegments())
        #expect(index.segmentSizes == [242])
        try ExactnessTests.check(
            index, oracle, queries: ExactnessTests.sampleQueries(from: Fixtures.articles, count: 80, seed: 31))
    }

    @Test func writesWhileACompactionIsBuiltAreKept() throws {
        let index = SearchIndex()
        var oracle = BruteForceIndex()
        let old = Self.articles("old", 200)
        let tail = [Self.articles("a", 8), Self.articles("b", 3), Self.articles("c", 1)]
        Self.install([old] + tail, into: index, &oracle)
        var interleaved = 0
        let compacted = index.compactSegments {
            interleaved += 1
            // A removal from the segments being folded, then newer copies of one of them and of an oldest-segment
            // article, all while the folded segment is built from the segments as they were.
            index.remove(id: tail[0][3].id)
            oracle.remove(id: tail[0][3].id)
            var replaced = [tail[1][0], old[7]]
            for k in replaced.indices {
                replaced[k].title = "压实期间改版：" + replaced[k].title
                replaced[k].paragraphs = ["压实期间写入，税政改革。"]
            }
            index.install(index.prepare(contentsOf: replaced))
            for article in replaced { oracle.upsert(article) }
        }
        #expect(compacted)
        #expect(interleaved == 1)
        #expect(index.segmentSizes == [200, 12, 2], "the oldest, the folded tail, and the segment written meanwhile")
        #expect(index.count == oracle.count)
        #expect(!index.contains(id: tail[0][3].id))
        // Every live document is counted once: the folded segment holds no second copy of a replaced one.
        #expect(try index.search(SearchRequest(text: "", limit: 0)).total == oracle.count)
        try ExactnessTests.check(
            index, oracle,
            queries: ExactnessTests.sampleQueries(from: Fixtures.articles, count: 120, seed: 41) + ["压实期间", "税政", "改版"])
    }

    @Test func anOldestSegmentSmallerThanANewerOneIsFoldedWithEverything() throws {
        let index = SearchIndex()
        var oracle = BruteForceIndex()
        // Most of the oldest segment's articles have newer copies in the next: that one is the larger.
        let first = Self.articles("x", 40)
        let revised = first.prefix(30).map { article in
            var changed = article
            changed.title = "改版：" + changed.title
            return changed
        }
        Self.install([first, Self.articles("y", 70) + revised, Self.articles("z", 2)], into: index, &oracle)
        #expect(index.segmentSizes == [40, 100, 2])
        #expect(index.compactSegments())
        #expect(index.segmentSizes == [112])
        try ExactnessTests.check(
            index, oracle,
            queries: ExactnessTests.sampleQueries(from: Fixtures.articles, count: 80, seed: 37) + ["改版"])
    }
}
