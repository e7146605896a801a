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
}
