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
}
