import Histogram

/// Latency histograms and counters for one connection, recorded on its event loop without locks and merged
/// into the run's totals at the end (HdrHistogram merges are exact: same bucket layout, counts added).
///
/// Times are nanoseconds on one monotonic clock. Histograms keep 3 significant digits from 100 ns to one hour;
/// longer values are recorded as one hour (and counted in ``clampedValues``).
public struct LatencyRecorder: Sendable {
    /// Histogram type used throughout (32-bit counts: 4 billion samples per bucket per connection).
    public typealias LatencyHistogram = Histogram<UInt32>

    /// Lowest distinguishable value, in nanoseconds.
    public static let lowestNanos: UInt64 = 100
    /// Highest tracked value, in nanoseconds: one hour.
    public static let highestNanos: UInt64 = 3_600_000_000_000

    /// A fresh histogram with the recorder's layout.
    public static func makeHistogram() -> LatencyHistogram {
        LatencyHistogram(lowestDiscernibleValue: lowestNanos, highestTrackableValue: highestNanos,
            numberOfSignificantValueDigits: .three)
    }

    /// Latency per operation, from the scheduled send time (open loop) or the actual send time (closed loop).
    public private(set) var latency: [LoadOperation: LatencyHistogram] = [:]
    /// Service time (actual send to response) over all operations; recorded in open loop only, where it differs
    /// from ``latency``.
    public private(set) var serviceTime: LatencyHistogram?
    /// Responses counted, by operation.
    public private(set) var completed: [LoadOperation: Int] = [:]
    /// Failed requests by error name (a protocol ERROR code such as `NOT_FOUND`, or `NO_RESPONSE`, `CONNECTION`).
    public private(set) var errors: [String: Int] = [:]
    /// Request bytes written (headers included).
    public var bytesSent: Int = 0
    /// Response bytes read off the wire (headers included, compressed payloads at their compressed size).
    public var bytesReceived: Int = 0
    /// Response bytes as if nothing had been compressed.
    public var bytesReceivedUncompressed: Int = 0
    /// Values above ``highestNanos``, recorded as ``highestNanos``.
    public private(set) var clampedValues: Int = 0
    /// Earliest send time of a measured request (nanoseconds), `UInt64.max` when none.
    public private(set) var firstSend: UInt64 = .max
    /// Latest response time of a measured request (nanoseconds), 0 when none.
    public private(set) var lastCompletion: UInt64 = 0

    private let recordsServiceTime: Bool
    // Hot-path storage indexed by operation ordinal, so recording is an array index, not a dictionary lookup.
    private var histograms: [LatencyHistogram?] = Array(repeating: nil, count: LoadOperation.allCases.count)
    private var counts: [Int] = Array(repeating: 0, count: LoadOperation.allCases.count)

    /// Creates an empty recorder; `serviceTime` adds the service-time histogram (open loop).
    public init(serviceTime: Bool) {
        recordsServiceTime = serviceTime
        if serviceTime { self.serviceTime = Self.makeHistogram() }
    }

    /// Records one answered request: `latency` runs from `scheduled`, service time from `sent`, to `completed`.
    @inline(__always)
    public mutating func record(
        _ operation: LoadOperation, scheduled: UInt64, sent: UInt64, completed completion: UInt64
    ) {
        let ordinal = operation.ordinal
        if histograms[ordinal] == nil { histograms[ordinal] = Self.makeHistogram() }
        histograms[ordinal]!.record(clamp(completion &- min(scheduled, completion)))
        if recordsServiceTime { serviceTime!.record(clamp(completion &- min(sent, completion))) }
        counts[ordinal] += 1
        if sent < firstSend { firstSend = sent }
        if completion > lastCompletion { lastCompletion = completion }
    }

    /// Counts a failed request under `name`.
    public mutating func recordError(_ name: String, count: Int = 1) {
        errors[name, default: 0] += count
    }

    /// Requests the server answered with an error (NOT_FOUND, BAD_QUERY…): answers, unlike requests never sent
    /// or never answered, so they count in the throughput.
    public private(set) var answeredErrors: Int = 0

    /// Counts a request answered with an error under `name`.
    public mutating func recordAnsweredError(_ name: String, completed completion: UInt64) {
        errors[name, default: 0] += 1
        answeredErrors += 1
        if completion > lastCompletion { lastCompletion = completion }
    }

    private mutating func clamp(_ value: UInt64) -> UInt64 {
        if value > Self.highestNanos {
            clampedValues += 1
            return Self.highestNanos
        }
        return value
    }

    /// Moves the hot-path storage into the public dictionaries (call once recording is over).
    public mutating func seal() {
        for operation in LoadOperation.allCases {
            let ordinal = operation.ordinal
            if let histogram = histograms[ordinal] {
                if latency[operation] != nil {
                    latency[operation]!.add(histogram)
                } else {
                    latency[operation] = histogram
                }
                histograms[ordinal] = nil
            }
            if counts[ordinal] > 0 {
                completed[operation, default: 0] += counts[ordinal]
                counts[ordinal] = 0
            }
        }
    }

    /// Adds another (sealed or not) recorder's samples and counters to this one.
    public mutating func merge(_ other: LatencyRecorder) {
        var other = other
        other.seal()
        seal()
        for (operation, histogram) in other.latency {
            if latency[operation] != nil { latency[operation]!.add(histogram) } else { latency[operation] = histogram }
        }
        for (operation, count) in other.completed { completed[operation, default: 0] += count }
        if let theirs = other.serviceTime {
            if serviceTime != nil { serviceTime!.add(theirs) } else { serviceTime = theirs }
        }
        for (name, count) in other.errors { errors[name, default: 0] += count }
        answeredErrors += other.answeredErrors
        bytesSent += other.bytesSent
        bytesReceived += other.bytesReceived
        bytesReceivedUncompressed += other.bytesReceivedUncompressed
        clampedValues += other.clampedValues
        firstSend = min(firstSend, other.firstSend)
        lastCompletion = max(lastCompletion, other.lastCompletion)
    }

    /// Requests answered so far (sealed or not).
    public var completedCount: Int { counts.reduce(0, +) + completed.values.reduce(0, +) }

    /// Every operation's latency in one histogram.
    public func combinedLatency() -> LatencyHistogram {
        var all = Self.makeHistogram()
        for histogram in latency.values { all.add(histogram) }
        for case let histogram? in histograms { all.add(histogram) }
        return all
    }
}

extension LoadOperation {
    /// Dense index for arrays.
    @inline(__always)
    var ordinal: Int {
        switch self {
        case .get: 0
        case .search: 1
        case .related: 2
        case .ping: 3
        }
    }
}

/// Percentiles of one histogram, in microseconds.
public struct LatencySummary: Codable, Sendable, Hashable {
    /// Samples.
    public var count: Int
    /// Median.
    public var p50: Double
    /// 90th percentile.
    public var p90: Double
    /// 99th percentile.
    public var p99: Double
    /// 99.9th percentile.
    public var p999: Double
    /// Largest value (to the histogram's precision).
    public var max: Double
    /// Mean.
    public var mean: Double

    /// Summarises a nanosecond histogram.
    public init(_ histogram: LatencyRecorder.LatencyHistogram) {
        count = Int(histogram.totalCount)
        func micros(_ nanos: UInt64) -> Double { Double(nanos) / 1000 }
        if count == 0 {
            p50 = 0; p90 = 0; p99 = 0; p999 = 0; max = 0; mean = 0
            return
        }
        p50 = micros(histogram.valueAtPercentile(50))
        p90 = micros(histogram.valueAtPercentile(90))
        p99 = micros(histogram.valueAtPercentile(99))
        p999 = micros(histogram.valueAtPercentile(99.9))
        max = micros(histogram.max)
        mean = histogram.mean / 1000
    }
}
