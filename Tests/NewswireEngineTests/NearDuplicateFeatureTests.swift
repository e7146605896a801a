import NewswireModel
import Testing

@testable import NewswireEngine

/// The near-duplicate features are stored (index snapshots' near-duplicate tables, the derived bytes beside each
/// record on a cluster): the MinHash signature must stay what the row-by-row definition gives.
@Suite("Near-duplicate features")
struct NearDuplicateFeatureTests {
    /// The definition, row by row: per row, the least top 32 bits of a·x + b (mod 2^64) over the shingles.
    static func rowByRow(_ shingles: [UInt64]) -> [UInt32] {
        (0..<(TextFeatures.bands * TextFeatures.rowsPerBand)).map { row in
            let (a, b) = (TextFeatures.multipliers[row], TextFeatures.addends[row])
            return shingles.reduce(UInt32.max) { least, h in
                min(least, UInt32(truncatingIfNeeded: (a &* h &+ b) >> 32))
            }
        }
    }

    @Test("the vectorised MinHash signature equals the row-by-row definition")
    func signatureMatchesDefinition() {
        var generator = SplitMix64(seed: 2024)
        for size in [1, 2, 7, 8, 9, 63, 64, 65, 500, 3_000] {
            for _ in 0..<20 {
                let shingles = (0..<size).map { _ in generator.next() }
                #expect(TextFeatures.signature(of: shingles) == Self.rowByRow(shingles))
            }
        }
        // Values at the edges of the arithmetic: zero, all ones, and near the wrap of a·x + b.
        let edges: [UInt64] = [0, 1, .max, .max - 1, 1 << 63, (1 << 32) - 1, 1 << 32]
        #expect(TextFeatures.signature(of: edges) == Self.rowByRow(edges))
    }

    @Test("an article's band keys come from that signature")
    func bandKeysFromSignature() {
        let body = String(repeating: "新疆党政代表团赴四川省学习考察，深化能源合作，巩固和推进疆电入川等工作。", count: 3)
        let features = TextFeatures(body: body)
        let minima = Self.rowByRow(features.shingles)
        let keys = (0..<TextFeatures.bands).map { band -> UInt32 in
            var h = UInt64(band) &* 0xD6E8_FEB8_6659_FD93
            for row in 0..<TextFeatures.rowsPerBand {
                h = mix64(h ^ UInt64(minima[band * TextFeatures.rowsPerBand + row]))
            }
            return UInt32(truncatingIfNeeded: h >> 32)
        }
        #expect(features.bandKeys == keys)
    }
}
