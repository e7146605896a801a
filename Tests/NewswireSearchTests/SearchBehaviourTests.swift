import NewswireModel
import Testing

@testable import NewswireSearch

@Suite struct SearchBehaviourTests {
    static let index: SearchIndex = {
        let index = SearchIndex()
        index.upsert(contentsOf: Fixtures.articles)
        return index
    }()

    static func ids(_ request: SearchRequest) throws -> [ArticleID] { try index.search(request).hits.map(\.id) }

    @Test func titleMatchesOutrankBodyMatches() throws {
        // a07 has 北京大学 in its title; a01 only in its body.
        #expect(try Self.ids(SearchRequest(text: "北京大学")) == ["a07", "a01"])
    }

    @Test func moreOccurrencesRankHigher() throws {
        let hits = try Self.index.search(SearchRequest(text: "人民共和")).hits
        #expect(hits.map(\.id) == ["a01", "a12", "a02"])
        #expect(zip(hits, hits.dropFirst()).allSatisfy { $0.score >= $1.score })
        #expect(hits.allSatisfy { $0.score > 0 })
    }

    @Test func sortByDateAndPageWithExactTotal() throws {
        let all = try Self.index.search(SearchRequest(text: "", sort: .newest, limit: 100))
        #expect(all.total == Fixtures.articles.count)
        #expect(all.hits.map(\.id) == ["a10", "a12", "a01", "a02", "a03", "a04", "a05", "a06", "a08", "a07", "a11", "a09"])
        let oldest = try Self.ids(SearchRequest(text: "", sort: .oldest, limit: 3))
        #expect(oldest == ["a11", "a07", "a08"])
        let page = try Self.index.search(SearchRequest(text: "", sort: .newest, offset: 4, limit: 3))
        #expect(page.total == 12)
        #expect(page.hits.map(\.id) == ["a03", "a04", "a05"])
        let beyond = try Self.index.search(SearchRequest(text: "人民", offset: 50, limit: 10))
        #expect(beyond.total == 3 && beyond.hits.isEmpty)
    }

    @Test func fieldFiltersAndDates() throws {
        #expect(Set(try Self.ids(SearchRequest(text: "title:北京"))) == ["a07"])
        #expect(Set(try Self.ids(SearchRequest(text: "source:新华社"))) == ["a01", "a03", "a10"])
        #expect(Set(try Self.ids(SearchRequest(text: "source:新闻联播 会议"))) == ["a05"])
        #expect(Set(try Self.ids(SearchRequest(text: "person:张三"))) == ["a01", "a05"])
        #expect(Set(try Self.ids(SearchRequest(text: "person:jane doe"))) == [])  // a bare token stops at the space
        #expect(Set(try Self.ids(SearchRequest(text: "person:\"Jane Doe\""))) == ["a06"])
        #expect(Set(try Self.ids(SearchRequest(text: "after:2024-10-01 before:2024-10-02"))) == ["a01"])
        #expect(Set(try Self.ids(SearchRequest(text: "人民 before:2024-10-01"))) == ["a02"])
        #expect(Set(try Self.ids(SearchRequest(text: "北京 OR 新疆 -大学"))) == ["a08"])  // a03 has 大学生
        let structured = SearchRequest(
            text: "人民", sources: ["人民日报"], publishedFrom: PublishedTime(iso8601: "2024-10-01"))
        #expect(Set(try Self.ids(structured)) == ["a12"])
    }

    @Test func facetsCountTheWholeResultSet() throws {
        let page = try Self.index.search(
            SearchRequest(text: "", limit: 1, facets: [.source, .month, .person], facetLimit: 3))
        #expect(page.facets.count == 3)
        #expect(
            page.facets[0].counts == [
                FacetCount(value: "人民日报", count: 3), FacetCount(value: "新华社", count: 3),
                FacetCount(value: "Reuters", count: 2),
            ])
        #expect(page.facets[1].counts.prefix(2) == [FacetCount(value: "2024-04", count: 2), FacetCount(value: "2024-10", count: 2)])
        #expect(page.facets[2].counts == [FacetCount(value: "张三", count: 2), FacetCount(value: "王五", count: 2),
                                           FacetCount(value: "Jane Doe", count: 1)])
    }

    @Test func highlightsLandExactlyOnTheMatchedText() throws {
        let queries = ["人民共和", "apec", "g20", "北京 大学", "hong kong", "\"hong kong\"", "tokyo", "fine", "café", "2024年"]
        for text in queries {
            let query = try QueryParser.parse(text)
            let terms = Set(query.positiveTexts.map { $0.0 })
            let page = try Self.index.search(SearchRequest(text: text, snippetLength: 40))
            #expect(!page.hits.isEmpty, "\(text)")
            for hit in page.hits {
                let scalars = Array(hit.snippet.unicodeScalars)
                for range in hit.highlights {
                    var view = String.UnicodeScalarView()
                    view.append(contentsOf: scalars[range.start..<range.end])
                    var units: [AnalyzedUnit] = []
                    Analyzer.units(of: NormalizedText(String(view)), basePosition: 0, into: &units)
                    let highlighted = TermPattern(units: units[...])
                    // The highlight is one query term exactly, or several adjacent matches merged.
                    #expect(
                        terms.contains(highlighted) || terms.contains { highlighted.text.contains($0.text) },
                        "\(text): highlight '\(String(view))' in '\(hit.snippet)'")
                }
            }
        }
        let apec = try Self.index.search(SearchRequest(text: "apec", snippetLength: 200)).hits[0]
        let scalars = Array(apec.snippet.unicodeScalars)
        #expect(apec.highlights.map { String(String.UnicodeScalarView(scalars[$0.start..<$0.end])) } == ["APEC", "APEC"])
    }

    @Test func snippetIsCentredOnTheMatchInLongBodies() throws {
        let filler = String(repeating: "这是一段无关的文字。", count: 60)
        let index = SearchIndex()
        index.upsert(Article(id: "long", title: "长文", paragraphs: [filler, "关键段落：量子计算取得突破。", filler]))
        let hit = try index.search(SearchRequest(text: "量子计算", snippetLength: 30)).hits[0]
        #expect(hit.snippet.unicodeScalars.count == 30)
        #expect(hit.highlights.count == 1)
        let scalars = Array(hit.snippet.unicodeScalars)
        let h = hit.highlights[0]
        #expect(String(String.UnicodeScalarView(scalars[h.start..<h.end])) == "量子计算")
        #expect(!hit.snippet.contains("\n"))
    }

    @Test func relatedExcludesItselfAndPrefersSharedDistinctiveTerms() throws {
        let index = SearchIndex()
        index.upsert(contentsOf: [
            Article(id: "q1", title: "量子计算机研制成功", paragraphs: ["我国科学家研制的量子计算机实现量子优越性。"]),
            Article(id: "q2", title: "量子计算新突破", paragraphs: ["量子计算机原型机再次刷新量子优越性纪录。"]),
            Article(id: "f1", title: "秋粮丰收", paragraphs: ["各地秋粮丰收，农民喜获丰收。"]),
            Article(id: "f2", title: "农业新闻", paragraphs: ["秋粮收购工作有序开展，农民增收。"]),
        ])
        let related = try #require(index.related(to: "q1", limit: 5))
        #expect(related.first?.id == "q2")
        #expect(!related.contains { $0.id == "q1" })
        #expect(index.related(to: "missing", limit: 5) == nil)
        #expect(index.related(to: "f1", limit: 1)?.map(\.id) == ["f2"])
    }

    @Test func upsertReplacesAndRemoveDeletes() throws {
        let index = SearchIndex()
        index.upsert(Article(id: "x", title: "旧标题", paragraphs: ["旧内容"]))
        index.upsert(Article(id: "x", title: "新标题", paragraphs: ["新内容"]))
        #expect(index.count == 1)
        #expect(try index.search(SearchRequest(text: "旧内容")).total == 0)
        #expect(try index.search(SearchRequest(text: "新内容")).hits.map(\.title) == ["新标题"])
        index.remove(id: "x")
        #expect(index.count == 0 && !index.contains(id: "x"))
        #expect(try index.search(SearchRequest(text: "新内容")).total == 0)
        index.remove(id: "never-there")
    }

    @Test func concurrentReadersDuringWrites() async throws {
        let index = SearchIndex()
        index.upsert(contentsOf: Fixtures.articles)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for round in 0..<40 {
                    var article = Fixtures.articles[round % Fixtures.articles.count]
                    article.id = ArticleID("w\(round)")
                    index.upsert(article)
                    if round % 3 == 0 { index.remove(id: ArticleID("w\(round / 2)")) }
                }
            }
            for _ in 0..<3 {
                group.addTask {
                    for _ in 0..<60 {
                        let page = try index.search(SearchRequest(text: "人民", limit: 50))
                        #expect(page.total >= 3 && page.hits.count == min(page.total, 50))
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try index.search(SearchRequest(text: "", limit: 0)).total == index.count)
    }
}
