import Foundation
import NIOCore

/// How many SwiftNIO network threads `newswired` runs when not told (`--event-loops 0`).
public enum NetworkThreads {
    /// One per core the process may run on: SwiftNIO's count (which honours cgroup CPU quotas and cpusets), capped
    /// by the CPUs the process's affinity allows (`taskset`, `numactl`, `docker --cpuset-cpus` seen from inside).
    /// More event loops than usable cores time-slice on them: a request that lands on a loop that is not running
    /// waits out the other's slice (measured: GET p99 fixed at 8 ms with two loops on one core, 4.2 ms with one;
    /// BENCHMARKS.md).
    public static var defaultCount: Int {
        let cores = System.coreCount
        guard let allowed = allowedCPUCount() else { return max(1, cores) }
        return max(1, min(cores, allowed))
    }

    /// CPUs in this process's affinity mask, from `Cpus_allowed_list` in `/proc/self/status` (Linux); nil where
    /// that is not available. (Glibc's `sched_getaffinity` is not visible to Swift.)
    static func allowedCPUCount(status: String? = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8))
        -> Int?
    {
        guard let status,
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") })
        else { return nil }
        return cpuCount(inList: line.dropFirst("Cpus_allowed_list:".count))
    }

    /// The number of CPUs in a kernel CPU list such as `0-3,8,10-11`; nil when it does not parse.
    static func cpuCount(inList list: Substring) -> Int? {
        var count = 0
        for part in list.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = part.trimmingCharacters(in: .whitespaces).split(separator: "-", omittingEmptySubsequences: false)
            guard let first = bounds.first.flatMap({ Int($0) }) else { return nil }
            switch bounds.count {
            case 1: count += 1
            case 2:
                guard let last = Int(bounds[1]), last >= first else { return nil }
                count += last - first + 1
            default: return nil
            }
        }
        return count > 0 ? count : nil
    }
}
