import NewswireModel

/// The full-text index: exact Chinese and English search with BM25 ranking, snippets, facets and related
/// articles.
///
/// Internally synchronized: any number of concurrent readers (`search`, `related`, `contains`, `write`) and one
/// writer at a time (`upsert`, `remove`).
public final class SearchIndex: @unchecked Sendable {
    private let lock = ReadWriteLock()
    private var engine = BruteForceIndex()

    /// Creates an empty index.
    public init() {}

    /// Number of indexed articles.
    public var count: Int { lock.withReadLock { engine.count } }

    /// Inserts `article`, replacing any article with the same id.
    public func upsert(_ article: Article) {
        lock.withWriteLock { engine.upsert(article) }
    }

    /// Inserts or replaces many articles at once (the fast path for building from a store).
    public func upsert(contentsOf articles: [Article]) {
        lock.withWriteLock {
            for article in articles { engine.upsert(article) }
        }
    }

    /// Removes the article with `id`, if present.
    public func remove(id: ArticleID) {
        lock.withWriteLock { engine.remove(id: id) }
    }

    /// Whether an article with `id` is indexed.
    public func contains(id: ArticleID) -> Bool {
        lock.withReadLock { engine.documents[id] != nil }
    }

    /// Runs a query (see README "Query language"); throws ``QueryError`` for a malformed query.
    public func search(_ request: SearchRequest) throws(QueryError) -> SearchPage {
        try lock.withReadLock { () throws(QueryError) -> SearchPage in try engine.search(request) }
    }

    /// Articles most like the one with `id` (More-Like-This over its most distinctive terms), best first,
    /// never including the article itself; nil when `id` is not indexed.
    public func related(to id: ArticleID, limit: Int) -> [SearchHit]? {
        lock.withReadLock { engine.related(to: id, limit: limit) }
    }

    /// Writes a snapshot atomically (temp file, fsync, rename) with caller `metadata` stored alongside.
    public func write(to path: String, metadata: [UInt8]) throws {
        var writer = ByteWriter()
        writer.bytes.append(contentsOf: SnapshotFile.magic)
        writer.u32(0)  // version 0: brute-force article list
        writer.array(metadata)
        let articles = lock.withReadLock { engine.documents.values.map(\.article) }
        writer.varint(UInt64(articles.count))
        for article in articles {
            writer.string(article.id.rawValue)
            writer.string(article.title)
            writer.optionalString(article.source)
            writer.u8(article.publishedAt == nil ? 0 : 1)
            writer.i64(article.publishedAt?.secondsSinceEpoch ?? 0)
            writer.u32(UInt32(bitPattern: article.publishedAt?.utcOffsetSeconds ?? 0))
            for list in [article.participants, article.reporters, article.paragraphs] {
                writer.varint(UInt64(list.count))
                for item in list { writer.string(item) }
            }
        }
        let checksum = writer.bytes.withUnsafeBytes { snapshotChecksum($0) }
        writer.u64(checksum)
        try SnapshotFile.writeAtomically(writer.bytes, to: path)
    }

    /// Loads a snapshot written by ``write(to:metadata:)``; throws ``SnapshotError`` when the file is missing,
    /// truncated, corrupt or of another version (rebuild the index from the store then).
    public static func load(from path: String) throws -> (index: SearchIndex, metadata: [UInt8]) {
        let bytes = try SnapshotFile.read(path)
        return try bytes.withUnsafeBytes { buffer in try decodeSnapshot(buffer, path: path) }
    }

    private static func decodeSnapshot(
        _ buffer: UnsafeRawBufferPointer, path: String
    ) throws(SnapshotError) -> (index: SearchIndex, metadata: [UInt8]) {
            guard buffer.count >= SnapshotFile.magic.count + 12,
                Array(buffer.prefix(SnapshotFile.magic.count)) == SnapshotFile.magic
            else { throw SnapshotError(path: path, message: "not a Newswire index snapshot (bad magic)") }
            let payload = UnsafeRawBufferPointer(rebasing: buffer[..<(buffer.count - 8)])
            let stored = UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: buffer.count - 8, as: UInt64.self))
            guard snapshotChecksum(payload) == stored else {
                throw SnapshotError(path: path, message: "checksum mismatch (truncated or corrupt); delete it to rebuild")
            }
            var reader = ByteReader(bytes: payload, offset: SnapshotFile.magic.count, path: path)
            let version = try reader.u32()
            guard version == 0 else {
                throw SnapshotError(path: path, message: "unsupported snapshot version \(version); rebuild the index")
            }
            let metadata = try reader.array(of: UInt8.self)
            let index = SearchIndex()
            let n = try reader.count(max: payload.count)
            for _ in 0..<n {
                let id = ArticleID(try reader.string())
                let title = try reader.string()
                let source = try reader.optionalString()
                let hasTime = try reader.u8()
                let seconds = try reader.i64()
                let offset = Int32(bitPattern: try reader.u32())
                var lists: [[String]] = []
                for _ in 0..<3 {
                    let m = try reader.count(max: payload.count)
                    var list: [String] = []
                    for _ in 0..<m { list.append(try reader.string()) }
                    lists.append(list)
                }
                index.engine.upsert(
                    Article(
                        id: id, title: title,
                        publishedAt: hasTime == 0 ? nil : PublishedTime(secondsSinceEpoch: seconds, utcOffsetSeconds: offset),
                        source: source, reporters: lists[1], participants: lists[0], paragraphs: lists[2]))
            }
            return (index, metadata)
    }
}
