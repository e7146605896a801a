import ArgumentParser
import ArticleExtraction
import Foundation
import Logging
import NewswireEngine
import NewswireMetrics
import NewswireModel
import NIOCore
import NIOPosix
import NewswireServer
import Prometheus
import ServiceLifecycle
import Synchronization

/// The Newswire server daemon.
@main
struct Newswired: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "newswired",
        abstract: "Serve Newswire articles and search over the Newswire binary protocol (proto-docs/PROTOCOL.md).",
        discussion: """
            With no options it listens on 127.0.0.1:7411, keeps its data in ./newswire-data and, on first start \
            (an empty store), ingests the pages under ./seeds. Every option can also be set with the environment \
            variable named in its help. SIGTERM or SIGINT shuts down gracefully: no new connections, GOAWAY to \
            clients, in-flight requests finish within the grace period, the index snapshot is saved. Exit status: \
            0 after a clean shutdown, 1 when the server cannot start or stops on an error (one line on stderr), 64 \
            for a bad option.
            """,
        version: "newswired \(NewswireVersion.current)"
    )

    @Option(help: "Address to listen on (env NEWSWIRE_HOST).")
    var host: String = env("NEWSWIRE_HOST") ?? "127.0.0.1"

    @Option(help: "Port to listen on; 0 picks a free port (env NEWSWIRE_PORT).")
    var port: Int = env("NEWSWIRE_PORT", as: Int.self) ?? 7411

    @Option(name: .customLong("data-dir"), help: "Directory for the store and index snapshot (env NEWSWIRE_DATA_DIR).")
    var dataDirectory: String = env("NEWSWIRE_DATA_DIR") ?? "newswire-data"

    @Option(
        help: """
            Where records live: sqlite:DIR (the default, in --data-dir) or, for a cluster of nodes, \
            postgres://USER@HOST1:PORT,HOST2:PORT/DB (password from PGPASSWORD or ~/.pgpass; env NEWSWIRE_STORE).
            """)
    var store: String?

    @Option(help: "Directory of pages to ingest when the store is empty (env NEWSWIRE_SEEDS).")
    var seeds: String = env("NEWSWIRE_SEEDS") ?? "seeds"

    @Flag(name: .customLong("no-seeds"), help: "Do not ingest seed pages on first start.")
    var noSeeds = false

    @Option(
        name: .customLong("token-file"),
        help: "File whose first line is the token required for writes (env NEWSWIRE_TOKEN_FILE).")
    var tokenFile: String?

    @Option(
        name: .customLong("read-token-file"),
        help: "File whose first line is a token required for reads (env NEWSWIRE_READ_TOKEN_FILE).")
    var readTokenFile: String?

    @Option(
        name: .customLong("tls-cert"),
        help: "PEM certificate chain: serve TLS with it (needs --tls-key; env NEWSWIRE_TLS_CERT).")
    var tlsCertificate: String?

    @Option(name: .customLong("tls-key"), help: "PEM private key of --tls-cert (env NEWSWIRE_TLS_KEY).")
    var tlsKey: String?

    @Option(name: .customLong("max-connections"), help: "Connections served at once (env NEWSWIRE_MAX_CONNECTIONS).")
    var maxConnections: Int = env("NEWSWIRE_MAX_CONNECTIONS", as: Int.self) ?? 1024

    @Option(name: .customLong("max-frame-bytes"), help: "Largest frame payload accepted (env NEWSWIRE_MAX_FRAME_BYTES).")
    var maxFrameBytes: Int = env("NEWSWIRE_MAX_FRAME_BYTES", as: Int.self) ?? (16 << 20)

    @Option(
        name: .customLong("max-decompressed-bytes"),
        help: "Largest payload a compressed frame may inflate to (env NEWSWIRE_MAX_DECOMPRESSED_BYTES).")
    var maxDecompressedBytes: Int = env("NEWSWIRE_MAX_DECOMPRESSED_BYTES", as: Int.self) ?? (64 << 20)

    @Option(
        name: .customLong("max-in-flight"),
        help: "Requests one connection may have in flight before OVERLOADED (env NEWSWIRE_MAX_IN_FLIGHT).")
    var maxInFlight: Int = env("NEWSWIRE_MAX_IN_FLIGHT", as: Int.self) ?? 128

    @Option(
        name: .customLong("max-watches"),
        help: "WATCH streams open at once, all connections together, before OVERLOADED (env NEWSWIRE_MAX_WATCHES).")
    var maxWatches: Int = env("NEWSWIRE_MAX_WATCHES", as: Int.self) ?? ServerConfiguration.Limits().maxWatches

    @Option(
        name: .customLong("max-auth-failures"),
        help: "Requests refused UNAUTHORISED on one connection before it is closed (env NEWSWIRE_MAX_AUTH_FAILURES).")
    var maxAuthFailures: Int = env("NEWSWIRE_MAX_AUTH_FAILURES", as: Int.self) ?? 10

    @Option(name: .customLong("idle-timeout"), help: "Seconds a silent connection is kept (env NEWSWIRE_IDLE_TIMEOUT).")
    var idleTimeout: Int = env("NEWSWIRE_IDLE_TIMEOUT", as: Int.self) ?? 300

    @Option(
        name: .customLong("handshake-timeout"), help: "Seconds a new connection has to send HELLO (env NEWSWIRE_HANDSHAKE_TIMEOUT).")
    var handshakeTimeout: Int = env("NEWSWIRE_HANDSHAKE_TIMEOUT", as: Int.self) ?? 10

    @Option(
        name: .customLong("shutdown-grace"),
        help: "Seconds in-flight requests get to finish on shutdown (env NEWSWIRE_SHUTDOWN_GRACE).")
    var shutdownGrace: Int = env("NEWSWIRE_SHUTDOWN_GRACE", as: Int.self) ?? 10

    @Option(
        name: .customLong("compression-threshold"),
        help: "Payloads at least this many bytes are zlib-compressed (env NEWSWIRE_COMPRESSION_THRESHOLD).")
    var compressionThreshold: Int = env("NEWSWIRE_COMPRESSION_THRESHOLD", as: Int.self) ?? ServerConfiguration.Limits().compressionThreshold

    @Option(
        name: .customLong("record-cache-mb"),
        help: "MiB of encoded records kept in memory for GET (env NEWSWIRE_RECORD_CACHE_MB).")
    var recordCacheMB: Int = env("NEWSWIRE_RECORD_CACHE_MB", as: Int.self) ?? 1024

    @Option(
        name: .customLong("compact-after-quiet"),
        help: "Seconds writes must be quiet before the index folds its segments; 0: never (env NEWSWIRE_COMPACT_AFTER_QUIET).")
    var compactAfterQuiet: Int = env("NEWSWIRE_COMPACT_AFTER_QUIET", as: Int.self) ?? 1

    @Option(
        name: .customLong("write-cores"),
        help: """
            Cores a batch of writes is prepared on (index segment, near-duplicate features): all or one; default \
            all on a single node, one on a cluster node (env NEWSWIRE_WRITE_CORES).
            """)
    var writeCores: WriteCores?

    @Option(
        name: .customLong("merge-priority"),
        help: """
            Scheduling priority of index merges: low (nice +10 on Linux) or normal; default low on a cluster node, \
            normal on a single node (env NEWSWIRE_MERGE_PRIORITY).
            """)
    var mergePriority: MergePriority?

    @Option(
        name: .customLong("event-loops"),
        help: "Network threads; 0 means one per core the process may run on (env NEWSWIRE_EVENT_LOOPS).")
    var eventLoops: Int = env("NEWSWIRE_EVENT_LOOPS", as: Int.self) ?? 0

    @Option(
        help: "Serve Prometheus metrics on http://ADDR:PORT/metrics (off by default; env NEWSWIRE_METRICS).")
    var metrics: String?

    @Option(name: .customLong("log-level"), help: "trace (every answered request), debug, info, notice, warning, error, critical (env NEWSWIRE_LOG_LEVEL).")
    var logLevel: String = env("NEWSWIRE_LOG_LEVEL") ?? "info"

    func validate() throws {
        // A setting from the environment that does not parse is a usage error naming it, as a bad flag is, not a
        // default taken in silence.
        // The options without a default (their default depends on the store) read the environment when used:
        // read here, so that a value that does not parse is recorded for the check below.
        _ = (writeCoresSetting, mergePrioritySetting)
        if let (name, setting) = unparsedEnvironmentSettings.withLock({ $0 }).min(by: { $0.key < $1.key }) {
            throw ValidationError("\(name)=\(setting.value) is not \(setting.expected)")
        }
        guard (0...65535).contains(port) else { throw ValidationError("--port \(port) is not a TCP port (0...65535)") }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level \(logLevel): use trace, debug, info, notice, warning, error or critical")
        }
        for (name, value) in [
            ("--max-connections", maxConnections), ("--max-in-flight", maxInFlight), ("--idle-timeout", idleTimeout),
            ("--handshake-timeout", handshakeTimeout), ("--max-auth-failures", maxAuthFailures),
            ("--max-watches", maxWatches),
        ] where value <= 0 {
            throw ValidationError("\(name) must be positive, got \(value)")
        }
        // Without a write token writes are open to whoever may connect, and with a read token that is whoever
        // holds it: a read token alone would let every reader write (SECURITY.md: a reader must not).
        if (readTokenFile ?? env("NEWSWIRE_READ_TOKEN_FILE")) != nil, (tokenFile ?? env("NEWSWIRE_TOKEN_FILE")) == nil {
            throw ValidationError(
                "--read-token-file needs --token-file: without a write token, every client holding the read token "
                    + "could write; give writes a token of their own (the same file lets readers write)")
        }
        switch (certificatePath, keyPath) {
        case (.some, .none): throw ValidationError("--tls-cert needs --tls-key (the certificate's private key)")
        case (.none, .some): throw ValidationError("--tls-key needs --tls-cert (the certificate chain)")
        default: break
        }
        guard recordCacheMB >= 0 else { throw ValidationError("--record-cache-mb must be 0 (no cache) or more") }
        guard eventLoops >= 0 else { throw ValidationError("--event-loops must be 0 (one per core) or more") }
        guard compactAfterQuiet >= 0 else { throw ValidationError("--compact-after-quiet must be 0 (never) or more") }
        guard maxFrameBytes >= 64 << 10 else { throw ValidationError("--max-frame-bytes must be at least 65536") }
        if let metrics = metricsOption, Self.metricsAddress(metrics) == nil {
            throw ValidationError("--metrics \(metrics) is not ADDR:PORT (for example 127.0.0.1:9411)")
        }
    }

    /// `ADDR:PORT` (or `[v6]:PORT`) of `--metrics`.
    static func metricsAddress(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else { return nil }
        let host = String(text[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return host.isEmpty ? nil : (host, port)
    }

    // Options without a default, so that the flag, else the environment, decides (ArgumentParser deprecates an
    // optional option whose default comes from the environment). The store, and settings whose default depends on it:
    private var storeSetting: String? { store ?? env("NEWSWIRE_STORE") }
    private var writeCoresSetting: WriteCores? {
        writeCores ?? env("NEWSWIRE_WRITE_CORES", expecting: "all or one", WriteCores.init(argument:))
    }
    private var mergePrioritySetting: MergePriority? {
        mergePriority ?? env("NEWSWIRE_MERGE_PRIORITY", expecting: "low or normal", MergePriority.init(argument:))
    }
    // The TLS files and the metrics address:
    private var certificatePath: String? { tlsCertificate ?? env("NEWSWIRE_TLS_CERT") }
    private var keyPath: String? { tlsKey ?? env("NEWSWIRE_TLS_KEY") }
    private var metricsOption: String? { metrics ?? env("NEWSWIRE_METRICS") }

    func run() async throws {
        do {
            try await serve()
        } catch let error as StartupError {
            // Runtime failures are one line in the user's terms, without the usage text (that is for bad options).
            FileHandle.standardError.write(Data("newswired: \(error.message)\n".utf8))
            throw ExitCode.failure
        }
    }

    private func serve() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "newswired")
        let servedConnections = try OpenFileLimit.raiseAndReport(forConnections: maxConnections, logger: logger)

        // Before any work (opening the store, ingesting seeds): a port someone else holds is the commonest
        // start-up mistake, and it should not cost a seed ingest into a fresh data directory first.
        try PortCheck.ensureFree(host: host, port: port, what: nil)
        let metricsAddress = metricsOption.flatMap(Self.metricsAddress)
        if let metricsAddress {
            try PortCheck.ensureFree(host: metricsAddress.host, port: metricsAddress.port, what: "--metrics")
        }

        var configuration = ServerConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.dataDirectory = dataDirectory
        configuration.seedsDirectory = noSeeds ? nil : seeds
        do {
            configuration.writeToken = try (tokenFile ?? env("NEWSWIRE_TOKEN_FILE")).map {
                try Self.readToken(from: $0, option: "--token-file")
            }
            configuration.readToken = try (readTokenFile ?? env("NEWSWIRE_READ_TOKEN_FILE")).map {
                try Self.readToken(from: $0, option: "--read-token-file")
            }
        } catch let error as ValidationError {
            throw StartupError(message: error.message)
        }
        if let certificatePath, let keyPath {
            // A missing file or a key of another certificate is a failed start (exit 1, as an unreadable token
            // file is), found before the store is opened or the seeds ingested.
            for (name, path) in [("--tls-cert", certificatePath), ("--tls-key", keyPath)]
            where !FileManager.default.isReadableFile(atPath: path) {
                throw StartupError(message: "\(name) \(path): no readable file there")
            }
            let tls = ServerConfiguration.TLS(certificateChainPath: certificatePath, privateKeyPath: keyPath)
            do {
                try NewswireServer.checkTLS(tls)
            } catch let error as ServerError {
                throw StartupError(message: error.message)
            }
            configuration.tls = tls
        }
        configuration.limits.maxConnections = servedConnections
        configuration.limits.maxFrameBytes = maxFrameBytes
        configuration.limits.maxDecompressedBytes = maxDecompressedBytes
        configuration.limits.maxInFlightPerConnection = maxInFlight
        configuration.limits.maxWatches = maxWatches
        configuration.limits.maxAuthFailuresPerConnection = maxAuthFailures
        configuration.limits.idleTimeout = .seconds(idleTimeout)
        configuration.limits.handshakeTimeout = .seconds(handshakeTimeout)
        configuration.limits.shutdownGracePeriod = .seconds(shutdownGrace)
        configuration.limits.compressionThreshold = compressionThreshold
        configuration.limits.recordCacheBytes = recordCacheMB << 20

        // The registry becomes swift-metrics' backend before the server creates its counters and timers.
        let registry = metricsAddress.map { _ in PrometheusCollectorRegistry() }
        if let registry { MetricsEndpoint.bootstrapMetrics(registry: registry) }

        // A malformed --store value is a usage error; failing to open a well-formed store is a runtime one.
        let storeOption = try StoreOption(parsing: storeSetting)
        let engine: NewswireEngine
        do {
            engine = try storeOption.openEngine(
                dataDirectory: dataDirectory,
                configuration: NewswireEngine.Configuration(
                    compactionQuietPeriod: compactAfterQuiet > 0 ? .seconds(compactAfterQuiet) : nil,
                    preparesWritesOnEveryCore: writeCoresSetting.map { $0 == .all },
                    mergesAtLowPriority: mergePrioritySetting.map { $0 == .low }),
                logger: logger)
        } catch let error as ValidationError {
            throw StartupError(message: error.message)
        } catch {
            throw StartupError(message: "\(error)")
        }
        logger.notice("engine ready", metadata: ["newswire_index": "\(engine.startup)"])
        let extractor = ArticleExtractor()
        if let seeds = configuration.seedsDirectory, try engine.stats().articleCount == 0 {
            if FileManager.default.fileExists(atPath: seeds) {
                let summary = try SeedLoader.load(directory: seeds, into: engine, extractor: extractor, logger: logger)
                logger.notice(
                    "ingested seed pages",
                    metadata: ["newswire_ingested": "\(summary.ingested)", "newswire_failed": "\(summary.failed)"])
            } else {
                logger.warning("no seeds directory at \(seeds); starting empty (use --seeds DIR or --no-seeds)")
            }
        }

        let eventLoopGroup: any EventLoopGroup =
            MultiThreadedEventLoopGroup(numberOfThreads: eventLoops > 0 ? eventLoops : NetworkThreads.defaultCount)
        let server = NewswireServer(
            configuration: configuration, engine: engine, extractor: extractor, eventLoopGroup: eventLoopGroup,
            logger: logger)
        var endpoint: MetricsEndpoint?
        if let registry, let metricsAddress {
            let gauges = ServerGauges(registry: registry, server: server, engine: engine, dataDirectory: dataDirectory)
            do {
                endpoint = try await MetricsEndpoint.start(
                    host: metricsAddress.host, port: metricsAddress.port, registry: registry, group: eventLoopGroup,
                    refresh: { gauges.refresh() },
                    configureListener: { try $0.pipeline.syncOperations.addHandler(AcceptErrorHandler(logger: logger)) })
            } catch {
                try? engine.close()
                throw StartupError(message: PortCheck.describe(error, host: metricsAddress.host, port: metricsAddress.port, what: "--metrics"))
            }
            logger.notice("metrics on http://\(metricsAddress.host):\(endpoint?.port ?? metricsAddress.port)/metrics")
        }
        // The engine first: started before the server and, on SIGTERM/SIGINT, stopped after it (the server drains,
        // then the engine saves its snapshot and closes).
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: engine), .init(service: server)], gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        do {
            try await group.run()
        } catch let error as EngineError where error.code == .snapshotNotSaved {
            // A graceful stop all the same: every write is in the store (README "Durability").
            await endpoint?.stop()
            logger.warning("stopped; \(error.message)")
            return
        } catch {
            await endpoint?.stop()
            throw StartupError(message: PortCheck.describe(error, host: host, port: port, what: nil))
        }
        await endpoint?.stop()
        // The engine's service ended by closing it: the final index snapshot is on disk (a restart loads it).
        logger.notice("stopped; index snapshot saved", metadata: ["newswire_data_dir": "\(dataDirectory)"])
    }

    static func readToken(from path: String, option: String) throws -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ValidationError("\(option) \(path): cannot read the file")
        }
        let token = text.split(whereSeparator: \.isNewline).first.map(String.init)?
            .trimmingCharacters(in: .whitespaces) ?? ""
        guard !token.isEmpty else { throw ValidationError("\(option) \(path): the file has no token on its first line") }
        return token
    }
}

/// A failure after the options were accepted: printed as one line, exit status 1.
struct StartupError: Error {
    var message: String
}

private func env(_ name: String) -> String? {
    ProcessInfo.processInfo.environment[name].flatMap { $0.isEmpty ? nil : $0 }
}

/// Typed environment settings that were set but did not parse, by name, with what each must be: recorded when
/// read (by an option's default, or by the setting of an option without one), so that `validate()` rejects a bad
/// value by name (as it does a bad flag) instead of the default being taken in silence.
private let unparsedEnvironmentSettings = Mutex<[String: (value: String, expected: String)]>([:])

/// The environment setting `name` parsed by `parse`; nil when it is unset, and also when it does not parse, which
/// is then recorded for `validate()`. Every typed setting is read through here, so none can skip the check.
private func env<Value>(_ name: String, expecting expected: String, _ parse: (String) -> Value?) -> Value? {
    guard let text = env(name) else { return nil }
    if let value = parse(text) { return value }
    unparsedEnvironmentSettings.withLock { $0[name] = (text, expected) }
    return nil
}

private func env(_ name: String, as: Int.Type) -> Int? {
    env(name, expecting: "a whole number") { Int($0) }
}

/// `--write-cores`: the cores a batch of writes is prepared on.
enum WriteCores: String, ExpressibleByArgument {
    case all, one
}

/// `--merge-priority`: the scheduling priority index merges are built at.
enum MergePriority: String, ExpressibleByArgument {
    case low, normal
}
