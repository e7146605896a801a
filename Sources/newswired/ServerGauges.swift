import Foundation
import NewswireEngine
import NewswireServer
import Prometheus

/// Figures a scrape reads from the server and the engine rather than from swift-metrics (which carries the
/// request counters and latency histograms, connections and bytes as they happen): record-cache hits, misses and
/// size, index segments, articles, the store's size on disk, queued answer bytes and, in cluster mode, feed lag.
final class ServerGauges: Sendable {
    private let server: NewswireServer
    private let engine: NewswireEngine
    private let dataDirectory: String
    private let cacheHits: Prometheus.Counter
    private let cacheMisses: Prometheus.Counter
    private let cacheBytes: Gauge
    private let cacheRecords: Gauge
    private let indexSegments: Gauge
    private let articles: Gauge
    private let storeBytes: Gauge
    private let queuedResponseBytes: Gauge
    private let requestsInFlight: Gauge
    private let feedLagChanges: Gauge
    private let feedLagMilliseconds: Gauge
    private let feedWaitingReads: Gauge
    private let reported = LockedCounts()

    init(registry: PrometheusCollectorRegistry, server: NewswireServer, engine: NewswireEngine, dataDirectory: String) {
        self.server = server
        self.engine = engine
        self.dataDirectory = dataDirectory
        func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "newswire", metricName: metric, unitName: unit, helpText: help)
        }
        cacheHits = registry.makeCounter(descriptor: name("cache_hits", "total", "GETs answered from the record cache"))
        cacheMisses = registry.makeCounter(
            descriptor: name("cache_misses", "total", "GETs that had to read the store"))
        cacheBytes = registry.makeGauge(descriptor: name("cache", "bytes", "Bytes of encoded records in the cache"))
        cacheRecords = registry.makeGauge(descriptor: name("cache_records", "", "Records in the cache"))
        indexSegments = registry.makeGauge(descriptor: name("index_segments", "", "Segments of the search index"))
        articles = registry.makeGauge(descriptor: name("articles", "", "Articles stored and indexed"))
        storeBytes = registry.makeGauge(
            descriptor: name(
                "store", "bytes", "Size on disk of the store (SQLite database and WAL) and the index snapshot"))
        queuedResponseBytes = registry.makeGauge(
            descriptor: name("responses_queued", "bytes", "Answer bytes produced but not yet taken by clients' sockets"))
        requestsInFlight = registry.makeGauge(
            descriptor: name("requests_in_flight", "", "Requests accepted and not yet answered to the end, streams included"))
        feedLagChanges = registry.makeGauge(
            descriptor: name("feed_lag_changes", "", "Changes committed to the shared store not yet in this node's index"))
        feedLagMilliseconds = registry.makeGauge(
            descriptor: name("feed_lag", "milliseconds", "How far this node's index is behind the shared store's feed"))
        feedWaitingReads = registry.makeGauge(
            descriptor: name("feed_waiting_reads", "", "Reads waiting for this node to apply a write another node acknowledged"))
    }

    func refresh() {
        let counters = server.counters()
        // STATS keeps running totals; Prometheus counters only go up, by the difference since the last scrape.
        for (name, counter) in [("cache.hits", cacheHits), ("cache.misses", cacheMisses)] {
            if let delta = reported.advance(name, to: counters[name] ?? 0), delta > 0 { counter.increment(by: delta) }
        }
        cacheBytes.set(Double(counters["cache.bytes"] ?? 0))
        cacheRecords.set(Double(counters["cache.records"] ?? 0))
        indexSegments.set(Double(engine.indexSegmentCount))
        articles.set(Double(engine.indexedCount))
        var bytes: Int64 = 0
        for file in ["articles.sqlite", "articles.sqlite-wal", "articles.sqlite-shm", "index.snapshot"] {
            let path = (dataDirectory as NSString).appendingPathComponent(file)
            if let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber {
                bytes += size.int64Value
            }
        }
        storeBytes.set(Double(bytes))
        queuedResponseBytes.set(Double(counters["responses.queued_bytes"] ?? 0))
        requestsInFlight.set(Double(counters["requests.in_flight"] ?? 0))
        // Zero on a single node (the index is the store's own), the follower's lag in cluster mode.
        if let stats = try? engine.stats() {
            feedLagChanges.set(Double(stats.lagChanges))
            feedLagMilliseconds.set(Double(stats.lagMilliseconds))
        }
        feedWaitingReads.set(Double(engine.readsWaitingForFeed))
    }
}

/// The last value reported per counter.
private final class LockedCounts: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [String: Int64] = [:]

    /// The increase since the last call for `name`, recording `value`.
    func advance(_ name: String, to value: Int64) -> Int64? {
        lock.lock()
        defer { lock.unlock() }
        let delta = value - values[name, default: 0]
        values[name] = value
        return delta
    }
}
