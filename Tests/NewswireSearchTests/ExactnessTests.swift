import NewswireModel
import Testing

@testable import NewswireSearch

/// The inverted index must return exactly the brute-force oracle's id set (and total) for every query.
@Suite struct ExactnessTests {
    /// Samples queries from the articles: CJK substrings of 1, 2, 3, 4 and 6 characters from titles and bodies,
    /// words, title-scoped terms, two- and three-term conjunctions, quoted phrases, and non-occurring shuffles.
    static func sampleQueries(from articles: [Article], count: Int, seed: UInt64) -> [String] {
        var rng = SplitMix64(seed: seed)
        var fields: [[Unicode.Scalar]] = []
        var words: [String] = []
        for article in articles {
            for text in [article.title, article.body] {
                let normalized = NormalizedText(text, keepOrigins: false)
                fields.append(normalized.scalars)
                var units: [AnalyzedUnit] = []
                Analyzer.units(of: normalized, basePosition: 0, into: &units)
                words.append(contentsOf: units.filter { !$0.isCJK }.map(\.word))
            }
        }
        func cjkSubstring(_ length: Int) -> String? {
            for _ in 0..<50 {
                let field = fields.randomElement(using: &rng)!
                guard field.count >= length else { continue }
                let start = Int.random(in: 0...(field.count - length), using: &rng)
                let slice = field[start..<(start + length)]
                guard slice.allSatisfy({ Normalizer.classify($0) == .cjk }) else { continue }
                var view = String.UnicodeScalarView()
                view.append(contentsOf: slice)
                return String(view)
            }
            return nil
        }
        var queries: [String] = []
        let lengths = [1, 2, 2, 3, 3, 4, 4, 6]
        while queries.count < count {
            let kind = Int.random(in: 0..<11, using: &rng)
            var query: String? = nil
            switch kind {
            case 0...4: query = cjkSubstring(lengths.randomElement(using: &rng)!)
            case 5: query = words.randomElement(using: &rng)
            case 6:
                if let a = cjkSubstring(2), let b = cjkSubstring([2, 3, 4].randomElement(using: &rng)!) {
                    query = a + " " + b
                }
            case 7:
                if let a = cjkSubstring(3), let w = words.randomElement(using: &rng) { query = w + " " + a }
            case 8:
                if let a = cjkSubstring([2, 3].randomElement(using: &rng)!) { query = "title:" + a }
            case 9:
                // OR of two or three terms (the union of their postings drives the search).
                let parts = (0..<Int.random(in: 2...3, using: &rng)).compactMap { _ in
                    cjkSubstring(lengths.randomElement(using: &rng)!)
                }
                if parts.count >= 2 { query = parts.joined(separator: " OR ") }
            default:
                // A shuffled run: often occurs nowhere, or only as a decoy's scattered bigrams.
                if let a = cjkSubstring(4) { query = String(a.shuffled(using: &rng)) }
            }
            if let query { queries.append(query) }
        }
        return queries
    }

    static func ids(_ index: SearchIndex, _ text: String) throws -> (Set<ArticleID>, Int) {
        let page = try index.search(SearchRequest(text: text, limit: 1_000_000, includeSnippets: false))
        return (Set(page.hits.map(\.id)), page.total)
    }

    static func check(_ index: SearchIndex, _ oracle: BruteForceIndex, queries: [String]) throws {
        var mismatches: [String] = []
        var nonEmpty = 0
        for text in queries {
            let query = try QueryParser.parse(text)
            let expected = oracle.matchingIDs(query)
            let (actual, total) = try ids(index, text)
            if !expected.isEmpty { nonEmpty += 1 }
            if actual != expected || total != expected.count {
                mismatches.append(
                    "\(text): index \(actual.count) (total \(total)), oracle \(expected.count); "
                        + "missing \(expected.subtracting(actual).sorted().prefix(3)), "
                        + "extra \(actual.subtracting(expected).sorted().prefix(3))")
            }
        }
        // Guard against a vacuous comparison: most sampled queries must find something.
        #expect(nonEmpty * 2 > queries.count, "only \(nonEmpty) of \(queries.count) queries match anything")
        #expect(mismatches.isEmpty, "\(mismatches.count) of \(queries.count) queries differ:\n\(mismatches.joined(separator: "\n"))")
    }

    /// The fixture articles three times over, ids prefixed `0-`, `1-`, `2-`.
    static var fixturesThreeTimes: [Article] {
        (0..<3).flatMap { copy in
            Fixtures.articles.map { article in
                var article = article
                article.id = ArticleID("\(copy)-\(article.id.rawValue)")
                return article
            }
        }
    }

    /// An index and the oracle over the same articles.
    static func indexAndOracle(_ articles: [Article]) -> (SearchIndex, BruteForceIndex) {
        let index = SearchIndex()
        index.upsert(contentsOf: articles)
        var oracle = BruteForceIndex()
        for article in articles { oracle.upsert(article) }
        return (index, oracle)
    }

    static func fixtureIndex() -> (SearchIndex, BruteForceIndex) {
        let index = SearchIndex()
        index.upsert(contentsOf: Fixtures.articles)
        var oracle = BruteForceIndex()
        for article in Fixtures.articles { oracle.upsert(article) }
        return (index, oracle)
    }

    @Test func decoyWithEveryBigramDoesNotMatchThePhrase() throws {
        let (index, _) = Self.fixtureIndex()
        // a02 holds 人民, 民共 and 共和 but not 人民共和 in one run ("共和之后，人民与民共处"); its second paragraph
        // does hold the phrase, so check the decoy-only text separately.
        let decoyOnly = SearchIndex()
        decoyOnly.upsert(Article(id: "decoy", title: "社区", paragraphs: ["共和之后，人民与民共处"]))
        decoyOnly.upsert(Article(id: "real", title: "中华人民共和国", paragraphs: []))
        #expect(try Self.ids(decoyOnly, "人民共和").0 == ["real"])
        #expect(try Self.ids(decoyOnly, "\"人民共和\"").0 == ["real"])
        #expect(try Self.ids(index, "人民共和").0 == ["a01", "a02", "a12"])  // a09 has only 共和国
    }

    /// A long phrase whose covering bigrams (推进, 产业, 智能) are common is driven by a rare bigram they skip
    /// (进产 or 业智): decoys holding every bigram, or the covering ones apart, must still not match.
    @Test func phrasesDrivenByARareSkippedBigramMatchTheOracle() throws {
        var articles: [Article] = (0..<40).map { i in
            Article(id: ArticleID("common\(i)"), title: "推进产业发展", paragraphs: ["推进智能产业，智能推进\(i)"])
        }
        articles += [
            Article(id: "match", title: "新闻", paragraphs: ["我们推进产业智能化建设。"]),
            Article(id: "title", title: "推进产业智能", paragraphs: ["推进产业智能，再推进产业智能"]),
            Article(id: "apart", title: "新闻", paragraphs: ["推进工作，产业发展，智能制造"]),
            Article(id: "cut", title: "新闻", paragraphs: ["推进产业。智能推进"]),
            Article(id: "every", title: "新闻", paragraphs: ["进产业智能推进"]),
            Article(id: "gap", title: "推进产业", paragraphs: ["智能化"]),
        ]
        let (index, oracle) = Self.indexAndOracle(articles)
        #expect(try Self.ids(index, "推进产业智能").0 == ["match", "title"])
        #expect(try Self.ids(index, "title:推进产业智能").0 == ["title"])
        #expect(try Self.ids(index, "进产业智能推进").0 == ["every"])
        try Self.check(
            index, oracle,
            queries: [
                "推进产业智能", "\"推进产业智能\"", "title:推进产业智能", "推进产业智能化", "产业智能", "进产业智",
                "进产业智能推进", "推进产业智能 -化", "推进产业智能 OR 智能推进", "推进产业智能手机",
            ])
    }

    @Test func phrasesNeverCrossPunctuationLineBreaksOrFields() throws {
        let (index, _) = Self.fixtureIndex()
        #expect(try Self.ids(index, "税政").0 == ["a04"])  // not a03's 退税”政策
        #expect(try Self.ids(index, "北京大学").0 == ["a01", "a07"])  // a07 title; not a03's 北京，大学 nor a07's 北京\n大学
        #expect(try Self.ids(index, "开学北京").0 == [])  // a07 title ends 开学, body starts 北京: a field boundary
        #expect(try Self.ids(index, "\"hong kong\"").0 == ["a06"])
        #expect(try Self.ids(index, "\"kong china\"").0 == [])  // "Kong, China": a comma between
    }

    @Test func spacesBetweenCJKCharactersOfAQuotedPhraseAreIgnored() throws {
        let articles = [
            Article(id: "joined", title: "能源", paragraphs: ["疆电入川工程开工"]),
            Article(id: "spaced", title: "能源", paragraphs: ["疆电 入川工程"]),
            Article(id: "comma", title: "能源", paragraphs: ["疆电，入川工程"]),
            Article(id: "apart", title: "能源", paragraphs: ["入川的疆电"]),
        ]
        let (index, oracle) = Self.indexAndOracle(articles)
        // A space typed between CJK characters inside quotes is no separator: the phrase is 疆电入川, which
        // neither the spaced nor the comma text contains (README: punctuation breaks a phrase).
        let phrases = ["“疆电 入川”", "\"疆电 入川\"", "＂疆 电入\u{3000}川＂", "“疆电入川”", "疆电入川"]
        for phrase in phrases {
            #expect(try Self.ids(index, phrase).0 == ["joined"], "\(phrase)")
        }
        // Unquoted, the space still separates two terms, ANDed anywhere in the article.
        #expect(try Self.ids(index, "疆电 入川").0 == ["joined", "spaced", "comma", "apart"])
        try Self.check(index, oracle, queries: phrases + ["疆电 入川", "\"能源 疆电\"", "title:\"能 源\""])
    }

    @Test func titlePhrasesMatchInTitlesOnly() throws {
        let articles = [
            Article(id: "title", title: "中华人民共和国成立", paragraphs: ["庆祝"]),
            Article(id: "body", title: "庆祝大会", paragraphs: ["中华人民共和国成立"]),
            // Every bigram of 人民共和 in the title, scattered; the phrase itself only in the body.
            Article(id: "scattered", title: "共和之后，人民与民共处", paragraphs: ["人民共和"]),
            Article(id: "both", title: "人民共和", paragraphs: ["人民共和，人民共和"]),
        ]
        let (index, oracle) = Self.indexAndOracle(articles)
        #expect(try Self.ids(index, "title:人民共和").0 == ["title", "both"])
        #expect(try Self.ids(index, "人民共和").0 == ["title", "body", "scattered", "both"])
        // Ranked with a full top 1 (only the title occurrence counts), and by time, where nothing is pruned.
        for sort in [SearchSort.relevance, .newest] {
            let page = try index.search(SearchRequest(text: "title:\"人民共和\"", sort: sort, limit: 1))
            #expect(page.total == 2)
        }
        try Self.check(index, oracle, queries: ["title:人民共和", "title:\"人民 共和\"", "人民共和", "title:共和"])
    }

    @Test func oneAndTwoCharacterQueries() throws {
        let (index, _) = Self.fixtureIndex()
        #expect(try Self.ids(index, "疆").0 == ["a07", "a08"])
        #expect(try Self.ids(index, "新疆").0 == ["a07", "a08"])
        #expect(try Self.ids(index, "四川").0 == ["a07", "a08"])
        #expect(try Self.ids(index, "北京").0 == ["a01", "a03", "a07"])
    }

    @Test func normalisationFoldsWidthAndCase() throws {
        let (index, _) = Self.fixtureIndex()
        #expect(try Self.ids(index, "apec").0 == ["a05"])
        #expect(try Self.ids(index, "ＡＰＥＣ").0 == ["a05"])
        #expect(try Self.ids(index, "g20").0 == ["a05"])
        #expect(try Self.ids(index, "tokyo").0 == ["a11"])
        #expect(try Self.ids(index, "café").0 == ["a11"])  // title "Café" and body "Cafe\u{301}" both
        #expect(try Self.ids(index, "fine").0 == ["a11"])  // ﬁ ligature
        #expect(try Self.ids(index, "カフェ").0 == ["a11"])
        #expect(try Self.ids(index, "커피").0 == ["a11"])
    }

    @Test func astralCharactersAreIndexedLikeAnyOther() throws {
        let index = SearchIndex()
        let articles = [
            Article(id: "x1", title: "𠮷野家", paragraphs: ["𠮷野家的牛丼，𠀀𠀁𠀂测试。"]),
            Article(id: "x2", title: "吉野家", paragraphs: ["吉野家的牛丼"]),
            Article(id: "x3", title: "杂项", paragraphs: ["𠀁𠀂与𠮷"]),
        ]
        index.upsert(contentsOf: articles)
        var oracle = BruteForceIndex()
        for article in articles { oracle.upsert(article) }
        #expect(try Self.ids(index, "𠮷野家").0 == ["x1"])
        #expect(try Self.ids(index, "𠮷").0 == ["x1", "x3"])
        #expect(try Self.ids(index, "𠀁𠀂").0 == ["x1", "x3"])
        #expect(try Self.ids(index, "野家").0 == ["x1", "x2"])
        try Self.check(index, oracle, queries: ["𠀀𠀁𠀂", "𠀂测试", "家的牛", "𠮷 牛丼", "𠀁", "的牛丼"])
    }

    @Test func wordsMatchWholeWordsOnly() throws {
        let (index, _) = Self.fixtureIndex()
        #expect(try Self.ids(index, "kong").0 == ["a06"])
        #expect(try Self.ids(index, "kon").0 == [])
        #expect(try Self.ids(index, "2024").0 == ["a10"])  // "2024年" and "2024 年"
        #expect(try Self.ids(index, "\"2024年\"").0 == ["a10"])
        #expect(try Self.ids(index, "5").0 == ["a05", "a06"])  // "5.2" and "3.5" split at the dot
    }

    @Test func fixtureQueriesMatchOracle() throws {
        let (index, oracle) = Self.fixtureIndex()
        var queries = Self.sampleQueries(from: Fixtures.articles, count: 400, seed: 7)
        queries += [
            "人民共和", "税政", "北京 大学", "\"北京 大学\"", "\"hong kong\" economy", "title:北京", "人民 -共和",
            "北京 OR 新疆", "新疆 OR 四川 棉花", "source:新华社 经济", "person:张三", "after:2024-01-01 人民",
            "before:2023-01-01", "title:\"人民\"", "-\"人民共和\" 国",
            // OR groups with no required term are driven by the union of their alternatives' postings.
            "北京 OR 四川 OR apec", "人民共和 OR 香港", "title:北京 OR 新疆", "北京 OR 不存在的词", "不存在 OR 也没有",
            "北京 OR 新疆 -大学", "source:新华社 北京 OR 人民", "\"hong kong\" OR g20", "(北京 OR 新疆) OR 四川",
            "after:2024-01-01 人民 OR 北京", "person:张三 OR 新疆",
            // Two OR groups (one drives, the other is checked), repeated and absent alternatives.
            "北京 OR 新疆 人民 OR 四川", "人民共和 OR 北京 OR 北京", "title:北京 OR 人民共和 OR 不存在的词 OR 四川",
        ]
        try Self.check(index, oracle, queries: queries)
    }

    /// An OR group of many alternatives (phrases of every length, words, absent runs): each candidate evaluates
    /// only the alternatives whose rarest term it holds, and the matches are still exactly the oracle's.
    @Test func manyAlternativesMatchTheOracle() throws {
        let articles = Self.fixturesThreeTimes
        let (index, oracle) = Self.indexAndOracle(articles)
        let terms = Self.sampleQueries(from: articles, count: 400, seed: 11).filter {
            !$0.contains(" ") && !$0.contains(":")
        }
        var queries: [String] = []
        for size in [8, 40, 150] {
            for start in stride(from: 0, to: terms.count - size, by: max(1, (terms.count - size) / 3)) {
                queries.append(terms[start..<(start + size)].joined(separator: " OR "))
                // The same group beside a second one and a required term.
                queries.append("(" + terms[start..<(start + size)].joined(separator: " OR ") + ") 人民 OR 北京")
            }
        }
        #expect(queries.count >= 12)
        try Self.check(index, oracle, queries: queries)
        // Ranked like the full evaluation: every page is the head of the whole ranking.
        try TopKTests.checkHeads(index, queries: Array(queries.prefix(6)))
    }

    /// A search in two steps (the server looks at the plan's estimated work to choose where to run it): the
    /// same page as ``SearchIndex/search(_:)``, also when the index changed between planning and running.
    @Test func preparedSearchAnswersLikeSearch() throws {
        let (index, _) = Self.fixtureIndex()
        let queries = Self.sampleQueries(from: Fixtures.articles, count: 120, seed: 13) + [
            "北京 OR 新疆", "before:2023-01-01", "-\"人民共和\" 国", "\"hong kong\" economy", "title:北京",
        ]
        func same(_ a: SearchPage, _ b: SearchPage) -> Bool {
            var (a, b) = (a, b)
            a.tookMicros = 0
            b.tookMicros = 0
            return a == b
        }
        for text in queries {
            for snippets in [false, true] {
                let request = SearchRequest(text: text, limit: 10, includeSnippets: snippets, facets: [.source])
                let prepared = try index.prepare(request)
                #expect(same(index.run(prepared), try index.search(request)), "\(text)")
            }
        }
        #expect(throws: QueryError.self) { try index.prepare(SearchRequest(text: "\"unclosed")) }
        // Planned, then the index changes (a removal, a new article, a merge): the run answers as of now.
        let articles = Fixtures.articles
        for text in queries.prefix(40) {
            let request = SearchRequest(text: text, limit: 5)
            let prepared = try index.prepare(request)
            index.remove(id: articles[text.count % articles.count].id)
            index.upsert(contentsOf: [articles[(text.count + 3) % articles.count]])
            #expect(same(index.run(prepared), try index.search(request)), "\(text)")
        }
    }

    /// The estimate grows with the candidates a search can yield and with what checking each costs.
    @Test func workEstimateGrowsWithCandidatesAndTheirCost() throws {
        let articles = TopKTests.synthetic()
        let (index, _) = Self.indexAndOracle(articles)
        func work(_ text: String, snippets: Bool = false) throws -> Int {
            try index.prepare(SearchRequest(text: text, limit: 10, includeSnippets: snippets)).estimatedWork
        }
        #expect(try work("不存在的词") < work("经济"))
        #expect(try work("经济") < work("经济", snippets: true))
        #expect(try work("经济") < work("经济 title:经济"))
        #expect(try work("人民") < work("人民 OR 经济"))
        #expect(try work("after:1970-01-02") >= articles.count)
    }

    /// Exactness must survive incremental writes: many segments, replacements, removals and merges.
    @Test func incrementalWritesMatchOracle() throws {
        let index = SearchIndex()
        var oracle = BruteForceIndex()
        var rng = SplitMix64(seed: 11)
        var articles = Fixtures.articles
        for round in 0..<6 {
            for article in Fixtures.articles {
                var copy = article
                copy.id = ArticleID("\(article.id.rawValue)-\(round)")
                if round % 2 == 1 { copy.paragraphs.append("第\(round)轮修订：人民共和") }
                articles.append(copy)
            }
        }
        var i = 0
        while i < articles.count {
            let n = [1, 1, 2, 5, 9].randomElement(using: &rng)!
            let batch = Array(articles[i..<min(articles.count, i + n)])
            if n == 1 { index.upsert(batch[0]) } else { index.upsert(contentsOf: batch) }
            for article in batch { oracle.upsert(article) }
            if Int.random(in: 0..<4, using: &rng) == 0, let victim = oracle.documents.keys.randomElement(using: &rng) {
                index.remove(id: victim)
                oracle.remove(id: victim)
            }
            if Int.random(in: 0..<4, using: &rng) == 0, var changed = oracle.documents.values.randomElement(using: &rng)?.article {
                changed.title = "改版：" + changed.title
                changed.paragraphs = ["税政改革，人民共和。"]
                index.upsert(changed)
                oracle.upsert(changed)
            }
            i += n
        }
        #expect(index.count == oracle.count)
        #expect(index.segmentSizes.count > 1)
        try Self.check(index, oracle, queries: Self.sampleQueries(from: articles, count: 250, seed: 3) + ["税政", "人民共和"])
    }

    /// Segments prepared ahead (concurrently, out of order) and installed in write order give exactly what
    /// upserting in that order gives; a dropped preparation leaves no trace in results or facets.
    @Test func preparedSegmentsInstalledInOrderMatchOracle() throws {
        let index = SearchIndex()
        var oracle = BruteForceIndex()
        let half = Fixtures.articles.count / 2
        let first = Array(Fixtures.articles.prefix(half + 3))
        // The second batch replaces three articles of the first and repeats an id (the last copy wins).
        var second = Array(Fixtures.articles.dropFirst(half))
        for k in 0..<3 {
            second[k].title = "改版：" + second[k].title
            second[k].paragraphs = ["税政改革，人民共和。"]
        }
        var repeated = second[4]
        repeated.paragraphs = ["重复编号的最后一份：税政。"]
        second.append(repeated)
        var dropped = Fixtures.articles[0]
        dropped.id = ArticleID("never-installed")
        dropped.source = "从未写入的来源"
        let preparedSecond = index.prepare(contentsOf: second)
        let preparedDropped = index.prepare(contentsOf: [dropped])
        let preparedFirst = index.prepare(contentsOf: first)
        #expect(preparedDropped.count == 1)
        #expect(preparedSecond.count == second.count - 1)
        index.install(preparedFirst)
        for article in first { oracle.upsert(article) }
        index.install(preparedSecond)
        for article in second { oracle.upsert(article) }
        index.mergeSegmentsIfNeeded()
        #expect(index.count == oracle.count)
        #expect(!index.contains(id: dropped.id))
        let facets = try index.search(SearchRequest(text: "", limit: 0, facets: [.source], facetLimit: 1000)).facets
        let sources = facets.first?.counts.map(\.value) ?? []
        #expect(sources.contains("新华社"))
        #expect(sources.contains("从未写入的来源") == false)
        try Self.check(
            index, oracle,
            queries: Self.sampleQueries(from: first + second, count: 200, seed: 5) + ["税政", "人民共和", "重复编号"])
    }

    /// A cluster node installs a segment from the analysis another node shipped (only the text is its own): the
    /// answers must be the oracle's, and every page (hits, scores, snippets, totals) the one an index that analysed
    /// the same articles gives. Damaged, foreign or mismatched analyses are refused, never installed.
    @Test func shippedAnalysisInstallsTheSameSegment() throws {
        let articles = Self.fixturesThreeTimes
        let half = articles.count / 2
        let (first, second) = (Array(articles.prefix(half)), Array(articles.dropFirst(half)))
        let sender = SearchIndex()
        let built = sender.prepare(contentsOf: second)
        let checks = (0..<UInt64(second.count)).map { $0 &* 0x9E37_79B9_7F4A_7C15 }
        let bytes = try #require(built.shippedAnalysis(checks: checks))
        let analysis = try #require(ShippedAnalysis(decoding: bytes[...]))
        #expect(analysis.checks == checks)

        // The receiver has its own interned sources and persons (it analysed other articles first).
        let receiver = SearchIndex()
        receiver.install(receiver.prepare(contentsOf: first))
        let shipped = try #require(receiver.prepare(contentsOf: second, analysis: analysis))
        receiver.install(shipped)
        let analysed = SearchIndex()
        analysed.install(analysed.prepare(contentsOf: first))
        analysed.install(analysed.prepare(contentsOf: second))
        var oracle = BruteForceIndex()
        for article in articles { oracle.upsert(article) }
        let queries = Self.sampleQueries(from: articles, count: 200, seed: 21)
            + Self.sampleQueries(from: second, count: 60, seed: 22)
        try Self.check(receiver, oracle, queries: queries)
        for text in queries + [""] {
            for sort in [SearchSort.relevance, .newest] {
                let request = SearchRequest(
                    text: text, sort: sort, limit: 20, includeSnippets: true, facets: FacetField.allCases)
                var (a, b) = (try receiver.search(request), try analysed.search(request))
                (a.tookMicros, b.tookMicros) = (0, 0)
                #expect(a == b, "\(text) (\(sort))")
            }
        }

        // Refused: another format or version, a flipped byte, truncation, a count that does not match.
        #expect(ShippedAnalysis(decoding: ([0x01] + bytes.dropFirst())[...]) == nil)
        var otherVersion = bytes
        otherVersion[1] &+= 1
        #expect(ShippedAnalysis(decoding: otherVersion[...]) == nil)
        for offset in [bytes.count / 3, bytes.count / 2, bytes.count - 9] {
            var damaged = bytes
            damaged[offset] ^= 0x10
            #expect(ShippedAnalysis(decoding: damaged[...]) == nil, "byte \(offset) flipped")
        }
        #expect(ShippedAnalysis(decoding: bytes.dropLast()) == nil)
        #expect(receiver.prepare(contentsOf: Array(second.dropLast()), analysis: analysis) == nil)
        #expect(built.shippedAnalysis(checks: Array(checks.dropLast())) == nil)
    }

    /// A merge built alongside writers: while it is being built, an install replaces articles of the merged
    /// segments and a removal deletes one; once it is swapped in, results equal the oracle's (the replaced and
    /// removed copies stay deleted in the merged segment).
    @Test func mergeAlongsideInstallsMatchesOracle() throws {
        let index = SearchIndex()
        var oracle = BruteForceIndex()
        // Three equal segments, large enough that the writers' own small changes below call for no merge of their
        // own (``SearchIndex/remove(id:)`` merges when due): only the merge under test swaps segments.
        let articles = Self.fixturesThreeTimes
        let third = articles.count / 3
        for part in [articles.prefix(third), articles.dropFirst(third).prefix(third), articles.dropFirst(2 * third)] {
            index.install(index.prepare(contentsOf: Array(part)))
            for article in part { oracle.upsert(article) }
        }
        var interleaved = 0
        index.mergeSegmentsAlongsideWriters {
            interleaved += 1
            guard interleaved == 1 else { return }
            var replaced = [articles[1], articles[third + 2]]
            for k in replaced.indices {
                replaced[k].title = "合并期间改版：" + replaced[k].title
                replaced[k].paragraphs = ["合并期间写入，税政改革。"]
            }
            index.install(index.prepare(contentsOf: replaced))
            for article in replaced { oracle.upsert(article) }
            index.remove(id: articles[2].id)
            oracle.remove(id: articles[2].id)
        }
        #expect(interleaved >= 1)
        #expect(index.segmentSizes.count == 2, "the merged segment and the one installed while it was built")
        #expect(index.count == oracle.count)
        #expect(!index.contains(id: articles[2].id))
        // Every live document is counted once: the merged segment holds no second, older copy of a replaced one.
        #expect(try index.search(SearchRequest(text: "", limit: 0)).total == oracle.count)
        try Self.check(
            index, oracle,
            queries: Self.sampleQueries(from: articles, count: 200, seed: 11) + ["合并期间", "税政", "改版"]
                + Self.sampleQueries(from: [articles[1], articles[third + 2], articles[2]], count: 30, seed: 13))
        // Merging again, now with nothing changing meanwhile, keeps the same answers.
        index.mergeSegmentsIfNeeded()
        try Self.check(
            index, oracle, queries: Self.sampleQueries(from: articles, count: 50, seed: 12) + ["合并期间"])
    }

    @Test(.enabled(if: Fixtures.corpusAvailable, "../shared/corpus/zh-news.jsonl is absent"))
    func corpusQueriesMatchOracle() throws {
        // A bounded sample keeps debug runs quick: every 20th article (977), 200 queries. The benchmark's query
        // file runs against the whole corpus in release (benchmarks/search/run.py checks totals too).
        let articles = try Fixtures.corpus(stride: 20)
        let index = SearchIndex()
        index.upsert(contentsOf: Array(articles.prefix(articles.count / 2)))
        index.upsert(contentsOf: Array(articles.dropFirst(articles.count / 2)))
        var oracle = BruteForceIndex()
        for article in articles { oracle.upsert(article) }
        try Self.check(index, oracle, queries: Self.sampleQueries(from: articles, count: 200, seed: 2024))
    }
}
