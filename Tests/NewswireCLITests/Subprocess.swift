import Foundation
import NewswireTestSupport
import Testing

/// The built executables, found next to the test binary (`swift build --build-tests` builds them).
enum Executables {
    static let newswire = locate("newswire")
    static let newswired = locate("newswired")

    private static func locate(_ name: String) -> String {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent()
        for _ in 0..<5 {
            let candidate = directory.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory.deleteLastPathComponent()
        }
        return name  // fails to launch with a clear message: run `swift build` first
    }

    /// The repository root (README examples run from there).
    static let packageRoot = TestPaths.packageRoot(from: #filePath)
}

/// How a subprocess ended and what it printed.
struct Finished: CustomStringConvertible {
    var status: Int32
    /// The signal that killed it, if one did (`status` is then the shell's 128 + signal).
    var signal: Int32?
    var stdout: String
    var stderr: String

    var stderrLines: [String] { stderr.split(separator: "\n").map(String.init) }

    var description: String { "status \(status)\(signal.map { " (signal \($0))" } ?? ""), stdout: \(stdout.prefix(2000)), stderr: \(stderr.prefix(2000))" }
}

/// A subprocess with its output collected; awaiting it never blocks a Swift concurrency thread (the in-process
/// test servers need those).
final class Subprocess: @unchecked Sendable {
    let process = Process()
    private let out = Pipe()
    private let err = Pipe()
    private let lock = NSLock()
    private var stdoutData = Data()
    private var stderrData = Data()
    private var lineWaiters:
        [(isStderr: Bool, predicate: (String) -> Bool, continuation: CheckedContinuation<String?, Never>)] = []
    private var stderrClosed = false
    private var stdoutClosed = false
    private let readers = DispatchGroup()

    /// Starts `executable`. The environment is this process's without `NEWSWIRE_*` (plus `environment`), colour
    /// off. `stdout: .closedReader` gives it a pipe whose reading end is already closed (a reader that left).
    init(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:], stdin: Data? = nil,
        stdoutReaderClosed: Bool = false, currentDirectory: String = Executables.packageRoot
    ) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory)
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("NEWSWIRE_") }
        env["NO_COLOR"] = "1"
        for (key, value) in environment { env[key] = value }
        process.environment = env
        if stdoutReaderClosed {
            try out.fileHandleForReading.close()
        }
        process.standardOutput = out
        process.standardError = err
        let input = Pipe()
        process.standardInput = input
        try process.run()
        try? out.fileHandleForWriting.close()
        try? err.fileHandleForWriting.close()
        if let stdin { input.fileHandleForWriting.write(stdin) }
        try? input.fileHandleForWriting.close()
        if !stdoutReaderClosed { drain(out.fileHandleForReading, isStderr: false) }
        drain(err.fileHandleForReading, isStderr: true)
    }

    private func drain(_ handle: FileHandle, isStderr: Bool) {
        readers.enter()
        Thread.detachNewThread { [self] in
            defer { readers.leave() }
            while true {
                let chunk = handle.availableData
                lock.lock()
                if chunk.isEmpty {
                    if isStderr { stderrClosed = true } else { stdoutClosed = true }
                    let waiters = lineWaiters.filter { $0.isStderr == isStderr }
                    lineWaiters.removeAll { $0.isStderr == isStderr }
                    lock.unlock()
                    for waiter in waiters { waiter.continuation.resume(returning: nil) }
                    return
                }
                if isStderr { stderrData.append(chunk) } else { stdoutData.append(chunk) }
                let text = String(decoding: isStderr ? stderrData : stdoutData, as: UTF8.self)
                var ready: [(CheckedContinuation<String?, Never>, String)] = []
                do {
                    lineWaiters.removeAll { waiter in
                        guard waiter.isStderr == isStderr else { return false }
                        if let line = text.split(separator: "\n").map(String.init).first(where: waiter.predicate) {
                            ready.append((waiter.continuation, line))
                            return true
                        }
                        return false
                    }
                }
                lock.unlock()
                for (continuation, line) in ready { continuation.resume(returning: line) }
            }
        }
    }

    /// The first stderr line matching `predicate`, once printed; nil if stderr closed without one.
    func stderrLine(where predicate: @escaping (String) -> Bool) async -> String? {
        await line(stderr: true, where: predicate)
    }

    /// The first stdout line matching `predicate`, once printed; nil if stdout closed without one.
    func stdoutLine(where predicate: @escaping (String) -> Bool) async -> String? {
        await line(stderr: false, where: predicate)
    }

    private func line(stderr isStderr: Bool, where predicate: @escaping (String) -> Bool) async -> String? {
        await withCheckedContinuation { continuation in
            lock.lock()
            let text = String(decoding: isStderr ? stderrData : stdoutData, as: UTF8.self)
            if let line = text.split(separator: "\n").map(String.init).first(where: predicate) {
                lock.unlock()
                continuation.resume(returning: line)
            } else if isStderr ? stderrClosed : stdoutClosed {
                lock.unlock()
                continuation.resume(returning: nil)
            } else {
                lineWaiters.append((isStderr, predicate, continuation))
                lock.unlock()
            }
        }
    }

    func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    /// Waits for the exit (on a dispatch thread) and returns the outcome.
    func finished() async -> Finished {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async { [self] in
                process.waitUntilExit()
                readers.wait()
                continuation.resume()
            }
        }
        let (stdoutData, stderrData) = lock.withLock { (self.stdoutData, self.stderrData) }
        let signalled = process.terminationReason == .uncaughtSignal
        return Finished(
            status: signalled ? 128 + process.terminationStatus : process.terminationStatus,
            signal: signalled ? process.terminationStatus : nil,
            stdout: String(decoding: stdoutData, as: UTF8.self), stderr: String(decoding: stderrData, as: UTF8.self))
    }
}

/// Runs `newswire ARGUMENTS` to the end.
func newswire(
    _ arguments: [String], environment: [String: String] = [:], stdin: Data? = nil, stdoutReaderClosed: Bool = false
) async throws -> Finished {
    try await Subprocess(
        Executables.newswire, arguments, environment: environment, stdin: stdin,
        stdoutReaderClosed: stdoutReaderClosed
    ).finished()
}

/// Runs `newswire ARGUMENTS` against `port` on 127.0.0.1 (through NEWSWIRE_ADDR, as a user would set it once).
func newswire(_ arguments: [String], port: Int, stdin: Data? = nil, stdoutReaderClosed: Bool = false) async throws -> Finished {
    try await newswire(
        arguments, environment: ["NEWSWIRE_ADDR": "127.0.0.1:\(port)"], stdin: stdin,
        stdoutReaderClosed: stdoutReaderClosed)
}

/// A free TCP port on 127.0.0.1 held open (listening) until `close()`: a port that is certainly in use.
final class HeldPort {
    let port: Int
    private var descriptor: Int32

    /// `listening: false` binds without listening: connecting to it is refused, as to a port nobody serves.
    init(listening: Bool = true) throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(descriptor, pointer, length) == 0 && (!listening || listen(descriptor, 1) == 0)
                    && getsockname(descriptor, pointer, &length) == 0
            }
        }
        guard bound else {
            _ = Glibc.close(descriptor)
            throw POSIXError(.EADDRINUSE)
        }
        self.descriptor = descriptor
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    /// Plays another service on this (listening) port for one connection: reads what the client sends first,
    /// answers `reply`, and closes.
    func answerOnce(with reply: String) {
        let listener = descriptor
        Thread.detachNewThread {
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { return }
            var request = [UInt8](repeating: 0, count: 4_096)
            _ = read(connection, &request, request.count)
            _ = reply.withCString { write(connection, $0, strlen($0)) }
            _ = Glibc.close(connection)
        }
    }

    func close() {
        if descriptor >= 0 { _ = Glibc.close(descriptor) }
        descriptor = -1
    }

    deinit { close() }
}
