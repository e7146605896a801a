import Foundation
import NewswireModel
import Testing

@testable import NewswireSearch

@Suite struct SnapshotTests {
    static func temporaryPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("nws-\(UUID().uuidString).snapshot").path
    }

    static let requests = [
        SearchRequest(text: "人民共和", facets: [.source, .month, .person]), SearchRequest(text: "北京 OR 新疆"),
        SearchRequest(text: "", sort: .newest, limit: 20), SearchRequest(text: "apec -会议"),
    ]

    /// The snapshot is encoded outside the index lock: writes that land between the capture and the encoding
    /// (a delete in a captured segment, new articles) must not reach it.
    @Test func snapshotIsTheStateAtCaptureEvenWhenWritesFollow() throws {
        let index = SearchIndex()
        index.upsert(contentsOf: Fixtures.articles)
        let capture = index.captureSnapshot()
        let before = try index.search(SearchRequest(text: "人民", limit: 100)).hits.map(\.id)
        index.remove(id: "a01")
        index.upsert(Article(id: "late", title: "人民", paragraphs: ["人民"]))
        let path = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try SnapshotFile.writeAtomically(capture.encode(metadata: []), to: path)
        let (loaded, _) = try SearchIndex.load(from: path)
        #expect(loaded.contains(id: "a01") && !loaded.contains(id: "late"))
        #expect(try loaded.search(SearchRequest(text: "人民", limit: 100)).hits.map(\.id) == before)
        #expect(!index.contains(id: "a01") && index.contains(id: "late"))
    }

    @Test func roundTripKeepsResultsAndMetadata() throws {
        let index = SearchIndex()
        index.upsert(contentsOf: Array(Fixtures.articles.prefix(6)))
        for article in Fixtures.articles.dropFirst(6) { index.upsert(article) }  // several segments
        index.remove(id: "a03")
        let path = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try index.write(to: path, metadata: [1, 2, 3, 255])
        let (loaded, metadata) = try SearchIndex.load(from: path)
        #expect(metadata == [1, 2, 3, 255])
        #expect(loaded.count == index.count)
        #expect(!loaded.contains(id: "a03") && loaded.contains(id: "a04"))
        for request in Self.requests {
            var expected = try index.search(request)
            var actual = try loaded.search(request)
            expected.tookMicros = 0
            actual.tookMicros = 0
            #expect(actual == expected, "\(request.text)")
        }
        #expect(loaded.related(to: "a01", limit: 5) == index.related(to: "a01", limit: 5))
        // The loaded index keeps accepting writes.
        loaded.upsert(Article(id: "new", title: "新文章", paragraphs: ["人民共和"]))
        #expect(try loaded.search(SearchRequest(text: "人民共和")).total == 4)
    }

    @Test func truncatedOrCorruptSnapshotsAreRejected() throws {
        let index = SearchIndex()
        index.upsert(contentsOf: Fixtures.articles)
        let path = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try index.write(to: path, metadata: [])
        let good = try Data(contentsOf: URL(fileURLWithPath: path))
        var variants: [(String, Data)] = [
            ("truncated", good.prefix(good.count / 2)), ("empty", Data()), ("header only", good.prefix(12)),
            ("missing checksum", good.prefix(good.count - 8)),
        ]
        for offset in [9, 20, good.count / 3, good.count - 20, good.count - 1] {
            var flipped = good
            flipped[offset] ^= 0x40
            variants.append(("byte \(offset) flipped", flipped))
        }
        var wrongMagic = good
        wrongMagic[0] = UInt8(ascii: "X")
        variants.append(("wrong magic", wrongMagic))
        for (name, bytes) in variants {
            try bytes.write(to: URL(fileURLWithPath: path))
            #expect(throws: SnapshotError.self, "\(name)") { try SearchIndex.load(from: path) }
        }
        #expect(throws: SnapshotError.self) { try SearchIndex.load(from: path + ".missing") }
    }

    @Test func writeIsAtomicAndLeavesNoTemporaryFiles() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nws-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("index.snapshot").path
        let index = SearchIndex()
        index.upsert(contentsOf: Fixtures.articles)
        try index.write(to: path, metadata: [7])
        try index.write(to: path, metadata: [8])  // replaces the previous snapshot
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["index.snapshot"])
        #expect(try SearchIndex.load(from: path).metadata == [8])
        #expect(throws: SnapshotError.self) { try index.write(to: directory.path + "/no/such/dir/x", metadata: []) }
    }

    /// The checksum fed in pieces of any size (as the streamed encoding feeds it) equals the one-pass checksum.
    @Test func checksumInPiecesEqualsTheWholeChecksum() {
        var rng = SplitMix64(seed: 41)
        for length in [0, 1, 7, 8, 9, 63, 64, 1000] {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let whole = bytes.withUnsafeBytes { snapshotChecksum($0) }
            for _ in 0..<20 {
                var checksum = SnapshotChecksum(totalCount: length)
                var i = 0
                while i < length {
                    let n = min(length - i, Int.random(in: 0...13, using: &rng))
                    bytes.withUnsafeBytes { checksum.update(UnsafeRawBufferPointer(rebasing: $0[i..<(i + n)])) }
                    i += n
                }
                #expect(checksum.finish() == whole)
            }
        }
    }

    /// A snapshot larger than the writer's chunk (its big arrays go to the file straight from the index, between
    /// buffered small fields) loads back to the same results.
    @Test func snapshotLargerThanAChunkRoundTrips() throws {
        let filler = String(repeating: "经济社会发展稳中有进人民生活水平提高", count: 300)  // ~5,400 characters
        let articles = (0..<200).map { i in
            Article(id: ArticleID("big-\(i)"), title: "报告\(i)", source: "来源\(i % 7)", paragraphs: [filler, "编号\(i)号文件"])
        }
        let index = SearchIndex()
        index.upsert(contentsOf: Array(articles.prefix(150)))
        index.upsert(contentsOf: Array(articles.dropFirst(150)))
        index.remove(id: "big-3")
        let path = Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try index.write(to: path, metadata: [9])
        let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        #expect(size > 2 * ByteWriter.chunkSize)
        let (loaded, metadata) = try SearchIndex.load(from: path)
        #expect(metadata == [9] && loaded.count == 199)
        for text in ["编号17号", "人民生活", "来源", "报告3"] {
            var expected = try index.search(SearchRequest(text: text, limit: 50))
            var actual = try loaded.search(SearchRequest(text: text, limit: 50))
            expected.tookMicros = 0
            actual.tookMicros = 0
            #expect(actual == expected)
        }
    }
}
