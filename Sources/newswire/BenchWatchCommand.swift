import ArgumentParser
import Foundation
import NewswireClient
import NewswireModel

/// `newswire bench watch`: live-query delivery under ingest.
struct BenchWatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Live queries under load: N watchers while a writer ingests pages or PUTs records; delivery latency.",
        discussion: """
            Opens --watchers standing queries (WATCH, start now), taken round-robin from --queries (default: \
            benchmarks/protocol/queries.txt, relative to the working directory) and, beyond the \
            file's length, from pairs of them (A B: both terms, as alerts are), spread over connections of at most \
            120 watches. \
            Once the server reports them all open, one writer sends every page file of --pages (in name order) \
            as an INGEST, the server parsing each, with --write-concurrency INGESTs in flight (default 128); or, \
            with --jsonl, PUTs the records in batches of --batch (default 8 PUTs in flight). Then a fence record \
            (written and deleted: the deletion reaches every watch last). Delivery latency is from the moment the \
            INGEST or PUT carrying the article was acknowledged to the moment its event arrived (an event that \
            arrives before the acknowledgement counts as 0). With --watchers 0 it only times the ingest (the \
            baseline). Prints one JSON object.
            """)

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Standing queries to open.")
    var watchers: Int = 1000

    @OptionGroup var queryFile: QueryFileOption

    /// The standing queries' file: `--queries`, or the protocol benchmark's queries from the repository root.
    var queries: String { queryFile.queries ?? "benchmarks/protocol/queries.txt" }

    @Option(help: "Directory of pages (HTML or plain text) to INGEST, one request per file.")
    var pages: String?

    @Option(help: "JSON Lines records to PUT instead (the corpus format).")
    var jsonl: String?

    @Option(help: "Records per PUT (with --jsonl).")
    var batch: Int = 32

    @Option(help: "Requests in flight (default: 128 INGESTs, or 8 PUTs with --jsonl).")
    var writeConcurrency: Int?

    func validate() throws {
        guard (pages == nil) != (jsonl == nil) else { throw ValidationError("give --pages DIR or --jsonl FILE") }
    }

    @Option(help: "Most records to write (0: all).")
    var limit: Int = 0

    @Flag(help: "Ask for hits without snippets.")
    var noSnippets = false

    /// The `count` standing queries: the file's, then pairs of them (both terms).
    static func standingQueries(_ base: [String], count: Int) -> [String] {
        var result: [String] = []
        var index = 0
        while result.count < count {
            let n = base.count
            let round = index / n
            let a = base[index % n]
            if round == 0 {
                result.append(a)
            } else {
                let b = base[(index % n + round) % n]
                result.append("\(a) \(b)")
            }
            index += 1
        }
        return result
    }

    func run() async throws {
        guard let data = FileManager.default.contents(atPath: queries) else {
            throw ValidationError("cannot read --queries file \(queries)")
        }
        let base = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
        guard !base.isEmpty else { throw ValidationError("--queries file \(queries) has no queries") }
        // What the writer sends: PUT batches of records, or one page per INGEST.
        var writes: [BenchWrite] = []
        if let jsonl {
            var articles: [Article] = []
            try JSONLinesImport.readArticles(path: jsonl, batchSize: 1000) { articles += $0 }
            if limit > 0, articles.count > limit { articles = Array(articles.prefix(limit)) }
            writes = stride(from: 0, to: articles.count, by: batch).map {
                .records(Array(articles[$0..<min(articles.count, $0 + batch)]))
            }
        } else if let pages {
            var names = try FileManager.default.contentsOfDirectory(atPath: pages).sorted()
            if limit > 0, names.count > limit { names = Array(names.prefix(limit)) }
            for name in names {
                guard let data = FileManager.default.contents(atPath: pages + "/" + name) else {
                    throw ValidationError("cannot read page \(pages)/\(name)")
                }
                writes.append(.page([UInt8](data)))
            }
        }
        let articleCount = writes.reduce(0) { total, write in
            if case .records(let records) = write { return total + records.count }
            return total + 1
        }
        let inFlight = writeConcurrency ?? (jsonl == nil ? 128 : 8)
        let (host, port) = try connection.address()
        let token = connection.token ?? ProcessInfo.processInfo.environment["NEWSWIRE_TOKEN"]
        let perConnection = 120
        let watchConnections = max(1, (watchers + perConnection - 1) / perConnection)
        let watchClient = NewswireClient(
            configuration: .init(
                host: host, port: port, token: token, compression: false, requestTimeout: .seconds(120),
                connections: watchConnections, clientName: "newswire-bench-watch"))
        let writer = NewswireClient(
            configuration: .init(
                host: host, port: port, token: token, compression: false, requestTimeout: .seconds(120),
                connections: 2, clientName: "newswire-bench-writer"))
        let fence = ArticleID("bench-watch-fence-\(UInt64.random(in: 0..<UInt64.max))")
        let options = NewswireClient.WatchOptions(includeSnippets: !noSnippets, clientBufferEvents: 1 << 20)

        // Watchers: each keeps (id, arrival) until it sees the fence's deletion.
        let registrationStarted = ContinuousClock.now
        let queryTexts = Self.standingQueries(base, count: watchers)
        let watchTasks = queryTexts.map { text in
            Task { () throws -> [(ArticleID, ContinuousClock.Instant)] in
                var arrivals: [(ArticleID, ContinuousClock.Instant)] = []
                var events = watchClient.watch(text, from: .now, options: options).makeAsyncIterator()
                while let event = try await events.next() {
                    if event.hit.id == fence {
                        if event.kind == .deleted { break }
                        continue
                    }
                    arrivals.append((event.hit.id, .now))
                }
                return arrivals
            }
        }
        func open() async throws -> Int64 {
            if case .integer(let value)? = try await writer.stats()["watches.open"] { return value }
            return -1
        }
        while watchers > 0, try await open() < Int64(watchers) { try await Task.sleep(for: .milliseconds(20)) }
        let registration = ContinuousClock.now - registrationStarted
        let serverBefore = try await writer.stats()

        // The writer.
        let acknowledged = NIOLockedAcks()
        let ingestStarted = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            func launch() {
                let write = writes[next]
                next += 1
                group.addTask {
                    switch write {
                    case .records(let chunk):
                        _ = try await writer.put(chunk)
                        acknowledged.record(chunk.map(\.id), at: .now)
                    case .page(let page):
                        let result = try await writer.ingest(page: page)
                        acknowledged.record([result.article.id], at: .now)
                    }
                }
            }
            while next < min(writes.count, inFlight) { launch() }
            while try await group.next() != nil {
                if next < writes.count { launch() }
            }
        }
        let ingest = ContinuousClock.now - ingestStarted
        _ = try await writer.put([Article(id: fence, title: "fence", paragraphs: ["fence"])])
        _ = try await writer.delete(ids: [fence])
        var latencies: [Double] = []
        var lastArrival = ingestStarted
        for task in watchTasks {
            for (id, arrival) in try await task.value {
                lastArrival = max(lastArrival, arrival)
                guard let acked = acknowledged.time(of: id) else { continue }
                latencies.append(max(0, (arrival - acked).milliseconds))
            }
        }
        let delivered = lastArrival - ingestStarted
        let serverAfter = try await writer.stats()
        await watchClient.shutdown()
        await writer.shutdown()
        latencies.sort()
        func percentile(_ p: Double) -> Double {
            latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]
        }
        func stat(_ stats: NewswireClient.Stats, _ name: String) -> Double {
            switch stats[name] {
            case .integer(let value)?: Double(value)
            case .double(let value)?: value
            default: 0
            }
        }
        var serverLagMicros: [String: Double] = [:]
        for (name, _) in serverAfter.entries where name.hasPrefix("watches.lag.") {
            serverLagMicros[String(name.dropFirst("watches.lag.".count))] = stat(serverAfter, name)
        }
        let result: [String: Any] = [
            "serverLagMicros": serverLagMicros,
            "watchers": watchers, "articles": articleCount, "writes": jsonl == nil ? "pages" : "records",
            "batch": batch, "writeConcurrency": inFlight,
            "snippets": !noSnippets,
            "registrationSeconds": registration.seconds, "ingestSeconds": ingest.seconds,
            "articlesPerSecond": Double(articleCount) / max(ingest.seconds, 1e-9),
            "events": latencies.count,
            "eventsPerSecond": Double(latencies.count) / max(delivered.seconds, 1e-9),
            "latencyMs": ["p50": percentile(0.5), "p99": percentile(0.99), "max": latencies.last ?? 0],
            "serverMatchBatches": stat(serverAfter, "watches.match_batches") - stat(serverBefore, "watches.match_batches"),
            "serverMatchMicrosPerBatch": stat(serverAfter, "watches.match_micros_per_batch"),
            "serverEventsDropped": stat(serverAfter, "watches.events_dropped"),
            "serverCommitsHeld": stat(serverAfter, "watches.commits_held") - stat(serverBefore, "watches.commits_held"),
            "serverCommitHeldSeconds":
                (stat(serverAfter, "watches.commit_held_micros") - stat(serverBefore, "watches.commit_held_micros")) / 1e6,
        ]
        let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
        printOut(String(decoding: json, as: UTF8.self))
    }
}

/// One request of the bench's writer.
enum BenchWrite: Sendable {
    case records([Article])
    case page([UInt8])
}

/// When each article's PUT was acknowledged.
final class NIOLockedAcks: @unchecked Sendable {
    private let lock = NSLock()
    private var times: [ArticleID: ContinuousClock.Instant] = [:]

    func record(_ ids: [ArticleID], at instant: ContinuousClock.Instant) {
        lock.withLock { for id in ids { times[id] = instant } }
    }

    func time(of id: ArticleID) -> ContinuousClock.Instant? { lock.withLock { times[id] } }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
    var milliseconds: Double { seconds * 1000 }
}
