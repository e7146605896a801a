import Foundation
import NIOCore
@testable import NewswireServer
import Testing

@Suite("Default network threads follow the CPUs the process may run on")
struct NetworkThreadsTests {
    @Test("kernel CPU lists count every CPU once", arguments: [
        ("0", 1), ("1", 1), ("0-1", 2), ("0-3,8,10-11", 7), (" 2-2", 1), ("0,2,4,6", 4),
    ])
    func cpuLists(list: String, expected: Int) {
        #expect(NetworkThreads.cpuCount(inList: Substring(list)) == expected)
    }

    @Test("malformed CPU lists give no count", arguments: ["", "a", "3-1", "1-2-3", "0,", "-1"])
    func malformedLists(list: String) {
        #expect(NetworkThreads.cpuCount(inList: Substring(list)) == nil)
    }

    @Test("the affinity line of /proc/self/status is the one read")
    func statusLine() {
        let status = "Name:\tnewswired\nCpus_allowed:\t2\nCpus_allowed_list:\t1\nMems_allowed_list:\t0\n"
        #expect(NetworkThreads.allowedCPUCount(status: status) == 1)
        #expect(NetworkThreads.allowedCPUCount(status: "Name:\tx\n") == nil)
        #expect(NetworkThreads.allowedCPUCount(status: nil) == nil)
    }

    @Test("the default never exceeds the affinity mask nor SwiftNIO's core count")
    func defaultCount() {
        let count = NetworkThreads.defaultCount
        #expect(count >= 1)
        #expect(count <= System.coreCount)
        if let allowed = NetworkThreads.allowedCPUCount() { #expect(count <= allowed) }
    }
}
