import Foundation
import NewswireModel
import Testing

@Suite("JSONValue (JSON in web pages) and ArticleJSON (what the CLI prints)")
struct JSONValueAndArticleJSONTests {
    @Test("JSON-LD as pages write it: members, arrays, numbers, literals; what follows the value is ignored")
    func readsValues() throws {
        let value = try #require(
            JSONValue.parse(#" {"@type":["NewsArticle"],"headline":"标题\u4e2d","n":-1.5e2,"ok":true,"x":null} ;"#))
        guard case .array(let types)? = value["@type"] else {
            Issue.record("@type is not an array")
            return
        }
        #expect(types.compactMap(\.string) == ["NewsArticle"])
        #expect(value["headline"]?.string == "标题中")
        if case .number(let n)? = value["n"] { #expect(n == -150) } else { Issue.record("n is not a number") }
        if case .bool(true)? = value["ok"] {} else { Issue.record("ok is not true") }
        if case .null? = value["x"] {} else { Issue.record("x is not null") }
        #expect(value["missing"] == nil)
    }

    @Test("lenient where pages are wrong: raw control characters, unknown escapes, unpaired surrogates")
    func lenient() throws {
        #expect(JSONValue.parse("{\"a\":\"line\nbreak\ttab\"}")?["a"]?.string == "line\nbreak\ttab")
        #expect(JSONValue.parse(#"{"a":"\q\/"}"#)?["a"]?.string == "q/")
        #expect(JSONValue.parse(#"{"a":"x\ud800y"}"#)?["a"]?.string == "x\u{FFFD}y")
        #expect(JSONValue.parse(#"{"a":"\udc00"}"#)?["a"]?.string == "\u{FFFD}")
        #expect(JSONValue.parse(#"{"a":"\ud83d\ude00"}"#)?["a"]?.string == "😀")
    }

    @Test("not JSON, truncated, or nested deeper than the limit: nil")
    func rejects() {
        for text in ["", "   ", "{", #"{"a":}"#, #"{"a" 1}"#, "[1,]x", #""open"#, "nul", #"{"a":"\u12"}"#] {
            #expect(JSONValue.parse(text) == nil, "\(text)")
        }
        #expect(JSONValue.parse(String(repeating: "[", count: 63) + String(repeating: "]", count: 63)) != nil)
        #expect(JSONValue.parse(String(repeating: "[", count: 65) + String(repeating: "]", count: 65)) == nil)
    }

    @Test("ArticleJSON: declaration order, null for absent values, JavaScript-safe escapes; Foundation reads it back")
    func articleJSON() throws {
        let article = Article(
            id: "id\"1", url: nil, title: "a\u{08}b\u{0C}c\u{01}\n\r\t\\ \u{2028}\u{2029}/ 中",
            subtitles: ["s"], clicks: 3, language: "zh")
        let json = ArticleJSON.encode(article)
        #expect(
            json
                == #"{"id":"id\"1","url":null,"title":"a\u0008b\u000cc\u0001\n\r\t\\ \u2028\u2029/ 中","subtitles":["s"],"#
                + #""publishedAt":null,"source":null,"reporters":[],"editors":[],"participants":[],"paragraphs":[],"#
                + #""clicks":3,"language":"zh","duplicateOf":null}"#)
        #expect(try JSONDecoder().decode(Article.self, from: Data(json.utf8)) == article)
        // The stored form differs only in order and Foundation's escapes (\b, \f, raw U+2028/U+2029).
        let stored = String(decoding: ArticleCodec.encode(article), as: UTF8.self)
        #expect(stored.hasPrefix(#"{"clicks":3,"duplicateOf":null,"#))
        #expect(stored.contains(#""title":"a\bb\fc\u0001\n\r\t\\ "# + "\u{2028}\u{2029}/ 中\""))
        #expect(try ArticleCodec.decode(Array(json.utf8)) == article)
    }
}
