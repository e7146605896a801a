import NewswireModel
import Testing

@testable import NewswireLoad

@Suite("Operation mix")
struct OperationMixTests {
    @Test("parses weights in order and picks each operation in proportion")
    func parsesAndPicks() throws {
        let mix = try OperationMix(parsing: "get=80, search=15,related=5")
        #expect(mix.description == "get=80,search=15,related=5")
        #expect(mix.share(of: .get) == 0.8)
        #expect(mix.share(of: .ping) == 0)
        // pick() maps random % total onto the cumulative table, so 0..<100 hits each operation exactly its weight.
        var counts: [LoadOperation: Int] = [:]
        for random in 0..<UInt64(100) { counts[mix.pick(random), default: 0] += 1 }
        #expect(counts == [.get: 80, .search: 15, .related: 5])
        #expect(mix.pick(79) == .get)
        #expect(mix.pick(80) == .search)
        #expect(mix.pick(95) == .related)
    }

    @Test("zero weights are dropped; a single operation always wins")
    func zeroWeights() throws {
        let mix = try OperationMix(parsing: "get=0,ping=3")
        #expect(mix.description == "ping=3")
        #expect(!mix.contains(.get))
        #expect((0..<UInt64(10)).allSatisfy { mix.pick($0) == .ping })
    }

    @Test(
        "bad mixes say what is wrong",
        arguments: [
            ("get", "--mix item 'get' is not op=weight (ops: get, search, related, ping); e.g. --mix get=80,search=15,related=5"),
            ("fetch=1", "--mix names unknown operation 'fetch'; known: get, search, related, ping"),
            ("get=x", "--mix weight 'x' for get is not a whole number"),
            ("get=-1", "--mix weight for get is -1; weights must be 0 or more"),
            ("get=1,get=2", "--mix names get twice; give each operation once"),
            ("get=0", "--mix has no positive weight; e.g. --mix get=80,search=15,related=5"),
            ("", "--mix item '' is not op=weight (ops: get, search, related, ping); e.g. --mix get=80,search=15,related=5"),
        ])
    func badMixes(text: String, message: String) {
        #expect(throws: LoadConfigurationError(message)) { try OperationMix(parsing: text) }
    }

    @Test("key distributions parse, and bad ones are refused")
    func keyDistributions() throws {
        #expect(try KeyDistribution(parsing: "uniform") == .uniform)
        #expect(try KeyDistribution(parsing: "zipf") == .zipf(exponent: 0.99))
        #expect(try KeyDistribution(parsing: "ZIPF:1.2") == .zipf(exponent: 1.2))
        for bad in ["zipf:0", "zipf:-1", "zipf:x", "pareto"] {
            #expect(throws: LoadConfigurationError(
                "--keys '\(bad)' is not uniform, zipf or zipf:S with S > 0 (e.g. zipf:0.99)")) {
                try KeyDistribution(parsing: bad)
            }
        }
    }

    @Test("configuration validation names the flag to fix")
    func validation() {
        var configuration = LoadConfiguration()
        configuration.mix = try! OperationMix(parsing: "search=1")
        #expect(throws: LoadConfigurationError(
            "the mix includes search but no queries were given; pass --queries FILE (one query per line)")) {
            try configuration.validate()
        }
        configuration = LoadConfiguration()
        configuration.requests = 10
        configuration.rate = 100
        #expect(throws: LoadConfigurationError(
            "--requests is for closed loop; with --rate the run length is --duration")) {
            try configuration.validate()
        }
        configuration = LoadConfiguration()
        configuration.connections = 0
        #expect(throws: LoadConfigurationError("--connections 0 is outside 1...10000")) {
            try configuration.validate()
        }
    }
}

@Suite("Zipf sampler")
struct ZipfSamplerTests {
    /// Generalised harmonic number H(n, s).
    func harmonic(_ n: Int, _ s: Double) -> Double { (1...n).reduce(0) { $0 + 1 / pow(Double($1), s) } }

    @Test("rank boundaries follow the exact cumulative distribution")
    func rankBoundaries() {
        let sampler = KeySampler(count: 4, distribution: .zipf(exponent: 1))
        // P(rank) = (1/k) / H(4) with H(4) = 25/12: 12/25, 6/25, 4/25, 3/25; cumulative .48, .72, .88, 1.
        #expect(sampler.rank(forUnit: 0) == 1)
        #expect(sampler.rank(forUnit: 0.479) == 1)
        #expect(sampler.rank(forUnit: 0.481) == 2)
        #expect(sampler.rank(forUnit: 0.719) == 2)
        #expect(sampler.rank(forUnit: 0.721) == 3)
        #expect(sampler.rank(forUnit: 0.879) == 3)
        #expect(sampler.rank(forUnit: 0.881) == 4)
        #expect(sampler.rank(forUnit: 0.999_999) == 4)
    }

    @Test("sampled frequencies match 1/k^s, and ranks map onto every key once", arguments: [0.99, 1.2])
    func frequencies(exponent: Double) {
        let count = 1000
        let sampler = KeySampler(count: count, distribution: .zipf(exponent: exponent))
        #expect(Set((1...count).map { sampler.key(forRank: $0) }) == Set(0..<count))
        var generator = SplitMix64(seed: 7)
        var hits = [Int](repeating: 0, count: count)
        let samples = 400_000
        for _ in 0..<samples { hits[sampler.sample(using: &generator)] += 1 }
        let normaliser = harmonic(count, exponent)
        for rank in [1, 2, 3, 10, 100] {
            let expected = Double(samples) / pow(Double(rank), exponent) / normaliser
            let observed = Double(hits[sampler.key(forRank: rank)])
            // Five standard deviations of a binomial count: a seeded run, so this is a fixed check, not a flaky one.
            let tolerance = 5 * (expected * (1 - expected / Double(samples))).squareRoot()
            #expect(abs(observed - expected) <= tolerance, "rank \(rank): \(observed) vs \(expected)")
        }
        // The top 10% of ranks take the share the distribution gives them.
        let top = (1...count / 10).reduce(0) { $0 + hits[sampler.key(forRank: $1)] }
        let expectedTop = harmonic(count / 10, exponent) / normaliser
        #expect(abs(Double(top) / Double(samples) - expectedTop) < 0.005)
    }

    @Test("uniform sampling covers every key evenly")
    func uniform() {
        let sampler = KeySampler(count: 10, distribution: .uniform)
        var generator = SplitMix64(seed: 3)
        var hits = [Int](repeating: 0, count: 10)
        for _ in 0..<100_000 { hits[sampler.sample(using: &generator)] += 1 }
        #expect(hits.allSatisfy { abs($0 - 10_000) < 500 })
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
