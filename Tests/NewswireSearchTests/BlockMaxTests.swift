import NewswireModel
import Testing

@testable import NewswireSearch

/// Block-max pruning skips a block whose stored best score cannot reach the top k: the stored score must bound the
/// score of every entry of its block (or a result would be lost), and should be close to the best (or little is
/// skipped).
@Suite struct BlockMaxTests {
    @Test("each block's stored best score bounds every entry's score in it, within three float steps of the best")
    func blockMaximaBoundTheirEntries() {
        var rng = SplitMix64(seed: 11)
        let documents = 5_000
        // Lengths from one word to long articles, titles short: length normalisations over a wide range.
        let titleLengths = (0..<documents).map { _ in UInt32.random(in: 0...40, using: &rng) }
        let bodyLengths = (0..<documents).map { _ in UInt32.random(in: 1...6_000, using: &rng) }
        let average = Segment.averageLength(titleLengths: titleLengths, bodyLengths: bodyLengths)
        for round in 0..<20 {
            var writer = PostingsWriter(titleLengths: titleLengths, bodyLengths: bodyLengths)
            // A list long enough for a block table, with ties: the same (tf, length) in several entries.
            var docs = Array(Set((0..<(300 + 200 * round)).map { _ in Int32.random(in: 0..<Int32(documents), using: &rng) }))
            docs.sort()
            var entries: [(doc: Int32, title: Int32, body: Int32)] = []
            writer.beginTerm()
            for doc in docs {
                let title = Int32.random(in: 0...3, using: &rng)
                let body = Int32.random(in: title == 0 ? 1...30 : 0...30, using: &rng)
                entries.append((doc, title, body))
                writer.add(doc: doc, titleTF: title, bodyTF: body, positions: Optional<UnsafeBufferPointer<UInt8>>.none)
            }
            writer.endTerm()
            let postings = writer.postings.array + [0]
            postings.withUnsafeBufferPointer { bytes in
                let cursor = PostingCursor(
                    base: bytes.baseAddress!, start: 0, end: UInt32(postings.count - 1), positional: false)
                #expect(cursor.blockCount == (entries.count + Segment.skipInterval - 1) / Segment.skipInterval)
                for block in 0..<cursor.blockCount {
                    let range = block * Segment.skipInterval..<min(entries.count, (block + 1) * Segment.skipInterval)
                    let best = range.map { k -> Double in
                        let entry = entries[k]
                        return Scoring.bm25(
                            idf: 1, titleFrequency: Int(entry.title), bodyFrequency: Int(entry.body),
                            titleLength: Int(titleLengths[Int(entry.doc)]), bodyLength: Int(bodyLengths[Int(entry.doc)]),
                            averageLength: average)
                    }.max()!
                    let stored = cursor.blockMaxScore(block)
                    #expect(stored >= best, "block \(block) of round \(round)")
                    #expect(Float(stored) <= Float(best).nextUp.nextUp.nextUp, "block \(block) of round \(round)")
                }
            }
        }
    }

    @Test("a fresh cursor finds any document by its block, long lists and short, and its counts are the entry's")
    func findOnAFreshCursor() {
        var rng = SplitMix64(seed: 12)
        let documents = 3_000
        for size in [5, 150, 193, 1_000, 2_400] {
            var writer = PostingsWriter(
                titleLengths: [UInt32](repeating: 3, count: documents), bodyLengths: [UInt32](repeating: 100, count: documents))
            var docs = Set<Int32>()
            while docs.count < size { docs.insert(Int32.random(in: 0..<Int32(documents), using: &rng)) }
            var bodyTF: [Int32: Int32] = [:]
            writer.beginTerm()
            for doc in docs.sorted() {
                bodyTF[doc] = Int32.random(in: 1...9, using: &rng)
                writer.add(doc: doc, titleTF: 0, bodyTF: bodyTF[doc]!, positions: Optional<UnsafeBufferPointer<UInt8>>.none)
            }
            writer.endTerm()
            let postings = writer.postings.array + [0]
            postings.withUnsafeBufferPointer { bytes in
                let fresh = PostingCursor(base: bytes.baseAddress!, start: 0, end: UInt32(postings.count - 1), positional: false)
                // Every document, in an order that jumps back and forth, as a walk in time order asks.
                for target in (0..<Int32(documents)).shuffled(using: &rng) {
                    var cursor = fresh
                    let found = cursor.find(target)
                    #expect(found == docs.contains(target), "\(target) in a list of \(size)")
                    if found { #expect(cursor.bodyTF == bodyTF[target], "\(target) in a list of \(size)") }
                }
            }
        }
    }
}
