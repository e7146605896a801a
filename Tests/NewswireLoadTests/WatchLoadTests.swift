import NIOPosix
import NewswireModel
import Testing

@testable import NewswireLoad

@Suite("Bench watchers against a loopback server", .serialized, .timeLimit(.minutes(2)))
struct WatchLoadTests {
    @Test("every watch gets each matching article once, over several connections, until the fence's deletion")
    func arrivals() async throws {
        let server = try await LoopbackServer.start(articles: 0)
        let fence = ArticleID("fence")
        // Three watches, two per connection: 能源 is in every title, Chengdu in every body, the third in none.
        let load = try await WatchLoad.start(
            host: "127.0.0.1", port: server.port, token: nil, queries: ["能源", "Chengdu", "不存在的查询词"],
            includeSnippets: true, perConnection: 2, fence: fence, group: MultiThreadedEventLoopGroup.singleton)
        try await load.started()
        _ = try server.engine.put([LoopbackServer.article(1), LoopbackServer.article(2)])
        _ = try server.engine.put([LoopbackServer.article(3)])
        _ = try server.engine.put([Article(id: fence, title: "fence", paragraphs: ["fence"])])
        _ = try server.engine.delete(ids: [fence])
        let arrivals = try await load.finished()
        await load.close()
        try await server.stop()
        #expect(arrivals.map(\.id.rawValue).sorted() == ["load-1", "load-1", "load-2", "load-2", "load-3", "load-3"])
    }

    @Test("a watch the server refuses fails the load with the server's error and the query")
    func refusedQuery() async throws {
        let server = try await LoopbackServer.start(articles: 0)
        let load = try await WatchLoad.start(
            host: "127.0.0.1", port: server.port, token: nil, queries: ["能源", "\"疆电入川"], includeSnippets: false,
            perConnection: 10, fence: "fence", group: MultiThreadedEventLoopGroup.singleton)
        let error = await #expect(throws: LoadConfigurationError.self) { try await load.started() }
        await load.close()
        try await server.stop()
        #expect(error?.message.contains("BAD_QUERY") == true)
        #expect(error?.message.contains("\"疆电入川") == true)
    }
}
