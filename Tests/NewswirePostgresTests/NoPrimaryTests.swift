import Foundation
import Logging
import NewswirePostgres
import NewswireStore
import NewswireTestSupport
import Testing

/// Needs no PostgreSQL: nothing answers on the port it is given.
@Suite("PostgreSQL store with no primary to find")
struct NoPrimaryTests {
    @Test("while no host answers it warns once, naming each host's reason; at the deadline it is CANNOT_OPEN")
    func noPrimary() async throws {
        let port = try unusedPort()
        let recorder = LogRecorder()
        let logger = Logger(label: "no-primary") { recorder.handler(label: $0) }
        let url = try PostgresStoreURL(parsing: "postgres://postgres@127.0.0.1:\(port)/newswire")
        let error = try await runBlocking {
            #expect(throws: StoreError.self) {
                try PostgresArticleStore(
                    url: url, configuration: .init(failoverTimeout: .seconds(2)), logger: logger)
            }
        }
        #expect(error?.code == .cannotOpen && error?.message.contains("127.0.0.1:\(port) unreachable") == true)
        let warnings = recorder.all.filter { $0.contains("no writable PostgreSQL primary yet") }
        #expect(warnings.count == 1, "\(recorder.all)")
        #expect(warnings.first?.contains("127.0.0.1:\(port) unreachable") == true, "\(warnings)")
    }

    /// A loopback port nothing listens on: bound to find one, then closed.
    func unusedPort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0
            }
        }
        guard bound else { throw POSIXError(.EADDRNOTAVAIL) }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
