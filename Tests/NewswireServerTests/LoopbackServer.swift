import NIOCore
import NewswireModel
import NewswireProtocol
import NewswireServer
import NewswireTestSupport

struct TestConnectionError: Error, CustomStringConvertible {
    var description: String
}

/// Articles and a loopback server for the server tests.
enum LoopbackServer {
    /// A server on 127.0.0.1, port 0, holding `articles` synthetic articles.
    static func start(
        articles: Int, configure: (inout ServerConfiguration) -> Void = { _ in }
    ) async throws -> TestServer {
        try await TestServer.start(
            configure: configure, prepare: { engine in _ = try engine.put((0..<articles).map(article)) })
    }

    /// Article `n`: id `load-n`, dated an hour apart, a body long enough that its record compresses well.
    static func article(_ n: Int) -> Article {
        let body = String(repeating: "服务器测试正文第\(n)段，讨论能源合作、电网建设与区域协作。", count: 24)
        return Article(
            id: ArticleID("load-\(n)"), title: "服务器测试 \(n) 能源合作",
            publishedAt: PublishedTime(secondsSinceEpoch: 1_710_000_000 + Int64(n) * 3600, utcOffsetSeconds: 28_800),
            source: "测试来源", paragraphs: [body, "Server test \(n): energy."], language: "zh")
    }
}

extension Frame {
    /// The ERROR this frame carries, if it is one.
    var error: ProtocolError? {
        guard opcode == .error, case .error(let error)? = try? Response(frame: self) else { return nil }
        return error
    }
}
