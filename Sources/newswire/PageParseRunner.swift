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
        func deliver(_ index: Int, _ result: Result<String, ExtractionError>) {
            switch result {
            case .success(let text):
                output(text)
            case .failure(let error):
                failed += 1
                let name = paths[index] == "-" ? "<stdin>" : paths[index]
                errors("newswire parse: \(name): \(error.message) [\(error.code)]")
            }
        }
        let workers = min(jobs, paths.count)
        if workers <= 1 {
            for i in paths.indices { deliver(i, render(paths, i)) }
            return failed == 0 ? 0 : 1
        }
        // Each worker takes the next file as soon as it is free (pages differ in size a hundredfold, so fixed
        // batches left a core idle waiting for a batch's largest page), and this thread prints results in argument
        // order as they arrive. Workers stay at most `window` files ahead of printing, so memory stays bounded.
        let pipeline = OrderedPipeline(count: paths.count, window: workers * 16)
        let group = DispatchGroup()
        for _ in 0..<workers {
            DispatchQueue.global().async(group: group) {
                while let i = pipeline.claim() { pipeline.finish(i, render(paths, i)) }
            }
        }
        for i in paths.indices { deliver(i, pipeline.take(i)) }
        group.wait()
        return failed == 0 ? 0 : 1
    }

    /// Parses and renders one path.
    private func render(_ paths: [String], _ i: Int) -> Result<String, ExtractionError> {
        parse(path: paths[i]).map { article in
            switch format {
            case .json: ArticleJSON.encode(article)
            case .summary: (i > 0 ? "\n" : "") + Self.summary(article, path: paths[i])
            }
        }
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

/// Files handed to workers in order and their results handed back in order: workers claim the next index (waiting
/// while they are `window` ahead of the reader), store what they made, and the reader takes each index in turn.
private final class OrderedPipeline: @unchecked Sendable {
    private var slots: [Result<String, ExtractionError>?]
    private var nextClaim = 0
    /// Indices below this have been taken by the reader.
    private var taken = 0
    private let window: Int
    /// Heap-allocated: a pthread mutex or condition must not move, and `&` on a stored property gives no stable
    /// address.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let changed = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init(count: Int, window: Int) {
        slots = Array(repeating: nil, count: count)
        self.window = max(1, window)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        changed.initialize(to: pthread_cond_t())
        pthread_cond_init(changed, nil)
    }

    deinit {
        pthread_cond_destroy(changed)
        changed.deinitialize(count: 1)
        changed.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    /// The next index to work on, or nil when every index has been claimed.
    func claim() -> Int? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while nextClaim < slots.count && nextClaim >= taken + window { pthread_cond_wait(changed, mutex) }
        guard nextClaim < slots.count else { return nil }
        nextClaim += 1
        return nextClaim - 1
    }

    func finish(_ i: Int, _ result: Result<String, ExtractionError>) {
        pthread_mutex_lock(mutex)
        slots[i] = result
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(mutex)
    }

    /// The result for `i`, waiting until a worker has made it; indices must be taken in order.
    func take(_ i: Int) -> Result<String, ExtractionError> {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while slots[i] == nil { pthread_cond_wait(changed, mutex) }
        let result = slots[i]!
        slots[i] = nil
        taken = i + 1
        pthread_cond_broadcast(changed)
        return result
    }
}
