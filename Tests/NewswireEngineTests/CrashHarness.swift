import Foundation
import NewswireModel

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runs `newswire-crasher`, SIGKILLs it after it acknowledged `killAfterAcks` writes, and reports what it had
/// begun and acknowledged, from which the state a durable store must hold follows.
struct CrashRun {
    /// One write as the crasher printed it in its BEGIN line.
    struct Operation: Codable {
        var kind: String
        var articles: [Article]?
        var id: ArticleID?
    }

    /// Operations in the order begun.
    var operations: [(number: Int, operation: Operation)] = []
    /// Numbers of acknowledged operations.
    var acknowledged: Set<Int> = []
    /// How the child ended (a signal number when killed).
    var terminationSignal: Int32?
    /// The child's stderr.
    var standardError = ""

    /// The operation begun but not acknowledged when the child died (at most one: the crasher is sequential).
    var inFlight: Operation? {
        guard let last = operations.last, !acknowledged.contains(last.number) else { return nil }
        return last.operation
    }

    /// Applies every acknowledged operation to `state`.
    func applyAcknowledged(to state: inout [ArticleID: Article?]) {
        for (number, operation) in operations where acknowledged.contains(number) {
            Self.apply(operation, to: &state)
        }
    }

    static func apply(_ operation: Operation, to state: inout [ArticleID: Article?]) {
        if let articles = operation.articles {
            for article in articles { state[article.id] = .some(article) }
        } else if let id = operation.id {
            state[id] = .some(nil)
        }
    }

    /// Path of the `newswire-crasher` executable built next to the test binary.
    static func crasherPath() throws -> String {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent()
        for _ in 0..<5 {
            let candidate = directory.appendingPathComponent("newswire-crasher").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory.deleteLastPathComponent()
        }
        throw CrashHarnessError(
            message: "newswire-crasher not found next to \(CommandLine.arguments[0]); build it with "
                + "`swift build --build-tests` (it is an executable target of the package)")
    }

    /// Runs the crasher on `directory` and kills it with SIGKILL after `killAfterAcks` acknowledgements.
    static func run(mode: String, directory: String, seed: UInt64, killAfterAcks: Int) throws -> CrashRun {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try crasherPath())
        process.arguments = [mode, directory, String(seed)]
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let pid = process.processIdentifier
        // Bound the test even if the child stalls: kill it after 30 s regardless.
        let watchdog = DispatchWorkItem { kill(pid, SIGKILL) }
        DispatchQueue.global().asyncAfter(deadline: .now() + 30, execute: watchdog)
        defer { watchdog.cancel() }

        var run = CrashRun()
        var pending: [UInt8] = []
        var killed = false
        let decoder = JSONDecoder()
        let reader = output.fileHandleForReading
        while true {
            let data = reader.availableData
            if data.isEmpty { break }
            pending.append(contentsOf: data)
            var start = 0
            while let newline = pending[start...].firstIndex(of: 0x0A) {
                let line = String(decoding: pending[start..<newline], as: UTF8.self)
                start = newline + 1
                if line.hasPrefix("ACK ") {
                    run.acknowledged.insert(Int(line.dropFirst(4))!)
                } else if line.hasPrefix("BEGIN ") {
                    let rest = line.dropFirst(6)
                    let space = rest.firstIndex(of: " ")!
                    let number = Int(rest[..<space])!
                    let operation = try decoder.decode(Operation.self, from: Data(rest[rest.index(after: space)...].utf8))
                    run.operations.append((number, operation))
                }
            }
            pending.removeFirst(start)
            if !killed, run.acknowledged.count >= killAfterAcks {
                kill(pid, SIGKILL)
                killed = true
            }
        }
        // A trailing partial line (no newline) was cut by the kill: that write was not acknowledged.
        process.waitUntilExit()
        run.standardError = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        if process.terminationReason == .uncaughtSignal { run.terminationSignal = process.terminationStatus }
        return run
    }
}

struct CrashHarnessError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
