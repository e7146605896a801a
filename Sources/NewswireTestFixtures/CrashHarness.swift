import Foundation
import NewswireModel

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runs `newswire-crasher`, SIGKILLs it after it acknowledged `killAfterAcks` writes, and reports what it had
/// begun and acknowledged, from which the state a durable store must hold follows.
public struct CrashRun {
    /// One write as the crasher printed it in its BEGIN line.
    public struct Operation: Codable, Sendable {
        public var kind: String
        public var articles: [Article]?
        public var id: ArticleID?
    }

    /// Operations in the order begun.
    public var operations: [(number: Int, operation: Operation)] = []
    /// Numbers of acknowledged operations.
    public var acknowledged: Set<Int> = []
    /// How the child ended (a signal number when killed).
    public var terminationSignal: Int32?
    /// The child's exit status when it exited by itself (a failure: it runs until killed).
    public var exitStatus: Int32?
    /// The child's stderr.
    public var standardError = ""

    /// The operation begun but not acknowledged when the child died (at most one: the crasher is sequential).
    public var inFlight: Operation? {
        guard let last = operations.last, !acknowledged.contains(last.number) else { return nil }
        return last.operation
    }

    /// Applies every acknowledged operation to `state`.
    public func applyAcknowledged(to state: inout [ArticleID: Article?]) {
        for (number, operation) in operations where acknowledged.contains(number) {
            Self.apply(operation, to: &state)
        }
    }

    public static func apply(_ operation: Operation, to state: inout [ArticleID: Article?]) {
        if let articles = operation.articles {
            for article in articles { state[article.id] = .some(article) }
        } else if let id = operation.id {
            state[id] = .some(nil)
        }
    }

    /// Path of the `newswire-crasher` executable built next to the test binary.
    public static func crasherPath() throws -> String {
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
    ///
    /// Spawns and reaps the child with posix_spawn/waitpid directly, so the exit reason is read from the wait
    /// status itself.
    ///
    /// `extraArguments` follow the seed (the cluster mode's store URL); `onAcknowledged` is called with the count
    /// of acknowledgements each time it grows, on the reading thread (a test kills a primary there);
    /// `watchdogSeconds` bounds the whole run.
    public static func run(
        mode: String, directory: String, seed: UInt64, killAfterAcks: Int, extraArguments: [String] = [],
        watchdogSeconds: Double = 30, onAcknowledged: ((Int) throws -> Void)? = nil
    ) throws -> CrashRun {
        let path = try crasherPath()
        var output: [Int32] = [-1, -1]
        var errors: [Int32] = [-1, -1]
        // Close-on-exec, so a crasher spawned concurrently by another test does not inherit (and hold open) these.
        guard pipe(&output) == 0, pipe(&errors) == 0 else {
            throw CrashHarnessError(message: "pipe failed: errno \(errno)")
        }
        for fd in output + errors { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        // Nothing else of the test process (sockets of other tests) leaks into the child.
        let (pid, spawned) = spawnWithoutInheritedDescriptors(
            [path, mode, directory, String(seed)] + extraArguments
        ) { actions in
            posix_spawn_file_actions_adddup2(&actions, output[1], 1)
            posix_spawn_file_actions_adddup2(&actions, errors[1], 2)
            for fd in output + errors { posix_spawn_file_actions_addclose(&actions, fd) }
        }
        close(output[1])
        close(errors[1])
        defer {
            close(output[0])
            close(errors[0])
        }
        guard spawned == 0 else { throw CrashHarnessError(message: "cannot start \(path): error \(spawned)") }
        // Bound the test even if the child stalls: kill it after 30 s regardless.
        let watchdog = DispatchWorkItem { kill(pid, SIGKILL) }
        DispatchQueue.global().asyncAfter(deadline: .now() + watchdogSeconds, execute: watchdog)
        defer { watchdog.cancel() }

        var run = CrashRun()
        var pending: [UInt8] = []
        var killed = false
        var reported = 0
        let decoder = JSONDecoder()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(output[0], $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            pending.append(contentsOf: chunk[0..<n])
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
                    let operation = try decoder.decode(
                        Operation.self, from: Data(rest[rest.index(after: space)...].utf8))
                    run.operations.append((number, operation))
                }
            }
            pending.removeFirst(start)
            if let onAcknowledged, !killed, run.acknowledged.count > reported {
                reported = run.acknowledged.count
                do {
                    try onAcknowledged(reported)
                } catch {
                    kill(pid, SIGKILL)
                    var status: Int32 = 0
                    _ = waitpid(pid, &status, 0)
                    throw error
                }
            }
            if !killed, run.acknowledged.count >= killAfterAcks {
                kill(pid, SIGKILL)
                killed = true
            }
        }
        // A trailing partial line (no newline) was cut by the kill: that write was not acknowledged.
        if !killed { run.standardError = "stdout ended before \(killAfterAcks) acknowledgements; " }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        var reaped: pid_t = -1
        repeat { reaped = waitpid(pid, &status, 0) } while reaped < 0 && errno == EINTR
        if reaped < 0 {
            run.standardError += "waitpid failed: errno \(errno); "
            while kill(pid, 0) == 0 { usleep(1000) }  // reaped elsewhere: at least wait until it is gone
        }
        var stderrBytes: [UInt8] = []
        while true {
            let n = chunk.withUnsafeMutableBytes { read(errors[0], $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            stderrBytes += chunk[0..<n]
        }
        run.standardError += String(decoding: stderrBytes, as: UTF8.self)
        let signal = status & 0x7F
        if signal != 0 && signal != 0x7F {
            run.terminationSignal = signal
        } else {
            run.exitStatus = (status >> 8) & 0xFF
        }
        return run
    }
}

public struct CrashHarnessError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
