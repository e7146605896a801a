import ArticleExtraction
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NewswireClient
import NewswireProtocol
import NewswireEngine
import NewswireServer
import NewswireTestSupport
import ServiceLifecycle
import Testing

/// The hardening cases' server: a ``TestServer`` with limits small enough that the cases hit them quickly.
typealias HardenedServer = TestServer

extension TestServer {
    /// Starts a server with hardening limits (5 s idle, 1 MiB of queued responses). The handshake deadline stays
    /// generous (a loaded machine can take more than a second to run a HELLO); the cases about that deadline set
    /// ``shortHandshake``.
    static func start(
        recorder: LogRecorder? = nil, configure: (inout ServerConfiguration) -> Void = { _ in }
    ) async throws -> TestServer {
        var logger: Logger?
        if let recorder {
            logger = Logger(label: "hardening-server", factory: recorder.handler(label:))
            logger?.logLevel = .trace
        }
        return try await TestServer.start(logger: logger) { configuration in
            configuration.limits.handshakeTimeout = .seconds(30)
            configuration.limits.idleTimeout = .seconds(5)
            configuration.limits.maxQueuedResponseBytes = 1 << 20
            configure(&configuration)
        }
    }

    func client(token: String? = nil, maxRetries: Int = 2, tls: NewswireClient.TLS? = nil) -> NewswireClient {
        NewswireClient(
            configuration: .init(
                host: "127.0.0.1", port: port, token: token, requestTimeout: .seconds(20), connections: 1,
                maxRetries: maxRetries, tls: tls))
    }
}

/// A 1 s handshake deadline, for the cases that wait for it to pass.
let shortHandshake: @Sendable (inout ServerConfiguration) -> Void = { $0.limits.handshakeTimeout = .seconds(1) }

/// A small article the well-behaved client reads and searches.
func probeArticle(_ n: Int) -> Article {
    Article(
        id: ArticleID("probe-\(n)"), title: "第\(n)号探针文章 成都 能源",
        publishedAt: PublishedTime(secondsSinceEpoch: 1_700_000_000 + Int64(n) * 60, utcOffsetSeconds: 8 * 3600),
        source: "探针", paragraphs: ["这是第\(n)篇探针文章，用于测量正常客户端的延迟。", "Probe \(n) about energy in Chengdu."],
        language: "zh")
}

/// Resident set size of this process (Linux /proc), in bytes.
func residentBytes() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        let kilobytes = line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return kilobytes * 1024
    }
    return 0
}

/// What the hardening contract promises while a bad peer misbehaves (SECURITY.md "Testing the limits").
enum Contract {
    /// Growth of this process's resident memory allowed across one case. The process is the whole test run, so
    /// other suites running meanwhile grow it too (by tens of MiB); the bound still catches every case whose limit
    /// went missing, each of which needs far more (a 1 GiB bomb, a 4 GiB length prefix, 10^6 ids). Answer
    /// memory is bounded exactly through the server's own accounting (`responses.queued_bytes_peak`).
    static let memoryGrowthBytes = 384 << 20
}

/// Runs one hardening case: starts a server, checks a well-behaved client's probes, runs `attack`
/// concurrently with the same client probing, then checks every probe got its right answer during the attack,
/// memory stayed bounded and the server still serves new connections and stops cleanly. How fast the probes were
/// answered is not asserted: on a busy machine that measures the machine (timing goals live in benchmarks/).
func withAttack(
    _ name: String = #function, token: String? = nil, tls: NewswireClient.TLS? = nil,
    configure: (inout ServerConfiguration) -> Void = { _ in },
    attack: @escaping @Sendable (HardenedServer) async throws -> Void
) async throws {
    let server = try await HardenedServer.start(configure: configure)
    let client = server.client(token: token, tls: tls)
    do {
        try await seedProbeArticles(client)
        _ = try await probeLatencies(client, count: 5)
        let rssBefore = residentBytes()
        let (during, attackError) = await runConcurrently(client: client) { try await attack(server) }
        let rssAfter = residentBytes()
        if let attackError { throw attackError }

        // `probe` checked each answer; the client kept being served throughout the attack.
        #expect(during.count >= 20, "\(name): the well-behaved client got \(during.count) probes answered")
        #expect(
            rssAfter - rssBefore < Contract.memoryGrowthBytes,
            "\(name): resident memory grew by \((rssAfter - rssBefore) >> 20) MiB")
        // The server is still whole: a fresh connection handshakes and answers.
        if tls != nil {
            let fresh = server.client(token: token, tls: tls)
            _ = try await fresh.ping()
            await fresh.shutdown()
        } else {
            // A connection the attack just closed can still hold a slot for a moment (a case that sets a tiny
            // connection limit then sees a retryable OVERLOADED): try again until a slot is free.
            var welcomed: RawConnection?
            for _ in 0..<200 where welcomed == nil {
                let attempt = try await RawConnection.connect(port: server.port)
                switch try? await attempt.hello(token: token) {
                case .welcome?:
                    welcomed = attempt
                case .error(let error)? where error.code == .overloaded && error.isRetryable:
                    await attempt.close()
                    try await Task.sleep(for: .milliseconds(50))
                case let other:
                    await attempt.close()
                    Issue.record("\(name): a fresh connection after the attack got \(String(describing: other))")
                    return
                }
            }
            let fresh = try #require(welcomed, "\(name): no connection slot came free after the attack")
            try await fresh.send(.ping(PingMessage(payload: ByteBuffer(string: "after"))))
            guard case .pong(let pong) = try await fresh.nextResponse() else {
                Issue.record("\(name): no PONG on a fresh connection after the attack")
                return
            }
            #expect(pong.payload == ByteBuffer(string: "after"))
            await fresh.close()
        }
    } catch {
        await client.shutdown()
        try? await server.stop()
        throw error
    }
    await client.shutdown()
    try await server.stop()
}

func seedProbeArticles(_ client: NewswireClient) async throws {
    let put = try await client.put((0..<40).map(probeArticle))
    #expect(put.created + put.unchanged == 40)
}

/// One probe: a search and a GET, checked for the right answer; seconds taken.
func probe(_ client: NewswireClient, _ n: Int) async throws -> Double {
    let started = ContinuousClock.now
    let id = ArticleID("probe-\(n % 40)")
    let page = try await client.search(SearchRequest(text: "第\(n % 40)号探针文章", limit: 3))
    #expect(page.hits.first?.id == id)
    #expect(try await client.article(id: id).id == id)
    let elapsed = ContinuousClock.now - started
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
}

func probeLatencies(_ client: NewswireClient, count: Int) async throws -> [Double] {
    var latencies: [Double] = []
    for n in 0..<count { latencies.append(try await probe(client, n)) }
    return latencies
}

/// Runs `attack` while the client probes in a loop (at least 20 probes, and until the attack ends).
func runConcurrently(
    client: NewswireClient, attack: @escaping @Sendable () async throws -> Void
) async -> ([Double], (any Error)?) {
    let attackDone = Flag()
    return await withTaskGroup(of: ([Double], (any Error)?).self) { group in
        group.addTask {
            do {
                try await attack()
                attackDone.set()
                return ([], nil)
            } catch {
                attackDone.set()
                return ([], error)
            }
        }
        group.addTask {
            var latencies: [Double] = []
            var n = 0
            do {
                while latencies.count < 20 || !attackDone.isSet {
                    latencies.append(try await probe(client, n))
                    n += 1
                }
            } catch {
                return (latencies, error)
            }
            return (latencies, nil)
        }
        var latencies: [Double] = []
        var firstError: (any Error)?
        for await (values, error) in group {
            latencies += values
            if firstError == nil { firstError = error }
        }
        return (latencies, firstError)
    }
}

final class Flag: Sendable {
    private let value = NIOLockedValueBox(false)
    func set() { value.withLockedValue { $0 = true } }
    var isSet: Bool { value.withLockedValue { $0 } }
}
