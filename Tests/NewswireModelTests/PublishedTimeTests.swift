import NewswireModel
import Testing
import Foundation

@Suite struct PublishedTimeTests {
    @Test func chinaTimeRendersWithOffset() throws {
        let t = try #require(PublishedTime(year: 2024, month: 4, day: 8, hour: 10, minute: 4, utcOffsetSeconds: 28_800))
        #expect(t.iso8601 == "2024-04-08T10:04:00+08:00")
        #expect(t.secondsSinceEpoch == 1_712_541_840)
        #expect(t.yearMonth == "2024-04")
    }

    @Test(arguments: [
        "2024-04-08T10:04:00+08:00", "1970-01-01T00:00:00Z", "1996-02-29T23:59:59-05:30", "2026-11-29T07:28:18+08:00",
    ])
    func parsesWhatItPrints(text: String) throws {
        let t = try #require(PublishedTime(iso8601: text))
        #expect(t.iso8601 == text)
    }

    @Test func bareDateIsMidnightInDefaultOffset() throws {
        let t = try #require(PublishedTime(iso8601: "2022-09-24"))
        #expect(t.iso8601 == "2022-09-24T00:00:00+08:00")
    }

    @Test(arguments: ["", "2024-13-01", "2023-02-29", "2024-04-08T25:00", "2024-04-08T10:04:00+8", "yesterday"])
    func rejectsMalformed(text: String) {
        #expect(PublishedTime(iso8601: text) == nil)
    }

    @Test func orderIsByInstantNotWallClock() throws {
        let beijing = try #require(PublishedTime(iso8601: "2024-04-08T10:00:00+08:00"))
        let utc = try #require(PublishedTime(iso8601: "2024-04-08T01:59:59Z"))
        #expect(utc < beijing)
    }
}

@Suite struct ArticleJSONTests {
    @Test func absentOptionalsEncodeAsNull() throws {
        let a = Article(id: "x", title: "t", paragraphs: ["p"])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(a), as: UTF8.self)
        #expect(json == #"{"clicks":null,"duplicateOf":null,"editors":[],"id":"x","language":null,"paragraphs":["p"],"participants":[],"publishedAt":null,"reporters":[],"source":null,"subtitles":[],"title":"t","url":null}"#)
        #expect(try JSONDecoder().decode(Article.self, from: encoder.encode(a)) == a)
    }
}
