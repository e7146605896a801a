import NIOCore
import NewswireModel
import NewswireProtocol
import NewswireServer
import NewswireTestSupport
import Testing

extension ServerOverLoopback {
    /// PROTOCOL.md §9: a connection's budget counts answers not yet taken by its socket; OVERLOADED in its place
    /// says the request is to be retried.
    @Suite("Server: what the per-connection answer budget refuses", .serialized)
    struct AnswerBudgetTests {
        let hello = Request.hello(HelloMessage(clientName: "answer-budget-test"))

        static func errorCodes(_ frames: [Frame]) -> [ProtocolError.Code] {
            frames.compactMap { frame in
                guard frame.opcode == .error, case .error(let error)? = try? Response(frame: frame) else { return nil }
                return error.code
            }
        }

        @Test("streams in progress do not make small answers OVERLOADED on a connection that reads them")
        func streamsDoNotStarveAnswers() async throws {
            try await withLoopbackServer(articles: 300) { server in
                let connection = try RawConnection(port: server.port)
                connection.send(requestBytes([(hello, 0)]))
                _ = try connection.receive(1)
                // 30 SCANs (each stream holds room for its next frame) and 30 SEARCHes, in one segment.
                var requests: [(Request, UInt32)] = []
                for pair in 0..<30 {
                    requests.append((.scan(ScanMessage(order: .byID, limit: 100)), UInt32(2 * pair + 1)))
                    requests.append((.search(SearchRequest(text: "能源", limit: 50)), UInt32(2 * pair + 2)))
                }
                connection.send(requestBytes(requests))
                var finals = 0
                var frames: [Frame] = []
                while finals < 60 {
                    let frame = try connection.receive(1)[0]
                    frames.append(frame)
                    if !frame.header.flags.contains(.moreToFollow) { finals += 1 }
                }
                #expect(Self.errorCodes(frames).isEmpty, "\(Self.errorCodes(frames))")
            }
        }
    }
}
