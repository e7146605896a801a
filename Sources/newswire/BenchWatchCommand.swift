import ArgumentParser
import Foundation
import NIOPosix
import NewswireClient
import NewswireLoad
import NewswireModel

/// `newswire bench watch`: live-query delivery under ingest.
struct BenchWatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Live queries under load: N watchers while a writer ingests pages or PUTs records; delivery latency.",
        discussion: """
            Opens --watchers standing queries (WATCH, start now), taken round-robin from --queries (default: \
            benchmarks/protocol/queries.txt, relative to the working directory) and, beyond the \
            file's length, from pairs of them (A B: both terms, as alerts are; with --distinct-queries, each set of terms \
            once, then triples), spread over connections of at most \
            120 watches. \
            Once the server reports them all open, one writer sends every page file of --pages (in name order) \
            as an INGEST, the server parsing each, with --write-concurrency INGESTs in flight (default 128); or, \
            with --jsonl, PUTs the records in batches of --batch (default 8 PUTs in flight). Then a fence record \
            (written and deleted: the deletion reaches every watch last). Delivery latency is from the moment the \
            INGEST or PUT carrying the article was acknowledged to the moment its event arrived (an event that \
            arrives before the acknowledgement counts as 0). With --watchers 0 it only times the ingest (the \
            baseline). Prints one JSON object. \
            The watchers are read by a lean handler that decodes only each event's position, kind and id, so the \
            load generator takes as little of the cores the server runs on as it can; --client-library reads them \
            through the client library's `watch` instead (an async sequence per watch), to measure what it adds.
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
        try connection.refuseTLS("newswire bench watch")
        guard try connection.endpoints().count == 1 else {
            throw ValidationError("bench watch measures one server; give one --host (its writer and watchers share it)")
        }
    }

    @Option(help: "Most records to write (0: all).")
    var limit: Int = 0

    @Flag(help: "Ask for hits without snippets.")
    var noSnippets = false

    @Flag(help: "Read the watches through the client library (one async sequence per watch) instead of the lean handler.")
    var clientLibrary = false

    @Flag(
        help: """
            Give every watcher a different query: the file's, then pairs, then triples of them (each set of terms \
            once). Without it the pairs come round again after the file's length squared (with 40 queries, 10,000 \
            watchers hold 1,640 distinct queries), as many users follow the same topics.
            """)
    var distinctQueries = false

    @OptionGroup var serverPIDOption: ServerPIDOption

    func run() async throws {
        do {
            try await runLoad()
        } catch let error as LoadConfigurationError {
            printError("newswire: bench watch: \(error.message)")
            throw ExitCode(error.serverRefused ? CLIExit.serverError : CLIExit.connection)
        } catch let error as NewswireClientError {
            let (host, port) = try connection.address()
            printError(
                "newswire: bench watch: \(error.code.rawValue): "
                    + ConnectionOptions.describe(error, address: "\(host):\(port)", host: host))
            throw ExitCode(ConnectionOptions.exitCode(for: error))
        }
    }

    private func runLoad() async throws {
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
        let token = try connection.resolvedToken()
        let perConnection = 120
        let writer = NewswireClient(
            configuration: .init(
                host: host, port: port, token: token, compression: false, requestTimeout: .seconds(120),
                connections: 2, clientName: "newswire-bench-writer"))
        let fence = ArticleID("bench-watch-fence-\(UInt64.random(in: 0..<UInt64.max))")

        // Watchers: each keeps (id, arrival) until it sees the fence's deletion.
        let registrationStarted = ContinuousClock.now
        let queryTexts = WatchQueryTexts.make(from: base, count: watchers, distinct: distinctQueries)
        let watching: BenchWatchers
        if clientLibrary {
            watching = .library(
                BenchLibraryWatchers(
                    host: host, port: port, token: token, queries: queryTexts, perConnection: perConnection,
                    includeSnippets: !noSnippets, fence: fence))
        } else if watchers > 0 {
            watching = .lean(
                try await WatchLoad.start(
                    host: host, port: port, token: token, queries: queryTexts, includeSnippets: !noSnippets,
                    perConnection: perConnection, fence: fence, group: MultiThreadedEventLoopGroup.singleton))
        } else {
            watching = .none
        }
        func open() async throws -> Int64 {
            if case .integer(let value)? = try await writer.stats()["watches.open"] { return value }
            return -1
        }
        if case .lean(let load) = watching { try await load.started() }
        while watchers > 0, try await open() < Int64(watchers) { try await Task.sleep(for: .milliseconds(20)) }
        let registration = ContinuousClock.now - registrationStarted
        let serverBefore = try await writer.stats()

        // The writer.
        let acknowledged = NIOLockedAcks()
        // One clock for the ingest, the acknowledgements and the arrivals.
        let ingestStarted = WatchLoad.now()
        // CPU over the ingest alone: registering the watches before it and closing them after are not in it.
        let serverCPUWindow = ProcessCPU.Window(pids: serverPIDOption.serverPIDs)
        let clientCPUBefore = ProcessCPU.ownSeconds()
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            func launch() {
                let write = writes[next]
                next += 1
                group.addTask {
                    switch write {
                    case .records(let chunk):
                        _ = try await writer.put(chunk)
                        acknowledged.record(chunk.map(\.id), at: WatchLoad.now())
                    case .page(let page):
                        let result = try await writer.ingest(page: page)
                        acknowledged.record([result.article.id], at: WatchLoad.now())
                    }
                }
            }
            while next < min(writes.count, inFlight) { launch() }
            while try await group.next() != nil {
                if next < writes.count { launch() }
            }
        }
        let ingest = Duration.nanoseconds(Int64(WatchLoad.now() - ingestStarted))
        let serverIngestCPU = serverCPUWindow.seconds()
        let clientIngestCPU = ProcessCPU.ownSeconds() - clientCPUBefore
        _ = try await writer.put([Article(id: fence, title: "fence", paragraphs: ["fence"])])
        _ = try await writer.delete(ids: [fence])
        var latencies: [Double] = []
        var lastArrival = ingestStarted
        for arrival in try await watching.arrivals() {
            lastArrival = max(lastArrival, arrival.nanos)
            guard let acked = acknowledged.time(of: arrival.id) else { continue }
            latencies.append(Double(arrival.nanos &- min(arrival.nanos, acked)) / 1e6)
        }
        let delivered = Duration.nanoseconds(Int64(lastArrival - ingestStarted))
        let serverAfter = try await writer.stats()
        await watching.close()
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
        var result: [String: Any] = [
            "serverLagMicros": serverLagMicros,
            "clientIngestCPUSeconds": clientIngestCPU,
            "watchers": watchers, "articles": articleCount, "writes": jsonl == nil ? "pages" : "records",
            "batch": batch, "writeConcurrency": inFlight,
            "snippets": !noSnippets,
            "registrationSeconds": registration.seconds, "ingestSeconds": ingest.seconds,
            "articlesPerSecond": Double(articleCount) / max(ingest.seconds, 1e-9),
            "events": latencies.count,
            "eventsPerSecond": Double(latencies.count) / max(delivered.seconds, 1e-9),
            // How long after the last acknowledgement the last event arrived: what the hub still had to deliver.
            "deliveredAfterIngestSeconds": max(0, delivered.seconds - ingest.seconds),
            "latencyMs": ["p50": percentile(0.5), "p99": percentile(0.99), "max": latencies.last ?? 0],
            "serverMatchBatches": stat(serverAfter, "watches.match_batches") - stat(serverBefore, "watches.match_batches"),
            "serverMatchMicrosPerBatch": stat(serverAfter, "watches.match_micros_per_batch"),
            "serverEventsDropped": stat(serverAfter, "watches.events_dropped"),
            "serverCommitsHeld": stat(serverAfter, "watches.commits_held") - stat(serverBefore, "watches.commits_held"),
            "serverCommitHeldSeconds":
                (stat(serverAfter, "watches.commit_held_micros") - stat(serverBefore, "watches.commit_held_micros")) / 1e6,
        ]
        if let serverIngestCPU { result["serverIngestCPUSeconds"] = serverIngestCPU }
        let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
        printOut(String(decoding: json, as: UTF8.self))
    }
}

/// One request of the bench's writer.
enum BenchWrite: Sendable {
    case records([Article])
    case page([UInt8])
}

/// When each article's PUT was acknowledged (``WatchLoad/now()``'s clock).
final class NIOLockedAcks: @unchecked Sendable {
    private let lock = NSLock()
    private var times: [ArticleID: UInt64] = [:]

    func record(_ ids: [ArticleID], at nanos: UInt64) {
        lock.withLock { for id in ids { times[id] = nanos } }
    }

    func time(of id: ArticleID) -> UInt64? { lock.withLock { times[id] } }
}

/// The bench's watchers: the lean load handler, or the client library's watch sequences.
enum BenchWatchers {
    case none
    case lean(WatchLoad)
    case library(BenchLibraryWatchers)

    /// Every watch's arrivals, once each saw the fence's deletion.
    func arrivals() async throws -> [WatchLoad.Arrival] {
        switch self {
        case .none: []
        case .lean(let load): try await load.finished()
        case .library(let watchers): try await watchers.arrivals()
        }
    }

    func close() async {
        switch self {
        case .none: break
        case .lean(let load): await load.close()
        case .library(let watchers): await watchers.client.shutdown()
        }
    }
}

/// `--client-library`: one task per watch iterating the client library's `watch` sequence.
struct BenchLibraryWatchers {
    let client: NewswireClient
    let tasks: [Task<[WatchLoad.Arrival], any Error>]

    init(host: String, port: Int, token: String?, queries: [String], perConnection: Int, includeSnippets: Bool, fence: ArticleID) {
        let client = NewswireClient(
            configuration: .init(
                host: host, port: port, token: token, compression: false, requestTimeout: .seconds(120),
                connections: max(1, (queries.count + perConnection - 1) / perConnection),
                clientName: "newswire-bench-watch"))
        let options = NewswireClient.WatchOptions(includeSnippets: includeSnippets, clientBufferEvents: 1 << 20)
        self.client = client
        self.tasks = queries.map { text in
            Task { () throws -> [WatchLoad.Arrival] in
                var arrivals: [WatchLoad.Arrival] = []
                var events = client.watch(text, from: .now, options: options).makeAsyncIterator()
                while let event = try await events.next() {
                    if event.hit.id == fence {
                        if event.kind == .deleted { break }
                        continue
                    }
                    arrivals.append(.init(id: event.hit.id, nanos: WatchLoad.now()))
                }
                return arrivals
            }
        }
    }

    func arrivals() async throws -> [WatchLoad.Arrival] {
        var all: [WatchLoad.Arrival] = []
        for task in tasks { all += try await task.value }
        return all
    }
}

extension Duration {
    /// Milliseconds as a `Double` (from NewswireModel's `seconds`).
    var milliseconds: Double { seconds * 1000 }
}
