import Foundation
import NewswireClient
import NewswireTestSupport
import Testing

/// `newswired` started as a user starts it.
@Suite("newswired as a user runs it (subprocess)", .serialized, .timeLimit(.minutes(5)))
struct ServerExecutableTests {
    @Test("a port in use is one line naming it, exit 1, checked before the seeds are ingested")
    func portInUse() async throws {
        let held = try HeldPort()
        let directory = TemporaryDirectory()
        let dataDirectory = directory.file("data")
        let finished = try await Subprocess(
            Executables.newswired, ["--port", "\(held.port)", "--data-dir", dataDirectory]
        ).finished()
        #expect(finished.status == 1, "\(finished)")
        #expect(
            finished.stderr
                == "newswired: 127.0.0.1:\(held.port) is already in use (another newswired?); pick another with --port\n",
            "\(finished)")
        // No work was done: the data directory was never created, let alone seeded.
        #expect(!FileManager.default.fileExists(atPath: dataDirectory))
        held.close()
    }

    @Test("a second server on the same data directory exits 1 with one line, no usage text")
    func dataDirectoryInUse() async throws {
        let directory = TemporaryDirectory()
        let first = try ServerProcess(dataDirectory: directory.path)
        _ = try await first.waitUntilListening()
        let second = try await Subprocess(
            Executables.newswired, ["--port", "0", "--no-seeds", "--data-dir", directory.path]
        ).finished()
        #expect(second.status == 1, "\(second)")
        let ownLines = second.stderrLines.filter { $0.hasPrefix("newswired: ") }
        #expect(ownLines.count == 1 && ownLines[0].contains("in use"), "\(second)")
        #expect(!second.stderr.contains("Usage"), "\(second)")
        let stopped = await first.stop()
        #expect(stopped.status == 0, "\(stopped)")
        // The log says where it listened as users write addresses, and that the snapshot was saved at the end.
        #expect(stopped.stderr.contains("newswire_address=127.0.0.1:"), "\(stopped)")
        #expect(stopped.stderrLines.last?.contains("stopped; index snapshot saved") == true, "\(stopped)")
    }

    @Test("an open-file limit too low for --max-connections: said at start, the connections that fit, OVERLOADED past them")
    func lowOpenFileLimit() async throws {
        let directory = TemporaryDirectory()
        // 66 files: 64 stay for the store and the server, so 2 connections fit (not the default 1,024). One event
        // loop: each loop holds descriptors of its own, so the server's needs do not grow with the machine's cores.
        let server = try Subprocess(
            "/bin/sh",
            [
                "-c", "ulimit -n 66 && exec \"$0\" \"$@\"", Executables.newswired, "--port", "0", "--no-seeds",
                "--data-dir", directory.path, "--log-level", "notice", "--event-loops", "1",
            ])
        let warning = try #require(await server.stderrLine { $0.contains("open-file limit") }, "no warning")
        #expect(warning.contains("(66, hard limit 66) leaves room for 2 connections, not --max-connections 1024"), "\(warning)")
        let line = try #require(
            await server.stderrLine { $0.contains("listening") && $0.contains("newswire_address") }, "did not start")
        let port = try #require(ServerProcess.port(after: "127.0.0.1:", in: line))
        func client() -> NewswireClient {
            NewswireClient(configuration: .init(host: "127.0.0.1", port: port, maxRetries: 0))
        }
        let first = client()
        let second = client()
        let third = client()
        _ = try await first.ping()
        _ = try await second.ping()
        do {
            _ = try await third.ping()
            Issue.record("a third connection was served")
        } catch let error as NewswireClientError {
            // Refused at the handshake: the client reports the connection failed, with the server's reason.
            #expect(error.serverError?.code == .overloaded, "\(error)")
            #expect(error.message.contains("already has 2 connections"), "\(error)")
        }
        await first.shutdown()
        await second.shutdown()
        await third.shutdown()
        server.signal(SIGTERM)
        let finished = await server.finished()
        #expect(finished.status == 0, "\(finished)")
    }

    @Test("TLS files that are missing or not PEM fail the start (exit 1, one line naming the file) before the data directory is touched")
    func badTLSFiles() async throws {
        let directory = TemporaryDirectory()
        let garbage = directory.file("garbage.pem")
        try "not a certificate\n".write(toFile: garbage, atomically: true, encoding: .utf8)
        for (certificate, key, named) in [
            (directory.file("absent.pem"), garbage, "--tls-cert \(directory.file("absent.pem")): no readable file"),
            (garbage, directory.file("absent.key"), "--tls-key \(directory.file("absent.key")): no readable file"),
            (garbage, garbage, "--tls-cert \(garbage): cannot read a PEM certificate chain"),
        ] {
            let dataDirectory = directory.file("data")
            let finished = try await Subprocess(
                Executables.newswired,
                ["--port", "0", "--data-dir", dataDirectory, "--tls-cert", certificate, "--tls-key", key]
            ).finished()
            #expect(finished.status == 1, "\(finished)")
            let ownLines = finished.stderrLines.filter { $0.hasPrefix("newswired: ") }
            #expect(ownLines.count == 1 && ownLines[0].hasPrefix("newswired: \(named)"), "\(finished)")
            #expect(!finished.stderr.contains("Usage"), "\(finished)")
            #expect(!FileManager.default.fileExists(atPath: dataDirectory), "the store was opened first")
        }
    }

    @Test("a stop whose index snapshot cannot be saved is still a graceful stop (exit 0), saying the next start replays the store")
    func stopWithoutSnapshot() async throws {
        let directory = TemporaryDirectory()
        // A directory where the snapshot file goes: every snapshot write fails (as on a full disk).
        try FileManager.default.createDirectory(
            atPath: directory.file("index.snapshot"), withIntermediateDirectories: true)
        let server = try ServerProcess(dataDirectory: directory.path)
        let port = try await server.waitUntilListening()
        let client = NewswireClient(configuration: .init(host: "127.0.0.1", port: port))
        _ = try await client.put([syntheticArticle(1)])  // something the snapshot would hold
        await client.shutdown()
        let stopped = await server.stop()
        #expect(stopped.status == 0, "\(stopped)")
        #expect(stopped.stderr.contains("the index snapshot was not saved"), "\(stopped)")
        #expect(!stopped.stderrLines.contains { $0.hasPrefix("newswired: ") }, "\(stopped)")
    }

    @Test("an open-file limit too low to start at all is one line and exit 1, not a crash")
    func openFileLimitTooLowToStart() async throws {
        let directory = TemporaryDirectory()
        for limit in [12, 16, 18] {
            let finished = try await Subprocess(
                "/bin/sh",
                [
                    "-c", "ulimit -n \(limit) && exec \"$0\" \"$@\"", Executables.newswired, "--port", "0", "--no-seeds",
                    "--data-dir", directory.file("data"),
                ]
            ).finished()
            #expect(finished.status == 1, "limit \(limit): \(finished)")
            let ownLines = finished.stderrLines.filter { $0.hasPrefix("newswired: ") }
            #expect(ownLines.count == 1 && ownLines[0].contains("is too low to start"), "limit \(limit): \(finished)")
        }
    }

    @Test("a bad option is a usage error (64); a bad --metrics address, or a setting in the environment, too")
    func badOptions() async throws {
        let port = try await Subprocess(Executables.newswired, ["--port", "70000"]).finished()
        #expect(port.status == 64, "\(port)")
        let metrics = try await Subprocess(Executables.newswired, ["--metrics", "nowhere"]).finished()
        #expect(metrics.status == 64 && metrics.stderr.contains("is not ADDR:PORT"), "\(metrics)")
        // A read token alone would let every reader write (SECURITY.md): refused before anything starts.
        let readOnly = try await Subprocess(
            Executables.newswired, ["--no-seeds", "--data-dir", "/dev/null/newswire-data", "--read-token-file", "read.token"]
        ).finished()
        #expect(readOnly.status == 64 && readOnly.stderr.contains("--read-token-file needs --token-file"), "\(readOnly)")
        // A setting from the environment that does not parse names itself; it is not replaced by the default.
        for (name, value, expected) in [
            ("NEWSWIRE_PORT", "seventy", "a whole number"), ("NEWSWIRE_RECORD_CACHE_MB", "1G", "a whole number"),
            ("NEWSWIRE_MERGE_PRIORITY", "lowest", "low or normal"), ("NEWSWIRE_WRITE_CORES", "2", "all or one"),
        ] {
            // A data directory that cannot be made: were the setting taken in silence, the server would exit 1.
            let bad = try await Subprocess(
                Executables.newswired, ["--no-seeds", "--data-dir", "/dev/null/newswire-data"], environment: [name: value]
            ).finished()
            #expect(bad.status == 64 && bad.stderr.contains("\(name)=\(value) is not \(expected)"), "\(bad)")
        }
    }
}

/// A `newswired` subprocess on 127.0.0.1 port 0 without seeds.
final class ServerProcess: @unchecked Sendable {
    let process: Subprocess

    init(dataDirectory: String, extra: [String] = []) throws {
        process = try Subprocess(
            Executables.newswired,
            ["--port", "0", "--no-seeds", "--data-dir", dataDirectory, "--log-level", "notice"] + extra)
    }

    /// The port from the "listening" log line.
    func waitUntilListening() async throws -> Int {
        let line = try #require(
            await process.stderrLine { $0.contains("listening") && $0.contains("newswire_address") },
            "newswired did not start")
        return try #require(Self.port(after: "127.0.0.1:", in: line))
    }

    /// The number after `prefix` in `line` (the first run of digits).
    static func port(after prefix: String, in line: String) -> Int? {
        guard let range = line.range(of: prefix, options: .backwards) else { return nil }
        return Int(line[range.upperBound...].prefix { $0.isNumber })
    }

    /// SIGTERM (graceful shutdown) and the outcome.
    func stop() async -> Finished {
        process.signal(SIGTERM)
        return await process.finished()
    }
}
