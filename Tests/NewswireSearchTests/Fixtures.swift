import Foundation
import NewswireModel

@testable import NewswireSearch

/// Small in-repo articles exercising every tricky case, so exactness tests run without ../shared.
enum Fixtures {
    static func time(_ text: String) -> PublishedTime { PublishedTime(iso8601: text)! }

    static let articles: [Article] = [
        Article(
            id: "a01", title: "中华人民共和国成立75周年", publishedAt: time("2024-10-01T10:00:00+08:00"), source: "新华社",
            participants: ["张三"], paragraphs: ["今天是国庆节。人民群众欢度节日。", "北京大学举行升旗仪式。"]),
        Article(
            id: "a02", title: "社区新闻", publishedAt: time("2024-09-30"), source: "人民日报",
            paragraphs: ["共和之后，人民与民共处", "人民共和的理想"]),
        Article(
            id: "a03", title: "政策解读", publishedAt: time("2024-04-08T10:04:00+08:00"), source: "新华社",
            reporters: ["李四"], paragraphs: ["落实退税”政策的通知", "北京，大学生就业"]),
        Article(
            id: "a04", title: "财税政策", publishedAt: time("2024-04-01"), source: "央视网《新闻联播》",
            paragraphs: ["加强税政管理，落实减税降费。"]),
        Article(
            id: "a05", title: "ＡＰＥＣ会议在京召开", publishedAt: time("2023-11-15"), source: "央视网《新闻联播》",
            participants: ["张三", "王五"],
            paragraphs: ["亚太经合组织（APEC）第三十次领导人非正式会议。", "Ｇ２０峰会和APEC会议相继举行，GDP增长5.2%。"]),
        Article(
            id: "a06", title: "Hong Kong economy grows", publishedAt: time("2023-02-01"), source: "Reuters",
            reporters: ["Jane Doe"],
            paragraphs: ["The economy of Hong Kong, China grew 3.5% in 2022.", "Kong-fu films are popular. 香港经济增长。"]),
        Article(
            id: "a07", title: "北京大学开学", publishedAt: time("2022-09-01"), source: "北京日报",
            paragraphs: ["北京\n大学新生报到。", "新疆和四川的学生来到北京。"]),
        Article(
            id: "a08", title: "新疆棉花丰收", publishedAt: time("2022-10-10"), source: "人民日报",
            participants: ["王五"], paragraphs: ["新疆维吾尔自治区棉花产量创新高。四川盆地也迎来丰收。"]),
        Article(id: "a09", title: "无日期的稿件", source: nil, paragraphs: ["这篇稿件没有发布时间，也没有来源。共和国。"]),
        Article(
            id: "a10", title: "2024年经济工作会议", publishedAt: time("2024-12-12"), source: "新华社",
            paragraphs: ["会议指出，2024年经济运行稳中有进。经济工作要稳字当头。", "2024 年的目标基本实现。"]),
        Article(
            id: "a11", title: "Café culture", publishedAt: time("2021-05-05T08:00:00Z"), source: "Reuters",
            paragraphs: ["Cafe\u{301} owners in Ｔｏｋｙｏ say ﬁne coffee is back.", "カフェ文化が広がる。한국 커피"]),
        Article(
            id: "a12", title: "人民", publishedAt: time("2024-10-02"), source: "人民日报",
            paragraphs: ["人民人民人民。共和国人民共和国人民。"]),
    ]

    static func corpusURL() -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/corpus/zh-news.jsonl")
    }

    static var corpusAvailable: Bool { FileManager.default.fileExists(atPath: corpusURL().path) }

    /// Corpus articles (every `stride`-th line, at most `limit`), in file order.
    static func corpus(stride: Int = 1, limit: Int = .max) throws -> [Article] {
        let data = try Data(contentsOf: corpusURL())
        var articles: [Article] = []
        var lineNumber = 0
        for line in data.split(separator: UInt8(ascii: "\n")) {
            defer { lineNumber += 1 }
            guard lineNumber % stride == 0 else { continue }
            let object = try JSONSerialization.jsonObject(with: line) as! [String: Any]
            let body = object["body"] as? String ?? ""
            articles.append(
                Article(
                    id: ArticleID(object["id"] as! String), url: object["url"] as? String,
                    title: object["title"] as? String ?? "",
                    publishedAt: (object["published"] as? String).flatMap { PublishedTime(iso8601: $0) },
                    source: object["source"] as? String,
                    paragraphs: body.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)))
            if articles.count >= limit { break }
        }
        return articles
    }
}
