import ArticleExtraction
import Foundation
import NewswireModel
import Testing

@Suite("Article identity and JSON")
struct IdentityAndJSONTests {
    /// Pinned vectors: ids must never change between versions or machines (they key stored articles).
    @Test func stableHashVectors() {
        #expect(ArticleIdentity.hex128("") == ArticleIdentity.hex128(""))
        #expect(ArticleIdentity.hex128("url:https://example.com/a") == "dbf7f32a8905d68c6ab618d4a902f068")
        #expect(ArticleIdentity.hex128("新疆党政代表团") == "3f874f081822584ffbeaa2c78fd76a99")
        #expect(ArticleIdentity.hex128("a") != ArticleIdentity.hex128("b"))
    }

    @Test func urlNormalisation() {
        #expect(ArticleIdentity.normalizedURL(" HTTP://Example.COM:80/a/b?x=1#frag ") == "http://example.com/a/b?x=1")
        #expect(ArticleIdentity.normalizedURL("https://example.com:443") == "https://example.com/")
        let a = ArticleIdentity.id(canonicalURL: "HTTP://Example.com/a#top", title: "x", publishedAt: nil, paragraphs: [])
        let b = ArticleIdentity.id(canonicalURL: "http://example.com/a", title: "y", publishedAt: nil, paragraphs: ["z"])
        #expect(a == b)
    }

    @Test func contentIDIgnoresSpacingAndPunctuationWidth() {
        let t = PublishedTime(iso8601: "2024-04-08T10:04:00+08:00")
        let a = ArticleIdentity.id(canonicalURL: nil, title: "标题", publishedAt: t, paragraphs: ["正文，第一段。"])
        let b = ArticleIdentity.id(canonicalURL: nil, title: " 标题 ", publishedAt: t, paragraphs: ["正文,第一段."])
        let c = ArticleIdentity.id(canonicalURL: nil, title: "标题", publishedAt: nil, paragraphs: ["正文，第一段。"])
        #expect(a == b)
        #expect(a != c)
    }

    /// ArticleJSON writes exactly what Article's Codable conformance reads back.
    @Test func jsonRoundTripsThroughCodable() throws {
        let a = try Fixture.article("utf8-news.html")
        let json = ArticleJSON.encode(a)
        let decoded = try JSONDecoder().decode(Article.self, from: Data(json.utf8))
        #expect(decoded == a)
        let keys = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        #expect(
            Set(keys?.keys.map { $0 } ?? [])
                == [
                    "id", "url", "title", "subtitles", "publishedAt", "source", "reporters", "editors", "participants",
                    "paragraphs", "clicks", "language", "duplicateOf",
                ])
        let tricky = Article(
            id: "x", title: "quote \" backslash \\ newline \n tab \t ctl \u{1} ls \u{2028} dash — 中", paragraphs: ["p"])
        let trickyJSON = ArticleJSON.encode(tricky)
        #expect(trickyJSON.contains("\\u2028") && trickyJSON.contains("— 中") && trickyJSON.contains("\\u0001"))
        let back = try JSONDecoder().decode(Article.self, from: Data(trickyJSON.utf8))
        #expect(back == tricky)
    }
}
