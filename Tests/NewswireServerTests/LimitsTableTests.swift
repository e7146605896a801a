import Foundation
import NewswireProtocol
import NewswireServer
import Testing

/// README's server flags table and PROTOCOL.md §9 show the defaults of `Limits`; this keeps them true.
@Suite("Limits: the documented defaults are the constants")
struct LimitsTableTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The cells of the markdown table row whose first cell contains `key`.
    static func row(_ key: String, in text: String) -> [String]? {
        for line in text.split(separator: "\n") where line.hasPrefix("|") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            if cells.count > 2, cells[1].contains(key) { return Array(cells.dropFirst()) }
        }
        return nil
    }

    static func mebibytes(_ bytes: Int) -> String { "\(bytes >> 20) MiB" }

    /// `n` with thousands separators, as the tables write counts (65,536).
    static func grouped(_ n: Int) -> String {
        n.formatted(.number.grouping(.automatic).locale(Locale(identifier: "en_US")))
    }

    @Test("README's newswired flags table shows ServerConfiguration's defaults, which are Limits'")
    func readme() throws {
        let text = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        let defaults = ServerConfiguration.Limits()
        let expected: [(String, String)] = [
            ("`--max-connections`", "\(Limits.defaultMaxConnections)"),
            ("`--max-frame-bytes`", Self.mebibytes(Int(Limits.defaultMaxFrameLength))),
            ("`--max-decompressed-bytes`", Self.mebibytes(Int(Limits.defaultMaxDecompressedLength))),
            ("`--max-in-flight`", "\(Limits.defaultMaxInFlight)"),
            ("`--idle-timeout`", "\(Limits.defaultIdleTimeoutSeconds) s"),
            ("`--handshake-timeout`", "\(Limits.defaultHandshakeTimeoutSeconds) s"),
            ("`--compression-threshold`", "\(Limits.defaultCompressionThreshold) B"),
            ("`--max-auth-failures`", "\(Limits.defaultMaxAuthFailures)"),
            ("`--max-watches`", Self.grouped(Limits.defaultMaxWatches)),
        ]
        for (flag, value) in expected {
            let cells = try #require(Self.row(flag, in: text), "README has no row for \(flag)")
            #expect(cells[2] == value, "README says \(flag) defaults to \(cells[2]), the constant is \(value)")
        }
        #expect(defaults.maxConnections == Limits.defaultMaxConnections)
        #expect(defaults.maxFrameBytes == Int(Limits.defaultMaxFrameLength))
        #expect(defaults.maxDecompressedBytes == Int(Limits.defaultMaxDecompressedLength))
        #expect(defaults.maxInFlightPerConnection == Int(Limits.defaultMaxInFlight))
        #expect(defaults.idleTimeout == .seconds(Limits.defaultIdleTimeoutSeconds))
        #expect(defaults.handshakeTimeout == .seconds(Limits.defaultHandshakeTimeoutSeconds))
        #expect(defaults.compressionThreshold == Int(Limits.defaultCompressionThreshold))
        #expect(defaults.maxAuthFailuresPerConnection == Limits.defaultMaxAuthFailures)
        #expect(defaults.maxQueuedResponseBytes == Limits.defaultMaxQueuedBytesPerConnection)
        #expect(defaults.maxQueuedResponseBytesTotal == Limits.defaultMaxQueuedBytesTotal)
        #expect(defaults.maxWatches == Limits.defaultMaxWatches)
    }

    @Test("PROTOCOL.md §9 lists every limit with the constant's value")
    func protocolSection9() throws {
        let text = try String(
            contentsOf: Self.root.appendingPathComponent("proto-docs/PROTOCOL.md"), encoding: .utf8)
        let section = try #require(text.components(separatedBy: "## 9. Limits").last?.components(separatedBy: "## 10.").first)
        let grouped = Self.grouped
        let expected: [(String, String)] = [
            ("Max frame length", "16 MiB (\(grouped(Int(Limits.defaultMaxFrameLength))))"),
            ("Minimum announced max frame length", "\(Limits.minimumMaxFrameLength >> 10) KiB"),
            ("Max decompressed length", "64 MiB (\(grouped(Int(Limits.defaultMaxDecompressedLength))))"),
            ("Max requests in flight", "\(Limits.defaultMaxInFlight)"),
            ("Ids per GET_MANY", grouped(Limits.maxBatchCount)),
            ("Varint length", "\(Limits.maxVarintLength) bytes"),
            ("Handshake timeout", "\(Limits.defaultHandshakeTimeoutSeconds) s"),
            ("Idle timeout", "\(Limits.defaultIdleTimeoutSeconds) s"),
            ("Compression threshold", "\(Limits.defaultCompressionThreshold) bytes"),
            ("SEARCH query length", "\(Limits.maxQueryLength)"),
            ("RELATED limit", "\(Limits.maxRelatedLimit) (0: \(Limits.defaultRelatedLimit))"),
            ("Article id length", "\(Limits.maxIDLength)"),
            ("Refused (`UNAUTHORISED`) requests", "\(Limits.defaultMaxAuthFailures)"),
            ("Connections", "\(Limits.defaultMaxConnections)"),
            ("Unsent answer bytes per connection", Self.mebibytes(Limits.defaultMaxQueuedBytesPerConnection)),
            ("Unsent answer bytes, all connections", Self.mebibytes(Limits.defaultMaxQueuedBytesTotal)),
            (
                "Request frames over \(Limits.largeRequestFrameBytes >> 10) KiB, all connections",
                Self.mebibytes(Limits.defaultMaxLargeRequestBytesTotal)
            ),
            ("WATCH streams open, all connections", grouped(Limits.defaultMaxWatches)),
            (
                "WATCH events buffered per watch",
                "\(grouped(Limits.defaultWatchBufferEvents)) (at most \(grouped(Limits.maxWatchBufferEvents)))"
            ),
        ]
        for (limit, value) in expected {
            let cells = try #require(Self.row(limit, in: section), "§9 has no row for \(limit)")
            #expect(cells[1] == value, "§9 says \(limit) is \(cells[1]), the constant is \(value)")
        }
    }
}
