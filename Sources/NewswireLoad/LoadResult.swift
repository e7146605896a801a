/// The outcome of a bench run: what `--json` prints.
public struct LoadResult: Codable, Sendable {
    /// `closed` or `open`.
    public var mode: String
    /// Server address.
    public var target: String
    /// Connections that completed the handshake.
    public var connections: Int
    /// Effective requests in flight per connection (after the server's limit).
    public var pipeline: Int
    /// Open loop: the requested rate.
    public var targetRate: Double?
    /// The operation mix, e.g. `get=80,search=15,related=5`.
    public var mix: String
    /// Id distribution.
    public var keys: String
    /// Ids fetched by SCAN.
    public var idCount: Int
    /// Whether zlib was offered.
    public var compression: Bool
    /// Warmup seconds (not measured).
    public var warmupSeconds: Double
    /// Measured seconds: from the first measured send to the last measured answer.
    public var measuredSeconds: Double
    /// Measured requests answered without error.
    public var requests: Int
    /// Measured requests answered, with or without an error (an ERROR answer such as NOT_FOUND is work the server
    /// did); requests never sent or never answered are not among them.
    public var answered: Int
    /// Answered requests (``answered``) per second over ``measuredSeconds``.
    public var throughput: Double
    /// Latency over every operation, µs (open loop: from each request's scheduled time).
    public var latency: LatencySummary
    /// Open loop: actual send to answer, µs.
    public var serviceTime: LatencySummary?
    /// Per-operation counts and latency.
    public var operations: [String: LatencySummary]
    /// Failed requests by error name.
    public var errors: [String: Int]
    /// Request bytes sent during the measured window.
    public var bytesSent: Int
    /// Response bytes received (on the wire).
    public var bytesReceived: Int
    /// Response bytes had nothing been compressed.
    public var bytesReceivedUncompressed: Int
    /// ``bytesReceivedUncompressed`` / ``bytesReceived``.
    public var compressionRatio: Double
    /// The load generator's CPU seconds over the measured window.
    public var clientCPUSeconds: Double
    /// The load generator's CPU per answered request, µs.
    public var clientCPUMicrosPerRequest: Double
    /// Sampled server CPU seconds over the measured window (nil without `--server-pid`).
    public var serverCPUSeconds: Double?
    /// Server CPU per answered request, µs.
    public var serverCPUMicrosPerRequest: Double?
    /// Connections that failed mid-run, with the reason.
    public var connectionFailures: [String]

    /// Total failed requests.
    public var errorCount: Int { errors.values.reduce(0, +) }

    /// A human-readable report.
    public func render() -> String {
        func fmt(_ value: Double, _ decimals: Int = 1) -> String {
            let factor = pow(10.0, Double(decimals))
            let rounded = (value * factor).rounded() / factor
            return decimals == 0 ? String(Int(rounded)) : String(rounded)
        }
        func grouped(_ value: Double) -> String {
            let digits = String(Int(value.rounded()))
            var result = ""
            for (offset, character) in digits.reversed().enumerated() {
                if offset > 0, offset % 3 == 0 { result.append(",") }
                result.append(character)
            }
            return String(result.reversed())
        }
        func micros(_ value: Double) -> String {
            value >= 10_000 ? fmt(value / 1000, 1) + " ms" : fmt(value, value < 100 ? 1 : 0) + " µs"
        }
        func row(_ name: String, _ summary: LatencySummary) -> String {
            name.padding(to: 12) + [summary.p50, summary.p90, summary.p99, summary.p999, summary.max, summary.mean]
                .map { micros($0).leftPadding(to: 10) }.joined()
        }
        var lines: [String] = []
        var header = "\(mode) loop · \(target) · \(connections) connections × pipeline \(pipeline)"
        if let targetRate { header += " · target \(grouped(targetRate)) req/s" }
        lines.append(header)
        lines.append(
            "mix \(mix) · keys \(keys) over \(grouped(Double(idCount))) ids · compression \(compression ? "on" : "off")"
                + " · warmup \(fmt(warmupSeconds))s")
        lines.append("")
        let counted =
            answered == requests
            ? grouped(Double(requests)) : "\(grouped(Double(answered))) answered (\(grouped(Double(requests))) ok)"
        lines.append("requests    \(counted) in \(fmt(measuredSeconds, 2)) s = \(grouped(throughput)) req/s")
        lines.append("")
        lines.append("latency".padding(to: 12) + ["p50", "p90", "p99", "p99.9", "max", "mean"].map { $0.leftPadding(to: 10) }.joined())
        lines.append(row(targetRate != nil ? "(scheduled)" : "all", latency))
        if let serviceTime { lines.append(row("service", serviceTime)) }
        if operations.count > 1 {
            for name in operations.keys.sorted() { lines.append(row(name, operations[name]!)) }
        }
        lines.append("")
        if errors.isEmpty {
            lines.append("errors      none")
        } else {
            lines.append(
                "errors      " + errors.sorted { $0.key < $1.key }.map { "\($0.key) \(grouped(Double($0.value)))" }
                    .joined(separator: ", "))
        }
        let mib = 1024.0 * 1024.0
        lines.append(
            "bytes       sent \(fmt(Double(bytesSent) / mib)) MiB, received \(fmt(Double(bytesReceived) / mib)) MiB"
                + " (\(fmt(Double(bytesReceivedUncompressed) / mib)) MiB uncompressed, ratio \(fmt(compressionRatio, 2)))")
        var cpu = "cpu         bench \(fmt(clientCPUMicrosPerRequest, 2)) µs/req"
        if let serverCPUMicrosPerRequest { cpu += ", server \(fmt(serverCPUMicrosPerRequest, 2)) µs/req" }
        lines.append(cpu)
        for failure in connectionFailures { lines.append("connection  \(failure)") }
        return lines.joined(separator: "\n")
    }
}

extension String {
    fileprivate func padding(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
    fileprivate func leftPadding(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
