import NewswireTestFixtures
import Foundation
import NewswireModel
import Testing

@Suite("ArticleCodec")
struct ArticleCodecTests {
    static let tricky = Article(
        id: "a/b\"c\\d", url: "https://example.com/x?y=1&z=/2", title: "引号\"反斜杠\\ 制表\t换行\n回车\r\u{08}\u{0C}\u{01}\u{1F}",
        subtitles: ["😀 emoji 𠀀", ""], publishedAt: PublishedTime(secondsSinceEpoch: -86_400 * 365, utcOffsetSeconds: -18_000),
        source: nil, reporters: ["张三"], editors: [], participants: ["李四", "王五"], paragraphs: ["第一段", "é e\u{301}"],
        clicks: -42, language: nil, duplicateOf: "orig")

    static func foundationEncoding(_ article: Article) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(article))
    }

    @Test("encoding is byte-identical to Foundation's JSONEncoder (sorted keys, unescaped slashes)")
    func matchesFoundation() throws {
        for article in [Self.tricky, Article(id: "x", title: ""), sampleArticle("plain")] {
            #expect(ArticleCodec.encode(article) == (try Self.foundationEncoding(article)))
            #expect(try ArticleCodec.decode(ArticleCodec.encode(article)) == article)
            #expect(try JSONDecoder().decode(Article.self, from: Data(ArticleCodec.encode(article))) == article)
        }
        #expect(
            String(decoding: ArticleCodec.encode(Article(id: "x", title: "t")), as: UTF8.self)
                == #"{"clicks":null,"duplicateOf":null,"editors":[],"id":"x","language":null,"paragraphs":[],"#
                + #""participants":[],"publishedAt":null,"reporters":[],"source":null,"subtitles":[],"title":"t","url":null}"#)
    }

    @Test(
        "encoding matches Foundation on the first 2,000 corpus articles",
        .enabled(if: corpusPath != nil, "../shared/corpus/zh-news.jsonl is absent (fresh clone): skipped"))
    func corpusMatchesFoundation() async throws {
        // Blocks (child processes, synchronous store calls, a long loop): on a thread of its own, not the
        // cooperative pool every loopback server in the test process needs.
        try await runBlocking {
            var checked = 0
            try JSONLinesImport.readArticles(path: corpusPath!, batchSize: 1000) { batch in
                guard checked < 2000 else { return }
                for article in batch {
                    let expected = try Self.foundationEncoding(article)
                    #expect(ArticleCodec.encode(article) == expected)
                }
                checked += batch.count
            }
            #expect(checked == 2000)
        }
    }

    @Test("decoding accepts any key order, escapes incl. surrogate pairs, absent lists, and skips unknown keys")
    func lenientDecoding() throws {
        let json = #"""
            {"title":"\u5317\u4eac \ud83d\ude00 \/ \"q\"","extra":{"nested":[1,2.5e3,{"a":null}],"t":true},"id":"k",
             "paragraphs":["p1","p2"],"clicks":7,"publishedAt":"2024-04-08T10:04:00+08:00","unknown":false}
            """#
        let article = try ArticleCodec.decode(Array(json.utf8))
        #expect(article.id == "k")
        #expect(article.title == "北京 😀 / \"q\"")
        #expect(article.paragraphs == ["p1", "p2"])
        #expect(article.clicks == 7)
        #expect(article.publishedAt?.iso8601 == "2024-04-08T10:04:00+08:00")
        #expect(article.subtitles == [] && article.url == nil && article.duplicateOf == nil)
    }

    @Test(
        "malformed records are rejected with the reason",
        arguments: [
            (#"{"id":"a"}"#, "missing field 'title'"),
            (#"{"id":"a","title":"t","clicks":1.5}"#, "field 'clicks' has the wrong type, expected an integer"),
            (#"{"id":"a","title":"t","paragraphs":"x"}"#, "field 'paragraphs' has the wrong type"),
            (#"{"id":"a","title":"t","publishedAt":"soon"}"#, "field 'publishedAt' is invalid"),
            (#"{"id":"a","title":"t""#, "not valid JSON"),
            (#"{"id":"a","title":"t"} x"#, "trailing bytes"),
            (#"{"id":"a","title":"\ud800"}"#, "unpaired surrogate"),
            ("{\"id\":\"a\",\"title\":\"tab\there\"}", "unescaped control character"),
            (#"[]"#, "not a JSON object"),
        ])
    func malformed(json: String, reason: String) {
        let error = #expect(throws: ArticleCodec.DecodingFailure.self) { try ArticleCodec.decode(Array(json.utf8)) }
        #expect(error?.description.contains(reason) == true, "got: \(error?.description ?? "-")")
    }
}
