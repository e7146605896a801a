import NewswireModel
import NewswireTestFixtures
import Testing

@Suite("Test support")
struct TestSupportTests {
    @Test func seedArticle() throws {
        let a = try TestArticles.seed()
        #expect(a.title == "新疆党政代表团赴四川省学习考察")
        #expect(a.paragraphs.count == 7)
    }

    @Test func madeArticleHasContentID() {
        let a = TestArticles.make(title: "标题", paragraphs: ["正文。"], publishedAt: "2024-04-08T10:04:00+08:00")
        let b = TestArticles.make(title: "标题", paragraphs: ["正文。"], publishedAt: "2024-04-08T10:04:00+08:00")
        #expect(a.id == b.id)
        #expect(a.publishedAt?.iso8601 == "2024-04-08T10:04:00+08:00")
    }

    @Test(
        .enabled(
            if: TestPaths.fileExists(TestPaths.shared(from: #filePath) + "/corpus/zh-news.jsonl"),
            "../shared/corpus is absent"))
    func corpusArticles() throws {
        let articles = try #require(TestArticles.corpus(limit: 5))
        #expect(articles.count == 5)
        #expect(articles[0].id == "xwlb-20220924-01")
        #expect(articles[0].publishedAt?.iso8601 == "2022-09-24T00:00:00+08:00")
        #expect(articles.allSatisfy { !$0.paragraphs.isEmpty && !$0.title.isEmpty })
    }
}
