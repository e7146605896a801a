import ArticleExtraction
import Foundation
import Logging
import NIOCore
import NewswireClient
import NewswireEngine
import NewswireServer
import NewswireTestSupport
import ServiceLifecycle

extension TestServer {
    /// A client for this server.
    func client(
        token: String? = nil, compression: Bool = true, connections: Int = 1, maxRetries: Int = 2,
        requestTimeout: Duration = .seconds(20)
    ) -> NewswireClient {
        NewswireClient(
            configuration: .init(
                host: "127.0.0.1", port: port, token: token, compression: compression,
                requestTimeout: requestTimeout, connections: connections, maxRetries: maxRetries))
    }
}

/// The repository root (for seeds/).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// The seed page shipped in seeds/.
func seedPage() throws -> [UInt8] {
    let seeds = repositoryRoot.appendingPathComponent("seeds")
    let name = try FileManager.default.contentsOfDirectory(atPath: seeds.path).filter { !$0.hasPrefix(".") }.sorted()[0]
    return [UInt8](try Data(contentsOf: seeds.appendingPathComponent(name)))
}

/// A small synthetic article for load-style tests.
func syntheticArticle(_ n: Int) -> Article {
    Article(
        id: ArticleID("synthetic-\(n)"), title: "第\(n)号测试文章 四川 新疆", publishedAt: PublishedTime(
            secondsSinceEpoch: 1_700_000_000 + Int64(n) * 3600, utcOffsetSeconds: PublishedTime.chinaStandardOffset),
        source: n % 2 == 0 ? "测试来源甲" : "测试来源乙",
        paragraphs: ["这是第\(n)篇用于端到端测试的文章，内容涉及能源合作与产业协作。", "Paragraph \(n) mentions Chengdu and energy."],
        language: "zh")
}
