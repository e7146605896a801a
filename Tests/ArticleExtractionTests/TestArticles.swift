import ArticleExtraction
import Foundation
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

    /// The first `limit` articles of `../shared/corpus/zh-news.jsonl` (real CCTV news; see its README), or nil when
    /// the shared folder is absent. Ids are the corpus ids; `body` lines become paragraphs; dates are China time.
    static func corpus(limit: Int, from filePath: String = #filePath) -> [Article]? {
        let path = TestPaths.shared(from: filePath) + "/corpus/zh-news.jsonl"
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        struct Row: Decodable {
            var id: String
            var title: String
            var published: String?
            var source: String?
            var url: String?
            var body: String
        }
        var articles: [Article] = []
        var pending = Data()
        let decoder = JSONDecoder()
        while articles.count < limit {
            let chunk = handle.readData(ofLength: 1 << 20)
            pending.append(chunk)
            while articles.count < limit, let newline = pending.firstIndex(of: 0x0A) {
                let line = pending[pending.startIndex..<newline]
                pending = Data(pending[(newline + 1)...])
                guard !line.isEmpty, let row = try? decoder.decode(Row.self, from: line) else { continue }
                articles.append(
                    Article(
                        id: ArticleID(row.id), url: row.url, title: row.title,
                        publishedAt: row.published.flatMap { PublishedTime(iso8601: $0) }, source: row.source,
                        paragraphs: row.body.split(separator: "\n").map(String.init), language: "zh"))
            }
            if chunk.isEmpty { break }
        }
        return articles
    }
}
