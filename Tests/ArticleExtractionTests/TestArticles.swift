import ArticleExtraction
import NewswireModel
import NewswireTestFixtures

// MARK: - Articles for tests

/// Ready-made articles for tests of the modules downstream of extraction (search, store, protocol).
enum TestArticles {
    /// The seed page (`seeds/000_f02fe202e61b6c80.txt`) run through the real extractor.
    static func seed(from filePath: String = #filePath) throws -> Article {
        let path = TestPaths.packageRoot(from: filePath) + "/seeds/000_f02fe202e61b6c80.txt"
        let bytes = try PageFileReader.read(path: path, maximumBytes: 1 << 20)
        return try ArticleExtractor().extract(bytes)
    }

    /// A small article built directly (no extraction), with a content-derived id.
    static func make(
        title: String, paragraphs: [String], publishedAt: String? = nil, source: String? = nil,
        reporters: [String] = [], participants: [String] = [], url: String? = nil
    ) -> Article {
        let time = publishedAt.flatMap { PublishedTime(iso8601: $0) }
        let id = ArticleIdentity.id(canonicalURL: url, title: title, publishedAt: time, paragraphs: paragraphs)
        return Article(
            id: id, url: url, title: title, publishedAt: time, source: source, reporters: reporters,
            participants: participants, paragraphs: paragraphs, language: "zh")
    }

    /// The first `limit` articles of `../shared/corpus/zh-news.jsonl` (real CCTV news; see its README), read by
    /// ``JSONLinesImport``, or nil when the shared folder is absent.
    static func corpus(limit: Int, from filePath: String = #filePath) -> [Article]? {
        let path = TestPaths.shared(from: filePath) + "/corpus/zh-news.jsonl"
        guard TestPaths.fileExists(path) else { return nil }
        struct Enough: Error {}
        var articles: [Article] = []
        do {
            try JSONLinesImport.readArticles(path: path, batchSize: max(1, limit)) { batch in
                articles += batch.prefix(limit - articles.count)
                if articles.count >= limit { throw Enough() }
            }
        } catch is Enough {
        } catch {
            return nil
        }
        return articles
    }
}
