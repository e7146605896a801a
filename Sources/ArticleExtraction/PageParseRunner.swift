#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import NewswireModel

/// Reads page files for offline parsing, refusing oversized input without reading all of it.
public enum PageFileReader {
    /// Reads `path` (`-` for standard input), at most `maximumBytes`.
    ///
    /// - Throws: ``ExtractionError`` `.unreadable` when the file cannot be opened or read, `.tooLarge` when it
    ///   holds more than `maximumBytes` (only `maximumBytes + 1` bytes are read to find out).
    public static func read(path: String, maximumBytes: Int) throws(ExtractionError) -> [UInt8] {
        let file: UnsafeMutablePointer<FILE>?
        if path == "-" {
            file = fdopen(dup(0), "rb")
        } else {
            file = fopen(path, "rb")
        }
        guard let file else {
            let reason = String(cString: strerror(errno))
            throw ExtractionError(.unreadable, "cannot open file: \(reason)")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while bytes.count <= maximumBytes {
            let want = min(chunk.count, maximumBytes + 1 - bytes.count)
            let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, want, file) }
            if n > 0 { bytes.append(contentsOf: chunk[0..<n]) }
            if n < want {
                if ferror(file) != 0 {
                    let reason = String(cString: strerror(errno))
                    throw ExtractionError(.unreadable, "cannot read file: \(reason)")
                }
                break
            }
        }
        if bytes.count > maximumBytes {
            throw ExtractionError(
                .tooLarge,
                "input is over the \(maximumBytes)-byte limit; a news page is far smaller, so check this is the "
                    + "right file")
        }
        return bytes
    }
}

/// What `newswire parse` does, as a library function so it can be tested without spawning the binary:
/// parse each file, print each article, report each failure on its own line, keep going.
public struct PageParseRunner: Sendable {
    /// How articles are printed.
    public enum OutputFormat: Sendable {
        /// One JSON object per file (JSON Lines when there are several).
        case json
        /// A readable summary.
        case summary
    }

    /// The extractor used for every file.
    public var extractor: ArticleExtractor
    /// How articles are printed.
    public var format: OutputFormat

    /// Creates a runner.
    public init(extractor: ArticleExtractor = ArticleExtractor(), format: OutputFormat = .json) {
        self.extractor = extractor
        self.format = format
    }

    /// Parses one file.
    public func parse(path: String) -> Result<Article, ExtractionError> {
        Result { () throws(ExtractionError) -> Article in
            let bytes = try PageFileReader.read(path: path, maximumBytes: extractor.configuration.maximumInputBytes)
            return try extractor.extract(bytes)
        }
    }

    /// Parses every path in order. Articles go to `output` (one string per file, without the final newline);
    /// each failure goes to `errors` as one line `newswire parse: FILE: REASON` and prints nothing to `output`.
    ///
    /// - Returns: the process exit status: 0 when every file parsed, 1 when any failed.
    public func run(paths: [String], output: (String) -> Void, errors: (String) -> Void) -> Int32 {
        var failed = 0
        for (index, path) in paths.enumerated() {
            switch parse(path: path) {
            case .success(let article):
                switch format {
                case .json: output(ArticleJSON.encode(article))
                case .summary: output((index > 0 ? "\n" : "") + Self.summary(article, path: path))
                }
            case .failure(let error):
                failed += 1
                let name = path == "-" ? "<stdin>" : path
                errors("newswire parse: \(name): \(error.message) [\(error.code)]")
            }
        }
        return failed == 0 ? 0 : 1
    }

    /// A readable multi-line summary of an article.
    public static func summary(_ a: Article, path: String) -> String {
        func row(_ label: String, _ value: String) -> String {
            label + String(repeating: " ", count: max(1, 14 - label.count)) + value + "\n"
        }
        var s = "== " + (path == "-" ? "<stdin>" : path) + "\n"
        s += row("title", a.title)
        for sub in a.subtitles { s += row("subtitle", sub) }
        s += row("published", a.publishedAt?.iso8601 ?? "-")
        s += row("source", a.source ?? "-")
        s += row("reporters", a.reporters.isEmpty ? "-" : a.reporters.joined(separator: ", "))
        s += row("editors", a.editors.isEmpty ? "-" : a.editors.joined(separator: ", "))
        s += row(
            "participants",
            a.participants.isEmpty ? "-" : "\(a.participants.count): " + a.participants.joined(separator: " "))
        s += row("clicks", a.clicks.map(String.init) ?? "-")
        s += row("language", a.language ?? "-")
        s += row("url", a.url ?? "-")
        s += row("id", a.id.rawValue)
        let chars = a.paragraphs.reduce(0) { $0 + $1.count }
        s += row("paragraphs", "\(a.paragraphs.count) (\(chars) characters)")
        for (i, p) in a.paragraphs.enumerated() {
            let preview = p.count > 60 ? String(p.prefix(60)) + "…" : p
            s += "  \(i + 1). " + preview + "\n"
        }
        s.removeLast()
        return s
    }
}
