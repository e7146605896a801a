#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Why one line of a JSON Lines import was rejected.
public struct JSONLinesError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The 1-based line number in the input (blank lines count).
    public var line: Int
    /// What is wrong with the line.
    public var reason: String
    /// The input's name (a path), when known.
    public var source: String?

    /// Creates an error.
    public init(line: Int, reason: String, source: String? = nil) {
        self.line = line
        self.reason = reason
        self.source = source
    }

    public var description: String {
        "\(source.map { "\($0):" } ?? "line ")\(line): \(reason)"
    }
}

/// Why a JSON Lines file could not be read at all.
public struct JSONLinesFileError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file's path.
    public var path: String
    /// What failed and what to do, naming the path.
    public var message: String

    public var description: String { message }
}

/// Converts corpus-format JSON Lines records into ``Article``s.
///
/// One JSON object per line with the fields `id` (non-empty string), `title` (string), `published`
/// (`YYYY-MM-DD`, taken as midnight China time, or an RFC 3339 date-time; null or absent when unknown),
/// `source` (string or null), `url` (string or null) and `body` (string, paragraphs separated by `\n`).
/// Unknown fields are ignored. The article gets `language` `zh`; paragraphs are the body's lines, trimmed, with
/// empty ones dropped. Blank input lines are skipped.
public enum JSONLinesImport {
    /// The longest line accepted, so one runaway line cannot exhaust memory.
    public static let maximumLineBytes = 16 << 20

    /// Converts one line (without its line terminator) to an ``Article``.
    ///
    /// Throws ``JSONLinesError`` naming `lineNumber` and what is wrong: not JSON, not an object, a missing
    /// or mistyped field, an empty id, or an unparseable `published` date.
    public static func article(fromJSONLine line: some Collection<UInt8>, lineNumber: Int) throws(JSONLinesError)
        -> Article
    {
        let result =
            line.withContiguousStorageIfAvailable { parse($0, lineNumber: lineNumber) }
            ?? Array(line).withUnsafeBufferPointer { parse($0, lineNumber: lineNumber) }
        return try result.get()
    }

    private static func parse(_ buffer: UnsafeBufferPointer<UInt8>, lineNumber: Int) -> Result<Article, JSONLinesError> {
        var id: String?
        var title: String?
        var published: String?
        var source: String?
        var url: String?
        var body: String?
        do {
            var reader = JSONReader(buffer)
            try reader.forEachMember { (s: inout JSONReader, key: String) throws(JSONReadError) in
                switch key {
                case "id": id = try s.string(field: key)
                case "title": title = try s.string(field: key)
                case "published": published = try s.optionalString(field: key)
                case "source": source = try s.optionalString(field: key)
                case "url": url = try s.optionalString(field: key)
                case "body": body = try s.string(field: key)
                default: try s.skipValue()
                }
            }
            guard reader.atEnd() else {
                return .failure(
                    JSONLinesError(line: lineNumber, reason: "not valid JSON (trailing bytes at byte \(reader.offset))"))
            }
        } catch {
            let reason = error.kindIsNotAnObject ? "line is not a JSON object" : ArticleCodec.describe(error)
            return .failure(JSONLinesError(line: lineNumber, reason: reason))
        }
        for (name, value) in [("id", id), ("title", title), ("body", body)] where value == nil {
            return .failure(JSONLinesError(line: lineNumber, reason: "missing field '\(name)'"))
        }
        guard let id, !id.isEmpty else {
            return .failure(
                JSONLinesError(line: lineNumber, reason: "field 'id' is empty; every record needs a unique id"))
        }
        var publishedAt: PublishedTime?
        if let text = published, !text.isEmpty {
            guard let time = PublishedTime(iso8601: text, defaultOffset: PublishedTime.chinaStandardOffset) else {
                return .failure(
                    JSONLinesError(
                        line: lineNumber,
                        reason: "field 'published' is \"\(text)\", expected YYYY-MM-DD or an RFC 3339 date-time"))
            }
            publishedAt = time
        }
        return .success(
            Article(
                id: ArticleID(id), url: url, title: title!, publishedAt: publishedAt, source: source,
                paragraphs: paragraphs(of: body!), language: "zh"))
    }

    /// The body's lines, trimmed of spaces (ASCII, U+3000 and other Unicode white space), empty ones dropped.
    static func paragraphs(of body: String) -> [String] {
        var out: [String] = []
        for part in body.split(separator: "\n", omittingEmptySubsequences: true) {
            let scalars = part.unicodeScalars
            guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else { continue }
            let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })!
            out.append(String(scalars[first...last]))
        }
        return out
    }

    /// Reads the JSON Lines file at `path`, delivering articles in batches of up to `batchSize`, in file order.
    ///
    /// A bad line is passed to `onBadLine`, which may throw to stop the import (the default) or return to skip
    /// the line. Errors from `body` stop the import and are rethrown. Throws ``JSONLinesFileError`` when the file
    /// cannot be read. Returns the number of articles delivered.
    @discardableResult
    public static func readArticles(
        path: String, batchSize: Int = 1000,
        onBadLine: (JSONLinesError) throws -> Void = { throw $0 },
        _ body: ([Article]) throws -> Void
    ) throws -> Int {
        var batch: [Article] = []
        batch.reserveCapacity(max(1, batchSize))
        var delivered = 0
        try forEachLine(path: path) { number, line in
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return }
            do {
                if line.count > maximumLineBytes {
                    throw JSONLinesError(
                        line: number, reason: "line is longer than \(maximumLineBytes) bytes; split the record")
                }
                batch.append(try article(fromJSONLine: line, lineNumber: number))
            } catch let error as JSONLinesError {
                var located = error
                located.source = path
                try onBadLine(located)
                return
            }
            if batch.count >= batchSize {
                try body(batch)
                delivered += batch.count
                batch.removeAll(keepingCapacity: true)
            }
        }
        if !batch.isEmpty {
            try body(batch)
            delivered += batch.count
        }
        return delivered
    }

    /// Calls `body` with each line of the file (1-based number, bytes without `\n`), reading in 1 MiB chunks.
    static func forEachLine(path: String, _ body: (Int, ArraySlice<UInt8>) throws -> Void) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw JSONLinesFileError(
                path: path, message: "cannot open \(path): \(String(cString: strerror(errno))); check the path")
        }
        defer { close(fd) }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var lineNumber = 0
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw JSONLinesFileError(path: path, message: "cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            buffer.append(contentsOf: chunk[0..<n])
            var start = 0
            while let newline = buffer[start...].firstIndex(of: 0x0A) {
                lineNumber += 1
                try body(lineNumber, buffer[start..<newline])
                start = newline + 1
            }
            buffer.removeFirst(start)
        }
        if !buffer.isEmpty {
            lineNumber += 1
            try body(lineNumber, buffer[...])
        }
    }
}
