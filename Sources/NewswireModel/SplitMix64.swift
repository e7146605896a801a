/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, fast, seedable generator. Equal seeds give equal sequences, so
/// load runs, crash runs and randomised tests repeat exactly. `package`: the package's own tools and tests use it;
/// it is not part of the model's public API.
package struct SplitMix64: RandomNumberGenerator, Sendable {
    @usableFromInline package var state: UInt64

    /// Creates a generator; equal seeds give equal sequences.
    package init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    @inlinable
    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform double in [0, 1).
    @inlinable
    package mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// `next() % bound` (bound > 0): what the crash and store tests draw with, kept so their sequences stay put.
    @inlinable
    package mutating func next(below bound: Int) -> Int { Int(next() % UInt64(bound)) }
}
