import ArgumentParser
import Foundation
import NewswireClient

/// `newswire ingest PATH...`
struct IngestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Send pages (or JSON Lines records with --jsonl) to a server to parse, store and index.",
        discussion: """
            PATHs are files, directories (walked recursively, hidden files skipped) or - for standard input. Pages \
            are parsed by the server; with --jsonl each line is a record like the corpus's (id, title, published, \
            source, url, body). Prints a summary of ingested / updated / unchanged / failed with each failure's reason; exits \
            1 if anything failed.
            """)

    @OptionGroup var connection: ConnectionOptions

    @Flag(help: "Inputs are JSON Lines records, not pages.")
    var jsonl = false

    // 128 is the server's default in-flight limit per connection: with that many pages parsing at once, the
    // server's group commit stores them in far fewer transactions and index segments than with 32.
    @Option(help: "Requests in flight at once (JSON Lines: at most 8 batches).")
    var concurrency: Int = 128

    @Argument(help: "Files, directories, or - for standard input.")
    var paths: [String]

    func validate() throws {
        guard !paths.isEmpty else { throw ValidationError("give at least one PATH (or - for stdin)") }
        guard (1...1024).contains(concurrency) else { throw ValidationError("--concurrency must be within 1...1024") }
        if !jsonl, let path = paths.first(where: Self.looksLikeJSONLines) {
            throw ValidationError("\(path) holds JSON Lines records, not pages: use --jsonl")
        }
    }

    /// Whether a file named on the command line starts like JSON Lines records (`{` … a line break … `{`) rather
    /// than a page; sent as one page it would be refused as too large or not an article.
    static func looksLikeJSONLines(_ path: String) -> Bool {
        // Regular files only: opening a FIFO or a device here would block or consume its input.
        var info = stat()
        guard path != "-", stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG,
            let handle = FileHandle(forReadingAtPath: path)
        else { return false }
        defer { try? handle.close() }
        guard let head = try? handle.read(upToCount: 64 << 10), !head.isEmpty else { return false }
        let bytes = [UInt8](head)
        guard let first = bytes.firstIndex(where: { !Self.isSpace($0) }), bytes[first] == UInt8(ascii: "{") else {
            return path.hasSuffix(".jsonl") || path.hasSuffix(".ndjson")
        }
        return path.hasSuffix(".jsonl") || path.hasSuffix(".ndjson")
            || bytes.firstIndex(of: UInt8(ascii: "\n")).map { newline in
                bytes[(newline + 1)...].first(where: { !Self.isSpace($0) }) == UInt8(ascii: "{")
            } == true
    }

    private static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D }

    func run() async throws {
        let tally = SharedTally()
        let (host, port) = try connection.address()
        // Ctrl-C: what was acknowledged is stored; say so, say how to resume, and exit 130 like any interrupted
        // command. Requests in flight at that moment may or may not have been stored (re-sending them is safe).
        let interrupt = SignalHandler(signal: SIGINT) {
            let totals = tally.snapshot()
            totals.progress.finish()
            printError(
                "newswire: interrupted: \(totals.acknowledged) acknowledged and stored (ingested \(totals.created), "
                    + "updated \(totals.updated), unchanged \(totals.unchanged), failed \(totals.failures.count)); "
                    + "\(totals.inFlight) in flight may or may not be stored. Run the same command again to resume: "
                    + "what is already stored comes back as unchanged.")
            Foundation.exit(130)
        }
        defer { interrupt.cancel() }
        // Pages and records are sent once and only the outcome is needed: to a server on this machine, zlib
        // would cost both processes CPU (about 15% of the server's on the corpus pages) and save nothing.
        let client = try connection.makeClient(compressingLoopback: false)
        do {
            if jsonl {
                try await ingestRecords(client: client, tally: tally)
            } else {
                try await ingestPages(client: client, tally: tally)
            }
            await client.shutdown()
        } catch let error as NewswireClientError {
            await client.shutdown()
            let totals = tally.snapshot()
            totals.progress.finish()
            var message = ConnectionOptions.describe(error, address: try connection.addressLabel(), host: host)
            if totals.acknowledged > 0 || error.code == .connectionClosed {
                // It was connected: name what broke, what is safe, and how to carry on.
                if error.code == .connectionFailed { message = "the connection to \(host):\(port) broke (the server went away)" }
                message += "; \(totals.acknowledged) acknowledged before that are stored. Run the same command again "
                    + "to resume: what is already stored comes back as unchanged."
            }
            printError("newswire: \(error.code.rawValue): \(message)")
            throw ExitCode(ConnectionOptions.exitCode(for: error))
        } catch {
            await client.shutdown()
            tally.snapshot().progress.finish()
            throw error
        }
        let totals = tally.snapshot()
        totals.progress.finish()
        if connection.json {
            struct Output: Encodable {
                var ingested: Int
                var updated: Int
                var unchanged: Int
                var failed: [[String]]
            }
            printOut(
                try encodeJSON(
                    Output(
                        ingested: totals.created, updated: totals.updated, unchanged: totals.unchanged,
                        failed: totals.failures.map { [$0.input, $0.reason] })))
        } else {
            for failure in totals.failures { printError("failed: \(failure.input): \(failure.reason)") }
            printOut(
                "ingested \(totals.created), updated \(totals.updated), unchanged \(totals.unchanged), "
                    + "failed \(totals.failures.count)")
        }
        if !totals.failures.isEmpty { throw ExitCode(CLIExit.serverError) }
    }

    // MARK: Pages

    private func ingestPages(client: NewswireClient, tally: SharedTally) async throws {
        let files: [String]
        do {
            files = try PathWalker.files(paths)
        } catch let error as PathWalker.Unreadable {
            // An input that is not there failed, as a page that does not parse does (exit 1), not a usage error.
            printError("newswire: \(error.message)")
            throw ExitCode(CLIExit.serverError)
        }
        tally.update { $0.progress = Progress(total: files.count, enabled: !connection.json) }
        var iterator = files.makeIterator()
        try await withThrowingTaskGroup(of: (String, Result<NewswireClient.StoreOutcome, NewswireClientError>).self) { group in
            func submit() -> Bool {
                guard let path = iterator.next() else { return false }
                tally.update { $0.inFlight += 1 }
                group.addTask {
                    let bytes: [UInt8]
                    do {
                        bytes = try PathWalker.read(path)
                    } catch {
                        return (path, .failure(NewswireClientError(code: .init(rawValue: "UNREADABLE"), message: "\(error)")))
                    }
                    do {
                        return (path, .success(try await client.ingest(page: bytes).outcome))
                    } catch let error as NewswireClientError {
                        return (path, .failure(error))
                    }
                }
                return true
            }
            for _ in 0..<concurrency where !submit() { break }
            while let (path, result) = try await group.next() {
                // Connection-level failures stop the run: every later page would fail the same way.
                if case .failure(let error) = result,
                    [.connectionFailed, .connectionClosed, .unauthorised, .clientShutDown, .shuttingDown].contains(error.code)
                {
                    throw error
                }
                tally.update { tally in
                    tally.inFlight -= 1
                    switch result {
                    case .success(let outcome): tally.count(outcome)
                    case .failure(let error): tally.failures.append((path, "\(error.code.rawValue): \(error.message)"))
                    }
                    tally.progress.advance()
                }
                _ = submit()
            }
        }
    }

    // MARK: Records

    private func ingestRecords(client: NewswireClient, tally: SharedTally) async throws {
        var batches: [[Article]] = []
        var total = 0
        for path in paths {
            let input = path == "-" ? "/dev/stdin" : path
            var current: [Article] = []
            do {
                try JSONLinesImport.readArticles(
                    path: input, batchSize: 500,
                    onBadLine: { error in tally.update { $0.failures.append(("\(path):\(error.line)", error.reason)) } }
                ) { articles in
                    current += articles
                    while current.count >= 500 {
                        batches.append(Array(current.prefix(500)))
                        current.removeFirst(500)
                    }
                }
            } catch {
                tally.update { $0.failures.append((path, "\(error)")) }
            }
            if !current.isEmpty { batches.append(current) }
        }
        total = batches.reduce(0) { $0 + $1.count }
        tally.update { $0.progress = Progress(total: total, enabled: !connection.json) }
        var next = 0
        let inFlight = max(1, min(concurrency, 8))
        // Batches in flight may reach the server in any order: a batch holding an id that one in flight holds too
        // waits for it, so every record's last line in the input is the version stored (a correction a few lines
        // after its article, across a batch boundary, was sometimes overwritten by the original).
        var idsInFlight: [ArticleID: Int] = [:]
        var batchesInFlight = 0
        try await withThrowingTaskGroup(of: ([Article], NewswireClient.PutResult).self) { group in
            func submit() -> Bool {
                guard next < batches.count, batchesInFlight < inFlight else { return false }
                let batch = batches[next]
                guard !batch.contains(where: { idsInFlight[$0.id] != nil }) else { return false }
                next += 1
                batchesInFlight += 1
                for article in batch { idsInFlight[article.id, default: 0] += 1 }
                tally.update { $0.inFlight += batch.count }
                group.addTask { (batch, try await client.put(batch)) }
                return true
            }
            while submit() {}
            while let (batch, result) = try await group.next() {
                batchesInFlight -= 1
                for article in batch {
                    idsInFlight[article.id, default: 1] -= 1
                    if idsInFlight[article.id] == 0 { idsInFlight[article.id] = nil }
                }
                tally.update { tally in
                    tally.inFlight -= batch.count
                    tally.created += result.created
                    tally.updated += result.updated
                    tally.unchanged += result.unchanged
                    for rejection in result.rejected {
                        let id = rejection.id?.rawValue ?? batch[rejection.index].id.rawValue
                        tally.failures.append((id, rejection.reason))
                    }
                    tally.progress.advance(by: batch.count)
                }
                while submit() {}
            }
        }
    }
}

/// Running totals of an ingest.
struct IngestTally: Sendable {
    var created = 0
    var updated = 0
    var unchanged = 0
    /// Sent and not answered yet.
    var inFlight = 0
    var failures: [(input: String, reason: String)] = []
    var progress = Progress(total: 0, enabled: false)

    /// Answered with a stored outcome (created, updated or unchanged).
    var acknowledged: Int { created + updated + unchanged }

    mutating func count(_ outcome: NewswireClient.StoreOutcome) {
        switch outcome {
        case .created: created += 1
        case .updated: updated += 1
        default: unchanged += 1
        }
    }
}

/// The tally, shared with the SIGINT handler (which prints it from another thread).
final class SharedTally: @unchecked Sendable {
    private let lock = NSLock()
    private var tally = IngestTally()

    func update<T>(_ body: (inout IngestTally) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&tally)
    }

    func snapshot() -> IngestTally { update { $0 } }
}

/// Runs `handler` on a background queue when the process receives `signal`, instead of the default action.
final class SignalHandler: @unchecked Sendable {
    private let source: any DispatchSourceSignal

    init(signal number: Int32, handler: @escaping @Sendable () -> Void) {
        signal(number, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: number, queue: DispatchQueue(label: "newswire.signal"))
        source.setEventHandler(handler: handler)
        source.resume()
    }

    func cancel() { source.cancel() }
}

/// A progress bar with rate and ETA on a terminal (stderr); nothing otherwise.
struct Progress: Sendable {
    let total: Int
    let enabled: Bool
    private var done = 0
    private let started = ContinuousClock.now
    private var lastDraw = ContinuousClock.now - .seconds(1)

    init(total: Int, enabled: Bool) {
        self.total = total
        self.enabled = enabled && isatty(STDERR_FILENO) == 1
    }

    mutating func advance(by count: Int = 1) {
        done += count
        guard enabled, ContinuousClock.now - lastDraw > .milliseconds(100) || done == total else { return }
        lastDraw = .now
        let elapsed = max(0.001, Double((ContinuousClock.now - started).components.seconds)
            + Double((ContinuousClock.now - started).components.attoseconds) / 1e18)
        let rate = Double(done) / elapsed
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let width = 30
        let filled = total > 0 ? min(width, width * done / total) : width
        let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
        let line = "\r[\(bar)] \(done)/\(total)  \(Int(rate))/s  ETA \(Int(eta.rounded()))s "
        Output.raw(line, to: STDERR_FILENO)
    }

    func finish() {
        if enabled { Output.raw("\n", to: STDERR_FILENO) }
    }
}

/// Expands PATH arguments into files.
enum PathWalker {
    /// A PATH argument that names nothing readable.
    struct Unreadable: Error {
        var message: String
    }

    static func files(_ paths: [String]) throws -> [String] {
        var files: [String] = []
        for path in paths {
            if path == "-" {
                files.append(path)
                continue
            }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw Unreadable(message: "\(path): no such file or directory")
            }
            guard isDirectory.boolValue else {
                files.append(path)
                continue
            }
            var found: [String] = []
            try walk(path, into: &found)
            files += found.sorted()
        }
        return files
    }

    /// Regular files under `directory`, recursively, skipping hidden entries and not following symbolic links.
    /// Uses readdir's entry types (one lstat only where the file system does not report them): Foundation's
    /// per-URL resource values cost more than sending the page on a large directory.
    private static func walk(_ directory: String, into found: inout [String]) throws {
        guard let stream = opendir(directory) else {
            throw Unreadable(message: "\(directory): cannot read the directory (\(String(cString: strerror(errno))))")
        }
        defer { closedir(stream) }
        var subdirectories: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasPrefix(".") { continue }  // hidden, and . / ..
            let path = directory.hasSuffix("/") ? directory + name : directory + "/" + name
            var type = Int32(entry.pointee.d_type)
            if type == Int32(DT_UNKNOWN) {
                var info = stat()
                guard lstat(path, &info) == 0 else { continue }
                let format = info.st_mode & S_IFMT
                type = format == S_IFDIR ? Int32(DT_DIR) : format == S_IFREG ? Int32(DT_REG) : Int32(DT_UNKNOWN)
            }
            if type == Int32(DT_DIR) {
                subdirectories.append(path)
            } else if type == Int32(DT_REG) {
                found.append(path)
            }
        }
        for subdirectory in subdirectories { try walk(subdirectory, into: &found) }
    }

    /// The file's bytes (any readable file, including a pipe or FIFO); `-` is standard input.
    static func read(_ path: String) throws -> [UInt8] {
        let descriptor = path == "-" ? STDIN_FILENO : open(path, O_RDONLY)
        guard descriptor >= 0 else { throw ReadError(path: path, errno: errno) }
        defer { if descriptor != STDIN_FILENO { close(descriptor) } }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { Foundation.read(descriptor, $0.baseAddress, $0.count) }
            if count == 0 { return bytes }
            if count < 0 {
                if errno == EINTR { continue }
                throw ReadError(path: path, errno: errno)
            }
            bytes += chunk[0..<count]
        }
    }

    struct ReadError: Error, CustomStringConvertible {
        var path: String
        var errno: Int32
        var description: String { "cannot read \(path): \(String(cString: strerror(errno)))" }
    }
}
