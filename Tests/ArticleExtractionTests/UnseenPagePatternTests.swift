import ArticleExtraction
import NewswireModel
import Testing

/// Page patterns common on Chinese news, government, self-media and WeChat-style pages, each in a small page
/// written for the pattern: what extraction must do with it.
@Suite("Page patterns")
struct UnseenPagePatternTests {
    static let paragraphs = [
        "本市今年新建改建农村公路一百二十公里，完成年度计划的百分之九十五，惠及沿线三十多个行政村。",
        "据介绍，新建道路全部按照四级以上标准建设，并同步配套安全防护设施和排水设施，确保群众出行安全。",
        "交通部门表示，下一步将加快推进剩余路段建设，力争年底前全面完成任务，让群众走上平安路、致富路。",
    ]

    static func page(head: String = "", header: String = "", body: String, footer: String = "") -> [UInt8] {
        Array(
            """
            <!DOCTYPE html><html><head><meta charset="utf-8"><title>农村公路建设提速_示例新闻网</title>\(head)</head>
            <body><div class="nav"><a href="/">首页</a> <a href="/news">新闻</a> <a href="/gov">政务</a></div>
            <h1>农村公路建设提速</h1>\(header)
            \(body)
            \(footer)
            <div class="footer">版权所有 示例新闻网 联系我们</div></body></html>
            """.utf8)
    }

    static var prose: String { paragraphs.map { "<p>\($0)</p>" }.joined(separator: "\n") }

    static func extract(_ bytes: [UInt8]) throws -> Article { try ArticleExtractor().extract(bytes) }

    // MARK: Bodies that must come out as the article alone

    /// A page pattern around (or instead of) plain article markup, and the body it must still give: the article's
    /// three paragraphs and nothing else.
    struct BodyCase: CustomTestStringConvertible, Sendable {
        var name: String
        var body: String
        var testDescription: String { name }
    }

    static let bodyCases: [BodyCase] = [
        // A body that a script reveals later (`visibility:hidden` on the wrapper) is still the body.
        BodyCase(
            name: "hidden wrapper around the article",
            body: "<div id=\"js_content\" style=\"visibility: hidden;\">\(prose)</div>"),
        // A widget word in the class of the article's wrapper (`js_img_share_area`) does not hide the article.
        BodyCase(
            name: "widget word on the article's wrapper",
            body: """
                <div class="share-bar"><a href="#">微博</a> <a href="#">微信</a></div>
                <div class="js_img_share_area"><div class="content">\(prose)</div></div>
                """),
        // Hidden boilerplate stays out: a hidden one-line copy of the headline inside the body.
        BodyCase(
            name: "hidden line inside the body",
            body: "<div class=\"post-body\"><p style=\"display:none\">原标题：农村公路建设提速</p>\(prose)</div>"),
        // A platform disclaimer after the article ends it.
        BodyCase(
            name: "platform disclaimer and notice after the article",
            body: prose
                + "<p>特别声明：以上内容(如有图片或视频亦包括在内)为自媒体平台用户上传并发布，本平台仅提供信息存储服务。</p>"
                + "<p>Notice: The content above (including the pictures and videos if any) is uploaded by a user.</p>"),
        BodyCase(
            name: "investment disclaimer after the article",
            body: prose + "<p>声明：本网力求信息真实、准确，文章提及内容仅供参考，不构成实质性投资建议。</p>"),
        // Linked headlines with unlinked abstracts (`…【详细】`) and feed lines (`示例网 · 5分钟前`).
        BodyCase(
            name: "teaser list after the article",
            body: "<div class=\"text\">\(prose)</div>" + """
                <div class="list"><div class="item"><img src="a.jpg"><a href="/a1.html">全市新增公交线路十条</a>
                <p>记者从市交通运输局获悉，今年以来全市新增公交线路十条，优化调整线路二十余条，方便了群众出行。【详细】</p>
                <span>示例网 · 5分钟前</span></div>
                <div class="item"><img src="b.jpg"><a href="/a2.html">老旧小区改造全面启动</a>
                <p>今年全市计划改造老旧小区一百二十个，涉及居民两万余户，目前各项前期工作正在有序推进之中。【详细】</p>
                <span>示例网 · 12分钟前</span></div></div>
                """),
        // A long feed of teasers (linked headline, unlinked abstract, age line) after an article: the repeated
        // small structure marks the feed, though its abstracts are prose and not links.
        BodyCase(
            name: "long teaser feed after the article",
            body: "<div class=\"article-body\">\(prose)</div><div class=\"feed\">"
                + (1...15).map { i in
                    """
                    <div class="feed-item"><a href="/n/\(i).html">第\(i)条：示例地区推进重点项目建设</a>
                    <p>示例地区今年以来围绕第\(i)批重点项目建设持续发力，累计完成投资\(i * 7)亿元，各项工作稳步推进。</p>
                    <span>示例网·\(i)分钟前</span></div>
                    """
                }.joined() + "</div>"),
        // A forum thread's reply index (`回复线索：` then one line per reply).
        BodyCase(
            name: "forum reply index after the post",
            body: "<div class=\"post\">\(prose)</div>" + """
                <div>| 回复线索：</div>
                <div><a href="/r1">公路修到家门口了【山里人】08-11 16:58 138字 [140/0]</a></div>
                <div><a href="/r2">希望早日通车，出行方便多了【路过的】08-11 17:03 52字 [127/1]</a></div>
                """),
        // A newspaper's anti-infringement notice after the article ends it.
        BodyCase(
            name: "copyright notice after the article",
            body: prose + """
                <p>反侵权公告：</p>
                <p>根据《中华人民共和国著作权法》等法律法规，未经书面许可，擅自转载本报社作品的，将涉嫌侵犯著作权人合法权益。</p>
                <p>一、任何单位或个人使用本报社原创内容，必须事先取得书面授权；</p>
                """),
    ]

    @Test(arguments: bodyCases)
    func bodyIsTheArticleAlone(_ c: BodyCase) throws {
        let a = try Self.extract(Self.page(body: c.body))
        #expect(a.paragraphs == Self.paragraphs)
    }

    /// Widgets after a one-paragraph article, each about as long as the article: they must not join it.
    struct WidgetCase: CustomTestStringConvertible, Sendable {
        var name: String
        var widgets: String
        var testDescription: String { name }
    }

    static let shortArticle = "本市今年新建改建农村公路一百二十公里，完成年度计划的百分之九十五，惠及沿线三十多个行政村，群众出行更加便捷。"

    static let widgetCases: [WidgetCase] = [
        // The column's profile card (avatar, post count, blurb) and a side column named `rightbar`.
        WidgetCase(
            name: "author profile card and side column",
            widgets: """
                <div class="author-card"><a class="author-avatar" href="/u/1"><img src="/a.png"></a>
                <div class="author-meta"><a href="/u/1">交通观察</a><div class="count">总篇数<span>919</span>篇</div></div>
                <div class="author-bio">交通观察栏目为广大读者提供及时的交通资讯（请注意：内容均来自于网络采集，请读者甄别消息是否可靠！）。</div></div>
                </div>
                <div id="article-rightbar"><div class="rbar-author"><a href="/u/1">交通观察</a>
                <div class="intro">本栏目每日更新全市道路建设、公交出行与交通管理方面的消息，欢迎关注并提供线索。</div></div>
                """),
        // A report dialog and a wallet box, left in the page for a script to open.
        WidgetCase(
            name: "report dialog and wallet",
            widgets: """
                </div>
                <div class="report-dialog"><h3>举报</h3><p>请选择举报原因：</p>
                <p>您的举报将在24小时内处理，处理结果将通过站内信通知您。请如实填写举报内容，恶意举报将被封号。</p>
                <p>如有疑问，请联系客服。感谢您对社区环境的支持与维护，我们将认真核实每一条举报信息。</p></div>
                <div class="wallet"><p>钱包余额：0.00元。充值后可用于打赏作者、购买付费内容，充值金额不可提现，请谨慎操作。</p></div>
                """),
        // A tipping box under the article (`打赏`).
        WidgetCase(
            name: "tipping box",
            widgets: """
                <div class="dashang-box"><p>文章很值，打赏犒劳作者一下，您的支持是我们持续创作的最大动力，感谢每一位读者！</p>
                <p>当前已有五位读者打赏，金额将全部用于支持作者的原创写作与实地采访，谢谢大家的厚爱。</p></div></div>
                """),
        // A live news feed in the next column: time stamp, unlinked one-sentence item, repeated.
        WidgetCase(
            name: "live news feed beside the article",
            widgets: """
                <div class="tools"><a href="#">收藏</a> <a href="#">打印</a></div></div>
                <div class="right"><h3>7×24小时快讯</h3><ul>
                """
                + (1...8).map { i in
                    "<li><span>10:0\(i)</span><p>【快讯】示例地区今年以来围绕第\(i)批重点项目建设持续发力，累计完成投资\(i * 7)亿元，各项工作稳步推进。</p></li>"
                }.joined() + "</ul></div>"),
    ]

    @Test(arguments: widgetCases)
    func widgetsDoNotJoinAOneParagraphArticle(_ c: WidgetCase) throws {
        let body = "<div class=\"main\"><div class=\"content\">\(Self.shortArticle)</div>\n\(c.widgets)"
        let a = try Self.extract(Self.page(header: "<div class=\"meta\">发布时间：2024-05-06 10:09:11</div>", body: body))
        #expect(a.paragraphs == [Self.shortArticle])
    }

    /// A one-paragraph article under the headline, then a link bar and a longer box of recommended abstracts: the
    /// box wins on text volume, but the page's own description (a meta or JSON-LD) opens like the block under the
    /// `<h1>`, and the two hints together pick the article.
    @Test(arguments: [
        "<meta property=\"og:description\" content=\"本市今年新建改建农村公路一百二十公里，完成年度计划\">",
        "<script type=\"application/ld+json\">{\"@type\": \"NewsArticle\", \"description\": \"本市今年新建改建农村公路一百二十公里，完成年度计划的百分之九十五\"}</script>",
    ])
    func descriptionAndHeadlineAgreeOnAShortArticle(_ hint: String) throws {
        let links = (0..<30).map { "<a href=\"/c\($0)\">栏目\($0)</a>" }.joined(separator: " ")
        let box = (1...6).map { i in
            "<div class=\"item\"><p>示例地区今年以来围绕第\(i)批重点项目建设持续发力，累计完成投资\(i * 7)亿元，各项工作稳步推进，取得了阶段性成效。</p></div>"
        }.joined()
        let a = try Self.extract(
            Self.page(
                head: hint, header: "<div class=\"info\">发布时间：2024-05-06 10:09</div>",
                body: "<div class=\"text\">\(Self.shortArticle)</div><div class=\"links\">\(links)</div>"
                    + "<div class=\"box\"><h3>精彩推荐</h3>\(box)</div>"))
        #expect(a.paragraphs == [Self.shortArticle])
    }

    /// Short lines that end the article (a poem, a name list) are kept, though each alone scores like chrome.
    @Test func shortLinesEndingTheArticleAreKept() throws {
        let poem = ["床前明月光", "疑是地上霜", "举头望明月", "低头思故乡", "明月照我还", "何处是归乡"]
        let a = try Self.extract(
            Self.page(
                body: "<div class=\"content\">\(Self.prose)<p>活动最后，一位小朋友朗诵了一首改写的小诗：</p>"
                    + poem.map { "<p>\($0)</p>" }.joined() + "</div>"
                    + "<div class=\"related\"><a href=\"/1\">相关新闻一</a> <a href=\"/2\">相关新闻二</a></div>"))
        #expect(a.paragraphs == Self.paragraphs + ["活动最后，一位小朋友朗诵了一首改写的小诗："] + poem)
    }

    /// An encyclopedia section heading keeps its text and loses its `[编辑]` link.
    @Test func encyclopediaEditLinksAreDropped() throws {
        let a = try Self.extract(
            Self.page(
                body: "<div class=\"mw-parser-output\"><p>\(Self.paragraphs[0])</p><h2>建设情况<span>[编辑]</span></h2>"
                    + Self.paragraphs.dropFirst().map { "<p>\($0)</p>" }.joined() + "</div>"))
        #expect(a.paragraphs == [Self.paragraphs[0], "建设情况"] + Self.paragraphs.dropFirst())
    }

    /// An encyclopedia's data tables (a discography, a list of shows with linked names) after its prose are part
    /// of the article, though every cell is short, unpunctuated or linked; a calendar widget's table is not.
    @Test func encyclopediaDataTablesAreKept() throws {
        func table(_ rows: [[String]], kind: String = "wikitable") -> String {
            "<table class=\"\(kind)\">"
                + rows.map { "<tr>" + $0.map { "<td>\($0)</td>" }.joined() + "</tr>" }.joined() + "</table>"
        }
        let albums = [["年份", "专辑名称", "唱片公司"], ["2001年", "第一张专辑", "示例唱片"], ["2003年", "第二张专辑", "示例唱片"],
            ["2006年", "第三张专辑", "星光音乐"]]
        let shows = [["播出年份", "电视台", "节目名称"], ["2012年", "示例电视台", "<a href=\"/a\">周末音乐会</a>"],
            ["2016年", "示例电视台", "<a href=\"/b\">欢乐大舞台</a>"], ["2019年", "星光卫视", "<a href=\"/c\">声音的力量</a>"]]
        let calendar = table([["一", "二", "三"], ["1", "2", "3"], ["8", "9", "10"]], kind: "calendar")
        let a = try Self.extract(
            Self.page(
                body: "<div id=\"content\"><p>\(Self.paragraphs[0])</p><h3>正规专辑</h3>\(table(albums))"
                    + "<h3>主持节目</h3>\(table(shows))</div>\(calendar)"))
        // Each row is a paragraph, its cells separated by a tab (so a cell repeated on another row stays).
        #expect(
            a.paragraphs == [
                Self.paragraphs[0], "正规专辑", "年份\t专辑名称\t唱片公司", "2001年\t第一张专辑\t示例唱片",
                "2003年\t第二张专辑\t示例唱片", "2006年\t第三张专辑\t星光音乐", "主持节目", "播出年份\t电视台\t节目名称",
                "2012年\t示例电视台\t周末音乐会", "2016年\t示例电视台\t欢乐大舞台", "2019年\t星光卫视\t声音的力量",
            ])
    }

    /// A blog's index page (several posts in a row, each with a title, a timestamp and a body) gives the first
    /// post, credited to the owner who signs every post.
    @Test func indexPageGivesTheFirstPost() throws {
        let posts = [
            ("长发剪了", "2005-03-18 01:58:01", Self.paragraphs[0] + Self.paragraphs[1]),
            ("雪意与雪景", "2005-03-16 10:20:00", Self.paragraphs[2] + Self.paragraphs[0]),
            ("周末去金矿", "2005-03-12 21:05:30", Self.paragraphs[1] + Self.paragraphs[2]),
        ]
        let body = posts.map { title, time, text in
            """
            <div class="post"><div class="post-title">\(title)</div><div class="post-time">\(time)</div>
            <div class="post-body"><p>\(text)</p><p>林小鹿写于\(time.prefix(10))</p></div></div>
            """
        }.joined(separator: "\n")
        let page = Array(
            """
            <html><head><meta charset="utf-8"><title>示例博主的博客</title></head><body>
            <div class="nav"><a href="/">首页</a> <a href="/blog">博客</a></div>\(body)</body></html>
            """.utf8)
        let a = try Self.extract(page)
        #expect(a.paragraphs == [Self.paragraphs[0] + Self.paragraphs[1]])
        #expect(a.reporters == ["林小鹿"])
    }

    // MARK: Reporters

    /// When the editor is the only person credited, the editor stands behind the text; a content system's
    /// code after the name (`_NB12556`) is not part of it.
    @Test func editorIsTheReporterWhenNobodyElseIsCredited() throws {
        let a = try Self.extract(
            Self.page(body: Self.prose + "<p>本文来源：示例日报 责任编辑：杜硕_NB12556</p>"))
        #expect(a.reporters == ["杜硕"])
        #expect(a.editors == ["杜硕"])
    }

    /// An author meta naming only the responsible editor is the content system's fill-in, not another credit: the
    /// editors are credited, all of them. An author meta naming someone else still credits that person.
    @Test func authorMetaNamingAnEditorCreditsTheEditors() throws {
        let editors = "<p>（编辑：严玉洁 王辉）</p><div class=\"editor\">【责任编辑：严玉洁】</div>"
        let a = try Self.extract(
            Self.page(head: "<meta name=\"author\" content=\"严玉洁\">", body: Self.prose + editors))
        #expect(a.reporters == ["严玉洁", "王辉"])
        #expect(a.editors == ["严玉洁", "王辉"])
        let b = try Self.extract(
            Self.page(head: "<meta name=\"author\" content=\"张明超\">", body: Self.prose + editors))
        #expect(b.reporters == ["张明超"])
    }

    /// `作者：网络整理` and `作者：未知` name nobody; the editor then does.
    @Test func fillerAuthorWordsAreNotNames() throws {
        let a = try Self.extract(
            Self.page(header: "<div class=\"info\">时间：2019-09-25 作者：网络整理 阅读：1644</div>",
                body: Self.prose + "<p>责编：王晓明</p>"))
        #expect(a.reporters == ["王晓明"])
        let b = try Self.extract(
            Self.page(header: "<div class=\"info\">2019-09-05 11:10 作者：未知 责任编辑：李小红</div>", body: Self.prose))
        #expect(b.reporters == ["李小红"])
    }

    /// A label glued to the previous value (`来源：示例时报网作者：李在山`) is still a label.
    @Test func labelGluedToThePreviousValue() throws {
        let a = try Self.extract(
            Self.page(header: "<div class=\"info\">2019-09-26 12:11<span>来源：示例时报网</span><span>作者：李在山</span></div>",
                body: Self.prose))
        #expect(a.reporters == ["李在山"])
        #expect(a.source == "示例时报网")
    }

    /// A source naming a programme keeps its closing mark (`央视网《新闻联播》`); marks around the whole name go.
    @Test(arguments: [
        ("央视网《新闻联播》", "央视网《新闻联播》"), ("《人民日报》", "人民日报"), ("人民网（北京）", "人民网（北京）"),
        ("新华社》", "新华社"), ("“学习强国”学习平台", "“学习强国”学习平台"),
    ])
    func sourceKeepsMarksItOpens(written: String, source: String) throws {
        let a = try Self.extract(
            Self.page(header: "<div class=\"info\">2022-09-24 来源：\(written)</div>", body: Self.prose))
        #expect(a.source == source)
    }

    /// Pen names joined with `、` and `&` after `执笔/` are each a name.
    @Test func penNameListAfterASlashLabel() throws {
        let a = try Self.extract(Self.page(body: "<div class=\"a-con\"><p>执笔/叨叨姐、胡一刀&amp;李小飞刀</p>\(Self.prose)</div>"))
        #expect(a.reporters == ["叨叨姐", "胡一刀", "李小飞刀"])
    }

    /// A surname and given name spaced apart for layout (`赵  培`) are one name.
    @Test func spacedSingleCharacterNameIsOneName() throws {
        let a = try Self.extract(Self.page(header: "<div class=\"info\">2024-05-06 记者：赵  培</div>", body: Self.prose))
        #expect(a.reporters == ["赵培"])
    }

    /// A department credited as 作者 is not a reporter; the correspondents named in the lead are.
    @Test func departmentAuthorIsNotAPerson() throws {
        let a = try Self.extract(
            Self.page(header: "<div class=\"info\">来源：本站原创 作者：医技药剂党支部 时间：2019年10月31日 23:00</div>",
                body: Self.prose + "<p>责任编辑：苏芳</p>"))
        #expect(!a.reporters.contains("医技药剂党支部"))
        #expect(a.reporters == ["苏芳"])
    }

    /// A photo credit (`通讯员刘娟 摄`, `图片来源：每经记者 张蕊 摄`) names a photographer; correspondents in the
    /// lead (`（职工通讯员 李琴雯 刘会）`) are the reporters.
    @Test func photoCreditsAndCorrespondents() throws {
        let a = try Self.extract(
            Self.page(
                body: "<p>本站讯（职工通讯员 李琴雯 刘会）" + Self.paragraphs[0] + "</p><p>10月4日，旅游专列开往襄阳。 通讯员刘娟 摄</p>"
                    + Self.paragraphs.dropFirst().map { "<p>\($0)</p>" }.joined()))
        #expect(a.reporters == ["李琴雯", "刘会"])
        let b = try Self.extract(
            Self.page(body: "<p>图片来源：每经记者 张蕊 摄</p>" + Self.prose + "<p>责任编辑：荀建国</p>"))
        #expect(b.reporters == ["荀建国"])
    }

    /// `（综合整理自示例新闻、示例科技网等）` lists outlets, not people; an editor credited in a share bar counts.
    @Test func sourceListIsNotPeopleAndEditorInAShareBar() throws {
        let a = try Self.extract(
            Self.page(
                body: Self.prose + "<p>未来，该公司将加快发展。(综合整理自示例新闻、雷锋网等)</p>",
                footer: "<div class=\"box_share\">[责任编辑：刘斌] 标签：公路 建设 分享到：</div>"))
        #expect(a.reporters == ["刘斌"])
    }

    /// `citation_author` metas name people one by one; a Latin-script publisher `author` meta is not split
    /// into words.
    @Test func citationAuthorsAndPublisherAuthorMeta() throws {
        let a = try Self.extract(
            Self.page(
                head: "<meta name=\"citation_author\" content=\"陈志远\"><meta name=\"citation_author\" content=\"Maria Lopez\">",
                body: Self.prose))
        #expect(a.reporters == ["陈志远", "Maria Lopez"])
        let b = try Self.extract(Self.page(head: "<meta name=\"author\" content=\"Jane Smith\">", body: Self.prose))
        #expect(b.reporters == ["Jane Smith"])
    }

    /// The older scholarly form: one `citation_authors` meta for everyone, a spaced two-character name as one.
    @Test func citationAuthorsListMeta() throws {
        let a = try Self.extract(
            Self.page(head: "<meta name=\"citation_authors\" content=\"赵  培\">", body: Self.prose))
        #expect(a.reporters == ["赵培"])
        let b = try Self.extract(
            Self.page(head: "<meta name=\"citation_authors\" content=\"Maria Lopez; Jane Smith\">", body: Self.prose))
        #expect(b.reporters == ["Maria Lopez", "Jane Smith"])
    }

    /// `(本文发表于…)`: a bracketed note on where a post appeared names no poster.
    @Test func bracketedPublicationNoteIsNoPoster() throws {
        let a = try Self.extract(
            Self.page(body: Self.prose + "<p>(本文发表于首页批评与建议, 已被阅读178次)</p>"))
        #expect(!a.reporters.contains { $0.contains("本文") })
    }

    /// A byline listing several roles (`实习记者 A B 记者C`) credits every reporter in it, and a photo caption
    /// (`本报记者 X 摄`) credits a photographer, not an author.
    @Test func bylineWithSeveralRolesAndPhotoCaption() throws {
        let a = try Self.extract(
            Self.page(
                body: "<p>本报讯 （实习记者 王明 李华 记者赵强）\(Self.paragraphs[0])</p>"
                    + Self.paragraphs.dropFirst().map { "<p>\($0)</p>" }.joined()
                    + "<p>新建的农村公路 本报记者 李明 摄</p>"))
        #expect(a.reporters == ["王明", "李华", "赵强"])
        let b = try Self.extract(Self.page(body: Self.prose + "<p>新建的农村公路 本报记者 李明 摄</p>"))
        #expect(b.reporters.isEmpty)
    }

    /// An official document's issuing body (`发文机关`) is its author when no person is credited, and only then.
    @Test func issuingBodyOfAnOfficialDocument() throws {
        let table =
            "<table><tr><td>发文机关：</td><td>示例省人民政府</td><td>成文日期：</td><td>2022年01月27日</td></tr></table>"
        let a = try Self.extract(Self.page(header: table, body: Self.prose))
        #expect(a.reporters == ["示例省人民政府"])
        let b = try Self.extract(Self.page(header: table, body: Self.prose + "<p>责任编辑：荀建国</p>"))
        #expect(b.reporters == ["荀建国"])
    }

    /// A personal site that credits no one is written by its owner: the copyright holder of its footer when the
    /// same name is a heading at the top. A registered site's notice (an ICP number) or a holder the header does
    /// not show credits no one.
    @Test func personalSiteOwner() throws {
        let a = try Self.extract(
            Self.page(header: "<h2>qingshan</h2>", body: Self.prose, footer: "<p>Powered by: Copyright &copy; qingshan</p>"))
        #expect(a.reporters == ["qingshan"])
        let b = try Self.extract(
            Self.page(header: "<h2>qingshan</h2>", body: Self.prose, footer: "<p>&copy; 2010 - 2016 qingshan 京ICP备12345678号</p>"))
        #expect(b.reporters.isEmpty)
        let c = try Self.extract(Self.page(body: Self.prose, footer: "<p>Copyright &copy; qingshan</p>"))
        #expect(c.reporters.isEmpty)
    }

    // MARK: Dates

    /// `9/17/2004 5:54:13 AM`: month/day/year with a 12-hour clock.
    @Test func monthDayYearWithTwelveHourClock() throws {
        let a = try Self.extract(Self.page(header: "<div class=\"info\">发布时间：9/17/2004 5:54:13 PM</div>", body: Self.prose))
        #expect(a.publishedAt?.iso8601 == "2004-09-17T17:54:13+08:00")
    }

    /// A publisher's own meta key for the publication time (`apub:time`) outranks a date inside the text.
    @Test func publishersOwnPublicationMeta() throws {
        let a = try Self.extract(
            Self.page(head: "<meta name=\"apub:time\" content=\"2019-9-7 21:30:50\">",
                body: "<p>他于2009年5月14日因病逝世，享年七十四岁，留下了大量作品。</p>" + Self.prose))
        #expect(a.publishedAt?.iso8601 == "2019-09-07T21:30:50+08:00")
    }

    /// A page that shows only `发布时间：10-08 12:00` (no year) takes the full time from its modified-time meta.
    @Test func yearlessVisibleDateFallsBackToModifiedMeta() throws {
        let a = try Self.extract(
            Self.page(head: "<meta itemprop=\"dateUpdate\" content=\"2019-10-08 12:00:57\">",
                header: "<div class=\"author-txt\">示例号 发布时间：10-08 12:00</div>", body: Self.prose))
        #expect(a.publishedAt?.iso8601 == "2019-10-08T12:00:57+08:00")
    }

    /// When the metadata time is a minute or so off the time shown under the headline (same day), the shown time
    /// is the publication time; a metadata time far from it is not overruled.
    @Test func shownTimeOutranksANearbyMetadataTime() throws {
        let meta = "<meta property=\"article:published_time\" content=\"2018-12-28T19:56:29+08:00\">"
        let a = try Self.extract(
            Self.page(head: meta, header: "<div class=\"date-source\">2018年12月28日 19:55 新京报</div>", body: Self.prose))
        #expect(a.publishedAt?.iso8601 == "2018-12-28T19:55:00+08:00")
        let b = try Self.extract(
            Self.page(head: meta, header: "<div class=\"date-source\">2018年12月28日 08:00 新京报</div>", body: Self.prose))
        #expect(b.publishedAt?.iso8601 == "2018-12-28T19:56:29+08:00")
    }

    /// A time written with an offset is printed in that offset (the instant is the same).
    @Test func timeWithOffsetKeepsThePagesOffset() throws {
        let a = try Self.extract(
            Self.page(head: "<meta property=\"article:published_time\" content=\"2020-06-06T10:08:00+09:00\">",
                body: Self.prose))
        #expect(a.publishedAt?.iso8601 == "2020-06-06T10:08:00+09:00")
    }
}
