import ArgumentParser
import Foundation
import NewswireClient
import NewswireStore

/// `newswire ingest PATH...`
struct IngestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Send pages (or JSON Lines records with --jsonl) to a server to parse, store and index.",
        discussion: """
            PATHs are files, directories (walked recursively, hidden files skipped) or - for standard input. Pages \
            are parsed by the server; with --jsonl each line is a record like the corpus's (id, title, published, \
            source, url, body). Prints a summary of ingested / unchanged / failed with each failure's reason; exits \
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
    }

    func run() async throws {
        var tally = IngestTally()
        // Pages and records are sent once and only the outcome is needed: to a server on this machine, zlib
        // would cost both processes CPU (about 15% of the server's on the corpus pages) and save nothing.
        try await withClient(connection, compressingLoopback: false) { client in
            if jsonl {
                try await ingestRecords(client: client, tally: &tally)
            } else {
                try await ingestPages(client: client, tally: &tally)
            }
        }
        tally.progress.finish()
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
                        ingested: tally.created, updated: tally.updated, unchanged: tally.unchanged,
                        failed: tally.failures.map { [$0.input, $0.reason] })))
        } else {
            for failure in tally.failures { printError("failed: \(failure.input): \(failure.reason)") }
            printOut(
                "ingested \(tally.created), updated \(tally.updated), unchanged \(tally.unchanged), "
                    + "failed \(tally.failures.count)")
        }
        if !tally.failures.isEmpty { throw ExitCode(CLIExit.serverError) }
    }

    // MARK: Pages

    private func ingestPages(client: NewswireClient, tally: inout IngestTally) async throws {
        let files = try PathWalker.files(paths)
        tally.progress = Progress(total: files.count, enabled: !connection.json)
        var iterator = files.makeIterator()
        try await withThrowingTaskGroup(of: (String, Result<NewswireClient.StoreOutcome, NewswireClientError>).self) { group in
            func submit() -> Bool {
                guard let path = iterator.next() else { return false }
                group.addTask {
                    let bytes: [UInt8]
                    do {
                        bytes = try PathWalker.read(path)
                    } catch {
                        return (path, .failure(NewswireClientError(code: .parseFailed, message: "\(error)")))
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
                switch result {
                case .success(let outcome): tally.count(outcome)
                case .failure(let error):
                    // Connection-level failures stop the run: every later page would fail the same way.
                    if [.connectionFailed, .connectionClosed, .unauthorised, .clientShutDown].contains(error.code) {
                        throw error
                    }
                    tally.failures.append((path, "\(error.code.rawValue): \(error.message)"))
                }
                tally.progress.advance()
                _ = submit()
            }
        }
    }

    // MARK: Records

    private func ingestRecords(client: NewswireClient, tally: inout IngestTally) async throws {
        var batches: [[Article]] = []
        var total = 0
        for path in paths {
            let input = path == "-" ? "/dev/stdin" : path
            var current: [Article] = []
            do {
                try JSONLinesImport.readArticles(
                    path: input, batchSize: 500,
                    onBadLine: { error in tally.failures.append(("\(path):\(error.line)", error.reason)) }
                ) { articles in
                    current += articles
                    while current.count >= 500 {
                        batches.append(Array(current.prefix(500)))
                        current.removeFirst(500)
                    }
                }
            } catch {
                tally.failures.append((path, "\(error)"))
            }
            if !current.isEmpty { batches.append(current) }
        }
        total = batches.reduce(0) { $0 + $1.count }
        tally.progress = Progress(total: total, enabled: !connection.json)
        var iterator = batches.makeIterator()
        let inFlight = max(1, min(concurrency, 8))
        try await withThrowingTaskGroup(of: ([Article], NewswireClient.PutResult).self) { group in
            func submit() -> Bool {
                guard let batch = iterator.next() else { return false }
                group.addTask { (batch, try await client.put(batch)) }
                return true
            }
            for _ in 0..<inFlight where !submit() { break }
            while let (batch, result) = try await group.next() {
                tally.created += result.created
                tally.updated += result.updated
                tally.unchanged += result.unchanged
                for rejection in result.rejected {
                    let id = rejection.id?.rawValue ?? batch[rejection.index].id.rawValue
                    tally.failures.append((id, rejection.reason))
                }
                tally.progress.advance(by: batch.count)
                _ = submit()
            }
        }
    }
}

/// Running totals of an ingest.
struct IngestTally {
    var created = 0
    var updated = 0
    var unchanged = 0
    var failures: [(input: String, reason: String)] = []
    var progress = Progress(total: 0, enabled: false)

    mutating func count(_ outcome: NewswireClient.StoreOutcome) {
        switch outcome {
        case .created: created += 1
        case .updated: updated += 1
        default: unchanged += 1
        }
    }
}

/// A progress bar with rate and ETA on a terminal (stderr); nothing otherwise.
struct Progress {
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
        FileHandle.standardError.write(Data(line.utf8))
    }

    func finish() {
        if enabled { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

/// Expands PATH arguments into files.
enum PathWalker {
    static func files(_ paths: [String]) throws -> [String] {
        var files: [String] = []
        for path in paths {
            if path == "-" {
                files.append(path)
                continue
            }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw ValidationError("\(path): no such file or directory")
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
            throw ValidationError("\(directory): cannot read the directory (\(String(cString: strerror(errno))))")
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

    static func read(_ path: String) throws -> [UInt8] {
        if path == "-" { return [UInt8](FileHandle.standardInput.readDataToEndOfFile()) }
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }
}
