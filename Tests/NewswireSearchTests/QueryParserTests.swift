import NewswireModel
import Testing

@testable import NewswireSearch

@Suite struct QueryParserTests {
    static func error(_ text: String) -> QueryError? {
        do {
            _ = try QueryParser.parse(text)
            return nil
        } catch {
            return error
        }
    }

    @Test(arguments: [
        ("\"人民共和", 0, "unterminated quote"),
        ("北京 \"上海", 3, "unterminated quote"),
        ("OR 北京", 0, "OR needs a term on each side"),
        ("北京 OR", 3, "OR at the end"),
        ("北京 OR OR 上海", 6, "OR needs a term on each side"),
        ("北京 OR -上海", 3, "OR needs a term on each side"),
        ("title: 北京", 0, "'title:' has no value"),
        ("北京 source:", 3, "'source:' has no value"),
        ("after:2024-13-01 北京", 6, "after: expects a date"),
        ("北京 before:yesterday", 10, "before: expects a date"),
        ("-北京", 0, "the query only excludes"),
        ("-北京 -\"上海\"", 0, "the query only excludes"),
        ("北京 - 上海", 3, "'-' must be followed directly"),
        ("北京 \"\"", 3, "empty phrase"),
        ("北京 \"，。\"", 3, "has no letters, digits or CJK"),
        ("title:，，", 6, "title: needs a word"),
        ("-，，", 0, "nothing searchable after '-'"),
    ])
    func malformedQueriesNameThePosition(text: String, position: Int, message: String) {
        let error = Self.error(text)
        #expect(error?.position == position, "\(text): \(String(describing: error))")
        #expect(error?.message.contains(message) == true, "\(text): \(String(describing: error))")
    }

    @Test func positionsAreUnicodeScalarOffsets() {
        // "𠀀" is one scalar (two UTF-16 units): the quote after it starts at scalar 2.
        #expect(Self.error("𠀀 \"北京")?.position == 2)
    }

    @Test func structure() throws {
        let q = try QueryParser.parse("北京大学 \"hong kong\" 新疆 OR 四川 -\"税政\" title:经济 source:新华社 person:张三")
        #expect(q.groups.count == 6)
        #expect(q.groups[2].count == 2)  // 新疆 OR 四川
        #expect(q.exclusions.count == 1)
        #expect(!q.isPureConjunction)
        guard case .text(let phrase, .titleOrBody) = q.groups[0][0][0] else {
            Issue.record("expected a text condition")
            return
        }
        #expect(phrase.elements.map(\.offset) == [0, 1, 2, 3])
        guard case .text(let english, _) = q.groups[1][0][0] else { return }
        #expect(english.elements.map(\.word) == ["hong", "kong"])
        guard case .text(_, .title) = q.groups[3][0][0] else {
            Issue.record("expected a title-scoped condition")
            return
        }
        #expect(q.groups[4][0][0] == .source("新华社"))
        #expect(q.groups[5][0][0] == .person("张三"))
    }

    @Test("a term repeated before an OR stays required: `A A OR B` is A AND (A OR B)")
    func repeatedTermBeforeAnOrGroupStaysRequired() throws {
        #expect(try QueryParser.parse("新疆 新疆 OR 四川").groups.map(\.count) == [1, 2])
        #expect(try QueryParser.parse("新疆 OR 四川 新疆").groups.map(\.count) == [2, 1])
        #expect(try QueryParser.parse("新疆 新疆").groups.map(\.count) == [1])
        #expect(try QueryParser.parse("新疆 OR 四川 新疆 OR 四川").groups.map(\.count) == [2])
        let index = SearchIndex()
        for (id, title) in [("a", "新疆棉花"), ("b", "四川棉花"), ("c", "新疆四川"), ("d", "上海")] {
            index.upsert(Article(id: ArticleID(id), title: title, paragraphs: []))
        }
        for (text, expected) in [("新疆 新疆 OR 四川", ["a", "c"]), ("新疆 新疆 OR 上海", ["a", "c"])] {
            let hits = try index.search(SearchRequest(text: text, limit: 10, includeSnippets: false)).hits
            #expect(hits.map(\.id.rawValue).sorted() == expected, "\(text)")
        }
    }

    @Test func bareTokensSplitIntoWordsAndCJKRuns() throws {
        let q = try QueryParser.parse("2024年经济，北京")
        let texts = q.positiveTexts.map(\.0.text)
        #expect(texts == ["2024", "年经济", "北京"])
    }

    @Test func datesAreChinaTimeUnlessGiven() throws {
        let q = try QueryParser.parse("after:2024-04-01 before:2024-05-01T00:00:00Z")
        #expect(q.groups[0][0][0] == .publishedFrom(PublishedTime(iso8601: "2024-04-01T00:00:00+08:00")!.secondsSinceEpoch))
        #expect(q.groups[1][0][0] == .publishedBefore(1_714_521_600))
    }

    @Test func chineseQuotesAndFullWidthOperatorsWork() throws {
        let q = try QueryParser.parse("“人民 共和” －上海 title：北京")
        #expect(q.groups.count == 2)
        #expect(q.exclusions.count == 1)
        // Inside quotes a space between CJK characters is ignored: the phrase is 人民共和.
        guard case .text(let phrase, .titleOrBody) = q.groups[0][0][0] else {
            Issue.record("expected a text condition")
            return
        }
        #expect(phrase.elements.map(\.offset) == [0, 1, 2, 3])
    }

    @Test func emptyQueryMatchesEverything() throws {
        let q = try QueryParser.parse("   ")
        #expect(q.groups.isEmpty && q.exclusions.isEmpty)
    }
}

@Suite struct AnalyzerTests {
    static func units(_ text: String) -> [AnalyzedUnit] {
        var units: [AnalyzedUnit] = []
        Analyzer.units(of: NormalizedText(text), basePosition: 0, into: &units)
        return units
    }

    @Test func nfkcFoldsFullWidthAndLowercases() {
        #expect(Self.units("ＡＰＥＣ会议").map { $0.isCJK ? String(Unicode.Scalar($0.cjk)!) : $0.word } == ["apec", "会", "议"])
        #expect(Self.units("Ｇ２０").map(\.word) == ["g20"])
        #expect(Self.units("ﬁne Café").map(\.word) == ["fine", "café"])
        #expect(Self.units("Cafe\u{301}").map(\.word) == ["café"])
        // NFKC composes across scalars that are not combining marks: half-width kana with a voiced mark, and
        // Hangul spelt in conjoining jamo.
        #expect(NormalizedText("ｶﾞｲﾄﾞ ﾊﾟﾝ").scalars == Array("ガイド パン".unicodeScalars))
        #expect(NormalizedText("\u{1100}\u{1161}\u{11A8}").scalars == Array("각".unicodeScalars))
        let index = SearchIndex()
        index.upsert(Article(id: "kana", title: "ガイドブック", paragraphs: []))
        index.upsert(Article(id: "half", title: "ﾊﾟﾝ屋", paragraphs: []))
        for (text, id) in [("ｶﾞｲﾄﾞ", "kana"), ("パン", "half")] {
            let hits = try? index.search(SearchRequest(text: text, limit: 10, includeSnippets: true)).hits
            #expect(hits?.map(\.id.rawValue) == [id], "\(text)")
        }
    }

    @Test func positionsGapAtEverySeparatorExceptSpacesBetweenWords() {
        #expect(Self.units("人民，共和").map(\.position) == [0, 1, 3, 4])
        #expect(Self.units("hong kong, china").map(\.position) == [0, 1, 3])
        #expect(Self.units("北京 大学").map(\.position) == [0, 1, 3, 4])
        #expect(Self.units("2024年").map(\.position) == [0, 1])
        #expect(Self.units("北京\n大学").map(\.position) == [0, 1, 3, 4])
        // Quoted query phrases join CJK across plain spaces only (not punctuation, nor a word and CJK).
        func joined(_ text: String) -> [Int32] {
            var units: [AnalyzedUnit] = []
            Analyzer.units(of: NormalizedText(text), basePosition: 0, into: &units, joiningSpacedCJK: true)
            return units.map(\.position)
        }
        #expect(joined("北京 大学") == [0, 1, 2, 3])
        #expect(joined("北京，大学") == [0, 1, 3, 4])
        #expect(joined("北京 ，大学") == [0, 1, 3, 4])
        #expect(joined("apec 会议") == [0, 2, 3])
    }

    @Test func offsetMapPointsBackToSourceScalars() {
        let text = NormalizedText("ﬁ①Ａb")
        #expect(text.scalars.map { String($0) }.joined() == "fi1ab")
        #expect(text.originStart == [0, 0, 1, 2, 3])
        #expect(text.sourceRange(from: 2, to: 4) == 1..<3)
    }
}

@Suite struct QueryWhitespaceTests {
    /// The parser's list of white space is Unicode's White_Space property, scalar for scalar.
    @Test func whitespaceListIsUnicodesProperty() {
        for value in UInt32(0)...0x10FFFF {
            guard let scalar = Unicode.Scalar(value) else { continue }
            if QueryParser.isSpace(scalar) != scalar.properties.isWhitespace {
                Issue.record("U+\(String(value, radix: 16, uppercase: true)): the parser says \(QueryParser.isSpace(scalar))")
            }
        }
    }
}
