import ArticleExtraction
import NewswireModel
import NewswireTestFixtures
import Testing

/// The seed page (a plain-text scrape) must parse to exactly its golden values below.
@Suite("Seed golden")
struct SeedGoldenTests {
    static let seedPath = TestPaths.packageRoot(from: #filePath) + "/seeds/000_f02fe202e61b6c80.txt"

    static func article() throws -> Article {
        let bytes = try PageFileReader.read(path: seedPath, maximumBytes: 1 << 20)
        return try ArticleExtractor().extract(bytes)
    }

    @Test func titleSubtitlesDateSourceReporters() throws {
        let a = try Self.article()
        #expect(a.title == "新疆党政代表团赴四川省学习考察")
        #expect(a.subtitles == ["持续深化川新优势互补协同联动", "在新时代西部大开发中共享机遇共赢发展"])
        #expect(a.publishedAt?.iso8601 == "2024-04-08T10:04:00+08:00")
        #expect(a.source == "天山网-新疆日报")
        #expect(a.reporters == ["王兴瑞"])
        #expect(a.clicks == nil)
        #expect(a.language == "zh")
        #expect(a.url == nil)
    }

    @Test func sevenUniqueParagraphsWithoutChrome() throws {
        let a = try Self.article()
        #expect(a.paragraphs.count == 7)
        #expect(a.paragraphs.first?.hasPrefix("天山网-新疆日报讯") == true)
        #expect(Set(a.paragraphs).count == a.paragraphs.count)
        #expect(a.paragraphs[1].hasPrefix("在川期间"))
        #expect(a.paragraphs[2].hasPrefix("当天下午"))
        #expect(a.paragraphs[3].hasPrefix("王晓晖代表四川省委"))
        #expect(a.paragraphs[4].hasPrefix("会上"))
        #expect(a.paragraphs[5].hasPrefix("四川省领导廖建宇"))
        #expect(a.paragraphs[6].hasPrefix("田湘利"))
        for junk in ["无障碍", "登录", "注册", "点击", "打印本文", "扫描分享至微信", "相关文章"] {
            #expect(!a.title.contains(junk))
            for p in a.paragraphs { #expect(!p.contains(junk), "\(junk) left in body") }
        }
    }

    @Test func allTwentySixParticipants() throws {
        let a = try Self.article()
        let expected = [
            "马兴瑞", "王晓晖", "黄强", "艾尔肯·吐尼亚孜", "田向利", "李邑飞", "施小琳",
            "廖建宇", "陈炜", "普布顿珠", "靳磊", "郑莉", "郑备", "左永祥",
            "王凤朝", "俞培根",
            "田湘利", "陈伟俊", "陈明国", "王建新", "玉苏甫江·麦麦提", "哈丹·卡宾", "薛斌", "凯赛尔·阿不都克热木", "哈增友",
            "杨秀理",
        ]
        #expect(expected.count == 26)
        #expect(Set(a.participants) == Set(expected))
        #expect(a.participants.count == 26)
        #expect(!a.participants.contains("王兴瑞"))
        #expect(!a.participants.contains("习近平"))
    }

    @Test func jsonShapeAndStableID() throws {
        let a = try Self.article()
        let json = ArticleJSON.encode(a)
        #expect(json.hasPrefix("{\"id\":\"\(a.id.rawValue)\",\"url\":null,\"title\":\"新疆党政代表团赴四川省学习考察\""))
        #expect(json.contains("\"publishedAt\":\"2024-04-08T10:04:00+08:00\""))
        #expect(json.contains("\"clicks\":null"))
        // No URL: the id hashes title, time and body, and is the same on every run and machine.
        #expect(a.id.rawValue.count == 32)
        #expect(
            a.id
                == ArticleIdentity.id(
                    canonicalURL: nil, title: a.title, publishedAt: a.publishedAt, paragraphs: a.paragraphs))
    }
}
