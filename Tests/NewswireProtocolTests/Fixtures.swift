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

    static var searchWithMinPosition: SearchRequest {
        var request = SearchRequest(text: "疆电入川", limit: 5)
        request.minPosition = 302
        return request
    }

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
            // Cluster mode's feed positions (PROTOCOL.md §5.18), appended so earlier vectors keep their ids.
            ("get_min_position", .get(GetMessage(id: "a1", minPosition: 300))),
            // Live queries (PROTOCOL.md §5.19), appended so earlier vectors keep their ids.
            (
                "watch",
                .watch(
                    WatchMessage(
                        text: "疆电入川", sources: ["央视网《新闻联播》"], publishedFrom: published,
                        publishedBefore: PublishedTime(secondsSinceEpoch: 1_800_000_000, utcOffsetSeconds: 0),
                        start: .afterPosition, position: 41, store: "3f1c9a52-6b0e-4d2b-9a77-0c5e8f2d1b64",
                        includeArticle: true, includeSnippets: true, snippetLength: 80, bufferEvents: 256))
            ),
            ("watch_now", .watch(WatchMessage(text: "特高压"))),
            // Feed positions on GET_MANY and SEARCH (§5.18), appended.
            ("get_many_min_position", .getMany(GetManyMessage(ids: ["a1", "b2"], minPosition: 301))),
            ("search_min_position", .search(searchWithMinPosition)),
            // WATCH asking for `unmatched` events (§5.19 field 12), appended.
            ("watch_report_unmatched", .watch(WatchMessage(text: "特高压", includeSnippets: true, reportUnmatched: true))),
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
            (
                "error_retry",
                .error(ProtocolError(code: .overloaded, message: "128 requests in flight", retryAfterMillis: 50))
            ),
            (
                "goaway",
                .goAway(GoAwayMessage(code: .shuttingDown, message: "server shutting down", graceMillis: 10_000))
            ),
            // Cluster mode's commit positions (PROTOCOL.md §5.18), appended so earlier vectors keep their ids.
            (
                "put_result_commit_position",
                .putResult(
                    {
                        var result = PutResultMessage(created: 1, updated: 0, unchanged: 0)
                        result.commitPosition = 300
                        return result
                    }())
            ),
            (
                "delete_result_commit_position",
                .deleteResult(
                    {
                        var result = DeleteResultMessage(deleted: 1)
                        result.commitPosition = 301
                        return result
                    }())
            ),
            // A write that found the store full (PROTOCOL.md §7.3), appended so earlier vectors keep their ids.
            (
                "error_storage_full",
                .error(
                    ProtocolError(
                        code: .storageFull, message: "the store has no room: the disk is full",
                        retryAfterMillis: 1_000))
            ),
        ]
    }
}

extension Fixtures {
    /// A longer article (text written for these tests) whose payload compresses well.
    static let longArticle: Article = {
        let paragraphs = [
            "本台消息：今天上午，新一轮特高压输电工程在西部地区正式投运，标志着疆电入川通道全面贯通。",
            "工程全长约两千公里，途经多个省区，每年可向四川输送清洁电能数百亿千瓦时，有力保障了迎峰度夏期间的电力供应。",
            "据介绍，工程建设过程中攻克了高海拔、强风沙等多项技术难题，关键设备全部实现国产化。",
            "有关负责人表示，下一步将继续推进跨区域输电通道建设，促进能源资源优化配置，服务经济社会高质量发展。",
            "本台消息：今天上午，新一轮特高压输电工程在西部地区正式投运，沿线各地群众纷纷表示，清洁电能让生活更美好。",
        ]
        return Article(
            id: "test-20240408-07", url: "https://news.example.cn/2024/04/08/07.html", title: "疆电入川工程全面投运",
            publishedAt: published, source: "示例新闻网", reporters: ["记者 王明"], editors: ["刘红"],
            paragraphs: paragraphs + paragraphs, language: "zh")
    }()

    /// A page of twenty hits with snippets, the shape a SEARCH usually returns.
    static let longSearchPage: SearchPage = {
        let hits = (0..<20).map { i in
            SearchHit(
                id: ArticleID("test-202404\(10 + i)-01"), title: "疆电入川工程第\(i + 1)次调度会召开",
                source: "示例新闻网",
                publishedAt: PublishedTime(
                    secondsSinceEpoch: 1_712_541_840 + Int64(i) * 86_400,
                    utcOffsetSeconds: 28_800),
                score: 10.0 - Double(i) * 0.25, snippet: "…特高压输电工程疆电入川通道全面贯通，每年可向四川输送清洁电能…",
                highlights: [HighlightRange(start: 8, end: 12)])
        }
        return SearchPage(
            total: 137, hits: hits,
            facets: [Facet(field: .source, counts: [FacetCount(value: "示例新闻网", count: 137)])], tookMicros: 1_250)
    }()
}
