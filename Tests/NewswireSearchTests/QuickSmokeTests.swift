import NewswireModel
import Testing

@testable import NewswireSearch

@Suite struct DecoyTests {
    static let articles = [
        Article(id: "real", title: "中华人民共和国成立", paragraphs: ["今天是国庆节。"]),
        Article(id: "decoy", title: "社区新闻", paragraphs: ["共和之后，人民与民共处"]),
        Article(id: "tax", title: "政策解读", paragraphs: ["落实退税”政策的通知"]),
        Article(id: "taxreal", title: "财税政策", paragraphs: ["加强税政管理"]),
    ]

    func index() -> SearchIndex {
        let index = SearchIndex()
        index.upsert(contentsOf: Self.articles)
        return index
    }

    @Test func phraseDoesNotMatchDecoy() throws {
        let page = try index().search(SearchRequest(text: "人民共和"))
        #expect(page.hits.map(\.id) == ["real"])
        #expect(page.total == 1)
    }

    @Test func phraseNeverCrossesPunctuation() throws {
        let page = try index().search(SearchRequest(text: "税政"))
        #expect(page.hits.map(\.id) == ["taxreal"])
    }
}
