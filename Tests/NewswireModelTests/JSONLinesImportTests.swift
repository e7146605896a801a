import NewswireTestFixtures
import Foundation
import NewswireModel
import Testing

@Suite("JSON Lines import")
struct JSONLinesImportTests {
    @Test("a corpus record becomes an Article: midnight China time, paragraphs per line, language zh")
    func golden() throws {
        let line = #"""
            {"id":"xwlb-20240408-03","title":"【深入学习】标题","published":"2024-04-08","source":"央视网《新闻联播》","url":"https://tv.cctv.com/2024/04/08/VIDE1.shtml","body":"央视网消息（新闻联播）：第一段。\n第二段 \n\n  第三段","extra":{"ignored":[1,2]}}
            """#
        let article = try JSONLinesImport.article(fromJSONLine: Array(line.utf8), lineNumber: 1)
        #expect(
            article
                == Article(
                    id: "xwlb-20240408-03", url: "https://tv.cctv.com/2024/04/08/VIDE1.shtml", title: "【深入学习】标题",
                    publishedAt: PublishedTime(secondsSinceEpoch: 1_712_505_600, utcOffsetSeconds: 28_800),
                    source: "央视网《新闻联播》", paragraphs: ["央视网消息（新闻联播）：第一段。", "第二段", "第三段"],
                    language: "zh"))
        #expect(article.publishedAt?.iso8601 == "2024-04-08T00:00:00+08:00")
    }

    @Test("null url, null or absent published, and an RFC 3339 published are accepted")
    func optionalFields() throws {
        let a = try JSONLinesImport.article(
            fromJSONLine: Array(#"{"id":"a","title":"t","published":null,"source":null,"url":null,"body":"x"}"#.utf8),
            lineNumber: 1)
        #expect(a.url == nil && a.publishedAt == nil && a.source == nil && a.paragraphs == ["x"])
        let b = try JSONLinesImport.article(
            fromJSONLine: Array(#"{"id":"b","title":"t","published":"2024-04-08T10:04:00+08:00","body":""}"#.utf8),
            lineNumber: 1)
        #expect(b.publishedAt == PublishedTime(secondsSinceEpoch: 1_712_541_840, utcOffsetSeconds: 28_800))
        #expect(b.paragraphs == [])
    }

    @Test(
        "each bad line gives an error naming its line number and what is wrong",
        arguments: [
            (#"not json"#, "not valid JSON"),
            (#"[1,2]"#, "not a JSON object"),
            (#"{"title":"t","body":"b"}"#, "missing field 'id'"),
            (#"{"id":"a","body":"b"}"#, "missing field 'title'"),
            (#"{"id":"a","title":"t"}"#, "missing field 'body'"),
            (#"{"id":7,"title":"t","body":"b"}"#, "field 'id' has the wrong type, expected a string"),
            (#"{"id":"a","title":null,"body":"b"}"#, "field 'title' is null, expected a string"),
            (#"{"id":"","title":"t","body":"b"}"#, "field 'id' is empty"),
            (#"{"id":"a","title":"t","body":"b","published":"2024-13-01"}"#, "field 'published' is \"2024-13-01\""),
            (#"{"id":"a","title":"t","body":"b","published":"08/04/2024"}"#, "expected YYYY-MM-DD"),
        ])
    func badLine(line: String, reason: String) {
        let error = #expect(throws: JSONLinesError.self) {
            try JSONLinesImport.article(fromJSONLine: Array(line.utf8), lineNumber: 42)
        }
        #expect(error?.line == 42)
        #expect(error?.reason.contains(reason) == true, "got: \(error?.reason ?? "-")")
        #expect(error?.description.contains("42") == true)
    }

    @Test("a file is read in batches; a bad line stops the import with its line number, or is skipped on request")
    func fileImport() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("in.jsonl")
        let lines = [
            #"{"id":"r1","title":"一","published":"2024-01-01","body":"甲"}"#,
            "",
            #"{"id":"r2","title":"二","published":"2024-01-02","body":"乙"}"#,
            #"{"id":"r3","title":"三","published":"yesterday","body":"丙"}"#,
            #"{"id":"r4","title":"四","published":"2024-01-04","body":"丁"}"#,
        ]
        // No trailing newline: the last line still counts.
        try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: path))

        var batches: [[ArticleID]] = []
        let error = #expect(throws: JSONLinesError.self) {
            try JSONLinesImport.readArticles(path: path, batchSize: 1) { batches.append($0.map(\.id)) }
        }
        #expect(error?.line == 4)
        #expect(error?.source == path)
        #expect(error?.description.hasPrefix("\(path):4: field 'published'") == true)
        #expect(batches == [["r1"], ["r2"]])

        var skipped: [Int] = []
        var ids: [ArticleID] = []
        let count = try JSONLinesImport.readArticles(
            path: path, batchSize: 2, onBadLine: { skipped.append($0.line) }, { ids += $0.map(\.id) })
        #expect(count == 3)
        #expect(ids == ["r1", "r2", "r4"])
        #expect(skipped == [4])

        let missing = #expect(throws: JSONLinesFileError.self) {
            try JSONLinesImport.readArticles(path: dir.file("absent.jsonl")) { _ in }
        }
        #expect(missing?.message.contains("absent.jsonl") == true)
    }

    @Test(
        "the whole shared corpus imports without a bad line",
        .enabled(if: corpusPath != nil, "../shared/corpus/zh-news.jsonl is absent (fresh clone): skipped"))
    func corpus() async throws {
        // Blocks (child processes, synchronous store calls, a long loop): on a thread of its own, not the
        // cooperative pool every loopback server in the test process needs.
        try await runBlocking {
            var count = 0
            var undated = 0
            var firstId: ArticleID?
            try JSONLinesImport.readArticles(path: corpusPath!, batchSize: 5000) { batch in
                if firstId == nil { firstId = batch.first?.id }
                count += batch.count
                undated += batch.filter { $0.publishedAt == nil }.count
                #expect(batch.allSatisfy { !$0.paragraphs.isEmpty && $0.language == "zh" })
            }
            #expect(count == 19_537)
            #expect(undated == 0)
            #expect(firstId?.rawValue.hasPrefix("xwlb-20220924-") == true)
        }
    }
}
