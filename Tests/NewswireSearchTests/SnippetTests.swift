import NewswireModel
import Testing

@testable import NewswireModel
@testable import NewswireSearch

/// The stored-text snippet path against the reference path (whole-body analysis), and where windows start.
@Suite struct SnippetTests {
    static func patterns(_ query: String) throws -> [TermPattern] {
        try QueryParser.parse(query).positiveTexts.filter { $0.1 == .titleOrBody }.map(\.0)
    }

    /// The stored-text path's answer for `body`, as the index computes it from its UTF-16 text.
    static func stored(_ body: String, _ patterns: [TermPattern], length: Int) -> (String, [HighlightRange]) {
        var scratch = SnippetScratch()
        let prepared = SnippetPatterns(patterns)
        return Array(body.utf16).withUnsafeBufferPointer {
            SnippetBuilder.snippet(utf16: $0, patterns: prepared, scratch: &scratch, length: length)
        }
    }

    static func highlighted(_ snippet: (String, [HighlightRange])) -> [String] {
        let scalars = Array(snippet.0.unicodeScalars)
        return snippet.1.map { String(String.UnicodeScalarView(scalars[$0.start..<$0.end])) }
    }

    /// Searches `index` for `query` with snippets of `length` and checks every hit's snippet and highlights against
    /// the reference path on the hit's current body; returns the page.
    @discardableResult
    static func expectSearchSnippetsEqualTheReference(
        _ index: SearchIndex, bodies: [String: String], query: String, length: Int
    ) throws -> SearchPage {
        let patterns = try Self.patterns(query)
        let page = try index.search(SearchRequest(text: query, limit: 200, snippetLength: length))
        #expect(!page.hits.isEmpty, "\(query)")
        for hit in page.hits {
            let body = try #require(bodies[hit.id.rawValue])
            let reference = SnippetBuilder.snippet(body: body, patterns: patterns, length: length)
            #expect(hit.snippet == reference.0, "\(query) in \(body.debugDescription), length \(length)")
            #expect(hit.highlights == reference.1, "\(query) in \(body.debugDescription), length \(length)")
        }
        return page
    }

    /// Pieces whose normalisation is not one scalar for one (ellipses expand, full-width folds, ligatures
    /// expand, a combining accent and an astral character force the reference path) mixed with plain text.
    static let pieces = [
        "人民", "共和", "人民共和国", "，", "。", "……", "“", "”", " ", "\n", "APEC", "ＡＰＥＣ", "apec", "Ｇ２０", "g20",
        "hong", "kong", "Hong Kong", "ﬁne", "fine", "Cafe\u{301}", "café", "𠀋", "北京", "大学", "北京大学", "新疆",
        "2024", "年", "3.5", "kon", "㍻", "℃", "①", "、", "：", "abc", "de", "，人民", "的",
    ]

    static let queries = [
        "人民", "人民共和", "共和国", "apec", "g20", "\"hong kong\"", "hong", "fine", "café", "北京大学", "北京 大学", "新疆",
        "2024年", "kon", "人民 apec", "的", "平成", "abc de", "\"人民 共和\"",
    ]

    @Test func storedTextPathEqualsTheReferenceOnMixedText() throws {
        var random = SplitMix64(seed: 13)
        let prepared = try Self.queries.map { ($0, try Self.patterns($0)) }
        for round in 0..<400 {
            var body = ""
            // Long bodies too: the stored-text path reads a prefix first and must still agree.
            let pieceCount = Int(random.next() % (round % 4 == 0 ? 600 : 60))
            for _ in 0..<pieceCount { body += Self.pieces[Int(random.next() % UInt64(Self.pieces.count))] }
            let length = [1, 5, 12, 30, 120][round % 5]
            for (query, patterns) in prepared {
                let reference = SnippetBuilder.snippet(body: body, patterns: patterns, length: length)
                let fast = Self.stored(body, patterns, length: length)
                #expect(fast.0 == reference.0, "\(query) in \(body.debugDescription), length \(length)")
                #expect(fast.1 == reference.1, "\(query) in \(body.debugDescription), length \(length)")
            }
        }
    }

    /// The stored-text path reads a prefix and extends its analysis as the prefix doubles: words and phrases
    /// that straddle any cut, matches deep in long bodies and patterns far apart agree with the reference.
    @Test func storedTextPathEqualsTheReferenceAcrossPrefixCuts() throws {
        let word = "internationalisation"
        var bodies: [String] = []
        for shift in 0..<24 {
            // Shifting by one character moves every word boundary across the prefix cuts.
            let filler = String(repeating: "x", count: shift) + " " + Array(repeating: word, count: 40).joined(separator: " ")
            bodies.append(filler + " 人民共和国 " + word + "。" + filler + " apec hong kong")
            bodies.append(String(repeating: "这是一段无关的文字，", count: shift * 7) + "北京大学" + filler + "人民")
        }
        let queries = [word, "人民共和", "北京大学 人民", "\"hong kong\" apec", "apec 人民", "\(word) 北京"]
        for body in bodies {
            for query in queries {
                let patterns = try Self.patterns(query)
                for length in [1, 7, 40, 120, 300] {
                    let reference = SnippetBuilder.snippet(body: body, patterns: patterns, length: length)
                    let fast = Self.stored(body, patterns, length: length)
                    #expect(fast.0 == reference.0, "\(query), length \(length)")
                    #expect(fast.1 == reference.1, "\(query), length \(length)")
                }
            }
        }
    }

    /// The stored-text path starts its analysis at the first code unit that could begin a match: the text before
    /// it (Latin words running into the match, full-width forms, expansions) and bodies without any match must give
    /// the reference's snippet, and so must a match spelled with a compatibility ideograph (U+F90A normalises to 金).
    @Test func storedTextPathEqualsTheReferenceWhenTheFirstMatchIsLate() throws {
        let fillers = [
            "", "abc", "apec ", "ＡＰＥＣ", "Hong Kong, ", "ﬁne ", "3.5 ", "2024", "， ", "这是一段无关的文字。",
            String(repeating: "internationalisation ", count: 30), String(repeating: "无关文字，", count: 60),
        ]
        let matches = ["金融", "\u{F90A}融", "人民共和国", "北京大学人民", "平成", "㍻", "金 融", ""]
        let queries = ["金融", "人民", "\"人民 共和\"", "北京大学 人民", "平成", "金融 人民", "融"]
        for before in fillers {
            for match in matches {
                for after in ["", "。", "abc", String(repeating: "后文，", count: 50)] {
                    let body = before + match + after
                    for query in queries {
                        let patterns = try Self.patterns(query)
                        for length in [1, 12, 120] {
                            let reference = SnippetBuilder.snippet(body: body, patterns: patterns, length: length)
                            let fast = Self.stored(body, patterns, length: length)
                            #expect(fast.0 == reference.0, "\(query) in \(body.debugDescription), length \(length)")
                            #expect(fast.1 == reference.1, "\(query) in \(body.debugDescription), length \(length)")
                        }
                    }
                }
            }
        }
    }

    /// Bodies that normalise to several times their length (every scalar expands), through one scratch reused
    /// from short bodies to long ones, so its buffers must grow mid-body.
    @Test func storedTextPathEqualsTheReferenceWhenNormalisationExpands() throws {
        let patterns = try Self.patterns("平成 ffi")
        let prepared = SnippetPatterns(patterns)
        var scratch = SnippetScratch()
        for repeats in [1, 3, 40, 300, 2000] {
            let body = String(repeating: "㍻\u{FB03}…", count: repeats) + "平成"
            for length in [5, 40] {
                let reference = SnippetBuilder.snippet(body: body, patterns: patterns, length: length)
                let fast = Array(body.utf16).withUnsafeBufferPointer {
                    SnippetBuilder.snippet(utf16: $0, patterns: prepared, scratch: &scratch, length: length)
                }
                #expect(fast.0 == reference.0, "\(repeats) repeats, length \(length)")
                #expect(fast.1 == reference.1, "\(repeats) repeats, length \(length)")
                #expect(!fast.1.isEmpty)
            }
        }
    }

    @Test func storedTextPathEqualsTheReferenceOnFixtures() throws {
        for article in Fixtures.articles {
            for query in Self.queries {
                let patterns = try Self.patterns(query)
                for length in [10, 40, 120] {
                    let reference = SnippetBuilder.snippet(body: article.body, patterns: patterns, length: length)
                    let fast = Self.stored(article.body, patterns, length: length)
                    #expect(fast.0 == reference.0 && fast.1 == reference.1, "\(query) in \(article.id)")
                }
            }
        }
    }

    /// The analysis starts where the text could spell a pattern's leading CJK run, not merely its first character:
    /// false starts (经过, 经 济, 经，济, a line break inside), a run whose next character is a compatibility ideograph
    /// or an expansion, and a first character at the very end of the body must give the reference's snippet.
    @Test func storedTextPathEqualsTheReferenceAfterFalseStarts() throws {
        let falseStarts = ["经过", "经 济", "经，济", "经\n济", "经济", "经济发", "经济发展", "发展", "经", "人金", "人\u{F90A}", "人㍻"]
        let queries = ["经济", "经济发展", "经济 发展", "\"经济 apec\"", "人金", "人平成", "济", "经济 人金"]
        var random = SplitMix64(seed: 29)
        var bodies = ["经", "经济", "经济。", "。经济", "apec 经济", "经济 apec", "经济发展", "发展经济"]
        for round in 0..<300 {
            let count = Int(random.next() % UInt64(round % 3 == 0 ? 200 : 20))
            bodies.append((0..<count).map { _ in
                falseStarts[Int(random.next() % UInt64(falseStarts.count))] + (random.next() % 4 == 0 ? "apec " : "")
            }.joined())
        }
        for body in bodies {
            for query in queries {
                let patterns = try Self.patterns(query)
                for length in [1, 6, 40, 120] {
                    let reference = SnippetBuilder.snippet(body: body, patterns: patterns, length: length)
                    let fast = Self.stored(body, patterns, length: length)
                    #expect(fast.0 == reference.0, "\(query) in \(body.debugDescription), length \(length)")
                    #expect(fast.1 == reference.1, "\(query) in \(body.debugDescription), length \(length)")
                }
            }
        }
        // A body full of false starts with the match last: the snippet is the match's, highlighted.
        let late = String(repeating: "经过，", count: 200) + "经济"
        #expect(Self.highlighted(Self.stored(late, try Self.patterns("经济"), length: 20)) == ["经济"])
    }

    /// Snippets as a search answers them, against the reference on each hit's current body: matches at the very
    /// start and end of a body, several terms, phrases, CJK and Latin mixed, and articles replaced or removed after
    /// indexing (the stored text read is the current copy's, whichever segment holds it).
    @Test func searchSnippetsEqualTheReferenceOnTheCurrentBody() throws {
        let index = SearchIndex()
        var bodies: [String: String] = [:]
        func put(_ id: String, _ paragraphs: [String]) {
            index.upsert(Article(id: ArticleID(id), title: "标题", paragraphs: paragraphs))
            bodies[id] = paragraphs.joined(separator: "\n")
        }
        let filler = String(repeating: "这是一段无关的文字，", count: 30)
        put("start", ["经济发展是今年的重点。" + filler])
        put("end", [filler + "重点是经济发展"])
        put("both", ["经济" + filler + "APEC会议在北京举行，经济发展"])
        put("mixed", [filler, "APEC summit：数字经济 and the digital economy，经济发展。", filler])
        put("phrase", ["Hong Kong 经济" + filler + "\"hong kong\" economy"])
        put("replaced", ["经济发展旧文"])
        put("removed", ["经济发展将被删除"])
        index.mergeAllForTesting()
        put("replaced", [filler + "新的正文，经济与APEC" + filler])
        index.remove(id: "removed")
        let queries = ["经济发展", "经济", "经济 apec", "apec 经济发展 economy", "\"hong kong\" economy", "经济 OR apec",
                       "数字经济 digital", "重点", "这是 经济"]
        for query in queries {
            for length in [8, 40, 120] {
                let page = try Self.expectSearchSnippetsEqualTheReference(
                    index, bodies: bodies, query: query, length: length)
                #expect(!page.hits.contains { $0.id == "removed" })
            }
        }
    }

    /// Multi-term hits whose terms meet in one window, far apart, or not at all, in long bodies: the search stops
    /// reading a body once the postings' positions show no window can show more terms than the one found, and
    /// must still answer as the reference reading the whole body (bodies with expansions and astral characters
    /// included, where positions and offsets part ways).
    @Test func searchSnippetsOfTermsFarApartEqualTheReference() throws {
        let index = SearchIndex()
        var bodies: [String: String] = [:]
        var random = SplitMix64(seed: 41)
        let terms = ["经济", "发展", "APEC", "hong kong", "数字", "经济发展", "人民"]
        let fillers = ["这是一段无关的文字，", "无关 words here, ", "。\n", "经过", "发\n展", "㍻", "𠀋", "ﬁne "]
        for n in 0..<160 {
            var body = ""
            for _ in 0..<Int(random.next() % 12) {
                let gap = Int(random.next() % (n % 2 == 0 ? 90 : 12))
                for _ in 0..<gap {
                    // Expansions and astral characters only in some bodies: most normalise one unit to one scalar.
                    let choices = n % 5 == 0 ? fillers.count : 5
                    body += fillers[Int(random.next() % UInt64(choices))]
                }
                body += terms[Int(random.next() % UInt64(terms.count))]
            }
            let id = "b\(n)"
            index.upsert(Article(id: ArticleID(id), title: n % 3 == 0 ? "经济" : "标题", paragraphs: [body]))
            bodies[id] = body
        }
        let queries = ["经济 apec", "经济 发展 人民", "apec \"hong kong\" 数字", "经济发展 人民", "发展 apec", "人民 经济 hong",
                       "经济 OR apec", "经济 -数字 人民"]
        for query in queries {
            for length in [6, 40, 120] {
                try Self.expectSearchSnippetsEqualTheReference(index, bodies: bodies, query: query, length: length)
            }
        }
    }

    @Test func highlightsCoverExactlyTheMatchedSourceText() throws {
        let body = "据报道……ＡＰＥＣ会议（APEC）在京召开，ﬁne tuning 与 fine art。人民共和国成立。"
        #expect(Self.highlighted(Self.stored(body, try Self.patterns("apec"), length: 200)) == ["ＡＰＥＣ", "APEC"])
        #expect(Self.highlighted(Self.stored(body, try Self.patterns("fine"), length: 200)) == ["ﬁne", "fine"])
        #expect(Self.highlighted(Self.stored(body, try Self.patterns("人民共和"), length: 200)) == ["人民共和"])
        // kon is not a word of this text: no highlight inside "kong".
        #expect(Self.stored("Hong Kong and kong.", try Self.patterns("kon"), length: 50).1.isEmpty)
        // Adjacent matches merge into one range.
        #expect(Self.highlighted(Self.stored("人民人民。", try Self.patterns("人民"), length: 50)) == ["人民人民"])
    }

    @Test func windowStartsAtTheNearestClauseBoundary() throws {
        let filler = String(repeating: "这是一段无关的文字", count: 8)
        // The match sits 4 characters into a sentence that starts after 。: the snippet starts with the sentence.
        let body = filler + "。今年以来量子计算取得突破，" + filler
        let snippet = Self.stored(body, try Self.patterns("量子计算"), length: 40)
        #expect(snippet.0.hasPrefix("今年以来量子计算"))
        #expect(Self.highlighted(snippet) == ["量子计算"])
        #expect(snippet.0.unicodeScalars.count == 40)
        // A boundary followed by a closing quote and a space: the snippet starts after both.
        let quoted = filler + "。” 会议指出，量子计算是重点。" + filler
        #expect(Self.stored(quoted, try Self.patterns("量子计算"), length: 40).0.hasPrefix("会议指出，量子计算"))
    }

    @Test func windowNeverStartsInsideALatinWord() throws {
        let words = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november "
        let body = words + words + "the quantum breakthrough was announced " + words
        for length in [20, 40, 80] {
            let snippet = Self.stored(body, try Self.patterns("quantum"), length: length)
            let scalars = Array(body.unicodeScalars)
            let start = try #require(
                (0..<scalars.count).first { String(String.UnicodeScalarView(scalars[$0...])).hasPrefix(snippet.0) })
            #expect(start == 0 || !SnippetBuilder.isLatinWord(scalars[start - 1].value), "\(snippet.0)")
            #expect(Self.highlighted(snippet) == ["quantum"])
        }
        // ASCII punctuation inside a number is no boundary, and a window does not start inside "3.5".
        let numbers = Self.stored("今年增长了3.5倍经济运行稳中有进", try Self.patterns("经济"), length: 10)
        #expect(numbers.0 == "倍经济运行稳中有进")
        #expect(Self.highlighted(numbers) == ["经济"])
    }

    /// Hits matched in their titles only: once the first code units hold no possible start, the postings say the
    /// body holds none of the terms, and the snippet is the body's first characters, as the reference finds —
    /// counted in scalars when astral characters (two UTF-16 code units each) come first.
    @Test func titleOnlyHitsTakeTheBodysFirstCharacters() throws {
        let index = SearchIndex()
        let filler = String(repeating: "这是一段无关的文字，", count: 30)
        let bodies = [
            "plain": filler, "astral": "𠀋𠀋𠀋" + filler, "late": filler + "𠀋" + filler,
            "expands": "㍻ﬁne" + filler, "short": "短文",
        ]
        for (id, body) in bodies {
            index.upsert(Article(id: ArticleID(id), title: "经济 apec", paragraphs: [body]))
        }
        for query in ["经济", "经济 apec", "apec"] {
            // 400: the window reaches past the code units looked through, over the astral character of "late".
            for length in [5, 40, 120, 400] {
                let page = try Self.expectSearchSnippetsEqualTheReference(
                    index, bodies: bodies, query: query, length: length)
                #expect(page.hits.count == bodies.count)
                #expect(page.hits.allSatisfy { $0.highlights.isEmpty })
            }
        }
    }

    /// An occurrence too long for its own window (here "hong kong" in a six-scalar snippet) is behind every later
    /// window: the window goes to the earliest place showing the most terms it actually shows (a later one used to
    /// be credited with the long occurrence as well, and won while showing one term like the first).
    @Test func windowIsNotCreditedWithATermItDoesNotShow() throws {
        let gap = String(repeating: "无关，", count: 10)
        let body = "数字" + gap + "hong kong" + gap + "APEC"
        let patterns = try Self.patterns("apec \"hong kong\" 数字")
        let reference = SnippetBuilder.snippet(body: body, patterns: patterns, length: 6)
        #expect(Self.highlighted(reference) == ["数字"])
        #expect(Self.stored(body, patterns, length: 6) == reference)
    }

    @Test func bodiesWithoutMatchesStartAtTheBeginning() throws {
        let body = "第一句话。第二句话。"
        #expect(Self.stored(body, try Self.patterns("新疆"), length: 4) == ("第一句话", []))
        #expect(Self.stored("", try Self.patterns("新疆"), length: 4) == ("", []))
    }
}
