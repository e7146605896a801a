import NewswireModel
import Testing

@testable import NewswireSearch

/// Top-k shortcuts (block-max pruning, list-length totals) must return exactly the head of the full ranking.
@Suite struct TopKTests {
    /// 600 articles recombined from the fixture paragraphs, so common terms have long posting lists (> 64).
    static func synthetic() -> [Article] {
        var rng = SplitMix64(seed: 99)
        let paragraphs = Fixtures.articles.flatMap(\.paragraphs) + Fixtures.articles.map(\.title)
        return (0..<600).map { i in
            Article(
                id: ArticleID(String(format: "s%04d", i)), title: paragraphs.randomElement(using: &rng)!,
                publishedAt: PublishedTime(secondsSinceEpoch: Int64(1_700_000_000 + (i % 17) * 86_400)),
                source: ["甲", "乙", "丙"][i % 3],
                paragraphs: (0..<Int.random(in: 1...6, using: &rng)).map { _ in paragraphs.randomElement(using: &rng)! })
        }
    }

    /// Deletions inside the first segment, and a second segment: removes every seventh of the first 600 articles
    /// and adds copies of the first 20 under new ids, to the index and the oracle alike.
    static func removeEverySeventhAndAddCopies(
        of articles: [Article], _ index: SearchIndex, _ oracle: inout BruteForceIndex
    ) {
        for i in stride(from: 0, to: 600, by: 7) {
            index.remove(id: articles[i].id)
            oracle.remove(id: articles[i].id)
        }
        let extra = Array(articles.prefix(20)).map { var a = $0; a.id = ArticleID("x" + a.id.rawValue); return a }
        index.upsert(contentsOf: extra)
        for article in extra { oracle.upsert(article) }
    }

    static func checkHeads(_ index: SearchIndex, queries: [String]) throws {
        for text in queries {
            let full = try index.search(SearchRequest(text: text, limit: 1_000_000, includeSnippets: false))
            for (offset, limit) in [(0, 10), (0, 1), (5, 5), (20, 10)] {
                let page = try index.search(
                    SearchRequest(text: text, offset: offset, limit: limit, includeSnippets: false))
                #expect(page.total == full.total, "\(text)")
                let expected = Array(full.hits.dropFirst(offset).prefix(limit))
                #expect(page.hits.map(\.id) == expected.map(\.id), "\(text) offset \(offset) limit \(limit)")
                #expect(page.hits.map(\.score) == expected.map(\.score), "\(text)")
            }
        }
    }

    /// Sorted by date nothing is scored, phrases are only looked for once, and a full page's worst is compared on
    /// time alone first: pages must still be the head of the reference's date order (ties by id, undated last),
    /// with exact totals and every score 0 (PROTOCOL.md §5.6).
    @Test(arguments: [SearchSort.newest, .oldest])
    func dateOrderedHeadsMatchTheReference(sort: SearchSort) throws {
        var articles = Self.synthetic()
        // Undated ones too, which go last either way.
        articles += articles.prefix(30).map { article in
            var undated = article
            undated.id = ArticleID("u" + article.id.rawValue)
            undated.publishedAt = nil
            return undated
        }
        let (index, built) = ExactnessTests.indexAndOracle(articles)
        var oracle = built
        let queries = ExactnessTests.sampleQueries(from: articles, count: 80, seed: 7) + ["人民", "的", "经济 发展", "北京 OR 上海", ""]
        // Browsing (no text) too, by source and by time range: every document is walked in time order.
        let filters: [(sources: [String], from: PublishedTime?, before: PublishedTime?)] = [
            ([], nil, nil), (["乙"], nil, nil),
            (
                [], PublishedTime(secondsSinceEpoch: 1_700_000_000 + 3 * 86_400),
                PublishedTime(secondsSinceEpoch: 1_700_000_000 + 9 * 86_400)
            ),
        ]
        func checkAll() throws {
            for text in queries {
                for filter in text.isEmpty ? filters : [filters[0]] {
                    for (offset, limit) in [(0, 10), (0, 1), (5, 5), (20, 10), (0, 0)] {
                        let request = SearchRequest(
                            text: text, sources: filter.sources, publishedFrom: filter.from,
                            publishedBefore: filter.before, sort: sort, offset: offset, limit: limit,
                            includeSnippets: false)
                        let page = try index.search(request)
                        let expected = try oracle.search(request)
                        let context = "\(text) \(filter.sources) (\(sort)) offset \(offset) limit \(limit)"
                        #expect(page.total == expected.total, "\(context)")
                        #expect(page.hits.map(\.id) == expected.hits.map(\.id), "\(context)")
                        #expect(page.hits.allSatisfy { $0.score == 0 }, "\(context): a scored hit")
                    }
                }
            }
        }
        try checkAll()
        Self.removeEverySeventhAndAddCopies(of: articles, index, &oracle)
        try checkAll()
    }

    /// Thousands of matches five to a time, a few undated, written in ascending time order (sorted newest first, a
    /// segment's matches are offered from its end), descending (from its start), or with the newest in the middle
    /// (neither end holds the page): the page by date keeps its candidates' times apart from them and breaks ties by
    /// id only at the end, dropping what falls behind now and then. Pages must equal the reference's.
    @Test(arguments: [SearchSort.newest, .oldest], ["ascending", "descending", "peaked"])
    func dateOrderedPagesOfManyTiedMatches(sort: SearchSort, writtenInTimeOrder layout: String) throws {
        func hour(_ i: Int) -> Int64 {
            switch layout {
            case "ascending": Int64(i / 5)
            case "descending": Int64((2_999 - i) / 5)
            default: Int64(min(i, 2_999 - i) / 5)
            }
        }
        var articles: [Article] = (0..<3_000).map { i in
            Article(
                id: ArticleID(String(format: "t%05d", (i * 7_919) % 3_000)), title: "报道\(i)",
                publishedAt: PublishedTime(secondsSinceEpoch: 1_700_000_000 + hour(i) * 3_600),
                paragraphs: ["今天的新闻是关于经济的。第\(i)篇。"])
        }
        for i in stride(from: 0, to: 3_000, by: 97) { articles[i].publishedAt = nil }
        let (index, oracle) = ExactnessTests.indexAndOracle(articles)
        for text in ["新闻 经济", "\"新闻是关于\"", "after:2000-01-01 新闻"] {
            for (offset, limit) in [(0, 10), (7, 3), (0, 1_500), (2_990, 20), (0, 0)] {
                let request = SearchRequest(text: text, sort: sort, offset: offset, limit: limit, includeSnippets: false)
                let page = try index.search(request)
                let expected = try oracle.search(request)
                #expect(page.total == expected.total, "\(text) offset \(offset) limit \(limit)")
                #expect(page.hits.map(\.id) == expected.hits.map(\.id), "\(text) offset \(offset) limit \(limit)")
            }
        }
    }

    /// An offset near `Int.max` (a client's 2^63 or more, saturated) sorted by date: an empty page with the full
    /// total. The page's buffer bound once overflowed here and trapped, taking the server down.
    @Test(arguments: [SearchSort.newest, .oldest, .relevance])
    func hugeOffsetsGiveAnEmptyPage(sort: SearchSort) throws {
        let (index, oracle) = ExactnessTests.indexAndOracle(Self.synthetic())
        for offset in [Int.max, Int.max / 2, 1 << 62] {
            for text in ["的", "经济 发展", ""] {
                let request = SearchRequest(text: text, sort: sort, offset: offset, limit: 10, includeSnippets: false)
                let page = try index.search(request)
                #expect(page.hits.isEmpty, "\(text) offset \(offset)")
                #expect(page.total == (try oracle.search(request)).total, "\(text) offset \(offset)")
            }
        }
    }

    @Test func syntheticHeadsMatchFullRanking() throws {
        let articles = Self.synthetic()
        let index = SearchIndex()
        index.upsert(contentsOf: articles)
        let queries = ExactnessTests.sampleQueries(from: articles, count: 120, seed: 5) + ["人民", "的", "经济", "北京"]
        try Self.checkHeads(index, queries: queries)
        // With deletions and several segments the shortcuts must step aside.
        for i in stride(from: 0, to: 600, by: 7) { index.remove(id: articles[i].id) }
        index.upsert(contentsOf: Array(articles.prefix(20)).map { var a = $0; a.id = ArticleID("x" + a.id.rawValue); return a })
        try Self.checkHeads(index, queries: queries)
    }

    /// Phrases ranked by relevance: once the page is full, a candidate whose components cannot outscore it is
    /// only checked for a first match, and a title-scoped one without every component in its title is rejected
    /// before any position is read. Totals must still equal the oracle's and pages the head of the full ranking,
    /// with deleted documents inside the posting blocks too.
    @Test func phraseHeadsMatchTheOracleAndTheFullRanking() throws {
        let articles = Self.synthetic()
        let (index, built) = ExactnessTests.indexAndOracle(articles)
        var oracle = built
        // Three- and four-character runs of titles: the titles recur as body paragraphs, so many candidates hold
        // the phrase in the body only.
        var queries: [String] = []
        for article in articles.prefix(60) {
            let scalars = NormalizedText(article.title, keepOrigins: false).scalars
            for length in [3, 4] where scalars.count >= length {
                guard let start = (0...(scalars.count - length)).first(where: { start in
                    scalars[start..<(start + length)].allSatisfy { Normalizer.classify($0) == .cjk }
                }) else { continue }
                var view = String.UnicodeScalarView()
                view.append(contentsOf: scalars[start..<(start + length)])
                let phrase = String(view)
                queries += ["title:" + phrase, phrase]
            }
        }
        queries = Array(Set(queries)).sorted()
        #expect(queries.count > 40)
        try ExactnessTests.check(index, oracle, queries: queries)
        try Self.checkHeads(index, queries: queries)
        for i in stride(from: 0, to: 600, by: 5) {
            index.remove(id: articles[i].id)
            oracle.remove(id: articles[i].id)
        }
        try ExactnessTests.check(index, oracle, queries: queries)
        try Self.checkHeads(index, queries: queries)
    }

    /// For a query shape with a fast path of its own: the same documents as the oracle, and the same totals, ids
    /// and scores, in the same order, as the general path (forced by a date condition every synthetic article
    /// passes), then again after deletions and with a second segment.
    static func checkFastPathMatchesOracleAndGeneralPath(_ queries: [String]) throws {
        let articles = synthetic()
        let (index, built) = ExactnessTests.indexAndOracle(articles)
        var oracle = built
        func checkAll() throws {
            try ExactnessTests.check(index, oracle, queries: queries)
            for text in queries {
                let fast = try index.search(SearchRequest(text: text, limit: 1_000_000, includeSnippets: false))
                let general = try index.search(
                    SearchRequest(text: "after:1970-01-02 " + text, limit: 1_000_000, includeSnippets: false))
                #expect(fast.total == general.total, "\(text)")
                #expect(fast.hits.map(\.id) == general.hits.map(\.id), "\(text)")
                #expect(fast.hits.map(\.score) == general.hits.map(\.score), "\(text)")
            }
            try checkHeads(index, queries: queries)
        }
        try checkAll()
        Self.removeEverySeventhAndAddCopies(of: articles, index, &oracle)
        try checkAll()
    }

    /// A conjunction of single terms is scored straight off the join's cursors; title-scoped and repeated terms
    /// included.
    @Test func conjunctionsOfSingleTermsMatchTheOracleAndTheGeneralPath() throws {
        try Self.checkFastPathMatchesOracleAndGeneralPath([
            "人民 经济", "经济 人民", "北京 新疆 四川", "title:人民 经济", "经济 title:北京", "人民 人民", "的 人民 经济",
            "title:人民 title:经济", "人民 不存在的词", "apec 经济",
        ])
    }

    /// An OR group of single terms is scored straight off the union of its postings.
    @Test func orGroupsOfSingleTermsMatchTheOracleAndTheGeneralPath() throws {
        try Self.checkFastPathMatchesOracleAndGeneralPath([
            "人民 OR 经济", "北京 OR 新疆 OR 四川", "人民 OR 人民", "title:人民 OR 经济", "title:北京 OR title:新疆",
            "人民 OR 不存在的词", "不存在 OR 也没有", "的 OR 人民 OR 经济 OR apec", "经济 OR title:经济",
        ])
    }

    @Test(.enabled(if: Fixtures.corpusAvailable, "../shared/corpus/zh-news.jsonl is absent"))
    func corpusHeadsMatchFullRanking() throws {
        let articles = try Fixtures.corpus(stride: 10)
        let index = SearchIndex()
        index.upsert(contentsOf: articles)
        try Self.checkHeads(index, queries: ExactnessTests.sampleQueries(from: articles, count: 50, seed: 77))
    }
}

/// Merged segments (postings re-encoded, positions copied) must answer exactly like a fresh build.
@Suite struct MergeTests {
    @Test func mergedIndexScoresLikeAFreshBuild() throws {
        let articles = TopKTests.synthetic()
        let bulk = SearchIndex()
        bulk.upsert(contentsOf: articles)
        let incremental = SearchIndex()
        var rng = SplitMix64(seed: 4)
        var i = 0
        while i < articles.count {
            let n = [1, 1, 3, 17, 40].randomElement(using: &rng)!
            incremental.upsert(contentsOf: Array(articles[i..<min(articles.count, i + n)]))
            i += n
        }
        #expect(incremental.segmentSizes.count < 12)
        let queries = ExactnessTests.sampleQueries(from: articles, count: 120, seed: 8) + ["\"hong kong\"", "人民 共和"]
        for text in queries {
            let a = try bulk.search(SearchRequest(text: text, limit: 1_000_000, includeSnippets: false))
            let b = try incremental.search(SearchRequest(text: text, limit: 1_000_000, includeSnippets: false))
            #expect(a.total == b.total, "\(text)")
            let scoresA = Dictionary(uniqueKeysWithValues: a.hits.map { ($0.id, $0.score) })
            for hit in b.hits {
                let expected = try #require(scoresA[hit.id], "\(text): \(hit.id)")
                #expect(abs(expected - hit.score) <= 1e-9 * max(1, abs(expected)), "\(text): \(hit.id)")
            }
        }
    }

    /// A merge lays out each term's list byte for byte as a build of the live documents does (entries copied from
    /// inputs without deletions, renumbered and re-encoded from those with some; block tables scored anew).
    @Test(arguments: [false, true])
    func mergedSegmentIsLaidOutLikeABuild(withDeletions: Bool) {
        var state = IndexState()
        let documents = TopKTests.synthetic().map { state.prepare($0) }
        let bounds = [0, 250, 260, 450, documents.count]
        let inputs = (0..<bounds.count - 1).map { Segment.build(Array(documents[bounds[$0]..<bounds[$0 + 1]])) }
        var live = documents
        if withDeletions {
            for doc in stride(from: 3, to: inputs[2].count, by: 7) { inputs[2].markDeleted(doc) }
            inputs[3].markDeleted(0)
            inputs[3].markDeleted(inputs[3].count - 1)
            live = documents.indices.filter { i in
                let input = bounds.lastIndex { $0 <= i }!
                return !inputs[input].isDeleted(i - bounds[input])
            }.map { documents[$0] }
        }
        let merged = Segment.merge(inputs)
        let built = Segment.build(live)
        #expect(merged.count == live.count)
        #expect(merged.idText == built.idText && merged.text == built.text && merged.textStart == built.textStart)
        #expect(merged.compactKeys == built.compactKeys)
        #expect(merged.wideKeys == built.wideKeys)
        #expect(Set(merged.wordList) == Set(built.wordList))
        func list(_ segment: Segment, _ term: Int) -> ArraySlice<UInt8> {
            segment.postings[Int(segment.termStart[term])..<Int(segment.termStart[term + 1])]
        }
        var differing = 0
        for term in 0..<built.cjkTermCount where list(merged, term) != list(built, term) { differing += 1 }
        for (word, term) in built.words {
            guard let mergedTerm = merged.words[word] else { continue }  // a missing word fails the set check
            if list(merged, Int(mergedTerm)) != list(built, Int(term)) { differing += 1 }
        }
        #expect(differing == 0, "terms whose list differs from the build's")
    }
}
