import ArticleExtraction
import Foundation
import NewswireModel
import NewswireTestFixtures
import Testing

/// Real pages from ../shared/extraction-dev (never copied into the repo). Skipped when the folder is absent, so a
/// fresh clone passes. The authoritative numbers come from its score.py; this guards against regressions.
@Suite(
    "extraction-dev pages",
    .enabled(
        if: TestPaths.fileExists(TestPaths.shared(from: #filePath) + "/extraction-dev/manifest.jsonl"),
        "../shared/extraction-dev is absent; skipping the real-page regression check"))
struct ExtractionDevTests {
    struct Page: Decodable {
        var id: String
        var file: String
        var gt_body: String
    }

    static let directory = TestPaths.shared(from: #filePath) + "/extraction-dev"

    static func pages() throws -> [Page] {
        let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/manifest.jsonl"))
        return try String(decoding: data, as: UTF8.self).split(separator: "\n").map {
            try JSONDecoder().decode(Page.self, from: Data($0.utf8))
        }
    }

    /// Character bigrams over letters and digits, width-folded and lowercased (close to score.py's measure).
    static func bigrams(_ text: String) -> [String: Int] {
        var chars: [Character] = []
        for c in text.precomposedStringWithCompatibilityMapping.lowercased() where c.isLetter || c.isNumber {
            chars.append(c)
        }
        var counts: [String: Int] = [:]
        guard chars.count > 1 else { return counts }
        for i in 0..<(chars.count - 1) { counts[String(chars[i]) + String(chars[i + 1]), default: 0] += 1 }
        return counts
    }

    static func f1(_ predicted: String, _ truth: String) -> Double {
        let p = bigrams(predicted)
        let t = bigrams(truth)
        let tp = p.reduce(0) { $0 + min($1.value, t[$1.key] ?? 0) }
        guard tp > 0 else { return 0 }
        let precision = Double(tp) / Double(p.values.reduce(0, +))
        let recall = Double(tp) / Double(t.values.reduce(0, +))
        return 2 * precision * recall / (precision + recall)
    }

    @Test func everyPageParsesAndBodyF1BeatsTheBaseline() throws {
        let pages = try Self.pages()
        #expect(pages.count == 69)
        var total = 0.0
        for page in pages {
            let bytes = try PageFileReader.read(path: Self.directory + "/" + page.file, maximumBytes: 32 << 20)
            let article = try ArticleExtractor().extract(bytes)
            #expect(!article.paragraphs.isEmpty, "\(page.id): empty body")
            total += Self.f1(article.body, page.gt_body)
        }
        let mean = total / Double(pages.count)
        // trafilatura 2.3.1 scores 0.860 on these pages with score.py.
        #expect(mean > 0.86, "mean body F1 \(mean)")
    }
}
