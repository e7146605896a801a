import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A throwaway PostgreSQL server for tests: `initdb` into a temp directory, a free loopback port, stopped by pid.
///
/// PostgreSQL refuses to run as root, so when the tests run as root every PostgreSQL program runs as the
/// `postgres` user through `runuser -u postgres --` (the directory is handed to that user). ``makeStandby()``
/// adds a streaming replica with `pg_basebackup -R`, optionally as the synchronous standby.
///
/// Test clusters run with `fsync = off`: a SIGKILL of the server loses nothing committed (the WAL is in the OS
/// page cache), which is what the tests kill; only an OS crash would, and no test makes one.
public final class TemporaryPostgres: @unchecked Sendable {
    /// Where PostgreSQL's programs are, or nil: `NEWSWIRE_PG_BINDIR`, else `pg_config --bindir`, else the newest
    /// `/usr/lib/postgresql/*/bin` holding `initdb`.
    public static let binDirectory: String? = {
        func hasInitdb(_ dir: String) -> Bool { access(dir + "/initdb", X_OK) == 0 && access(dir + "/pg_ctl", X_OK) == 0 }
        if let dir = ProcessInfo.processInfo.environment["NEWSWIRE_PG_BINDIR"], hasInitdb(dir) { return dir }
        for pgConfig in ["/usr/bin/pg_config", "/usr/local/bin/pg_config"] where access(pgConfig, X_OK) == 0 {
            if let out = try? run(pgConfig, ["--bindir"]).output.trimmingCharacters(in: .whitespacesAndNewlines),
                hasInitdb(out)
            {
                return out
            }
        }
        let base = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? [])
            .compactMap(Int.init).sorted(by: >)
        for version in versions where hasInitdb("\(base)/\(version)/bin") { return "\(base)/\(version)/bin" }
        return nil
    }()

    /// Why PostgreSQL tests cannot run here, or nil when they can.
    public static let unavailableReason: String? = {
        guard binDirectory != nil else {
            return "PostgreSQL binaries (initdb, pg_ctl) not found: install the postgresql package "
                + "(.ci/run does) or set NEWSWIRE_PG_BINDIR"
        }
        if geteuid() == 0 {
            guard access("/usr/sbin/runuser", X_OK) == 0 || access("/sbin/runuser", X_OK) == 0 else {
                return "running as root and runuser is missing, so PostgreSQL cannot be started"
            }
            guard getpwnam("postgres") != nil else {
                return "running as root and there is no postgres user to run PostgreSQL as"
            }
        }
        return nil
    }()

    /// Whether PostgreSQL tests can run here.
    public static var isAvailable: Bool { unavailableReason == nil }

    /// The directory holding this server's data directory, socket and log.
    public let directory: String
    /// The data directory.
    public let dataDirectory: String
    /// The loopback port it listens on.
    public let port: Int
    /// The postmaster's pid while it runs.
    public private(set) var pid: pid_t = 0
    private let ownsDirectory: Bool

    /// Creates and starts a new cluster.
    public init() throws {
        if let reason = Self.unavailableReason { throw TemporaryPostgresError(reason) }
        directory = Self.makeDirectory()
        dataDirectory = directory + "/data"
        port = try Self.freePort()
        ownsDirectory = true
        try runAsPostgres(
            "initdb", ["-D", dataDirectory, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8",
                "--locale=C"])
        try appendConfiguration([
            "listen_addresses = '127.0.0.1'", "port = \(port)", "unix_socket_directories = '\(directory)'",
            "fsync = off", "wal_level = replica", "max_wal_senders = 8", "hot_standby = on",
            "max_connections = 200", "shared_buffers = 32MB", "wal_sender_timeout = 5s",
            "wal_receiver_status_interval = 1s",
        ])
        try start()
    }

    private init(standbyOf primary: TemporaryPostgres, applicationName: String) throws {
        directory = Self.makeDirectory()
        dataDirectory = directory + "/data"
        port = try Self.freePort()
        ownsDirectory = true
        try runAsPostgres(
            "pg_basebackup",
            ["-D", dataDirectory, "-h", "127.0.0.1", "-p", "\(primary.port)", "-U", "postgres", "-R", "-X", "stream",
                "--no-sync"])
        try appendConfiguration(["port = \(port)", "unix_socket_directories = '\(directory)'"])
        // `-R` wrote primary_conninfo to postgresql.auto.conf, which is read last: name the standby there.
        try appendConfiguration(
            [
                "primary_conninfo = 'host=127.0.0.1 port=\(primary.port) user=postgres "
                    + "application_name=\(applicationName)'"
            ], file: "postgresql.auto.conf")
        try start()
    }

    private static func makeDirectory() -> String {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("newswire-pg-\(UUID().uuidString.prefix(8))").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        if geteuid() == 0, let user = getpwnam("postgres") {
            _ = chown(path, user.pointee.pw_uid, user.pointee.pw_gid)
        }
        return path
    }

    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TemporaryPostgresError("socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw TemporaryPostgresError("bind to a free loopback port failed") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private func appendConfiguration(_ lines: [String], file: String = "postgresql.conf") throws {
        let path = dataDirectory + "/" + file
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(("\n" + lines.joined(separator: "\n") + "\n").utf8))
    }

    /// Starts the server (after ``init()`` it runs already) and waits until it accepts connections.
    public func start() throws {
        try runAsPostgres(
            "pg_ctl", ["-D", dataDirectory, "-l", directory + "/server.log", "-w", "-t", "120", "start"])
        let pidText = try String(contentsOfFile: dataDirectory + "/postmaster.pid", encoding: .utf8)
        guard let first = pidText.split(separator: "\n").first, let value = pid_t(first) else {
            throw TemporaryPostgresError("cannot read the postmaster pid in \(dataDirectory)")
        }
        pid = value
    }

    /// A URL for `database` on this server (user `postgres`, no password: the test cluster trusts loopback).
    public func url(database: String = "postgres") -> String {
        "postgres://postgres@127.0.0.1:\(port)/\(database)"
    }

    /// Runs `sql` with psql on `database`; returns its unaligned output.
    @discardableResult
    public func psql(_ sql: String, database: String = "postgres") throws -> String {
        try runAsPostgres(
            "psql", ["-h", "127.0.0.1", "-p", "\(port)", "-U", "postgres", "-d", database, "-X", "-A", "-t",
                "-v", "ON_ERROR_STOP=1", "-c", sql]
        ).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Creates a fresh database and returns its name.
    public func createDatabase(_ prefix: String = #function) throws -> String {
        let name = "t_" + prefix.lowercased().filter { $0.isLetter || $0.isNumber }.prefix(20)
            + "_" + UUID().uuidString.prefix(8).lowercased()
        try psql("CREATE DATABASE \(name)")
        return name
    }

    /// Starts a streaming standby of this server (`pg_basebackup -R`); with `synchronous`, makes it the
    /// synchronous standby (`synchronous_standby_names`) and waits until the primary reports it as `sync`.
    public func makeStandby(synchronous: Bool) throws -> TemporaryPostgres {
        let name = "newswire_standby_\(UUID().uuidString.prefix(6).lowercased())"
        let standby = try TemporaryPostgres(standbyOf: self, applicationName: name)
        if synchronous {
            try psql("ALTER SYSTEM SET synchronous_standby_names = '\(name)'")
            try psql("SELECT pg_reload_conf()")
        }
        let wanted = synchronous ? "sync" : "async"
        try waitUntil("the standby \(name) streams as \(wanted)", timeout: 60) {
            (try? psql("SELECT sync_state FROM pg_stat_replication WHERE application_name = '\(name)'"))
                == wanted
        }
        return standby
    }

    /// Promotes this standby to primary and waits until it accepts writes.
    public func promote() throws {
        try runAsPostgres("pg_ctl", ["-D", dataDirectory, "-w", "-t", "60", "promote"])
        try waitUntil("the promoted standby leaves recovery", timeout: 60) {
            (try? psql("SELECT pg_is_in_recovery()")) == "f"
        }
    }

    /// Kills the postmaster with SIGKILL (a crash: its backends exit when they notice) and waits until it is gone.
    public func kill9() throws {
        guard pid > 0 else { return }
        kill(pid, SIGKILL)
        try waitForExit()
    }

    /// Stops the server (fast shutdown) and waits until its postmaster is gone.
    public func stop() throws {
        guard pid > 0 else { return }
        kill(pid, SIGINT)
        try waitForExit()
    }

    private func waitForExit() throws {
        let victim = pid
        try waitUntil("PostgreSQL pid \(victim) exits", timeout: 60) { kill(victim, 0) != 0 && errno == ESRCH }
        pid = 0
        // Backends of a killed postmaster exit on their own once they notice; the port and shared memory are
        // free when no process holds the data directory any more.
        try waitUntil("the backends of pid \(victim) exit", timeout: 60) { !Self.anyProcessHolds(self.dataDirectory) }
    }

    /// Whether a running process has `directory` as its working directory (PostgreSQL's backends do).
    private static func anyProcessHolds(_ directory: String) -> Bool {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return false }
        for entry in entries where Int(entry) != nil {
            if let cwd = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(entry)/cwd"),
                cwd == directory
            {
                return true
            }
        }
        return false
    }

    deinit {
        if pid > 0 {
            kill(pid, SIGKILL)
            let deadline = Date().addingTimeInterval(30)
            while kill(pid, 0) == 0, Date() < deadline { usleep(10_000) }
        }
        if ownsDirectory { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// The server log, for failure messages.
    public var log: String { (try? String(contentsOfFile: directory + "/server.log", encoding: .utf8)) ?? "" }

    // MARK: Running programs

    @discardableResult
    private func runAsPostgres(_ program: String, _ arguments: [String]) throws -> String {
        guard let bin = Self.binDirectory else { throw TemporaryPostgresError(Self.unavailableReason ?? "") }
        let result: (status: Int32, output: String)
        if geteuid() == 0 {
            let runuser = access("/usr/sbin/runuser", X_OK) == 0 ? "/usr/sbin/runuser" : "/sbin/runuser"
            result = try Self.run(runuser, ["-u", "postgres", "--", bin + "/" + program] + arguments, in: directory)
        } else {
            result = try Self.run(bin + "/" + program, arguments, in: directory)
        }
        guard result.status == 0 else {
            throw TemporaryPostgresError(
                "\(program) \(arguments.joined(separator: " ")) failed (exit \(result.status)): \(result.output)")
        }
        return result.output
    }

    /// Runs a program and waits for it with posix_spawn/waitpid (Foundation's `Process` missed the exit of
    /// `pg_ctl start` now and then, whose postmaster outlives it); output goes through a file, which the
    /// daemonized postmaster cannot hold open the way it could a pipe.
    private static func run(_ path: String, _ arguments: [String], in directory: String? = nil) throws
        -> (status: Int32, output: String)
    {
        let outputPath = FileManager.default.temporaryDirectory
            .appendingPathComponent("newswire-pg-output-\(UUID().uuidString)").path
        defer { unlink(outputPath) }
        var command = [path] + arguments
        if let directory {
            // posix_spawn has no portable chdir action: go through sh, with the arguments passed positionally.
            command = ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", directory] + command
        }
        // The test process's own sockets (other tests' PostgreSQL connections) must not leak into the server: a
        // postmaster holding a copy keeps a connection open after its real peer was killed, and the client then
        // waits forever for an answer.
        let (pid, spawned) = spawnWithoutInheritedDescriptors(command) { actions in
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        guard spawned == 0 else { throw TemporaryPostgresError("cannot start \(path): error \(spawned)") }
        var status: Int32 = 0
        var reaped: pid_t = -1
        repeat { reaped = waitpid(pid, &status, 0) } while reaped < 0 && errno == EINTR
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        let exitCode: Int32 = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        return (exitCode, output)
    }
}

/// Polls `condition` every 10 ms until it holds; throws naming `what` after `timeout` seconds.
public func waitUntil(_ what: String, timeout: Double, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while true {
        if try condition() { return }
        if Date() > deadline { throw TemporaryPostgresError("timed out after \(Int(timeout)) s waiting until \(what)") }
        usleep(10_000)
    }
}

/// A temp-PostgreSQL failure, with the command's output.
public struct TemporaryPostgresError: Error, CustomStringConvertible {
    /// What failed.
    public var description: String
    init(_ description: String) { self.description = description }
}
