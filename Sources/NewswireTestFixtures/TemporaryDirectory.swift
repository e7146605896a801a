import Foundation
import NewswireModel

/// A fresh directory under the system temp directory, removed when the test is done with it.
public final class TemporaryDirectory {
    /// The directory.
    public let path: String

    /// Creates the directory, named after the calling test.
    public init(_ name: String = #function) {
        let safe = name.filter { $0.isLetter || $0.isNumber }
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("newswire-test-\(safe)-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// A path inside the directory.
    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A small dated article with a URL-like id, for store and engine tests.
public func sampleArticle(
    _ id: String, title: String? = nil, day: Int? = 1, body: [String] = ["第一段。", "第二段。"]
) -> Article {
    Article(
        id: ArticleID(id), url: "https://example.com/\(id)", title: title ?? "标题 \(id)",
        publishedAt: day.map { PublishedTime(year: 2024, month: 3, day: $0, utcOffsetSeconds: 28_800)! },
        source: "测试源", paragraphs: body, language: "zh")
}

/// The package root, found from this file's path (Sources/NewswireTestFixtures/TemporaryDirectory.swift).
public let packageRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

/// The shared corpus (../shared/corpus/zh-news.jsonl next to the repository), when present.
public let corpusPath: String? = {
    let path = URL(fileURLWithPath: packageRoot).deletingLastPathComponent()
        .appendingPathComponent("shared/corpus/zh-news.jsonl").path
    return FileManager.default.fileExists(atPath: path) ? path : nil
}()
