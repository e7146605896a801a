@testable import ArticleExtraction
import NewswireModel
import NewswireTestFixtures
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

    /// The control-byte test counts exactly, wherever the bytes sit (the scan reads eight bytes at a time, so
    /// every position within a word and the last bytes after the final whole word are tried): one control byte in
    /// twenty makes a page binary, one fewer does not, and so does one NUL in a hundred; tab, LF, FF, CR and
    /// ESC are text.
    @Test func controlBytesAreCountedExactlyAtEveryPosition() {
        func code(_ bytes: [UInt8]) -> ExtractionError.Code? {
            do {
                _ = try ArticleExtractor().extract(bytes)
                return nil
            } catch { return error.code }
        }
        let length = 1003  // not a multiple of eight: three bytes after the last whole word
        for shift in 0..<11 {
            for controls in [50, 51] {
                var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                for k in 0..<controls { bytes[(k * 20 + shift) % length] = 0x01 }
                let placed = bytes.filter { $0 == 0x01 }.count
                #expect((code(bytes) == .binary) == (placed * 20 >= length), "shift \(shift), \(placed) controls")
            }
            var text = [UInt8](repeating: UInt8(ascii: "a"), count: length)
            for k in stride(from: shift, to: length, by: 3) { text[k] = [0x09, 0x0A, 0x0C, 0x0D, 0x1B][k % 5] }
            #expect(code(text) != .binary, "shift \(shift): allowed controls")
            var nuls = [UInt8](repeating: UInt8(ascii: "a"), count: length)
            for k in 0..<11 { nuls[length - 1 - k * 7 - shift] = 0 }
            #expect(code(nuls) == .binary, "shift \(shift): eleven NULs, one in a hundred")
        }
    }

    /// The in-place UTF-8 check agrees with the standard library's validator on random mixes of ASCII, valid
    /// sequences of every length, and the ill-formed kinds: overlong forms, surrogates, values past U+10FFFF,
    /// stray continuation bytes and truncated sequences.
    @Test func utf8CheckAgreesWithTheStandardLibrary() {
        var generator = SplitMix64(seed: 7)
        let pieces: [[UInt8]] = [
            Array("a<p>".utf8), Array("é".utf8), Array("新闻".utf8), Array("😀".utf8), Array("\u{10FFFF}".utf8),
            Array("\u{FFFD}".utf8), [0xC0, 0xAF], [0xC1, 0xBF], [0xE0, 0x80, 0xAF], [0xE0, 0x9F, 0xBF], [0xED, 0xA0, 0x80],
            [0xED, 0x9F, 0xBF], [0xF0, 0x8F, 0xBF, 0xBF], [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0x80],
            [0xBF], [0xE6, 0x96], [0xF0, 0x9F, 0x98], [0xC3], [0xFF], [0xFE], [0xE4, 0xB8, 0xAD],
        ]
        for _ in 0..<20_000 {
            var bytes: [UInt8] = []
            for _ in 0..<Int(generator.next() % 12) {
                let piece = pieces[Int(generator.next() % UInt64(pieces.count))]
                // Mostly whole pieces; sometimes a random byte, to reach mixes no list holds.
                if generator.next() % 8 == 0 {
                    bytes.append(UInt8(truncatingIfNeeded: generator.next()))
                } else {
                    bytes += piece
                }
            }
            let expected = String(validating: bytes, as: UTF8.self) != nil
            let checked = bytes.withUnsafeBufferPointer { PageDecoding.isValidUTF8($0) }
            #expect(checked == expected, "\(bytes.map { String($0, radix: 16) })")
            if checked != expected { break }
        }
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
        var generator = SplitMix64(seed: 42)
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

    /// Tag soup built from page fragments (unbalanced tags, broken JSON-LD, labels without values, huge
    /// numbers, stray bytes) parses or fails with a documented code, and never crashes or hangs.
    @Test func tagSoupNeverCrashes() {
        let fragments = [
            "<div class=\"nav\">", "</div>", "<p>", "</p>", "<table><tr><td>", "</td></tr></table>", "<a href=x>",
            "</a>", "<br>", "<h1>", "</h1>", "<script type=\"application/ld+json\">{\"@type\":\"NewsArticle\",",
            "\"datePublished\":\"2024-13-45T99:99\"", "[[[[{{{{", "</script>", "<meta name=author content=\"",
            "<title>", "</title>", "来源：", "日期：", "2024年4月8日", "记者", "参加活动。", "出席会议的有", "、", "，",
            "这是一段足够长的正文内容，用来测试抽取器在各种破碎输入下的健壮性。", "点击：[", "99999999999999999999",
            "&nbsp;", "&#x1F600;", "&bogus;", "<pre>", "\n", "（记者", "）", "·", "<!--", "-->", "<![CDATA[", "]]>",
            "<style>", "</style>", "<p style=\"display:none\">", "By ", "Jane", " and ", "发表于",
        ]
        var generator = SplitMix64(seed: 7)
        let documented: Set<ExtractionError.Code> = [.empty, .binary, .undecodable, .noArticle]
        for round in 0..<300 {
            var page = round % 3 == 0 ? "" : "<html><body>"
            for _ in 0..<Int(generator.next() % 200) {
                page += fragments[Int(generator.next() % UInt64(fragments.count))]
            }
            do {
                let article = try ArticleExtractor().extract(Array(page.utf8))
                #expect(!article.paragraphs.isEmpty)
            } catch {
                #expect(documented.contains(error.code), "round \(round): \(error)")
            }
        }
    }
}
