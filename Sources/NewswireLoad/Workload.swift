import NewswireModel
/// One kind of request the load generator sends.
public enum LoadOperation: String, Sendable, Hashable, CaseIterable, Codable, CustomStringConvertible {
    /// GET one article by id (answered from the server's record cache once warm).
    case get
    /// SEARCH with a query from the query file.
    case search
    /// RELATED articles of one id.
    case related
    /// PING (no engine work: measures the protocol and the connection loop alone).
    case ping

    public var description: String { rawValue }
}

/// Error thrown for a bench configuration that cannot run; the message says what to change.
public struct LoadConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong and how to fix it.
    public var message: String
    /// Whether a server answered and refused (an ERROR at the handshake, an empty store) rather than not being
    /// reached: the CLI's exit status tells the two apart (1 and 3).
    public var serverRefused: Bool
    /// Creates an error.
    public init(_ message: String, serverRefused: Bool = false) {
        self.message = message
        self.serverRefused = serverRefused
    }
    public var description: String { message }
}

/// The share of each operation in the request stream, e.g. `get=80,search=15,related=5`.
///
/// Weights are relative (they need not add up to 100). Picking is a lookup in a cumulative table, so the cost per
/// request does not depend on the number of operations.
public struct OperationMix: Sendable, Hashable, CustomStringConvertible {
    /// Operations with a positive weight, in the order given.
    public let weights: [(operation: LoadOperation, weight: Int)]
    private let cumulative: [Int]
    private let total: Int

    /// Creates a mix from explicit weights; throws when no weight is positive or a weight is negative.
    public init(_ weights: [(LoadOperation, Int)]) throws(LoadConfigurationError) {
        var seen = Set<LoadOperation>()
        var kept: [(operation: LoadOperation, weight: Int)] = []
        for (operation, weight) in weights {
            guard weight >= 0 else {
                throw LoadConfigurationError("--mix weight for \(operation) is \(weight); weights must be 0 or more")
            }
            guard seen.insert(operation).inserted else {
                throw LoadConfigurationError("--mix names \(operation) twice; give each operation once")
            }
            if weight > 0 { kept.append((operation, weight)) }
        }
        guard !kept.isEmpty else {
            throw LoadConfigurationError("--mix has no positive weight; e.g. --mix get=80,search=15,related=5")
        }
        self.weights = kept
        var running = 0
        cumulative = kept.map { running += $0.weight; return running }
        total = running
    }

    /// Parses `op=weight[,op=weight...]`, where op is one of get, search, related, ping.
    public init(parsing text: String) throws(LoadConfigurationError) {
        var pairs: [(LoadOperation, Int)] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let item = String(part.filter { !$0.isWhitespace })
            let pieces = item.split(separator: "=", omittingEmptySubsequences: false)
            let names = LoadOperation.allCases.map(\.rawValue).joined(separator: ", ")
            guard pieces.count == 2 else {
                throw LoadConfigurationError(
                    "--mix item '\(item)' is not op=weight (ops: \(names)); e.g. --mix get=80,search=15,related=5")
            }
            guard let operation = LoadOperation(rawValue: pieces[0].lowercased()) else {
                throw LoadConfigurationError("--mix names unknown operation '\(pieces[0])'; known: \(names)")
            }
            guard let weight = Int(pieces[1]) else {
                throw LoadConfigurationError("--mix weight '\(pieces[1])' for \(operation) is not a whole number")
            }
            pairs.append((operation, weight))
        }
        try self.init(pairs)
    }

    /// A mix of one operation.
    public static func only(_ operation: LoadOperation) -> OperationMix {
        try! OperationMix([(operation, 1)])
    }

    /// The operation for a uniform random number in `0..<UInt64.max`.
    @inline(__always)
    public func pick(_ random: UInt64) -> LoadOperation {
        if weights.count == 1 { return weights[0].operation }
        let point = Int(random % UInt64(total))
        var index = 0
        while cumulative[index] <= point { index += 1 }
        return weights[index].operation
    }

    /// The fraction of requests that are `operation`.
    public func share(of operation: LoadOperation) -> Double {
        Double(weights.first { $0.operation == operation }?.weight ?? 0) / Double(total)
    }

    /// Whether `operation` has a positive weight.
    public func contains(_ operation: LoadOperation) -> Bool { weights.contains { $0.operation == operation } }

    public var description: String { weights.map { "\($0.operation)=\($0.weight)" }.joined(separator: ",") }

    public static func == (lhs: OperationMix, rhs: OperationMix) -> Bool { lhs.description == rhs.description }
    public func hash(into hasher: inout Hasher) { hasher.combine(description) }
}

/// How article ids are chosen for GET and RELATED.
public enum KeyDistribution: Sendable, Hashable, CustomStringConvertible {
    /// Every id equally likely.
    case uniform
    /// Rank `k` (1-based) drawn with probability proportional to `1 / k^exponent`; ranks are mapped to ids through a
    /// fixed shuffle so hot ids are spread over the store, as popular articles are.
    case zipf(exponent: Double)

    /// Parses `uniform`, `zipf` (exponent 0.99, YCSB's default) or `zipf:S`.
    public init(parsing text: String) throws(LoadConfigurationError) {
        let lower = text.lowercased()
        if lower == "uniform" {
            self = .uniform
        } else if lower == "zipf" {
            self = .zipf(exponent: 0.99)
        } else if lower.hasPrefix("zipf:"), let s = Double(lower.dropFirst(5)), s > 0, s.isFinite {
            self = .zipf(exponent: s)
        } else {
            throw LoadConfigurationError(
                "--keys '\(text)' is not uniform, zipf or zipf:S with S > 0 (e.g. zipf:0.99)")
        }
    }

    public var description: String {
        switch self {
        case .uniform: "uniform"
        case .zipf(let exponent): "zipf:\(exponent)"
        }
    }
}

/// Draws indexes in `0..<count` from a ``KeyDistribution``.
///
/// Zipf uses the exact cumulative distribution (one `Double` per key) and a binary search, so the sampled
/// frequencies match `1/k^s` to floating-point precision for any exponent, including s ≤ 1 where rejection
/// samplers approximate.
public struct KeySampler: Sendable {
    /// Number of keys.
    public let count: Int
    /// The distribution.
    public let distribution: KeyDistribution
    /// For Zipf: cumulative probability of ranks 1...k at index k-1.
    private let cumulative: [Double]
    /// For Zipf: the key index of rank k at index k-1.
    private let rankToKey: [Int]

    /// Creates a sampler over `count` keys (count > 0); `seed` fixes the rank-to-key shuffle.
    public init(count: Int, distribution: KeyDistribution, seed: UInt64 = 0x5EED) {
        precondition(count > 0, "KeySampler needs at least one key")
        self.count = count
        self.distribution = distribution
        switch distribution {
        case .uniform:
            cumulative = []
            rankToKey = []
        case .zipf(let exponent):
            var sums = [Double](repeating: 0, count: count)
            var running = 0.0
            for rank in 1...count {
                running += 1 / pow(Double(rank), exponent)
                sums[rank - 1] = running
            }
            cumulative = sums.map { $0 / running }
            var generator = SplitMix64(seed: seed)
            var order = Array(0..<count)
            order.shuffle(using: &generator)
            rankToKey = order
        }
    }

    /// The 1-based rank for a uniform draw `unit` in [0, 1) (Zipf only; uniform returns the scaled index + 1).
    public func rank(forUnit unit: Double) -> Int {
        switch distribution {
        case .uniform:
            return min(count - 1, Int(unit * Double(count))) + 1
        case .zipf:
            var low = 0
            var high = count - 1
            while low < high {
                let middle = (low + high) / 2
                if cumulative[middle] > unit { high = middle } else { low = middle + 1 }
            }
            return low + 1
        }
    }

    /// The key index (into the id list) of a 1-based rank.
    public func key(forRank rank: Int) -> Int {
        switch distribution {
        case .uniform: rank - 1
        case .zipf: rankToKey[rank - 1]
        }
    }

    /// A key index.
    @inline(__always)
    package func sample(using generator: inout SplitMix64) -> Int {
        switch distribution {
        case .uniform: Int(generator.next() % UInt64(count))
        case .zipf: key(forRank: rank(forUnit: generator.nextUnit()))
        }
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
