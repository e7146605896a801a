import ArgumentParser
import Foundation
import NewswireClient
import NewswireLoad
import NewswireModel

/// `--queries`, declared once for `bench` and its subcommands. swift-argument-parser hands an option that a parent
/// command declares to the parent, so a subcommand's own `--queries` would never be set; a subcommand that includes
/// this group gets the value the parent decoded.
struct QueryFileOption: ParsableArguments {
    @Option(help: "File of queries, one per line (blank lines and lines starting with # are skipped).")
    var queries: String?
}

/// `--server-pid`, declared once for `bench` and `bench watch` (see ``QueryFileOption``).
struct ServerPIDOption: ParsableArguments {
    @Option(
        name: .customLong("server-pid"),
        help: """
            Process id of the server (repeatable): its CPU time is reported from /proc, per request (bench) or \
            during the ingest alone (bench watch).
            """)
    var serverPIDs: [Int32] = []
}

/// `newswire bench`: load-test a server over the protocol.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Load-test a server: closed loop (connections × pipeline) or open loop (--rate), HdrHistogram latency.",
        discussion: """
            Closed loop keeps --pipeline requests in flight on each of --connections connections for --duration (or \
            until --requests answers). Open loop (--rate R) sends R requests/s spread evenly over the connections and \
            measures latency from each request's scheduled send time, so a stalled server shows in the percentiles \
            (coordinated omission corrected); the service time (actual send to answer) is reported beside it. \
            Requests during --warmup are answered but not measured. Ids for GET and RELATED come from the server \
            (SCAN), chosen uniformly or Zipf-distributed; SEARCH queries come from --queries (one per line). \
            Exits 1 if any request failed, 3 if the server cannot be reached. --histogram writes the latency \
            distribution in HdrHistogram's .hgrm format; --plot draws it (open loop: corrected latency and \
            uncorrected service time); `newswire bench plot A.hgrm B.hgrm -o cmp.svg` compares runs.
            """,
        subcommands: [BenchPlotCommand.self, BenchWatchCommand.self])

    @OptionGroup var connection: ConnectionOptions

    @Option(name: [.short, .long], help: "Connections to open.")
    var connections: Int = 50

    @Option(name: [.short, .long], help: "Requests in flight per connection (capped by the server's limit).")
    var pipeline: Int = 1

    @Option(name: [.short, .long], help: "Measured run length, e.g. 10s, 500ms, 2m (default: 10s).")
    var duration: String?

    @Option(name: [.customShort("n"), .long], help: "Closed loop: stop after this many measured answers instead of --duration.")
    var requests: Int?

    @Option(name: [.short, .long], help: "Open loop: requests per second over all connections.")
    var rate: Double?

    @Option(help: "Unmeasured warmup before the run, e.g. 1s (0 for none).")
    var warmup: String = "1s"

    @Option(help: "Operation weights: get, search, related, ping, e.g. get=80,search=15,related=5.")
    var mix: String = "get=1"

    @Option(help: "Id choice for GET and RELATED: uniform, zipf (exponent 0.99) or zipf:S.")
    var keys: String = "uniform"

    @OptionGroup var queryFile: QueryFileOption

    @Option(help: "Hits asked for per SEARCH.")
    var searchLimit: Int = 10

    @Flag(help: "Ask every SEARCH for its source, month and person facets.")
    var searchFacets = false

    @Option(help: "Hits asked for per RELATED.")
    var relatedLimit: Int = 10

    @Option(name: .customLong("max-ids"), help: "Most ids to fetch from the server with SCAN.")
    var maxIDs: Int = 100_000

    @Option(
        name: .customLong("resp-keys"),
        help: "Measure a Redis-compatible server instead: RESP GET of key:%012d for 0..<N (redis-benchmark -r N's keys), same loop and timing.")
    var respKeys: Int?

    @Option(help: "Event-loop threads of the load generator.")
    var threads: Int = 1

    @Option(help: "Random seed (operation and id choice).")
    var seed: UInt64 = 42

    @Option(help: "Hard cap on a --requests run, e.g. 300s.")
    var timeLimit: String = "300s"

    @OptionGroup var serverPIDOption: ServerPIDOption

    @Option(help: "Write the latency distribution here (HdrHistogram .hgrm, ms); open loop also writes NAME.service.hgrm.")
    var histogram: String?

    @Option(help: "Draw latency by percentile to this SVG file (open loop: corrected and uncorrected curves).")
    var plot: String?

    func validate() throws {
        _ = try makeConfiguration()
    }

    func makeConfiguration() throws -> LoadConfiguration {
        var configuration = LoadConfiguration()
        let nodes = try connection.endpoints()
        configuration.host = nodes[0].host
        configuration.port = nodes[0].port
        configuration.otherNodes = nodes.dropFirst().map { LoadNode(host: $0.host, port: $0.port) }
        try connection.refuseTLS("newswire bench")
        configuration.token = try connection.resolvedToken()
        configuration.compression = !connection.noCompression
        configuration.connections = connections
        configuration.pipeline = pipeline
        if duration != nil, requests != nil, rate == nil {
            throw ValidationError("give --duration or --requests, not both (a closed-loop run stops at one of them)")
        }
        configuration.duration = try parseDuration(duration ?? "10s", flag: "--duration")
        configuration.requests = requests
        configuration.rate = rate
        configuration.warmup = try parseDuration(warmup, flag: "--warmup")
        configuration.timeLimit = try parseDuration(timeLimit, flag: "--time-limit")
        do {
            configuration.mix = try OperationMix(parsing: mix)
            configuration.keys = try KeyDistribution(parsing: keys)
        } catch {
            throw ValidationError(error.message)
        }
        if let queries = queryFile.queries {
            guard let data = FileManager.default.contents(atPath: queries) else {
                throw ValidationError("cannot read --queries file \(queries); check the path")
            }
            configuration.queries = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline)
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
            guard !configuration.queries.isEmpty else {
                throw ValidationError("--queries file \(queries) has no queries (one per line)")
            }
        }
        configuration.searchLimit = searchLimit
        configuration.searchFacets = searchFacets
        configuration.relatedLimit = relatedLimit
        configuration.maxIDs = maxIDs
        configuration.respKeys = respKeys
        configuration.threads = threads
        configuration.seed = seed
        configuration.serverPIDs = serverPIDOption.serverPIDs
        do {
            try configuration.validate()
        } catch {
            throw ValidationError(error.message)
        }
        return configuration
    }

    func run() async throws {
        let configuration = try makeConfiguration()
        let live = isatty(STDERR_FILENO) == 1
        let stop = LoadStop()
        let result: LoadResult
        let histograms: LoadHistograms?
        do {
            let box = HistogramBox()
            var receive: (@Sendable (LoadHistograms) -> Void)?
            if histogram != nil || plot != nil { receive = { box.value = $0 } }
            let interrupts = Self.stopOnInterrupt(stop)
            defer { for handler in interrupts { handler.cancel() } }
            result = try await LoadGenerator.run(
                configuration, progress: live ? Self.showProgress : nil, histograms: receive, stop: stop)
            histograms = box.value
        } catch let error as LoadConfigurationError {
            if live { Output.raw("\r\u{1B}[K", to: STDERR_FILENO) }
            printError("newswire: bench: \(error.message)")
            throw ExitCode(error.serverRefused ? CLIExit.serverError : CLIExit.connection)
        } catch let error as NewswireClientError {
            // Fetching the ids to GET goes through the client library: its failures read as every command's do.
            if live { Output.raw("\r\u{1B}[K", to: STDERR_FILENO) }
            let address = try connection.addressLabel()
            printError(
                "newswire: bench: \(error.code.rawValue): "
                    + ConnectionOptions.describe(error, address: address, host: configuration.host))
            throw ExitCode(ConnectionOptions.exitCode(for: error))
        } catch {
            if live { Output.raw("\r\u{1B}[K", to: STDERR_FILENO) }
            printError("newswire: bench: \(error)")
            throw ExitCode(CLIExit.connection)
        }
        if live { Output.raw("\r\u{1B}[K", to: STDERR_FILENO) }
        if connection.json {
            printOut(try encodeJSON(result))
        } else {
            printOut(result.render())
        }
        if let histograms { try writeHistograms(histograms, result: result) }
        if let requests, configuration.rate == nil, result.requests + result.errorCount < requests, !stop.isRequested {
            // The run ended at --time-limit before its request count: say so, it is not the run asked for.
            printError(
                "newswire: bench: --time-limit \(timeLimit) ended the run after \(result.answered) of \(requests) "
                    + "requests were answered")
            throw ExitCode(CLIExit.serverError)
        }
        if result.errorCount > 0 || !result.connectionFailures.isEmpty { throw ExitCode(CLIExit.serverError) }
        if stop.isRequested { throw ExitCode(130) }
    }

    /// Ctrl-C (or SIGTERM) stops the run early and reports what was measured, as `hey` does; a second one quits
    /// at once.
    static func stopOnInterrupt(_ stop: LoadStop) -> [SignalHandler] {
        [SIGINT, SIGTERM].map { number in
            SignalHandler(signal: number) {
                if stop.isRequested { Foundation.exit(130) }
                stop.request()
                let clearLine = isatty(STDERR_FILENO) == 1 ? "\r\u{1B}[K" : ""
                Output.raw(
                    clearLine + "newswire: bench: stopping early; waiting for the answers in flight (Ctrl-C again to quit)\n",
                    to: STDERR_FILENO)
            }
        }
    }

    private func writeHistograms(_ histograms: LoadHistograms, result: LoadResult) throws {
        let latencyText = PercentileDistribution.text(of: histograms.latency)
        let serviceText = histograms.serviceTime.map(PercentileDistribution.text(of:))
        if let histogram {
            try write(latencyText, to: histogram)
            if let serviceText { try write(serviceText, to: Self.servicePath(histogram)) }
        }
        if let plot {
            let open = result.mode == "open"
            // A run that recorded nothing (every request failed or was never sent) still gets its chart, with empty
            // curves, rather than an error after the .hgrm files were written.
            func rows(_ text: String) -> [PercentileDistribution.Row] { (try? PercentileDistribution.parse(text)) ?? [] }
            var series = [
                LatencyPlot.Series(
                    name: open ? "latency from scheduled send (corrected)" : "latency (closed loop)",
                    rows: rows(latencyText))
            ]
            if let serviceText {
                series.append(.init(name: "service time from actual send (uncorrected)", rows: rows(serviceText), dashed: true))
            }
            let title =
                "newswire bench \(result.mode) loop, \(result.connections) connections × pipeline \(result.pipeline), "
                + "\(result.mix)" + (result.targetRate.map { ", \(Int($0)) req/s" } ?? "")
            try write(LatencyPlot.svg(title: title, series: series), to: plot)
        }
    }

    /// `run.hgrm` → `run.service.hgrm`.
    static func servicePath(_ path: String) -> String {
        path.hasSuffix(".hgrm") ? String(path.dropLast(5)) + ".service.hgrm" : path + ".service"
    }

    @Sendable static func showProgress(_ progress: LoadProgress) {
        var line = String(format: "%6.1fs", progress.elapsed)
        if let planned = progress.plannedSeconds { line += String(format: " / %.0fs", planned) }
        if progress.warmingUp {
            line += "  warming up"
        } else {
            line += "  \(progress.completed) answered  \(Int(progress.recentRate)) req/s"
        }
        if progress.errors > 0 { line += "  \(progress.errors) errors" }
        Output.raw("\r\u{1B}[K\(line)", to: STDERR_FILENO)
    }
}

/// Parses `10s`, `500ms`, `2m`, `1.5s` or a bare number of seconds.
func parseDuration(_ text: String, flag: String) throws -> Duration {
    let units: [(suffix: String, seconds: Double)] = [("ms", 0.001), ("us", 0.000_001), ("s", 1), ("m", 60), ("h", 3600)]
    var number = text
    var scale = 1.0
    for unit in units where text.hasSuffix(unit.suffix) {
        number = String(text.dropLast(unit.suffix.count))
        scale = unit.seconds
        break
    }
    guard let value = Double(number), value >= 0, value.isFinite else {
        throw ValidationError("\(flag) '\(text)' is not a duration like 10s, 500ms or 2m")
    }
    return .nanoseconds(Int64(value * scale * 1e9))
}

/// Receives the histograms from the load generator's callback.
final class HistogramBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: LoadHistograms?
    var value: LoadHistograms? {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}

/// Writes `text` to `path`, as a usage-level error naming the path when it cannot.
func write(_ text: String, to path: String) throws {
    do {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    } catch {
        printError("newswire: cannot write \(path): \((error as NSError).localizedDescription)")
        throw ExitCode.failure
    }
}

/// `newswire bench plot A.hgrm B.hgrm -o cmp.svg`
struct BenchPlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Draw latency by percentile from .hgrm files (HdrHistogram format) into one SVG chart.",
        discussion: """
            Each file is one curve, named after the file (or NAME=FILE). Files named *.service.hgrm (the \
            uncorrected service time of an open-loop run) are drawn dashed. The x axis is log10(1/(1-p)), as in \
            HdrHistogram's plotter.
            """)

    @Argument(help: "The .hgrm files, optionally as NAME=FILE.")
    var files: [String]

    @Option(name: .shortAndLong, help: "The SVG file to write.")
    var output: String

    @Option(help: "Chart title.")
    var title: String = "Latency by percentile"

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("give at least one .hgrm file") }
    }

    func run() throws {
        var series: [LatencyPlot.Series] = []
        for argument in files {
            var name = ((argument as NSString).lastPathComponent as NSString).deletingPathExtension
            var path = argument
            if let equals = argument.firstIndex(of: "="), !FileManager.default.fileExists(atPath: argument) {
                name = String(argument[..<equals])
                path = String(argument[argument.index(after: equals)...])
            }
            guard let data = FileManager.default.contents(atPath: path) else {
                printError("newswire: bench plot: cannot read \(path)")
                throw ExitCode.failure
            }
            do {
                let rows = try PercentileDistribution.parse(String(decoding: data, as: UTF8.self))
                series.append(.init(name: name, rows: rows, dashed: path.hasSuffix(".service.hgrm")))
            } catch let error as LoadConfigurationError {
                printError("newswire: bench plot: \(path): \(error.message)")
                throw ExitCode.failure
            }
        }
        try write(LatencyPlot.svg(title: title, series: series), to: output)
    }
}
