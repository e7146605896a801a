import ArticleExtraction
import NewswireModel
import Testing

@Suite("Plain-text scrapes")
struct PlainTextExtractionTests {
    static let body = "这是正文第一段，记录了会议的主要内容和各项部署安排，文字足够长。"

    /// Every labelled date format, with and without a label, half- and full-width punctuation.
    @Test(arguments: [
        ("日期:2024-04-08 10:04", "2024-04-08T10:04:00+08:00"),
        ("发布时间：2024-04-08 10:04:36", "2024-04-08T10:04:36+08:00"),
        ("时间：2024/4/8 9:04", "2024-04-08T09:04:00+08:00"),
        ("2024年4月8日 星期一 10:04", "2024-04-08T10:04:00+08:00"),
        ("发布日期：2024年04月08日", "2024-04-08T00:00:00+08:00"),
        ("日期：２０２４－０４－０８　１０：０４", "2024-04-08T10:04:00+08:00"),
        ("2024-04-08T10:04:00+09:00", "2024-04-08T10:04:00+09:00"),
        ("发布时间：2024年4月8日10时04分", "2024-04-08T10:04:00+08:00"),
        ("来源：示例日报 2024.04.08", "2024-04-08T00:00:00+08:00"),
    ])
    func labelledDates(line: String, expected: String) throws {
        let a = try Fixture.article(text: "测试新闻标题示例\n\(line)\n\n\(Self.body)\n")
        #expect(a.publishedAt?.iso8601 == expected, "for \(line)")
        #expect(a.paragraphs == [Self.body])
    }

    @Test func interleavedDuplicatesKeepFirstOccurrence() throws {
        let p1 = "第一段：市政府召开常务会议，研究部署当前重点工作。"
        let p2 = "第二段：会议听取了关于一季度经济运行情况的汇报。"
        let p3 = "第三段：会议强调，要坚定信心，狠抓落实，确保完成全年目标。"
        let text = "常务会议研究部署重点工作\n\n\(p1)\n\(p2)\n\(p1)\n\(p3)\n\(p2)\n\(p3)\n"
        let a = try Fixture.article(text: text)
        #expect(a.paragraphs == [p1, p2, p3])
    }

    @Test func participantListsStripTitlesAndKeepDottedNames() throws {
        let text = """
            调研组来我市开展专题调研

            4月8日，省调研组来我市调研。省领导张三、李四，市领导王五，示例集团董事长赵六参加有关活动。

            出席会议的有孙七、周八、买买提·艾力和吴九。

            陈十、阿依古丽·吐尔逊参加活动。
            """
        let a = try Fixture.article(text: text)
        #expect(a.participants == ["张三", "李四", "王五", "赵六", "孙七", "周八", "买买提·艾力", "吴九", "陈十", "阿依古丽·吐尔逊"])
    }

    @Test func clicksOnlyWhenShown() throws {
        let shown = try Fixture.article(text: "点击计数的测试标题\n来源：示例网 点击：[856]次\n\n\(Self.body)\n")
        #expect(shown.clicks == 856)
        #expect(shown.source == "示例网")
        let unfilled = try Fixture.article(text: "点击计数的测试标题\n浏览次数：[次]\n\n\(Self.body)\n")
        #expect(unfilled.clicks == nil)
    }

    @Test func trailingJunkAndEditor() throws {
        let text = """
            首页 新闻 政务 登录
            测试新闻标题示例
            \(Self.body)
            （责任编辑：钱多多）
            分享到：微信 微博
            上一篇：另一条新闻
            下一篇：又一条新闻
            相关链接
            某某会议召开
            版权所有 示例网 技术支持：某公司
            """
        let a = try Fixture.article(text: text)
        #expect(a.title == "测试新闻标题示例")
        #expect(a.paragraphs == [Self.body])
        #expect(a.editors == ["钱多多"])
    }
}
