import NIOCore
import NIOPosix
import NewswireClient
import NewswireModel
import NewswireProtocol
import Synchronization

/// A progress sample, taken about once a second while a run is going.
public struct LoadProgress: Sendable {
    /// Seconds since the run started (warmup included).
    public var elapsed: Double
    /// True while the warmup lasts.
    public var warmingUp: Bool
    /// Measured requests answered so far.
    public var completed: Int
    /// Failed requests so far.
    public var errors: Int
    /// Answers per second over the last interval.
    public var recentRate: Double
    /// Expected total run seconds (warmup included), nil for `--requests` runs.
    public var plannedSeconds: Double?
}

/// Runs one load test: fetches ids, connects, drives every connection from its event loop, and merges the
/// per-connection recorders into a ``LoadResult``.
public enum LoadGenerator {
    /// Fetches up to `limit` article ids from the server with SCAN (ids only, in id order).
    public static func fetchIDs(_ configuration: LoadConfiguration) async throws -> [ArticleID] {
        let client = NewswireClient(
            configuration: .init(
                endpoints: configuration.nodes.map { NewswireClient.Endpoint(host: $0.host, port: $0.port) },
                token: configuration.token,
                compression: configuration.compression, connectTimeout: configuration.connectTimeout,
                clientName: "newswire-bench/0.1"))
        do {
            var ids: [ArticleID] = []
            for try await id in client.scanIDs(order: .byID, batchSize: min(5000, configuration.maxIDs)) {
                ids.append(id)
                if ids.count >= configuration.maxIDs { break }
            }
            await client.shutdown()
            return ids
        } catch {
            await client.shutdown()
            throw error
        }
    }

    /// Runs the load test described by `configuration`; `progress` is called about once a second.
    ///
    /// Ends by itself: after the warmup and the duration (or the `--requests` quota, capped by
    /// ``LoadConfiguration/timeLimit``) plus at most ``LoadConfiguration/drainTimeout``.
    /// `histograms`, when given, receives the merged latency histograms (for `--histogram` and `--plot`).
    /// `stop`, once requested, ends the run early: no more requests are sent, those in flight are awaited, and the
    /// result covers what was measured up to then.
    public static func run(
        _ configuration: LoadConfiguration, progress: (@Sendable (LoadProgress) -> Void)? = nil,
        histograms: (@Sendable (LoadHistograms) -> Void)? = nil, stop: LoadStop? = nil
    ) async throws -> LoadResult {
        try configuration.validate()
        var ids: [ArticleID] = []
        if configuration.respKeys == nil, configuration.mix.contains(.get) || configuration.mix.contains(.related) {
            ids = try await fetchIDs(configuration)
            guard !ids.isEmpty else {
                throw LoadConfigurationError(
                    "the server at \(configuration.nodes[0]) stores no articles, so there is "
                        + "nothing to GET; ingest some first (newswire ingest) or use --mix ping=1 / search=1",
                    serverRefused: true)
            }
        }
        let workload = EncodedWorkload(ids: ids, queries: configuration.queries, configuration: configuration)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: configuration.threads)
        do {
            let result = try await run(
                configuration, workload: workload, idCount: configuration.respKeys ?? ids.count, group: group, progress: progress,
                histograms: histograms, stop: stop)
            try await group.shutdownGracefully()
            return result
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    private struct Connected: Sendable {
        var channel: any Channel
        var eventLoop: any EventLoop
        var handler: NIOLoopBound<LoadConnectionHandler>
        var finished: EventLoopFuture<Void>
    }

    private static func connect(
        index: Int, configuration: LoadConfiguration, workload: EncodedWorkload, group: MultiThreadedEventLoopGroup
    ) async throws -> Connected {
        let eventLoop = group.next()
        let handshake = eventLoop.makePromise(of: Void.self)
        let finished = eventLoop.makePromise(of: Void.self)
        let hello = HelloMessage(
            clientName: "newswire-bench/0.1", compressions: configuration.compression ? [.zlib] : [],
            token: configuration.token)
        let openLoop = configuration.rate != nil
        let pipeline = configuration.pipeline
        let handlerBox = try await eventLoop.submit {
            NIOLoopBound(
                LoadConnectionHandler(
                    workload: workload, hello: hello, pipeline: pipeline, openLoop: openLoop,
                    handshakePromise: handshake, finishedPromise: finished), eventLoop: eventLoop)
        }.get()
        let node = configuration.nodes[index % configuration.nodes.count]
        let channel = try await connectLoadChannel(
            handlerBox, host: node.host, port: node.port, eventLoop: eventLoop,
            timeoutMillis: Int64(configuration.connectTimeout.components.seconds * 1000), handshake: handshake,
            connectFailed: { failure in
                handshake.fail(failure)
                finished.succeed()
            })
        return Connected(channel: channel, eventLoop: eventLoop, handler: handlerBox, finished: finished.futureResult)
    }

    private static func run(
        _ configuration: LoadConfiguration, workload: EncodedWorkload, idCount: Int,
        group: MultiThreadedEventLoopGroup, progress: (@Sendable (LoadProgress) -> Void)?,
        histograms: (@Sendable (LoadHistograms) -> Void)?, stop: LoadStop?
    ) async throws -> LoadResult {
        // Connect in waves so a large --connections does not flood the listen backlog.
        var connected: [Connected] = []
        do {
            var index = 0
            while index < configuration.connections {
                let wave = min(64, configuration.connections - index)
                try await withThrowingTaskGroup(of: Connected.self) { tasks in
                    for offset in 0..<wave {
                        let connectionIndex = index + offset
                        tasks.addTask {
                            try await connect(
                                index: connectionIndex, configuration: configuration, workload: workload, group: group)
                        }
                    }
                    for try await connection in tasks { connected.append(connection) }
                }
                index += wave
            }
        } catch {
            for connection in connected { connection.channel.close(promise: nil) }
            throw error
        }

        let first = connected[0]
        let firstHandler = first.handler
        let pipeline = try await first.eventLoop.submit { firstHandler.value.effectivePipeline }.get()
        let startAt = monotonicNanos() + 20_000_000
        let warmupNanos = UInt64(configuration.warmup.nanoseconds)
        let measureFrom = startAt + warmupNanos
        let byRequests = configuration.rate == nil && configuration.requests != nil
        let sendUntil =
            byRequests
            ? startAt + UInt64(configuration.timeLimit.nanoseconds)
            : measureFrom + UInt64(configuration.duration.nanoseconds)
        let hardDeadline = sendUntil + UInt64(configuration.drainTimeout.nanoseconds)
        let count = connected.count
        for (index, connection) in connected.enumerated() {
            let mode: ConnectionPlan.Mode
            if let rate = configuration.rate {
                mode = .open(OpenLoopSchedule(start: startAt, rate: rate, connections: count, index: index))
            } else {
                mode = .closed
            }
            var quota: Int?
            if byRequests, let requests = configuration.requests {
                quota = requests / count + (index < requests % count ? 1 : 0)
            }
            let plan = ConnectionPlan(
                mode: mode, startAt: startAt, measureFrom: measureFrom, sendUntil: sendUntil, quota: quota,
                hardDeadline: hardDeadline, seed: configuration.seed &+ UInt64(index) &* 0x9E37_79B9)
            let handler = connection.handler
            connection.eventLoop.execute { handler.value.start(plan) }
        }

        // Sample CPU at the start of the measured window.
        try await sleep(until: measureFrom)
        let clientCPUStart = ProcessCPU.ownSeconds()
        let serverCPUWindow = ProcessCPU.Window(pids: configuration.serverPIDs)

        let allFinished = EventLoopFuture.andAllComplete(connected.map(\.finished), on: group.next())
        let plannedSeconds: Double? = byRequests ? nil : Double(sendUntil - startAt) / 1e9
        var lastCompleted = 0
        var lastSample = monotonicNanos()
        // Progress sampling; the connections end by themselves (duration, quota or hard deadline), or when stopped.
        var stopped = false
        while !(try await isDone(allFinished, within: .milliseconds(stop == nil ? 1000 : 200))) {
            if !stopped, stop?.isRequested == true {
                stopped = true
                let now = monotonicNanos()
                for connection in connected {
                    let handler = connection.handler
                    connection.eventLoop.execute { handler.value.stopSending(now: now) }
                }
            }
            guard let progress, monotonicNanos() - lastSample >= 900_000_000 else { continue }
            let (completed, errors) = try await totals(connected)
            let now = monotonicNanos()
            let rate = Double(completed - lastCompleted) / (Double(now - lastSample) / 1e9)
            lastCompleted = completed
            lastSample = now
            progress(
                LoadProgress(
                    elapsed: Double(now - min(now, startAt)) / 1e9, warmingUp: now < measureFrom, completed: completed,
                    errors: errors, recentRate: max(0, rate), plannedSeconds: plannedSeconds))
        }
        let clientCPU = ProcessCPU.ownSeconds() - clientCPUStart
        let serverCPU = serverCPUWindow.seconds()

        var merged = LatencyRecorder(serviceTime: configuration.rate != nil)
        var failures: [String] = []
        for connection in connected {
            let handler = connection.handler
            let (recorder, failure) = try await connection.eventLoop.submit {
                (handler.value.finalRecorder(), handler.value.failure)
            }.get()
            merged.merge(recorder)
            if let failure { failures.append(failure) }
        }
        for connection in connected { connection.channel.close(promise: nil) }

        let requests = merged.completedCount
        let answered = requests + merged.answeredErrors
        histograms?(LoadHistograms(latency: merged.combinedLatency(), serviceTime: merged.serviceTime))
        let measuredSeconds =
            merged.lastCompletion > measureFrom ? Double(merged.lastCompletion - measureFrom) / 1e9 : 0
        var operations: [String: LatencySummary] = [:]
        for (operation, histogram) in merged.latency { operations[operation.rawValue] = LatencySummary(histogram) }
        let failureCounts = Dictionary(failures.map { ($0, 1) }, uniquingKeysWith: +)
        return LoadResult(
            mode: configuration.rate == nil ? "closed" : "open",
            target: configuration.nodes.map(\.description).joined(separator: ","), connections: count, pipeline: pipeline,
            targetRate: configuration.rate, mix: configuration.mix.description,
            keys: configuration.keys.description, idCount: idCount,
            compression: configuration.compression && configuration.respKeys == nil,
            warmupSeconds: Double(warmupNanos) / 1e9, measuredSeconds: measuredSeconds, requests: requests,
            answered: answered, throughput: measuredSeconds > 0 ? Double(answered) / measuredSeconds : 0,
            latency: LatencySummary(merged.combinedLatency()), serviceTime: merged.serviceTime.map(LatencySummary.init),
            operations: operations, errors: merged.errors, bytesSent: merged.bytesSent,
            bytesReceived: merged.bytesReceived, bytesReceivedUncompressed: merged.bytesReceivedUncompressed,
            compressionRatio: merged.bytesReceived > 0
                ? Double(merged.bytesReceivedUncompressed) / Double(merged.bytesReceived) : 1,
            clientCPUSeconds: clientCPU,
            clientCPUMicrosPerRequest: answered > 0 ? clientCPU * 1e6 / Double(answered) : 0,
            serverCPUSeconds: serverCPU,
            serverCPUMicrosPerRequest: serverCPU.map { answered > 0 ? $0 * 1e6 / Double(answered) : 0 },
            connectionFailures: failureCounts.sorted { $0.key < $1.key }.map {
                $0.value > 1 ? "\($0.key) (×\($0.value))" : $0.key
            })
    }

    private static func totals(_ connected: [Connected]) async throws -> (Int, Int) {
        var completed = 0
        var errors = 0
        for connection in connected {
            let handler = connection.handler
            let (c, e) = try await connection.eventLoop.submit {
                (handler.value.completedCount, handler.value.errorCount)
            }.get()
            completed += c
            errors += e
        }
        return (completed, errors)
    }

    private static func isDone(_ future: EventLoopFuture<Void>, within timeout: Duration) async throws -> Bool {
        let eventLoop = future.eventLoop
        let promise = eventLoop.makePromise(of: Bool.self)
        future.whenComplete { _ in promise.succeed(true) }
        let timer = eventLoop.scheduleTask(in: .nanoseconds(timeout.nanoseconds)) { promise.succeed(false) }
        let done = try await promise.futureResult.get()
        timer.cancel()
        return done
    }

    private static func sleep(until instant: UInt64) async throws {
        let now = monotonicNanos()
        if instant > now { try await Task.sleep(for: .nanoseconds(Int64(instant - now))) }
    }
}

/// Asks a running ``LoadGenerator/run(_:progress:histograms:stop:)`` to end early (Ctrl-C in `newswire bench`).
public final class LoadStop: Sendable {
    private let requested = Atomic<Bool>(false)

    public init() {}

    /// Whether ``request()`` was called.
    public var isRequested: Bool { requested.load(ordering: .acquiring) }

    /// Ends the run: nothing more is sent, and the result covers what was measured so far.
    public func request() { requested.store(true, ordering: .releasing) }
}
