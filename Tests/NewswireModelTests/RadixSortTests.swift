import NewswireModel
import Testing

/// The radix sort the ingest uses for shingle hashes and term keys orders exactly as the standard library does.
@Suite struct RadixSortTests {
    @Test(arguments: [0, 1, 2, 47, 48, 49, 300, 5_000])
    func sortsLikeTheStandardLibrary(count: Int) {
        var rng = SplitMix64(seed: UInt64(count) + 1)
        // Random keys, keys sharing their high bytes (the skipped passes), and many repeats.
        let shapes: [[UInt64]] = [
            (0..<count).map { _ in rng.next() },
            (0..<count).map { _ in 1 << 42 | rng.next() & 0xFF_FFFF },
            (0..<count).map { _ in rng.next() % 7 },
        ]
        for keys in shapes {
            var sorted = keys
            RadixSort.sort(&sorted)
            #expect(sorted == keys.sorted())
            // A payload follows its key; equal keys keep their order (the payload is the original index).
            var carried = keys
            var payload = (0..<UInt32(count)).map { $0 }
            RadixSort.sort(&carried, carrying: &payload)
            let expected = keys.indices.sorted { (keys[$0], $0) < (keys[$1], $1) }
            #expect(carried == expected.map { keys[$0] })
            #expect(payload == expected.map { UInt32($0) })
        }
    }
}
