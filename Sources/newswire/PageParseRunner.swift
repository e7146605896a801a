import ArticleExtraction
import Dispatch
import NewswireModel

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What `newswire parse` does: parse each file, print each article, report each failure on its own line, keep
/// going.
struct PageParseRunner: Sendable {
    /// How articles are printed.
    enum OutputFormat: Sendable {
        /// One JSON object per file (JSON Lines when there are several).
        case json
        /// A readable summary.
        case summary
    }

    /// The extractor used for every file.
    var extractor: ArticleExtractor
    /// How articles are printed.
    var format: OutputFormat

    /// How many files are parsed at once (output order is always the argument order).
    var jobs: Int

    /// Creates a runner; `jobs` defaults to the number of active processors.
    init(extractor: ArticleExtractor = ArticleExtractor(), format: OutputFormat = .json, jobs: Int? = nil) {
        self.extractor = extractor
        self.format = format
        self.jobs = max(1, jobs ?? Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    /// Parses one file.
    func parse(path: String) -> Result<Article, ExtractionError> {
        Result { () throws(ExtractionError) -> Article in
            let bytes = try PageFileReader.read(path: path, maximumBytes: extractor.configuration.maximumInputBytes)
            return try extractor.extract(bytes)
        }
    }

    /// Parses every path in order. Articles go to `output` (one string per file, without the final newline);
    /// each failure goes to `errors` as one line `newswire parse: FILE: REASON` and prints nothing to `output`.
    ///
    /// - Returns: the process exit status: 0 when every file parsed, 1 when any failed.
    func run(paths: [String], output: (String) -> Void, errors: (String) -> Void) -> Int32 {
        var failed = 0
        // Parse a batch in parallel, then print it in order, so output streams and memory stays bounded.
        let batchSize = jobs == 1 ? 1 : jobs * 16
        var batchStart = 0
        while batchStart < paths.count {
            let batch = Array(paths[batchStart..<min(paths.count, batchStart + batchSize)])
            let results = renderAll(batch, firstIndex: batchStart)
            for (offset, result) in results.enumerated() {
                switch result {
                case .success(let text):
                    output(text)
                case .failure(let error):
                    failed += 1
                    let path = batch[offset]
                    let name = path == "-" ? "<stdin>" : path
                    errors("newswire parse: \(name): \(error.message) [\(error.code)]")
                }
            }
            batchStart += batch.count
        }
        return failed == 0 ? 0 : 1
    }

    /// Parses and renders each path (in parallel when `jobs > 1`), results in argument order.
    private func renderAll(_ paths: [String], firstIndex: Int) -> [Result<String, ExtractionError>] {
        @Sendable func render(_ i: Int) -> Result<String, ExtractionError> {
            parse(path: paths[i]).map { article in
                switch format {
                case .json: ArticleJSON.encode(article)
                case .summary: (firstIndex + i > 0 ? "\n" : "") + Self.summary(article, path: paths[i])
                }
            }
        }
        if jobs == 1 || paths.count == 1 { return paths.indices.map(render) }
        let slots = ResultSlots(count: paths.count)
        DispatchQueue.concurrentPerform(iterations: paths.count) { i in slots.set(i, render(i)) }
        return slots.results()
    }

    /// A readable multi-line summary of an article.
    static func summary(_ a: Article, path: String) -> String {
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

/// Results written by concurrent workers, each to its own slot; the lock makes the writes visible to the reader.
private final class ResultSlots: @unchecked Sendable {
    private var slots: [Result<String, ExtractionError>?]
    /// Heap-allocated: a pthread mutex must not move, and `&` on a stored property gives no stable address.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    init(count: Int) {
        slots = Array(repeating: nil, count: count)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    func set(_ i: Int, _ result: Result<String, ExtractionError>) {
        pthread_mutex_lock(mutex)
        slots[i] = result
        pthread_mutex_unlock(mutex)
    }

    func results() -> [Result<String, ExtractionError>] {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return slots.map { $0! }
    }
}
