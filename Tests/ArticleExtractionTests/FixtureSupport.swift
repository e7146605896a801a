import ArticleExtraction
import NewswireModel
import NewswireTestFixtures

/// Fixture files written for these tests (see Fixtures/), located from this source file.
enum Fixture {
    static let directory = TestPaths.packageRoot(from: #filePath) + "/Tests/ArticleExtractionTests/Fixtures"

    static func path(_ name: String) -> String { directory + "/" + name }

    static func bytes(_ name: String) throws -> [UInt8] {
        try PageFileReader.read(path: path(name), maximumBytes: 1 << 20)
    }

    static func article(_ name: String, url: String? = nil) throws -> Article {
        try ArticleExtractor().extract(bytes(name), url: url)
    }

    /// Extracts a plain-text page given as a string (UTF-8).
    static func article(text: String) throws -> Article {
        try ArticleExtractor().extract(Array(text.utf8))
    }
}
