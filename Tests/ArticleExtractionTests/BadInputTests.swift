import ArticleExtraction
import NewswireModel
import NewswireTestSupport
import Testing

@Suite("Bad input")
struct BadInputTests {
    @Test(arguments: [
        ("empty.txt", ExtractionError.Code.empty, "empty"),
        ("image.png", .binary, "PNG image"),
        ("archive.zip", .binary, "ZIP archive"),
        ("nul-heavy.bin", .binary, "NUL bytes"),
        ("undecodable.txt", .undecodable, "no supported charset"),
        ("no-article.html", .noArticle, "no recognisable article"),
    ])
    func documentedError(file: String, code: ExtractionError.Code, reason: String) throws {
        let bytes = try Fixture.bytes(file)
        let error = #expect(throws: ExtractionError.self) { try ArticleExtractor().extract(bytes) }
        #expect(error?.code == code)
        #expect(error?.message.contains(reason) == true, "message: \(error?.message ?? "-")")
    }

    @Test func whitespaceOnlyIsEmpty() {
        let error = #expect(throws: ExtractionError.self) { try ArticleExtractor().extract(Array(" \n\t\r\n ".utf8)) }
        #expect(error?.code == .empty)
    }

    @Test func overTheCapIsRefusedWithoutReadingItAll() throws {
        let small = ArticleExtractor(configuration: .init(maximumInputBytes: 1000))
        let error = #expect(throws: ExtractionError.self) { try small.extract(Fixture.bytes("utf8-news.html")) }
        #expect(error?.code == .tooLarge)
        #expect(error?.message.contains("1000-byte limit") == true)
        let readError = #expect(throws: ExtractionError.self) {
            try PageFileReader.read(path: Fixture.path("utf8-news.html"), maximumBytes: 1000)
        }
        #expect(readError?.code == .tooLarge)
    }

    @Test func missingFileIsUnreadable() {
        let error = #expect(throws: ExtractionError.self) {
            try PageFileReader.read(path: Fixture.path("does-not-exist.html"), maximumBytes: 1000)
        }
        #expect(error?.code == .unreadable)
        #expect(error?.message.contains("No such file") == true)
    }

    /// Random and truncated bytes never crash or hang: they parse or fail with a documented code.
    @Test func arbitraryBytesNeverCrash() throws {
        var generator = SplitMix(seed: 42)
        let page = try Fixture.bytes("utf8-news.html")
        let documented: Set<ExtractionError.Code> = [.empty, .binary, .undecodable, .noArticle]
        for round in 0..<200 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = (0..<Int(generator.next() % 3000)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            } else {
                bytes = Array(page.prefix(Int(generator.next() % UInt64(page.count))))
            }
            do {
                _ = try ArticleExtractor().extract(bytes)
            } catch {
                #expect(documented.contains(error.code), "round \(round): \(error)")
            }
        }
    }

    /// `newswire parse` is a thin wrapper over PageParseRunner: bad files get one stderr line each naming the
    /// file, nothing on stdout, the rest still parse, and the status is non-zero.
    @Test func parseCommandKeepsGoingAndReportsEachBadFile() {
        let files = ["utf8-news.html", "empty.txt", "image.png", "undecodable.txt", "english.html", "no-article.html"]
        var out: [String] = []
        var err: [String] = []
        let status = PageParseRunner(format: .json).run(
            paths: files.map(Fixture.path), output: { out.append($0) }, errors: { err.append($0) })
        #expect(status == 1)
        #expect(out.count == 2)
        #expect(out[0].hasPrefix("{\"id\":") && out[0].contains("示例市召开春季农业生产现场推进会"))
        #expect(out[1].contains("City Council Approves New Riverside Park"))
        #expect(err.count == 4)
        for (line, file) in zip(err, ["empty.txt", "image.png", "undecodable.txt", "no-article.html"]) {
            #expect(line.hasPrefix("newswire parse: \(Fixture.path(file)): "))
            #expect(!line.contains("\n"))
        }
        let allGood = PageParseRunner(format: .summary).run(
            paths: [Fixture.path("jsonld.html")], output: { out.append($0) }, errors: { err.append($0) })
        #expect(allGood == 0)
        #expect(out.last?.contains("title         长江流域开展水生生物多样性调查") == true)
    }
}

/// Deterministic pseudo-random bytes for the robustness test.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
