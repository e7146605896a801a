import NewswireModel
import Testing

@testable import NewswireEngine

/// The content hash is stored: in index snapshots' near-duplicate tables and, on a cluster, in the derived bytes
/// beside each record and in each shipped index analysis. Its value for a given article must never change, or an
/// unchanged re-put would count as an update and every stored feature would be distrusted.
@Suite("Content hash")
struct ContentHashTests {
    static let full = Article(
        id: ArticleID("https://example.com/news/1"), url: "https://example.com/news/1",
        title: "疆电入川 工程投运", subtitles: ["副标题", "第二个副标题"],
        publishedAt: PublishedTime(year: 2024, month: 3, day: 1, utcOffsetSeconds: 28_800), source: "新华社",
        reporters: ["张三"], editors: ["李四", "王五"], participants: ["赵六"],
        paragraphs: ["第一段：输电线路全长 1,234 公里。", "Second paragraph, ASCII only.", "", "末段 emoji 🙂 与组合字符 é。"],
        clicks: 42, language: "zh", duplicateOf: ArticleID("https://example.com/news/0"))

    @Test("the hash of an article with every field set, and of one with the optional fields absent, is pinned")
    func pinnedValues() {
        #expect(contentHash(of: Self.full) == 15_771_447_079_102_480_160)
        let bare = Article(id: ArticleID("bare"), title: "", paragraphs: [])
        #expect(contentHash(of: bare) == 3_850_458_972_721_718_248)
    }

    @Test("duplicateOf does not enter the hash; every other field does")
    func fieldsThatCount() {
        var copy = Self.full
        copy.duplicateOf = nil
        #expect(contentHash(of: copy) == contentHash(of: Self.full))
        let base = contentHash(of: Self.full)
        var changed: [Article] = []
        for change in 0..<12 {
            var article = Self.full
            switch change {
            case 0: article.id = ArticleID("https://example.com/news/2")
            case 1: article.url = nil
            case 2: article.title += "。"
            case 3: article.subtitles = ["副标题第二个副标题"]  // the same bytes, split differently
            case 4: article.publishedAt = nil
            case 5: article.source = ""
            case 6: article.reporters = []
            case 7: article.editors = ["李四王五"]
            case 8: article.participants.append("")
            case 9: article.paragraphs[2] = " "
            case 10: article.clicks = 43
            default: article.language = nil
            }
            changed.append(article)
        }
        for (k, article) in changed.enumerated() {
            #expect(contentHash(of: article) != base, "change \(k)")
        }
    }

    @Test("the hash equals plain FNV-1a over the tagged UTF-8 of the fields, for articles of every shape")
    func equalsReference() {
        var state: UInt64 = 7
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        // Text from ASCII, CJK, two-byte and astral scalars, of lengths 0 up to a couple of thousand.
        let alphabet: [Unicode.Scalar] = ["a", "Z", " ", "\n", "é", "Ω", "中", "疆", "。", "🙂", "𠀀"]
        func text(_ longest: Int) -> String {
            String(String.UnicodeScalarView((0..<next(longest + 1)).map { _ in alphabet[next(alphabet.count)] }))
        }
        func list() -> [String] { (0..<next(4)).map { _ in text(20) } }
        var articles = [Self.full, Article(id: ArticleID("bare"), title: "", paragraphs: [])]
        for _ in 0..<200 {
            articles.append(
                Article(
                    id: ArticleID(text(40)), url: next(2) == 0 ? nil : text(60), title: text(50), subtitles: list(),
                    publishedAt: next(2) == 0
                        ? nil : PublishedTime(secondsSinceEpoch: Int64(next(2_000_000_000)), utcOffsetSeconds: 28_800),
                    source: next(2) == 0 ? nil : text(10), reporters: list(), editors: list(), participants: list(),
                    paragraphs: (0..<next(12)).map { _ in text(400) }, clicks: next(2) == 0 ? nil : next(100_000),
                    language: next(2) == 0 ? nil : "zh"))
        }
        for article in articles {
            #expect(contentHash(of: article) == Self.referenceHash(of: article))
        }
    }

    /// FNV-1a over each field's UTF-8 followed by 0xFE (0xFF for an absent field), a list's count first.
    static func referenceHash(of article: Article) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        func add(_ bytes: some Sequence<UInt8>) {
            for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        }
        func add(_ text: String?) {
            guard let text else { return add([0xFF]) }
            add(Array(text.utf8) + [0xFE])
        }
        func add(_ list: [String]) {
            add(String(list.count).utf8)
            for item in list { add(item) }
        }
        add(article.id.rawValue)
        add(article.url)
        add(article.title)
        add(article.subtitles)
        add(article.publishedAt.map(\.iso8601))
        add(article.source)
        add(article.reporters)
        add(article.editors)
        add(article.participants)
        add(article.paragraphs)
        add(article.clicks.map(String.init))
        add(article.language)
        return h
    }
}
