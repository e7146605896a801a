import ArticleExtraction
import NewswireModel
import Testing

/// libxml2 parses a page without its script and style bodies, comments and unread attributes: whatever surrounds
/// them (comments holding a `<script>`, tags inside scripts, `<script>` in attribute values, self-closed scripts,
/// processing instructions, attributes without values or quotes, junk in tags), the article is the one the whole
/// page gives.
@Suite("Unread markup skipped before parsing")
struct UnreadMarkupTests {
    static let paragraphs = [
        "示例市今天召开春季农业生产现场推进会，部署全市春耕备耕工作，要求各地抓好粮食生产。",
        "会议指出，今年全市粮食播种面积稳定在一百二十万亩以上，重点推广良种良法和绿色防控技术。",
        "与会人员还实地察看了高标准农田建设和农机合作社，并就春耕生产中的困难进行了交流。",
    ]

    static func page(head: String = "", beforeBody: String, between: String = "", after: String = "") -> String {
        """
        <!DOCTYPE html><html><head><meta charset="utf-8"><title>示例市召开春季农业生产现场推进会_示例网</title>\(head)
        <style>.nav { color: red } p::before { content: "<p>不是正文</p>" }</style></head><body>
        <div class="nav"><a href="/">首页</a> | <a href="/news">新闻</a></div>\(beforeBody)
        <h1>示例市召开春季农业生产现场推进会</h1><div class="content">
        <p>\(paragraphs[0])</p>\(between)<p>\(paragraphs[1])</p>
        <p>\(paragraphs[2])</p></div>\(after)
        <script>var x = "<div>不是正文</div>"; if (a < b && c > d) { document.write("</p>"); }</script>
        </body></html>
        """
    }

    static let cases: [(String, String)] = [
        ("a commented-out script", page(beforeBody: "<!-- <script> var a = 1; -->")),
        ("a script writing a style tag", page(beforeBody: #"<script>document.write("<style>");</script>"#)),
        ("a script tag in an attribute value", page(beforeBody: #"<div title="<script>" data-x='<style>'>提示</div>"#)),
        ("a self-closed script", page(beforeBody: #"<script src="/a.js" />"#)),
        ("a processing instruction", page(beforeBody: #"<?php echo "<script>"; ?>"#)),
        ("an end tag with junk", page(beforeBody: "<div>提示</div <script>>")),
        ("an upper-case script", page(beforeBody: "<SCRIPT type=text/javascript>var a = '<p>x</p>';</ScRiPt >")),
        ("a style in the body", page(beforeBody: "", between: "<style>p { margin: 0 }</style>")),
        ("an unclosed script", page(beforeBody: "", after: "<script>var unterminated = 1;")),
        ("unquoted and valueless attributes", page(beforeBody: #"<td nowrap width=100% class=x/><a href=/a/b/>提示</a>"#)),
        ("junk in a start tag", page(beforeBody: #"<div "a"="x>y" class="nav">提示</div>"#)),
        ("a comment between words", page(beforeBody: "<div>提<!-- c -->示</div>")),
        ("an abruptly closed comment", page(beforeBody: "<!--> <script>var a;</script> -->")),
    ]

    @Test(arguments: 0..<cases.count)
    func articleSurvives(_ index: Int) throws {
        let (name, html) = Self.cases[index]
        let a = try ArticleExtractor().extract(Array(html.utf8))
        #expect(a.title == "示例市召开春季农业生产现场推进会", "\(name)")
        #expect(a.paragraphs == Self.paragraphs, "\(name)")
    }

    /// JSON-LD keeps its text: its publication time is read.
    @Test func jsonLDIsKept() throws {
        let ld = """
            <script type="application/ld+json">{"@type":"NewsArticle","datePublished":"2024-04-08T10:04:00+08:00",\
            "author":{"@type":"Person","name":"李明"}}</script>
            """
        let a = try ArticleExtractor().extract(Array(Self.page(head: ld, beforeBody: "").utf8))
        #expect(a.publishedAt?.iso8601 == "2024-04-08T10:04:00+08:00")
        #expect(a.reporters == ["李明"])
        #expect(a.paragraphs == Self.paragraphs)
    }
}
