import ArticleExtraction
import NewswireModel
import Testing

@Suite("HTML pages and charsets")
struct HTMLExtractionTests {
    /// The same article as UTF-8, GBK declaring gb2312, and GBK with no declaration: identical records.
    @Test(arguments: ["utf8-news.html", "gbk-declared.html", "gbk-undeclared.html"])
    func chineseNewsPage(file: String) throws {
        let a = try Fixture.article(file)
        #expect(a.title == "示例市召开春季农业生产现场推进会")
        #expect(a.publishedAt?.iso8601 == "2024-04-08T10:04:00+08:00")
        #expect(a.source == "示例日报")
        #expect(a.reporters == ["李明", "王芳"])
        #expect(a.editors == ["赵敏"])
        #expect(a.participants == ["张国强", "刘红", "陈立新"])
        #expect(a.clicks == 1234)
        #expect(a.language == "zh")
        #expect(a.paragraphs.count == 4)
        #expect(a.paragraphs.first?.hasPrefix("本报讯（记者 李明 王芳）4月8日") == true)
        #expect(a.paragraphs.last == "市领导张国强、刘红，市农业农村局局长陈立新参加活动。")
        for p in a.paragraphs {
            for junk in ["首页", "当前位置", "热点新闻", "分享到", "相关文章", "版权所有", "ICP", "责任编辑", "来源："] {
                #expect(!p.contains(junk), "\(junk) in body of \(file)")
            }
        }
    }

    /// A government notice in a table layout: labels and values in separate cells, GBK declared as `gbk`.
    @Test func governmentNoticeWithLabelCells() throws {
        let a = try Fixture.article("gov-table-gbk.html")
        #expect(a.title == "示例市人民政府关于做好春季森林防火工作的通知")
        // 发布日期 (publication) is labelled; 成文日期 (date written) is not a publication label.
        #expect(a.publishedAt?.iso8601 == "2024-03-05T00:00:00+08:00")
        #expect(a.source == "示例市人民政府办公室")
        #expect(a.paragraphs.first == "各区县人民政府，市政府各部门：")
        #expect(a.paragraphs.last == "示例市人民政府")
        #expect(a.paragraphs.count == 6)
        #expect(!a.paragraphs.contains { $0.contains("网站首页") || $0.contains("索引号") || $0.contains("主办") })
    }

    @Test func gbkAndUTF8GiveTheSameID() throws {
        let utf8 = try Fixture.article("utf8-news.html")
        let gbk = try Fixture.article("gbk-undeclared.html")
        #expect(utf8 == gbk)
    }

    /// A UTF-8 page with one damaged byte is UTF-8 with one U+FFFD, labelled or not: read as GB18030 its
    /// Chinese became other characters (or, past 1% invalid bytes, the page was refused).
    @Test(arguments: [true, false])
    func utf8WithAStrayByteStaysUTF8(labelled: Bool) throws {
        let clean = try Fixture.article("utf8-news.html")
        var text = String(decoding: try Fixture.bytes("utf8-news.html"), as: UTF8.self)
        if !labelled { text = text.replacingOccurrences(of: "<meta charset=\"utf-8\">", with: "") }
        var bytes = Array(text.utf8)
        // The stray byte goes just before the first paragraph's text.
        let marker = Array(clean.paragraphs[0].utf8.prefix(6))
        let at = try #require(bytes.indices.first { bytes[$0...].starts(with: marker) })
        bytes.insert(0xFF, at: at)
        let damaged = try ArticleExtractor().extract(bytes)
        #expect(damaged.title == clean.title)
        #expect(damaged.paragraphs.dropFirst() == clean.paragraphs.dropFirst())
        #expect(damaged.paragraphs.first == "\u{FFFD}" + clean.paragraphs[0])
    }

    /// The other way round: a GBK page with one byte no GBK character has is still GBK.
    @Test func gbkWithAStrayByteStaysGBK() throws {
        let clean = try Fixture.article("gbk-undeclared.html")
        var bytes = try Fixture.bytes("gbk-undeclared.html")
        let at = try #require(bytes.indices.first { bytes[$0...].starts(with: Array("<p>".utf8)) })
        bytes.insert(0xFF, at: at + 3)
        let damaged = try ArticleExtractor().extract(bytes)
        #expect(damaged.title == clean.title)
        #expect(damaged.paragraphs.dropFirst() == clean.paragraphs.dropFirst())
    }

    @Test func charsetHintOutranksDetection() throws {
        // Decoding GBK bytes as declared by the caller gives the same text as detection does.
        let bytes = try Fixture.bytes("gbk-undeclared.html")
        let hinted = try ArticleExtractor().extract(bytes, charsetHint: "GBK")
        #expect(hinted.title == "示例市召开春季农业生产现场推进会")
    }

    @Test func jsonLDMetadataAndCanonicalURL() throws {
        let a = try Fixture.article("jsonld.html", url: "https://mirror.example.org/copy.html")
        #expect(a.title == "长江流域开展水生生物多样性调查")
        #expect(a.publishedAt?.iso8601 == "2024-03-15T09:30:00+08:00")
        #expect(a.reporters == ["周建华", "孙悦"])
        #expect(a.source == "示例新闻社")
        // The page's canonical link wins over where it was fetched from, and keys the id.
        #expect(a.url == "https://news.example.cn/2024/03/15/water.html")
        #expect(
            a.id
                == ArticleIdentity.id(
                    canonicalURL: "https://news.example.cn/2024/03/15/water.html", title: "", publishedAt: nil,
                    paragraphs: []))
        #expect(a.paragraphs.count == 3)
    }

    @Test func englishPage() throws {
        let a = try Fixture.article("english.html")
        #expect(a.title == "City Council Approves New Riverside Park")
        #expect(a.language == "en")
        #expect(a.reporters == ["Jane Doe", "John Roe"])
        #expect(a.publishedAt?.iso8601 == "2024-04-08T10:04:00+08:00")
        #expect(a.paragraphs.count == 3)
        #expect(a.paragraphs.first?.hasPrefix("The city council voted on Monday") == true)
        #expect(!a.paragraphs.contains { $0.contains("Copyright") || $0.contains("Related") })
    }

    @Test func configurableDefaultZone() throws {
        let utc = ArticleExtractor(configuration: .init(defaultUTCOffsetSeconds: 0))
        let a = try utc.extract(Fixture.bytes("utf8-news.html"))
        #expect(a.publishedAt?.iso8601 == "2024-04-08T10:04:00Z")
    }

    @Test func byteOrderMarks() throws {
        let text = "标题行测试文章\n\n日期：2023年5月6日\n\n这是正文的第一段，内容足够长，可以被识别为正文段落。\n"
        var utf8BOM: [UInt8] = [0xEF, 0xBB, 0xBF]
        utf8BOM += Array(text.utf8)
        var utf16LE: [UInt8] = [0xFF, 0xFE]
        for unit in text.utf16 { utf16LE += [UInt8(unit & 0xFF), UInt8(unit >> 8)] }
        for bytes in [utf8BOM, utf16LE] {
            let a = try ArticleExtractor().extract(bytes)
            #expect(a.title == "标题行测试文章")
            #expect(a.publishedAt?.iso8601 == "2023-05-06T00:00:00+08:00")
            #expect(a.paragraphs == ["这是正文的第一段，内容足够长，可以被识别为正文段落。"])
        }
    }

    /// The server parses on a thread pool: many concurrent extractions must agree with a serial one.
    @Test func concurrentExtractionIsSafe() async throws {
        let files = ["utf8-news.html", "gbk-declared.html", "jsonld.html", "english.html"]
        let inputs = try files.map { try Fixture.bytes($0) }
        let expected = try inputs.map { try ArticleExtractor().extract($0) }
        let results = try await withThrowingTaskGroup(of: (Int, Article).self) { group in
            for round in 0..<64 {
                let i = round % inputs.count
                let bytes = inputs[i]
                group.addTask { (i, try ArticleExtractor().extract(bytes)) }
            }
            var out: [(Int, Article)] = []
            for try await r in group { out.append(r) }
            return out
        }
        #expect(results.count == 64)
        for (i, a) in results { #expect(a == expected[i]) }
    }
}
