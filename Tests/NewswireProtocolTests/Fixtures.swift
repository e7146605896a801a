import NIOCore
import NewswireModel
import NewswireProtocol

/// Sample messages covering every field of every message, shared by round-trip and vector tests.
enum Fixtures {
    static let published = PublishedTime(secondsSinceEpoch: 1_712_541_840, utcOffsetSeconds: 28_800)

    static let article = Article(
        id: "xwlb-20240408-03", url: "https://tv.cctv.com/2024/04/08/VIDE.shtml", title: "疆电入川 特高压工程投运",
        subtitles: ["副标题"], publishedAt: published, source: "央视网《新闻联播》", reporters: ["张三"],
        editors: ["李四"], participants: ["王五", "赵六"],
        paragraphs: ["央视网消息：哈密—重庆±800千伏特高压直流工程今天投运。", "Second paragraph, English."],
        clicks: 1234, language: "zh", duplicateOf: "xwlb-20240407-01")

    static let minimalArticle = Article(id: "a1", title: "")

    static let searchRequest = SearchRequest(
        text: "疆电入川 source:央视网", sources: ["央视网《新闻联播》"], publishedFrom: published,
        publishedBefore: PublishedTime(secondsSinceEpoch: 1_800_000_000, utcOffsetSeconds: 0), sort: .newest,
        offset: 20, limit: 10, includeSnippets: true, snippetLength: 120, facets: [.source, .month],
        facetLimit: 5)

    static let searchPage = SearchPage(
        total: 42,
        hits: [
            SearchHit(
                id: "xwlb-20240408-03", title: "疆电入川 特高压工程投运", source: "央视网《新闻联播》",
                publishedAt: published, score: 12.625, snippet: "…疆电入川工程…",
                highlights: [HighlightRange(start: 1, end: 5)]),
            SearchHit(id: "b2", title: "Other", source: nil, publishedAt: nil, score: 0),
        ],
        facets: [
            Facet(field: .source, counts: [FacetCount(value: "央视网《新闻联播》", count: 40)]),
            Facet(field: .month, counts: [FacetCount(value: "2024-04", count: 2)]),
        ],
        tookMicros: 873)

    static var requests: [(String, Request)] {
        [
            ("hello", .hello(HelloMessage(clientName: "newswire-cli/1.0", compressions: [.zlib], token: "s3cret"))),
            ("ping", .ping(PingMessage(payload: ByteBuffer(bytes: [1, 2, 3, 4])))),
            ("get", .get(GetMessage(id: "xwlb-20240408-03"))),
            ("get_many", .getMany(GetManyMessage(ids: ["a1", "b2", "missing"]))),
            ("search", .search(searchRequest)),
            ("related", .related(RelatedMessage(id: "a1", limit: 5))),
            (
                "ingest",
                .ingest(
                    IngestMessage(
                        page: ByteBuffer(string: "<html><title>标题</title></html>"), url: "https://example.cn/a.html",
                        charset: "gbk", dryRun: true))
            ),
            ("put", .put(PutMessage(articles: [article, minimalArticle]))),
            ("delete", .delete(DeleteMessage(ids: ["a1", "b2"]))),
            (
                "scan",
                .scan(
                    ScanMessage(
                        order: .byID, cursor: ByteBuffer(string: "a1"), publishedFrom: published, limit: 100,
                        idsOnly: true))
            ),
            ("stats", .stats),
            ("cancel", .cancel),
        ]
    }

    static var responses: [(String, Response)] {
        [
            ("welcome", .welcome(WelcomeMessage(serverName: "newswired/1.0", compression: .zlib))),
            ("pong", .pong(PingMessage(payload: ByteBuffer(bytes: [1, 2, 3, 4])))),
            ("article", .article(ArticleMessage(article))),
            ("articles", .articles(ArticlesMessage(records: [ArticleRecord(minimalArticle)], missing: ["missing"]))),
            ("search_result", .searchResult(searchPage)),
            ("related_result", .relatedResult(SearchPage(total: 1, hits: [searchPage.hits[1]]))),
            ("ingest_result", .ingestResult(IngestResultMessage(record: ArticleRecord(article), outcome: .updated))),
            (
                "put_result",
                .putResult(
                    PutResultMessage(
                        created: 3, updated: 1, unchanged: 0,
                        rejected: [RecordRejection(index: 4, id: nil, reason: "record has no id")]))
            ),
            ("delete_result", .deleteResult(DeleteResultMessage(deleted: 1, missing: ["b2"]))),
            (
                "scan_batch",
                .scanBatch(ScanBatchMessage(ids: ["a1", "b2"], nextCursor: ByteBuffer(string: "b2")))
            ),
            (
                "stats_result",
                .stats(
                    StatsMessage(entries: [
                        StatEntry(name: "articles.count", value: .integer(19_537)),
                        StatEntry(name: "uptime.seconds", value: .double(12.5)),
                        StatEntry(name: "server.version", value: .text("1.0.0")),
                        StatEntry(name: "delta", value: .integer(-3)),
                    ]))
            ),
            (
                "error",
                .error(
                    ProtocolError(
                        code: .unsupportedVersion, message: "server speaks 1...1",
                        supportedVersions: 1...1))
            ),
            ("error_retry", .error(ProtocolError(code: .overloaded, message: "128 requests in flight", retryAfterMillis: 50))),
            ("goaway", .goAway(GoAwayMessage(code: .shuttingDown, message: "server shutting down", graceMillis: 10_000))),
        ]
    }
}
