#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// CPU time of processes: this one precisely, others from `/proc/<pid>/stat` (Linux, clock-tick resolution).
public enum ProcessCPU {
    /// User + system CPU seconds this process has used.
    public static func ownSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec)
            + Double(usage.ru_stime.tv_usec) / 1e6
    }

    /// User + system CPU seconds of process `pid` (all its threads), or nil when it cannot be read.
    public static func seconds(ofProcess pid: Int32) -> Double? {
        guard let text = readFile("/proc/\(pid)/stat") else { return nil }
        // The command name (field 2) is parenthesised and may contain spaces: fields resume after the last ')'.
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After ')': field 3 (state) is index 0, so utime (14) is index 11 and stime (15) index 12.
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return (user + system) / (ticks > 0 ? ticks : 100)
    }

    /// CPU seconds that other processes (servers under load) use over a window: sampled when made, read with
    /// ``seconds()``.
    public struct Window: Sendable {
        private let pids: [Int32]
        private let starts: [Double?]

        public init(pids: [Int32]) {
            self.pids = pids
            starts = pids.map { ProcessCPU.seconds(ofProcess: $0) }
        }

        /// User + system CPU seconds the processes used since the window opened (those readable at both ends), or
        /// nil when it watches no process.
        public func seconds() -> Double? {
            guard !pids.isEmpty else { return nil }
            var total = 0.0
            for (pid, start) in zip(pids, starts) {
                if let start, let end = ProcessCPU.seconds(ofProcess: pid) { total += end - start }
            }
            return total
        }
    }

    private static func readFile(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count <= 0 { break }
            bytes += chunk[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
