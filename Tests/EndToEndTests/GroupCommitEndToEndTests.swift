import ArticleExtraction
import Foundation
import NewswireClient
import NewswireTestSupport
import Testing

/// A news page (UTF-8 HTML, canonical URL, title, date line, three paragraphs) whose text carries the token
/// `词条<n>号` and `marker<n>`, so a search finds exactly this page.
func groupCommitPage(_ n: Int) -> [UInt8] {
    var state = UInt64(n + 1) &* 0x9E37_79B9_7F4A_7C15 | 1
    let pool = Array("经济社会发展改革开放科技创新教育医疗文化旅游交通能源环境农业工业城市乡村人民政府会议")
    func sentence() -> String {
        var text = ""
        for _ in 0..<60 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            text.append(pool[Int(state % UInt64(pool.count))])
        }
        return text + "。"
    }
    let paragraphs = ["本报讯 词条\(n)号 marker\(n) " + sentence(), sentence(), sentence()]
    let page = """
        <!DOCTYPE html><html><head><meta charset="utf-8"><title>第\(n)号稿件</title>
        <link rel="canonical" href="https://news.example.cn/group-commit/\(n).html"></head><body>
        <h1>第\(n)号稿件</h1><div class="info">来源：测试日报 发布时间：2024-05-\(String(format: "%02d", 1 + n % 28)) 08:00</div>
        <div class="content">\(paragraphs.map { "<p>\($0)</p>" }.joined(separator: "\n"))</div></body></html>
        """
    return Array(page.utf8)
}

@Suite("Group commit over 127.0.0.1", .timeLimit(.minutes(5)))
struct GroupCommitEndToEndTests {
    @Test("many concurrent INGESTs (some of the same page) are all acknowledged, exactly, and all searchable")
    func concurrentIngests() async throws {
        let directory = TemporaryDirectory()
        let server = try await TestServer.start(dataDirectory: directory.path)
        let client = server.client(connections: 4, requestTimeout: .seconds(60))
        let pages = 240
        let repeated = 40  // pages 0..<40 are sent twice, concurrently
        let jobs = Array(0..<pages) + Array(0..<repeated)
        let results = try await withThrowingTaskGroup(of: (Int, NewswireClient.IngestResult).self) { group in
            for n in jobs { group.addTask { (n, try await client.ingest(page: groupCommitPage(n))) } }
            return try await group.reduce(into: [Int: [NewswireClient.IngestResult]]()) { $0[$1.0, default: []].append($1.1) }
        }
        let extractor = ArticleExtractor()
        for n in 0..<pages {
            let answers = try #require(results[n])
            let expected = try extractor.extract(groupCommitPage(n))
            #expect(answers.allSatisfy { $0.article.id == expected.id })
            // Two concurrent INGESTs of one page: one stores it, the other finds it unchanged (whichever queued
            // second), as if they had run one after the other.
            let outcomes = answers.map(\.outcome).sorted { "\($0)" < "\($1)" }
            #expect(outcomes == (n < repeated ? [.created, .unchanged] : [.created]), "page \(n): \(outcomes)")
        }
        // Acknowledged means searchable: every page, by its own token, right away.
        for n in stride(from: 0, to: pages, by: 7) {
            let hits = try await client.search(SearchRequest(text: "marker\(n)"))
            #expect(hits.hits.map(\.id) == [try extractor.extract(groupCommitPage(n)).id], "marker\(n)")
        }
        #expect(try await client.search(SearchRequest(text: "本报讯", limit: 0)).total == pages)
        let stats = try await client.stats()
        #expect(stats["articles.count"] == .integer(Int64(pages)))
        #expect(stats["writes.requests"] == .integer(Int64(jobs.count)))
        guard case .integer(let commits) = stats["writes.commits"] else {
            Issue.record("writes.commits missing from STATS")
            return
        }
        #expect((1...Int64(jobs.count)).contains(commits))
        await client.shutdown()
        try await server.stop()

        // And durable: a restart has every page.
        let restarted = try await TestServer.start(dataDirectory: directory.path)
        let again = restarted.client()
        #expect(try await again.search(SearchRequest(text: "本报讯", limit: 0)).total == pages)
        await again.shutdown()
        try await restarted.stop()
        withExtendedLifetime(directory) {}
    }

    @Test("graceful shutdown with INGESTs queued: each is acknowledged or told to retry; acknowledged ones survive")
    func shutdownWithIngestsQueued() async throws {
        let directory = TemporaryDirectory()
        let server = try await TestServer.start(dataDirectory: directory.path) {
            $0.limits.shutdownGracePeriod = .seconds(5)
        }
        let client = server.client(connections: 4, maxRetries: 0, requestTimeout: .seconds(60))
        _ = try await client.ping()
        let acknowledged = try await withThrowingTaskGroup(of: Int?.self) { group in
            for n in 0..<300 {
                group.addTask {
                    do {
                        _ = try await client.ingest(page: groupCommitPage(1000 + n))
                        return n
                    } catch let error as NewswireClientError {
                        #expect(error.isRetryable && error.code != .timeout, "page \(n): \(error)")
                        return nil
                    }
                }
            }
            group.addTask {
                try await Task.sleep(for: .milliseconds(50))
                try await server.stop()
                return nil
            }
            return try await group.reduce(into: [Int]()) { if let n = $1 { $0.append(n) } }
        }
        await client.shutdown()

        let restarted = try await TestServer.start(dataDirectory: directory.path)
        let engine = restarted.engine
        let extractor = ArticleExtractor()
        for n in acknowledged {
            let id = try extractor.extract(groupCommitPage(1000 + n)).id
            #expect(try engine.article(id: id) != nil, "acknowledged page \(n) lost")
        }
        #expect(engine.indexedCount == (try engine.stats()).articleCount)
        try await restarted.stop()
        withExtendedLifetime(directory) {}
    }
}
