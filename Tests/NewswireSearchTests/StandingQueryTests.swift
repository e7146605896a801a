import NewswireModel
import Testing

@testable import NewswireSearch

/// Standing-query matching must report exactly what SEARCH (and the brute-force oracle) would match for each
/// committed change, whatever terms the percolator indexed the queries by.
@Suite struct StandingQueryTests {
    // MARK: Generated articles and queries

    /// Small articles recombined from fixture text plus a tiny CJK alphabet and word list, so phrases, decoys
    /// (bigrams present, phrase absent), punctuation breaks and repeated terms are common.
    struct ArticleGenerator {
        var rng: SplitMix64
        var serial = 0
        static let alphabet = Array("人民共和国北京大学新疆四川经济税政会议").map(String.init)
        static let words = ["hong", "kong", "apec", "economy", "2024", "g20", "china", "news"]
        static let separators = ["", "", "", "，", "。", " ", "\n", "、"]
        static let sources = ["新华社", "人民日报", "央视网《新闻联播》", "Reuters", "北京日报"]
        static let persons = ["张三", "李四", "王五", "Jane Doe"]
        static let fragments = Fixtures.articles.flatMap(\.paragraphs) + Fixtures.articles.map(\.title)

        init(seed: UInt64) { rng = SplitMix64(seed: seed) }

        mutating func text(_ pieces: ClosedRange<Int>) -> String {
            var result = ""
            for _ in 0..<Int.random(in: pieces, using: &rng) {
                switch Int.random(in: 0..<10, using: &rng) {
                case 0...2: result += Self.fragments.randomElement(using: &rng)!
                case 3: result += " " + Self.words.randomElement(using: &rng)! + " "
                default:
                    for _ in 0..<Int.random(in: 1...4, using: &rng) {
                        result += Self.alphabet.randomElement(using: &rng)!
                    }
                }
                result += Self.separators.randomElement(using: &rng)!
            }
            return result
        }

        mutating func article(id: ArticleID? = nil) -> Article {
            serial += 1
            let day = Int64.random(in: 0..<1200, using: &rng)
            return Article(
                id: id ?? ArticleID("g\(serial)"), title: text(1...3),
                publishedAt: Int.random(in: 0..<8, using: &rng) == 0
                    ? nil : PublishedTime(secondsSinceEpoch: 1_640_000_000 + day * 86_400, utcOffsetSeconds: 28_800),
                source: Int.random(in: 0..<6, using: &rng) == 0 ? nil : Self.sources.randomElement(using: &rng),
                reporters: Int.random(in: 0..<3, using: &rng) == 0 ? [Self.persons.randomElement(using: &rng)!] : [],
                paragraphs: (0..<Int.random(in: 1...3, using: &rng)).map { _ in text(1...6) })
        }
    }

    /// Sampled terms and phrases (as the exactness tests sample them) combined with negations, OR, field
    /// filters and request filters; plus pure-filter and browse-all queries with no term to index them by.
    static func standingQueries(from articles: [Article], count: Int, seed: UInt64) -> [StandingQuery] {
        var rng = SplitMix64(seed: seed)
        let terms = ExactnessTests.sampleQueries(from: articles, count: count * 2, seed: seed)
        func term() -> String { terms.randomElement(using: &rng)! }
        let sources = ArticleGenerator.sources
        let dates = ["2022-06-01", "2023-01-01", "2023-09-15", "2024-03-01"]
        var queries: [StandingQuery] = []
        while queries.count < count {
            var query = StandingQuery(text: term())
            switch Int.random(in: 0..<16, using: &rng) {
            case 0: query.text = term() + " -" + term()
            case 1: query.text = term() + " OR " + term()
            case 2: query.text = term() + " OR " + term() + " " + term()
            case 3: query.text = "source:" + String(sources.randomElement(using: &rng)!.prefix(2)) + " " + term()
            case 4: query.text = "after:" + dates.randomElement(using: &rng)! + " " + term()
            case 5: query.text = term() + " before:" + dates.randomElement(using: &rng)!
            case 6: query.sources = [sources.randomElement(using: &rng)!]
            case 7:
                query.publishedFrom = PublishedTime(iso8601: dates.randomElement(using: &rng)!)
                query.publishedBefore = PublishedTime(iso8601: "2024-06-01")
            case 8:
                query.text = ["source:新华社", "after:2023-01-01", "person:张三", "", "before:2023-06-01 -经济"].randomElement(
                    using: &rng)!
            case 9: query.text = "\"" + term() + " " + ArticleGenerator.words.randomElement(using: &rng)! + "\""
            case 10: query.text = "-" + term() + " source:人民"
            case 11: query.text = "person:李四 OR " + term()
            case 12: query.text = "title:" + term() + " OR " + term()
            case 13:
                // A conjunction of several topics' terms: evaluated inline up to eight texts, as a formula beyond.
                query.text = (0..<Int.random(in: 4...10, using: &rng)).map { _ in term() }.joined(separator: " ")
            default: break
            }
            if Int.random(in: 0..<4, using: &rng) == 0 {
                query.snippetLength = [10, 40, 120].randomElement(using: &rng)!
            }
            if Int.random(in: 0..<8, using: &rng) == 0 { query.includeSnippets = false }
            // Sampled terms are valid, but a combination like "-x OR y" is not: keep only what SEARCH accepts.
            if (try? QueryParser.parse(query.text)) != nil { queries.append(query) }
        }
        return queries
    }

    // MARK: Oracle

    static func oracleMatches(_ query: StandingQuery, _ document: BruteForceIndex.Document) -> Bool {
        BruteForceIndex.passesRequestFilters(query.searchRequest, document.article)
            && BruteForceIndex.holds(try! QueryParser.parse(query.text), in: document)
    }

    /// The oracle's analysed form of one article.
    static func document(_ article: Article) -> BruteForceIndex.Document {
        var oracle = BruteForceIndex()
        oracle.upsert(article)
        return oracle.documents[article.id]!
    }

    struct Expected: Hashable, Comparable {
        var change: Int
        var query: StandingQueryID
        var kind: StandingQueryMatch.Kind
        var id: ArticleID
        static func < (a: Self, b: Self) -> Bool { (a.change, a.query) < (b.change, b.query) }
    }

    static func expected(_ changes: [ArticleChange], _ queries: [StandingQueryID: StandingQuery]) -> [Expected] {
        var result: [Expected] = []
        for (c, change) in changes.enumerated() {
            var current: BruteForceIndex.Document? = nil
            var previous: BruteForceIndex.Document? = nil
            switch change {
            case .inserted(let article): current = document(article)
            case .updated(let article, let before):
                current = document(article)
                previous = before.map(document)
            case .deleted: break
            }
            for (id, query) in queries {
                switch change {
                case .inserted(let article):
                    if oracleMatches(query, current!) {
                        result.append(Expected(change: c, query: id, kind: .inserted, id: article.id))
                    }
                case .updated(let article, _):
                    if oracleMatches(query, current!) {
                        result.append(Expected(change: c, query: id, kind: .updated, id: article.id))
                    } else if let previous, oracleMatches(query, previous) {
                        result.append(Expected(change: c, query: id, kind: .stoppedMatching, id: article.id))
                    }
                case .deleted: break
                }
            }
        }
        return result.sorted()
    }

    static func actual(_ matches: StandingQueryMatches) -> [Expected] {
        matches.matches.map { Expected(change: $0.change, query: $0.query, kind: $0.kind, id: $0.hit.id) }
    }

    /// Checks one batch: the oracle's pairs, in commit order; the same as evaluating every query on every article;
    /// and, for each query, the same ids and hits (less the score) as SEARCH over an index of the batch.
    static func checkBatch(
        _ matcher: StandingQueryMatcher, _ changes: [ArticleChange], _ queries: [StandingQueryID: StandingQuery],
        comparingWithSearch: Bool = true
    ) throws -> StandingQueryMatches {
        let exhaustive = matcher.match(changes, exhaustive: true)
        let result = matcher.match(changes)
        let expected = expected(changes, queries)
        let got = actual(result)
        #expect(
            got == expected,
            "missing \(Set(expected).subtracting(got).prefix(5)), extra \(Set(got).subtracting(expected).prefix(5))")
        #expect(got == actual(exhaustive))
        #expect(result.matches.map(\.hit) == exhaustive.matches.map(\.hit))
        #expect(result.deletions == changes.indices.filter { if case .deleted = changes[$0] { true } else { false } })
        // Given the index's analyses of the current versions (what the engine hands a live-query hub): the same
        // matches and hits; given analyses of other articles (shifted by one), they are ignored: the same again.
        var currentArticles: [Article] = []
        for change in changes {
            switch change {
            case .inserted(let article), .updated(let article, _): currentArticles.append(article)
            case .deleted: break
            }
        }
        let prepared = try #require(SearchIndex().prepare(contentsOf: currentArticles, keepingAnalyses: true).analyses)
        for (i, (article, analysis)) in zip(currentArticles, prepared).enumerated() {
            // The segment build's analysis is the analyzer's (nil only for an earlier copy of a repeated id).
            let repeatedLater = currentArticles[(i + 1)...].contains { $0.id == article.id }
            #expect((analysis == nil) == repeatedLater)
            guard let analysis else { continue }
            let reference = Analyzer.document(title: article.title, body: article.body)
            #expect(analysis.units == reference.units && analysis.bodyBase == reference.bodyBase)
            #expect(analysis.isAnalysis(of: article))
        }
        var analyses: [ArticleAnalysis?] = []
        var next = 0
        for change in changes {
            if case .deleted = change {
                analyses.append(nil)
            } else {
                analyses.append(prepared[next])
                next += 1
            }
        }
        #expect(matcher.match(changes, analyses: analyses).matches == result.matches)
        let shifted = Array(analyses.dropFirst()) + [analyses.first ?? nil]
        #expect(matcher.match(changes, analyses: shifted).matches == result.matches)
        // Deferred snippets: the same matches, and each pending snippet builds exactly the hit's snippet.
        let deferred = matcher.match(changes, snippets: .deferred)
        #expect(actual(deferred) == got)
        var placementScratch = SnippetPlacementScratch()
        for (built, pending) in zip(result.matches, deferred.matches) {
            var hit = pending.hit
            #expect(hit.snippet.isEmpty && hit.highlights.isEmpty)
            if let snippet = pending.pendingSnippet {
                // Placed without a String (the hub writes the text straight into the event's payload): the bytes
                // and highlights of the String build() makes, or not placed at all when the body is read again.
                var placed: ([UInt8], [HighlightRange])?
                let wasPlaced = snippet.withPlacedText(&placementScratch) { text, highlights in
                    let bytes = [UInt8](unsafeUninitializedCapacity: text.utf8Count) { buffer, count in
                        text.writeUTF8(to: UnsafeMutableRawBufferPointer(buffer))
                        count = text.utf8Count
                    }
                    placed = (bytes, highlights)
                }
                #expect(wasPlaced == snippet.isPlacedFromAnalysis)
                #expect(snippet.maximumUTF8Count >= built.hit.snippet.utf8.count)
                (hit.snippet, hit.highlights) = snippet.build()
                if let placed {
                    #expect(placed.0 == Array(built.hit.snippet.utf8) && placed.1 == built.hit.highlights)
                }
            }
            #expect(hit == built.hit)
            let wantsSnippet = built.kind != .stoppedMatching && queries[built.query]?.includeSnippets == true
            #expect((pending.pendingSnippet != nil) == wantsSnippet)
        }
        // Built together, grouped by article, so each body is analysed once for every pattern set: the same
        // snippets. Longest first, then shortest first: a snippet reuses an analysis of a longer prefix, and
        // extends one of a shorter prefix.
        for longestFirst in [true, false] {
            let together = matcher.match(changes, snippets: .deferred)
            let pending = together.matches.compactMap(\.pendingSnippet)
            PendingSnippet.buildAll(
                Dictionary(grouping: pending, by: \.bodyKey).values.flatMap { group in
                    group.sorted { longestFirst ? $0.length > $1.length : $0.length < $1.length }
                })
            for (built, pending) in zip(result.matches, together.matches) {
                guard let snippet = pending.pendingSnippet else { continue }
                let (text, highlights) = snippet.build()  // already built: returns the shared result
                #expect(text == built.hit.snippet && highlights == built.hit.highlights)
            }
        }
        if comparingWithSearch {
            let index = SearchIndex()
            var current: [ArticleID: Article] = [:]
            for change in changes {
                switch change {
                case .inserted(let article), .updated(let article, _): current[article.id] = article
                case .deleted: break
                }
            }
            index.upsert(contentsOf: Array(current.values))
            for (id, query) in queries {
                var request = query.searchRequest
                request.limit = 1_000_000
                let page = try index.search(request)
                let reported = result.matches.filter { $0.query == id && $0.kind != .stoppedMatching }.map(\.hit)
                #expect(Set(reported.map(\.id)) == Set(page.hits.map(\.id)), "\(query.text)")
                let searched = Dictionary(uniqueKeysWithValues: page.hits.map { ($0.id, $0) })
                for hit in reported {
                    var expected = try #require(searched[hit.id])
                    expected.score = 0
                    #expect(hit == expected, "\(query.text): \(hit.id)")
                }
            }
        }
        return result
    }

    // MARK: Tests

    /// Random write sequences (inserts, updates with and without the previous version, deletes) against a
    /// registry that changes as they run.
    @Test(arguments: [UInt64(1), 2, 3])
    func randomWriteSequencesMatchTheOracle(seed: UInt64) throws {
        var generator = ArticleGenerator(seed: seed)
        var rng = SplitMix64(seed: seed &* 31)
        let sample = (0..<40).map { _ in generator.article() } + Fixtures.articles
        var pool = Self.standingQueries(from: sample, count: 220, seed: seed)
        let matcher = StandingQueryMatcher()
        var registered: [StandingQueryID: StandingQuery] = [:]
        for query in pool.prefix(150) { registered[try matcher.register(query)] = query }
        pool.removeFirst(150)
        var stored: [ArticleID: Article] = [:]
        var matched = 0
        var kinds = Set<StandingQueryMatch.Kind>()
        for round in 0..<40 {
            var changes: [ArticleChange] = []
            var touched = Set<ArticleID>()
            for _ in 0..<Int.random(in: 1...12, using: &rng) {
                let roll = Int.random(in: 0..<10, using: &rng)
                if roll < 3, let id = stored.keys.filter({ !touched.contains($0) }).randomElement(using: &rng) {
                    let previous = stored[id]!
                    var next = generator.article(id: id)
                    if Int.random(in: 0..<2, using: &rng) == 0 { next.title = previous.title }  // a small edit
                    stored[id] = next
                    touched.insert(id)
                    changes.append(.updated(next, previous: Int.random(in: 0..<3, using: &rng) == 0 ? nil : previous))
                } else if roll < 5, let id = stored.keys.filter({ !touched.contains($0) }).randomElement(using: &rng) {
                    stored[id] = nil
                    touched.insert(id)
                    changes.append(.deleted(id))
                } else {
                    let article = generator.article()
                    stored[article.id] = article
                    touched.insert(article.id)
                    changes.append(.inserted(article))
                }
            }
            let result = try Self.checkBatch(matcher, changes, registered)
            matched += result.matches.count
            kinds.formUnion(result.matches.map(\.kind))
            if round % 8 == 7 {
                // Churn: some watchers leave, new ones arrive.
                for id in registered.keys.shuffled(using: &rng).prefix(15) {
                    #expect(matcher.unregister(id))
                    registered[id] = nil
                }
                for query in pool.prefix(15) { registered[try matcher.register(query)] = query }
                pool.removeFirst(min(15, pool.count))
            }
        }
        #expect(matcher.count == registered.count)
        // Guard against a vacuous comparison.
        #expect(matched > 200, "only \(matched) matches")
        #expect(kinds == [.inserted, .updated, .stoppedMatching])
    }

    /// Queries built so that only one alternative, the last group, or a title-only or excluded term decides the
    /// match: a candidate selection that indexed the wrong term (or one alternative of an OR) drops them.
    /// Also with the term statistics sampled (one article in 32 counted) from the eighth article on: the
    /// re-index picks its terms from those counts.
    @Test(arguments: [false, true])
    func candidateSelectionNeverDropsAMatch(sampledEarly: Bool) throws {
        let matcher = sampledEarly ? StandingQueryMatcher(fullyCountedArticles: 8) : StandingQueryMatcher()
        let texts = [
            "新疆 OR 四川", "四川 OR 新疆", "北京 OR 上海 OR 广州", "经济 新疆 OR 四川", "title:大学 OR 棉花",
            "\"hong kong\" OR 丰收", "hong kong", "\"人民 共和\"", "人民共和 -北京", "棉花 person:王五",
            "source:人民 OR 四川", "after:2022-01-01", "", "-北京 source:人民日报", "盆地 OR title:开学",
            "疆", "a", "会议 OR economy OR 峰会",
        ]
        var queries: [StandingQueryID: StandingQuery] = [:]
        for text in texts { queries[try matcher.register(StandingQuery(text: text))] = StandingQuery(text: text) }
        // Every article alone in its batch, then all together, then again once statistics re-index the queries.
        for article in Fixtures.articles { _ = try Self.checkBatch(matcher, [.inserted(article)], queries) }
        let all = Fixtures.articles.map { ArticleChange.inserted($0) }
        for _ in 0..<8 { _ = try Self.checkBatch(matcher, all, queries) }
        #expect(matcher.statistics.articlesSeen >= 64)
        _ = try Self.checkBatch(matcher, all, queries)
        // The OR alternatives matched through their second term.
        let sichuanOnly = Article(id: "s1", title: "四川", paragraphs: ["盆地"])
        let result = matcher.match([.inserted(sichuanOnly)])
        let ids = Set(result.matches.map(\.query))
        for (id, query) in queries where ["新疆 OR 四川", "四川 OR 新疆", "盆地 OR title:开学", ""].contains(query.text) {
            #expect(ids.contains(id), "\(query.text)")
        }
    }

    /// The percolator evaluates candidate queries only: with many queries on distinct terms, a batch that holds
    /// one of them evaluates that one (plus the always-checked queries), not all of them.
    @Test func onlyCandidateQueriesAreEvaluated() throws {
        let matcher = StandingQueryMatcher()
        let alphabet = Array("甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉戌亥").map(String.init)
        var target: StandingQueryID? = nil
        for a in alphabet {
            for b in alphabet where a != b {
                let id = try matcher.register(StandingQuery(text: a + b))
                if a + b == "甲乙" { target = id }
            }
        }
        let browse = try matcher.register(StandingQuery(text: "source:新华社"))
        #expect(matcher.statistics.alwaysChecked == 1)
        let result = matcher.match([.inserted(Article(id: "x", title: "甲乙", source: "新华社"))])
        #expect(result.matches.map(\.query) == [target!, browse])
        #expect(result.evaluatedQueries == 2)
        #expect(result.evaluatedPairs == 2)
        let exhaustive = matcher.match([.inserted(Article(id: "x", title: "甲乙", source: "新华社"))], exhaustive: true)
        #expect(exhaustive.evaluatedQueries == matcher.count)
        #expect(exhaustive.matches == result.matches)
    }

    /// A candidate (an article holding the query's index term) that lacks the key the quick test asks for (of the
    /// next required group, or the next key of the only one) is rejected without evaluating the query; one that
    /// holds it is evaluated and matched. The verdicts stay those of SEARCH (``checkBatch``).
    @Test func candidatesLackingAnotherRequiredKeyAreNotEvaluated() throws {
        let matcher = StandingQueryMatcher()
        let twoGroups = StandingQuery(text: "甲乙 丙丁")
        let phrase = StandingQuery(text: "\"戊己庚辛\"")
        let queries = [try matcher.register(twoGroups): twoGroups, try matcher.register(phrase): phrase]
        let partial = [
            Article(id: "a", title: "甲乙", paragraphs: ["天气"]), Article(id: "b", title: "丙丁", paragraphs: ["天气"]),
            Article(id: "c", title: "戊己", paragraphs: ["天气"]), Article(id: "d", title: "庚辛", paragraphs: ["天气"]),
        ]
        for article in partial {
            let result = try Self.checkBatch(matcher, [.inserted(article)], queries)
            #expect(result.matches.isEmpty)
            #expect(result.evaluatedPairs == 0, "\(article.title)")
        }
        let whole = [
            Article(id: "e", title: "甲乙和丙丁", paragraphs: ["天气"]),
            Article(id: "f", title: "天气", paragraphs: ["戊己庚辛"]),
        ]
        let result = try Self.checkBatch(matcher, whole.map { .inserted($0) }, queries)
        #expect(result.matches.map(\.hit.id) == ["e", "f"])
        #expect(result.evaluatedPairs == 2)
    }

    @Test(arguments: [
        "\"人民共和", "北京 \"上海", "OR 北京", "北京 OR", "北京 OR -上海", "title: 北京", "after:2024-13-01 北京",
        "-北京", "北京 - 上海", "北京 \"\"", "title:，，", "-，，",
    ])
    func badQueriesGetTheErrorSearchGives(text: String) {
        let matcher = StandingQueryMatcher()
        var searchError: QueryError? = nil
        do { _ = try SearchIndex().search(SearchRequest(text: text)) } catch { searchError = error }
        var registerError: QueryError? = nil
        do { _ = try matcher.register(StandingQuery(text: text)) } catch { registerError = error }
        #expect(searchError != nil)
        #expect(registerError == searchError)
        #expect(matcher.count == 0)
    }

    @Test func unregisteredQueriesStopMatching() throws {
        let matcher = StandingQueryMatcher()
        let a = try matcher.register(StandingQuery(text: "新疆"))
        let b = try matcher.register(StandingQuery(text: "source:人民日报"))
        let c = try matcher.register(StandingQuery(text: "棉花"))
        let cotton = Fixtures.articles.first { $0.id == "a08" }!
        #expect(matcher.match([.inserted(cotton)]).matches.map(\.query) == [a, b, c])
        #expect(matcher.unregister(a))
        #expect(matcher.unregister(b))
        #expect(!matcher.unregister(b))
        #expect(matcher.query(c)?.text == "棉花")
        #expect(matcher.query(a) == nil)
        let result = matcher.match([.inserted(cotton), .deleted("a01"), .updated(cotton, previous: nil)])
        #expect(result.matches.map(\.query) == [c, c])
        #expect(result.matches.map(\.kind) == [.inserted, .updated])
        #expect(result.matches.map(\.change) == [0, 2])
        #expect(result.deletions == [1])
        let d = try matcher.register(StandingQuery(text: "新疆"))
        #expect(d != a)  // ids are never reused
        #expect(matcher.match([.inserted(cotton)]).matches.map(\.query) == [c, d])
    }

    @Test func hitCarriesSnippetWithHighlights() throws {
        let matcher = StandingQueryMatcher()
        let id = try matcher.register(StandingQuery(text: "棉花 -北京", snippetLength: 12))
        let cotton = Fixtures.articles.first { $0.id == "a08" }!
        let match = try #require(matcher.match([.inserted(cotton)]).matches.first)
        #expect(match.query == id)
        #expect(match.hit.title == "新疆棉花丰收")
        #expect(match.hit.source == "人民日报")
        #expect(match.hit.publishedAt == cotton.publishedAt)
        let index = SearchIndex()
        index.upsert(cotton)
        var searched = try #require(try index.search(SearchRequest(text: "棉花 -北京", snippetLength: 12)).hits.first)
        searched.score = 0
        #expect(match.hit == searched)
        #expect(match.hit.snippet.unicodeScalars.count == 12)
        let highlighted = match.hit.highlights.map { range in
            String(String.UnicodeScalarView(Array(match.hit.snippet.unicodeScalars)[range.start..<range.end]))
        }
        #expect(highlighted == ["棉花"])
        // An update that no longer matches reports the new version, without snippet.
        var edited = cotton
        edited.title = "北京棉花"
        let stopped = try #require(matcher.match([.updated(edited, previous: cotton)]).matches.first)
        #expect(stopped.kind == .stoppedMatching)
        #expect(stopped.hit.title == "北京棉花")
        #expect(stopped.hit.snippet == "")
    }

    /// The hub's snippet bound counts, for every span, the most distinct patterns starting within it, as a brute
    /// force over every window does (an undercount would cut a snippet's search short and change its window).
    @Test func mostDistinctPatternsWithinASpanIsExact() {
        var rng = SplitMix64(seed: 15)
        for _ in 0..<300 {
            let patternCount = Int.random(in: 1...4, using: &rng)
            let starts: [[Int32]] = (0..<patternCount).map { _ in
                (0..<Int.random(in: 0...6, using: &rng)).map { _ in Int32.random(in: 0..<400, using: &rng) }.sorted()
            }
            let span = [0, 1, 20, 240].randomElement(using: &rng)!
            var expected = 0
            for anchor in starts.joined() {
                let inside = starts.filter { $0.contains { $0 >= anchor && Int($0) - Int(anchor) <= span } }.count
                expected = max(expected, inside)
            }
            let occurrences = starts.map { $0.map { BodyOccurrence(position: $0, start: 0, end: 0) } }
            #expect(PendingSnippet.mostDistinctPatterns(occurrences, span: span) == expected, "\(starts) span \(span)")
        }
    }

    /// A matcher with each of `texts` registered at snippet lengths 10, 40 and 120, and the queries by id.
    static func registeredAtSnippetLengths(
        _ texts: [String]
    ) throws -> (StandingQueryMatcher, [StandingQueryID: StandingQuery]) {
        let matcher = StandingQueryMatcher()
        var registered: [StandingQueryID: StandingQuery] = [:]
        for text in texts {
            for length in [10, 40, 120] {
                let query = StandingQuery(text: text, snippetLength: length)
                registered[try matcher.register(query)] = query
            }
        }
        return (matcher, registered)
    }

    /// Long bodies whose query terms never meet within one snippet window, or meet only far in, or occur only in
    /// the title: the hub's snippets stop reading a body once the article's analysis shows no window can show
    /// more patterns, and must still be exactly SEARCH's (window, text and highlights), at every length.
    @Test func snippetsOfFarApartTermsAreSearchs() throws {
        let filler = String(repeating: "今年以来各地持续推进相关工作取得明显成效。", count: 12)
        let articles = [
            Article(id: "far1", title: "新疆棉花", paragraphs: ["新疆" + filler, filler + "四川盆地" + filler]),
            Article(id: "far2", title: "四川", paragraphs: [filler, "四川" + filler + "新疆", filler + "新疆四川"]),
            Article(id: "far3", title: "棉花丰收", paragraphs: [filler + "新疆", "hong kong " + filler + " kong"]),
            Article(id: "far4", title: "新疆 四川 棉花", paragraphs: [filler]),
        ]
        let texts = [
            "新疆 四川", "四川 新疆", "新疆 四川 棉花", "棉花 新疆", "新疆 hong", "\"hong kong\" 新疆", "title:棉花 新疆",
            "四川 -北京", "新疆 OR 四川",
        ]
        let (matcher, registered) = try Self.registeredAtSnippetLengths(texts)
        let result = try Self.checkBatch(matcher, articles.map { .inserted($0) }, registered)
        #expect(result.matches.count > 60, "only \(result.matches.count) matches")
        // One at a time too (each article's snippets built on their own).
        for article in articles { _ = try Self.checkBatch(matcher, [.inserted(article)], registered) }
    }

    /// In a body without combining marks or astral characters, a snippet is placed over the occurrences the
    /// article's analysis found, and must be SEARCH's: patterns starting at the same character (the lower pattern
    /// first), more occurrences than a window is placed over, line breaks, fullwidth letters, and characters that
    /// normalise to several (an ellipsis, `℃` to `°c`, `㍻` to `平成`, the `ﬁ` ligature), whose normalised offsets
    /// map back to the body's, also when a match starts or ends inside one. Bodies with a combining mark or an
    /// astral character take the stored-text path, and must be SEARCH's too.
    @Test func snippetsPlacedFromTheAnalysisAreSearchs() throws {
        let many = String(repeating: "新疆棉花，四川。", count: 200)
        let articles = [
            Article(id: "many", title: "棉花", paragraphs: [many, "新疆四川棉花"]),
            Article(id: "same", title: "四川", paragraphs: ["今年新疆棉花丰收。", "四川新疆\n新疆棉花 hong kong"]),
            Article(id: "wide", title: "四川", paragraphs: ["ＨＯＮＧ ＫＯＮＧ 与新疆，四川。"]),
            Article(id: "mark", title: "四川", paragraphs: ["Cafe\u{301} 新疆棉花，四川 hong kong"]),
            Article(id: "astral", title: "四川", paragraphs: ["𠀀𠀁 新疆棉花，四川 hong kong"]),
            Article(id: "ellipsis", title: "四川", paragraphs: ["新疆……棉花……四川，气温25℃，新疆棉花 hong kong……"]),
            Article(id: "era", title: "四川", paragraphs: ["㍻三十年，新疆棉花丰收。", "成都与四川，平成年间 c 语言"]),
            Article(id: "ligature", title: "四川", paragraphs: ["ﬁle ﬁle hong kong … 新疆棉花 ½ 四川"]),
        ]
        let texts = [
            "新疆 新疆棉花", "新疆棉花 新疆", "棉花 四川", "四川 OR 新疆", "hong 新疆", "\"hong kong\" 四川", "title:棉花",
            "平成 新疆", "成 四川", "c 四川", "file 新疆", "\"1 2\" 四川", "ﬁle",
        ]
        let (matcher, registered) = try Self.registeredAtSnippetLengths(texts)
        let result = try Self.checkBatch(matcher, articles.map { .inserted($0) }, registered)
        #expect(result.matches.count > 60, "only \(result.matches.count) matches")
        let deferred = matcher.match(articles.map { .inserted($0) }, snippets: .deferred).matches
        // Both paths taken: six bodies placed from the analysis (three of them through expansions), two read again.
        let placed = Dictionary(grouping: deferred.compactMap(\.pendingSnippet)) { $0.body.expansions != nil }
        func bodies(_ snippets: [PendingSnippet]?) -> Int { Set((snippets ?? []).map { ObjectIdentifier($0.body) }).count }
        #expect(bodies(placed[true]) == 6, "many, same, wide and the three expanding")
        #expect(bodies(placed[true]?.filter { !$0.body.normalisesOneToOne }) == 3, "ellipsis, era and ligature")
        #expect(bodies(placed[false]) == 2, "mark and astral")
    }

    /// The matcher makes an article's keys as it scans them (``BatchDocument/forEachKey(wanted:visit:)``): with
    /// every character wanted they are exactly the term stream's (``MatchKey/Stream``, which also keys the
    /// queries), and with some characters unwanted exactly the stream's keys less those ending at them.
    @Test func keysMadeWhileScanningAreTheTermStreams() {
        let articles = Fixtures.articles + [
            Article(id: "mixed", title: "新疆 hong kong 棉花", paragraphs: ["四川，新疆 GDP 增长 3.5%", "𠀀新疆 棉花丰收"])
        ]
        for article in articles {
            let document = BatchDocument(article, change: 0, role: .current, isUpdate: false)
            var stream = MatchKey.Stream()
            var expected: [UInt64] = []
            for unit in document.units {
                stream.add(cjk: unit.cjk, word: unit.word, position: unit.position, to: &expected)
            }
            var all: [UInt64] = []
            document.forEachKey { _ in true } visit: { all.append($0) }
            #expect(all == expected, "\(article.id)")
            let unwanted = Set("疆花川".unicodeScalars.map(\.value))
            var some: [UInt64] = []
            document.forEachKey { !unwanted.contains($0) } visit: { some.append($0) }
            let kept = expected.filter { key in MatchKey.lastCharacter(key).map { !unwanted.contains($0) } ?? true }
            #expect(some == kept, "\(article.id)")
        }
    }

    /// An analysis is used only for the text it was made from: the body compared with the paragraphs joined by
    /// line feeds, in place.
    @Test func analysisIsRecognisedByItsParagraphs() {
        let (units, bodyBase) = Analyzer.document(title: "标题", body: "第一段\n第二段")
        let analysis = ArticleAnalysis(title: "标题", body: "第一段\n第二段", units: units, bodyBase: bodyBase)
        #expect(analysis.isAnalysis(title: "标题", paragraphs: ["第一段", "第二段"]))
        #expect(analysis.isAnalysis(title: "标题", paragraphs: ["第一段\n第二段"]))
        #expect(!analysis.isAnalysis(title: "标题", paragraphs: ["第一段", "第二"]))
        #expect(!analysis.isAnalysis(title: "标题", paragraphs: ["第一段", "第二段", ""]))
        #expect(!analysis.isAnalysis(title: "标题", paragraphs: ["第一", "段第二段"]))
        #expect(!analysis.isAnalysis(title: "标题", paragraphs: ["第一段", "第二段落"]))
        #expect(!analysis.isAnalysis(title: "题", paragraphs: ["第一段", "第二段"]))
        #expect(!analysis.isAnalysis(title: "标题", paragraphs: []))
        let empty = ArticleAnalysis(title: "", body: "", units: [], bodyBase: 16)
        #expect(empty.isAnalysis(title: "", paragraphs: []) && empty.isAnalysis(title: "", paragraphs: [""]))
        #expect(!empty.isAnalysis(title: "", paragraphs: ["", ""]))
    }

    /// Each pattern's occurrences merged as the reference path lists them: by start, the lower pattern first on a
    /// tie, at most the window's cap.
    @Test func analysisOccurrencesMergeInTextOrder() {
        func occurrences(_ starts: [Int32]) -> [BodyOccurrence] {
            starts.map { BodyOccurrence(position: $0, start: $0, end: $0 + 2) }
        }
        let merged = PendingSnippet.occurrences([occurrences([3, 9]), [], occurrences([1, 3, 12])])
        #expect(merged.map(\.range) == [1..<3, 3..<5, 3..<5, 9..<11, 12..<14])
        #expect(merged.map(\.pattern) == [2, 0, 2, 0, 2])
        let capped = PendingSnippet.occurrences([occurrences((0..<300).map { $0 * 4 }), occurrences([2])])
        #expect(capped.count == SnippetBuilder.maxOccurrences)
        #expect(capped.prefix(3).map(\.pattern) == [0, 1, 0] && capped.last?.range == 1016..<1018)
        #expect(PendingSnippet.occurrences([[], []]).isEmpty)
    }

    @Test(.enabled(if: Fixtures.corpusAvailable, "../shared/corpus/zh-news.jsonl is absent"))
    func corpusBatchesMatchTheOracle() throws {
        let articles = try Fixtures.corpus(stride: 40)
        var queries = Self.standingQueries(from: articles, count: 150, seed: 2026)
        queries += [
            "经济", "乡村振兴", "\"一带一路\"", "新疆 OR 西藏", "title:习近平", "经济 增长", "外贸 进出口", "芯片",
            "新疆 棉花", "发展 改革 开放", "中国 美国",
            // Plain conjunctions of five, eight and nine texts (inline up to eight, a formula beyond).
            "中国 经济 发展 改革 开放", "中国 经济 发展 建设 推进 工作 企业 国家", "中国 经济 发展 建设 推进 工作 企业 国家 全国",
        ].map { StandingQuery(text: $0) }
        let matcher = StandingQueryMatcher()
        var registered: [StandingQueryID: StandingQuery] = [:]
        for query in queries { registered[try matcher.register(query)] = query }
        var matched = 0
        var start = 0
        while start < articles.count {
            let batch = articles[start..<min(articles.count, start + 48)]
            // Every third batch re-sends its articles as updates (previous version: the title changed).
            let changes: [ArticleChange] = batch.enumerated().map { k, article in
                guard k % 3 == 0 else { return .inserted(article) }
                var previous = article
                previous.title = "旧版：" + article.title
                return .updated(article, previous: previous)
            }
            matched += try Self.checkBatch(matcher, changes, registered, comparingWithSearch: start % 144 == 0)
                .matches.count
            start += 48
        }
        #expect(matched > 500, "only \(matched) matches")
    }
}
