import ArgumentParser
import Foundation
import NewswireLoad
import NewswireModel

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
            Exits 1 if any request failed, 3 if the server cannot be reached.
            """)

    @OptionGroup var connection: ConnectionOptions

    @Option(name: [.short, .long], help: "Connections to open.")
    var connections: Int = 50

    @Option(name: [.short, .long], help: "Requests in flight per connection (capped by the server's limit).")
    var pipeline: Int = 1

    @Option(name: [.short, .long], help: "Measured run length, e.g. 10s, 500ms, 2m.")
    var duration: String = "10s"

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

    @Option(help: "File of search queries, one per line (blank lines and lines starting with # are skipped).")
    var queries: String?

    @Option(help: "Hits asked for per SEARCH.")
    var searchLimit: Int = 10

    @Flag(help: "Ask every SEARCH for its source, month and person facets.")
    var searchFacets = false

    @Option(help: "Hits asked for per RELATED.")
    var relatedLimit: Int = 10

    @Option(name: .customLong("max-ids"), help: "Most ids to fetch from the server with SCAN.")
    var maxIDs: Int = 100_000

    @Option(help: "Event-loop threads of the load generator.")
    var threads: Int = 1

    @Option(help: "Random seed (operation and id choice).")
    var seed: UInt64 = 42

    @Option(help: "Hard cap on a --requests run, e.g. 300s.")
    var timeLimit: String = "300s"

    @Option(
        name: .customLong("server-pid"),
        help: "Process id of the server (repeatable): its CPU time per request is reported, from /proc.")
    var serverPIDs: [Int32] = []

    func validate() throws {
        _ = try makeConfiguration()
    }

    func makeConfiguration() throws -> LoadConfiguration {
        var configuration = LoadConfiguration()
        let (host, port) = try connection.address()
        configuration.host = host
        configuration.port = port
        configuration.token =
            connection.token ?? ProcessInfo.processInfo.environment["NEWSWIRE_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        configuration.compression = !connection.noCompression
        configuration.connections = connections
        configuration.pipeline = pipeline
        configuration.duration = try parseDuration(duration, flag: "--duration")
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
        if let queries {
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
        configuration.threads = threads
        configuration.seed = seed
        configuration.serverPIDs = serverPIDs
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
        let result: LoadResult
        do {
            result = try await LoadGenerator.run(configuration, progress: live ? Self.showProgress : nil)
        } catch let error as LoadConfigurationError {
            if live { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            printError("newswire: bench: \(error.message)")
            throw ExitCode(CLIExit.connection)
        } catch {
            if live { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            printError("newswire: bench: \(error)")
            throw ExitCode(CLIExit.connection)
        }
        if live { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        if connection.json {
            printOut(try encodeJSON(result))
        } else {
            printOut(result.render())
        }
        if result.errorCount > 0 || !result.connectionFailures.isEmpty { throw ExitCode(CLIExit.serverError) }
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
        FileHandle.standardError.write(Data("\r\u{1B}[K\(line)".utf8))
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
