import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NewswireClient
import NewswireProtocol
import NewswireTestSupport
import Testing

@testable import NewswireServer

let writeToken = "w-7f3c9a1e-secret-write-token"
let readToken = "r-2b8d4f60-secret-read-token"

@Suite("Authentication over real sockets", .serialized, .timeLimit(.minutes(5)))
struct AuthTests {
    @Test("INGEST without a token: UNAUTHORISED naming the fix; reads on the same connection still work")
    func ingestWithoutToken() async throws {
        try await withAttack(token: writeToken, configure: { $0.writeToken = writeToken }) { server in
            let connection = try await RawConnection.handshaken(port: server.port)
            try await connection.send(
                .ingest(IngestMessage(page: ByteBuffer(string: "<html><title>x</title><p>正文</p></html>"))),
                id: RequestID(40))
            let error = try await connection.nextError()
            #expect(error.code == .unauthorised)
            #expect(error.requestID == RequestID(40))
            #expect(error.message.contains("--token"))
            #expect(!error.isRetryable)
            try await connection.send(.get(GetMessage(id: ArticleID("probe-3"))), id: RequestID(41))
            guard case .article = try await connection.nextResponse() else {
                Issue.record("GET refused on a connection without a token on a server with only a write token")
                return
            }
        }
    }

    @Test("a wrong token in HELLO is welcomed with no access (PROTOCOL.md §6.3): its writes get UNAUTHORISED")
    func wrongTokenInHello() async throws {
        try await withAttack(token: writeToken, configure: { $0.writeToken = writeToken }) { server in
            let connection = try await RawConnection.connect(port: server.port)
            guard case .welcome = try await connection.hello(token: writeToken + "x") else {
                Issue.record("a wrong token was refused at the handshake; the spec says it is never a handshake error")
                return
            }
            try await connection.send(.put(PutMessage(records: [ArticleRecord(probeArticle(7))])), id: RequestID(3))
            let error = try await connection.nextError()
            #expect(error.code == .unauthorised)
            #expect(error.requestID == RequestID(3))
            #expect(!error.message.contains(writeToken))
            try await expectStillServes(connection)
        }
    }

    @Test("auth failures are limited per connection: the third refused write (limit 3) closes it; nothing behind runs")
    func authFailuresCloseTheConnection() async throws {
        try await withAttack(
            token: writeToken,
            configure: {
                $0.writeToken = writeToken
                $0.limits.maxAuthFailuresPerConnection = 3
            }
        ) { server in
            let connection = try await RawConnection.handshaken(port: server.port)
            var bytes = ByteBuffer()
            for n in 1...3 {
                var frame = RawConnection.frame(
                    .delete(DeleteMessage(ids: [ArticleID("probe-\(n)")])), id: RequestID(UInt32(n)))
                bytes.writeBuffer(&frame)
            }
            var tail = RawConnection.frame(.delete(DeleteMessage(ids: [ArticleID("probe-9")])), id: RequestID(4))
            bytes.writeBuffer(&tail)
            var ping = RawConnection.frame(.ping(PingMessage()), id: RequestID(5))
            bytes.writeBuffer(&ping)
            try await connection.send(bytes)
            for n in 1...3 {
                let error = try await connection.nextError()
                #expect(error.code == .unauthorised)
                #expect(error.requestID == RequestID(UInt32(n)))
                if n == 3 { #expect(error.message.contains("closing")) }
            }
            #expect(try await connection.waitUntilClosed())
            #expect(try await connection.nextFrame() == nil, "requests after the limit were answered")
        }
        // And nothing was deleted.
        let server = try await HardenedServer.start {
            $0.writeToken = writeToken
            $0.limits.maxAuthFailuresPerConnection = 3
        }
        let client = server.client(token: writeToken)
        try await seedProbeArticles(client)
        let connection = try await RawConnection.handshaken(port: server.port)
        for n in 1...3 {
            try await connection.send(.delete(DeleteMessage(ids: [ArticleID("probe-\(n)")])), id: RequestID(UInt32(n)))
            #expect(try await connection.nextError().code == .unauthorised)
        }
        #expect(try await client.articles(ids: (1...3).map { ArticleID("probe-\($0)") }).missing.isEmpty)
        await client.shutdown()
        try await server.stop()
    }

    @Test("a read token protects reads; the write token allows both; the read token does not allow writes")
    func readAndWriteTokens() async throws {
        let server = try await HardenedServer.start {
            $0.writeToken = writeToken
            $0.readToken = readToken
        }
        let writer = server.client(token: writeToken)
        try await seedProbeArticles(writer)
        #expect(try await writer.article(id: ArticleID("probe-1")).id == ArticleID("probe-1"))

        let reader = server.client(token: readToken)
        #expect(try await reader.search(SearchRequest(text: "探针")).total == 40)
        let denied = await #expect(throws: NewswireClientError.self) {
            try await reader.delete(id: ArticleID("probe-1"))
        }
        #expect(denied?.code == .unauthorised)

        let anonymous = try await RawConnection.handshaken(port: server.port)
        try await anonymous.send(.get(GetMessage(id: ArticleID("probe-1"))))
        #expect(try await anonymous.nextError().code == .unauthorised)
        await anonymous.close()
        for client in [writer, reader] { await client.shutdown() }
        try await server.stop()
    }

    @Test("tokens never appear in the server's logs, at any level, whether right or wrong")
    func tokensNeverLogged() async throws {
        let lines = LogRecorder()
        let server = try await HardenedServer.start(recorder: lines) {
            $0.writeToken = writeToken
            $0.readToken = readToken
        }
        let wrongGuess = "guess-0c1d-not-a-token"
        for token in [writeToken, readToken, wrongGuess, nil] {
            let connection = try await RawConnection.connect(port: server.port)
            _ = try await connection.hello(token: token)
            _ = try? await connection.send(.put(PutMessage(records: [ArticleRecord(probeArticle(1))])))
            _ = try? await connection.nextResponse()
            await connection.close()
        }
        try await server.stop()
        let logged = lines.all
        #expect(logged.count > 5, "the recorder saw too little to mean anything")
        for secret in [writeToken, readToken, wrongGuess] {
            #expect(!logged.contains { $0.contains(secret) }, "a token appears in the logs")
        }
        // Printing the configuration redacts the tokens too.
        var configuration = ServerConfiguration()
        configuration.writeToken = writeToken
        configuration.readToken = readToken
        for text in ["\(configuration)", String(reflecting: configuration)] {
            #expect(!text.contains(writeToken) && !text.contains(readToken))
        }
        let clientConfiguration = NewswireClient.Configuration(token: writeToken)
        #expect(!"\(clientConfiguration)".contains(writeToken))
    }

    @Test("token comparison is exact (constant-time over the longer length)")
    func tokenComparison() {
        #expect(constantTimeEquals(writeToken, writeToken))
        #expect(!constantTimeEquals(writeToken, writeToken + "x"))
        #expect(!constantTimeEquals(writeToken + "x", writeToken))
        #expect(!constantTimeEquals(writeToken, String(writeToken.dropLast())))
        #expect(!constantTimeEquals("", writeToken))
        #expect(constantTimeEquals("", ""))
        #expect(!constantTimeEquals("令牌", "令卑"))
    }
}
