import Foundation
import NIOConcurrencyHelpers
import NIOPosix
import NewswireMetrics
import NewswireTestSupport
import Prometheus
import Testing

@Suite("newswired --metrics: Prometheus text exposition over HTTP", .serialized, .timeLimit(.minutes(5)))
struct MetricsTests {
    @Test("a connection to the metrics port that stays silent is closed after the idle timeout")
    func idleConnectionClosed() async throws {
        let endpoint = try await MetricsEndpoint.start(
            host: "127.0.0.1", port: 0, registry: PrometheusCollectorRegistry(), idleTimeout: .milliseconds(200))
        let descriptor = try #require(connectedSocket(port: endpoint.port))
        defer { close(descriptor) }
        // Bounded, not timed: a read that waits 20 s without the server closing fails the test.
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var byte: UInt8 = 0
        let read = recv(descriptor, &byte, 1, 0)
        #expect(read == 0, "the server closed the silent connection (recv \(read), errno \(errno))")
        await endpoint.stop()
    }

    @Test("a scrape refreshes the gauges off the event loop (a cluster node's refresh waits for its database)")
    func refreshRunsOffTheEventLoop() async throws {
        let onEventLoop = NIOLockedValueBox<[Bool]>([])
        let endpoint = try await MetricsEndpoint.start(
            host: "127.0.0.1", port: 0, registry: PrometheusCollectorRegistry(),
            refresh: { onEventLoop.withLockedValue { $0.append(MultiThreadedEventLoopGroup.currentEventLoop != nil) } })
        let scraped = try await httpGet(port: endpoint.port, path: "/metrics")
        #expect(scraped.status == 200)
        #expect(onEventLoop.withLockedValue { $0 } == [false])
        await endpoint.stop()
    }

    @Test("past its connection limit the metrics port closes new connections unanswered; a freed slot serves again")
    func connectionLimit() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let endpoint = try await MetricsEndpoint.start(
            host: "127.0.0.1", port: 0, registry: PrometheusCollectorRegistry(), group: group, maxConnections: 2)
        let first = try #require(connectedSocket(port: endpoint.port))
        let second = try #require(connectedSocket(port: endpoint.port))
        defer { close(second) }
        // Under load the server may see a connection complete after one made later: wait until it holds both.
        let accepted = ContinuousClock.now + .seconds(30)
        while endpoint.openConnections < 2, ContinuousClock.now < accepted { try await Task.sleep(for: .milliseconds(10)) }
        try #require(endpoint.openConnections == 2, "the server never held both silent connections")
        let refused = try await httpGet(port: endpoint.port, path: "/metrics")
        #expect(refused.status == 0 && refused.body.isEmpty, "a third connection was served: \(refused.head)")
        close(first)
        // The slot comes back once the server has seen the close: scrape until it does (bounded).
        var served = try await httpGet(port: endpoint.port, path: "/metrics")
        let deadline = ContinuousClock.now + .seconds(30)
        while served.status != 200, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
            served = try await httpGet(port: endpoint.port, path: "/metrics")
        }
        #expect(served.status == 200, "no scrape served after a slot was freed")
        await endpoint.stop()
        try await group.shutdownGracefully()
    }

    @Test("a scrape after some requests parses as the text format and counts them by opcode and outcome")
    func scrape() async throws {
        let directory = TemporaryDirectory()
        let server = try ServerProcess(dataDirectory: directory.path, extra: ["--metrics", "127.0.0.1:0"])
        let port = try await server.waitUntilListening()
        let metricsLine = try #require(await server.process.stderrLine { $0.contains("/metrics") })
        let metricsPort = try #require(ServerProcess.port(after: "127.0.0.1:", in: metricsLine))

        for _ in 0..<3 { #expect(try await newswire(["ping"], port: port).status == 0) }
        #expect(try await newswire(["get", "0000000000000000000000000000dead"], port: port).status == 2)
        #expect(try await newswire(["search", "新疆"], port: port).status == 0)

        // The server counts a request just after sending its answer, so a scrape right after the CLI exits may be a
        // moment early: scrape until the last of them is counted (counters only grow), then check exact values.
        var response = try await httpGet(port: metricsPort, path: "/metrics")
        var samples = try parseExposition(response.body)
        let deadline = ContinuousClock.now + .seconds(60)
        while samples[#"newswire_requests{opcode="SEARCH",outcome="ok"}"#] == nil
            || (samples[#"newswire_requests{opcode="PING",outcome="ok"}"#] ?? 0) < 3
            || samples[#"newswire_requests{opcode="GET",outcome="NOT_FOUND"}"#] == nil,
            ContinuousClock.now < deadline
        {
            try await Task.sleep(for: .milliseconds(20))
            response = try await httpGet(port: metricsPort, path: "/metrics")
            samples = try parseExposition(response.body)
        }
        #expect(response.status == 200, "\(response.head)")
        #expect(response.head.lowercased().contains("content-type: text/plain; version=0.0.4"), "\(response.head)")
        #expect(samples[#"newswire_requests{opcode="PING",outcome="ok"}"#] == 3, "\(response.body)")
        #expect(samples[#"newswire_requests{opcode="GET",outcome="NOT_FOUND"}"#] == 1, "\(response.body)")
        #expect(samples[#"newswire_requests{opcode="SEARCH",outcome="ok"}"#] == 1, "\(response.body)")
        // Latency histograms by opcode and outcome: cumulative buckets ending in +Inf = count.
        let pingCount = samples[#"newswire_request_duration_count{opcode="PING",outcome="ok"}"#]
        #expect(pingCount == 3, "\(response.body)")
        #expect(samples[#"newswire_request_duration_bucket{opcode="PING",outcome="ok",le="+Inf"}"#] == pingCount)
        #expect(samples.keys.contains { $0.hasPrefix("newswire_connections_open") })
        for name in [
            "newswire_cache_hits_total", "newswire_cache_misses_total", "newswire_cache_bytes", "newswire_index_segments",
            "newswire_articles", "newswire_store_bytes", "newswire_bytes_in", "newswire_responses_queued_bytes", "newswire_requests_in_flight",
            "newswire_feed_lag_changes", "newswire_feed_lag_milliseconds", "newswire_feed_waiting_reads",
        ] {
            #expect(samples[name] != nil, "\(name) missing from the scrape")
        }
        #expect(samples["newswire_articles"] == 0)
        #expect(samples["newswire_feed_lag_changes"] == 0, "a single node is never behind its own store")
        #expect(samples["newswire_feed_waiting_reads"] == 0, "nor does a read wait for it")
        #expect((samples["newswire_store_bytes"] ?? 0) > 0)

        let other = try await httpGet(port: metricsPort, path: "/")
        #expect(other.status == 404)
        let stopped = await server.stop()
        #expect(stopped.status == 0, "\(stopped)")
    }
}

/// Parses the Prometheus text format (version 0.0.4): `# HELP`/`# TYPE` comments, then `name{labels} value`
/// samples; throws on a line that is neither. Keys are the sample name with its labels as printed.
func parseExposition(_ text: String) throws -> [String: Double] {
    var samples: [String: Double] = [:]
    var typed: Set<String> = []
    for line in text.split(separator: "\n") {
        if line.hasPrefix("# TYPE ") {
            let parts = line.split(separator: " ")
            try #require(parts.count == 4 && ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[3]), "\(line)")
            typed.insert(String(parts[2]))
            continue
        }
        if line.hasPrefix("#") { continue }
        let separator = try #require(line.lastIndex(of: " "), "no value: \(line)")
        let key = String(line[..<separator])
        let valueText = line[line.index(after: separator)...]
        let value = try #require(valueText == "+Inf" ? Double.infinity : Double(valueText), "bad value: \(line)")
        let name = String(key.prefix { $0 != "{" })
        try #require(name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" }, "bad name: \(line)")
        if key.contains("{") { try #require(key.hasSuffix("}"), "bad labels: \(line)") }
        let family = ["_bucket", "_count", "_sum"].reduce(name) { $0.hasSuffix($1) ? String($0.dropLast($1.count)) : $0 }
        try #require(typed.contains(name) || typed.contains(family), "sample before its # TYPE: \(line)")
        samples[key] = value
    }
    return samples
}

/// One HTTP/1.1 GET over a plain socket (on a dispatch thread); the status, head and body.
/// A blocking TCP socket connected to 127.0.0.1:`port`, or nil when the connection is refused.
func connectedSocket(port: Int) -> Int32? {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
    guard connected else {
        close(descriptor)
        return nil
    }
    return descriptor
}

func httpGet(port: Int, path: String) async throws -> (status: Int, head: String, body: String) {
    let raw: Data = try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            guard let descriptor = connectedSocket(port: port) else {
                return continuation.resume(throwing: POSIXError(.ECONNREFUSED))
            }
            defer { close(descriptor) }
            let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/plain\r\n\r\n"
            _ = request.withCString { send(descriptor, $0, strlen($0), 0) }
            var data = Data()
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = recv(descriptor, &buffer, buffer.count, 0)
                if count <= 0 { break }
                data.append(contentsOf: buffer[0..<count])
            }
            continuation.resume(returning: data)
        }
    }
    let text = String(decoding: raw, as: UTF8.self)
    let parts = text.components(separatedBy: "\r\n\r\n")
    let head = parts.first ?? ""
    let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
    return (status, head, parts.dropFirst().joined(separator: "\r\n\r\n"))
}
