import Foundation
import Testing

@Suite("newswire get --json and parse --json print the same bytes (subprocess)", .timeLimit(.minutes(5)))
struct ArticleJSONOutputTests {
    @Test("the seed page: get --json from the server is byte-identical to parse --json of the file")
    func getEqualsParse() async throws {
        let server = try await cliServer()
        defer { Task { try? await server.stop() } }
        let parsed = try await newswire(["parse", "--json", Executables.packageRoot + "/seeds/000_f02fe202e61b6c80.txt"])
        #expect(parsed.status == 0, "\(parsed)")
        let fetched = try await newswire(["get", "a88f8155a19674d9dfee154eb3f71126", "--json"], port: server.port)
        #expect(fetched.status == 0, "\(fetched)")
        #expect(!parsed.stdout.isEmpty)
        #expect(fetched.stdout == parsed.stdout)
        try await server.stop()
    }
}
