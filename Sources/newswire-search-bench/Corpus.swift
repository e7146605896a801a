// Reading the benchmark corpus (both modes).
import Foundation
import NewswireModel

/// Corpus articles in file order.
func readCorpus(_ path: String) -> [Article] {
    guard let data = FileManager.default.contents(atPath: path) else { fail("cannot read \(path)") }
    var articles: [Article] = []
    for line in data.split(separator: UInt8(ascii: "\n")) {
        guard let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any] else { continue }
        let body = object["body"] as? String ?? ""
        articles.append(
            Article(
                id: ArticleID(object["id"] as? String ?? ""), title: object["title"] as? String ?? "",
                publishedAt: (object["published"] as? String).flatMap { PublishedTime(iso8601: $0) },
                source: object["source"] as? String,
                paragraphs: body.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)))
    }
    return articles
}

/// `base` repeated `scale` times, ids suffixed with the copy's number when there is more than one copy (the N×
/// corpus: bodies unchanged).
func scaled(_ base: [Article], _ scale: Int) -> [Article] {
    if scale == 1 { return base }
    var scaled: [Article] = []
    scaled.reserveCapacity(base.count * scale)
    for k in 0..<scale {
        for var article in base {
            article.id = ArticleID("\(article.id.rawValue)-\(k)")
            scaled.append(article)
        }
    }
    return scaled
}
