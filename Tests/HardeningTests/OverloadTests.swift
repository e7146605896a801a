import Foundation
import NIOCore
import NewswireClient
import NewswireProtocol
import NewswireTestSupport
import NewswireServer
import Testing

/// Peers that cost the server by volume or by patience, not by malformed bytes: they must cost bounded memory and
/// time, get the documented retryable answers, and leave well-behaved clients unaffected (``withAttack``).
@Suite("Overload, slow peers and floods over real sockets", .serialized, .timeLimit(.minutes(5)))
struct OverloadTests {
    @Test("a client pipelining 5,000 32 KiB PINGs without reading is throttled; once it reads, each is answered once")
    func slowReaderIsThrottled() async throws {
        try await withAttack { server in
            let connection = try await RawConnection.handshaken(port: server.port)
            try await connection.channel.setOption(.autoRead, value: false).get()
            let echo = ByteBuffer(repeating: 0x5A, count: 32 << 10)
            let attempted = 5000
            var sent = 0
            var bytesSent = 0
            var stalledSince: ContinuousClock.Instant?
            while sent < attempted {
                if connection.channel.isWritable {
                    stalledSince = nil
                    var batch = ByteBuffer()
                    for _ in 0..<16 where sent < attempted {
                        sent += 1
                        var frame = RawConnection.frame(.ping(PingMessage(payload: echo)), id: RequestID(UInt32(sent)))
                        batch.writeBuffer(&frame)
                    }
                    bytesSent += batch.readableBytes
                    connection.channel.writeAndFlush(batch, promise: nil)
                    await Task.yield()
                } else if let since = stalledSince {
                    if ContinuousClock.now - since > .seconds(1) { break }
                    try await Task.sleep(for: .milliseconds(5))
                } else {
                    stalledSince = .now
                }
            }
            // The server stopped reading: the socket would not take the rest. (How many bytes the kernel took
            // first depends on its buffer autotuning, tens of MiB on loopback, so the bound is on the server's own
            // queued answers: its budget, plus the small errors of the requests already read.)
            #expect(sent < attempted, "the server read all \(attempted) requests without anyone reading answers")
            let peak = server.server.counters()["responses.queued_bytes_peak"] ?? .max
            #expect(peak <= 2 << 20, "\(peak >> 10) KiB of answers queued (budget 1 MiB), \(bytesSent >> 20) MiB sent")

            try await connection.channel.setOption(.autoRead, value: true).get()
            connection.channel.read()
            var answered = Set<UInt32>()
            var overloaded = 0
            while answered.count < sent {
                let frame = try #require(try await connection.nextFrame(within: .seconds(30)))
                #expect(answered.insert(frame.requestID.rawValue).inserted, "two answers for \(frame.requestID)")
                switch try Response(frame: frame) {
                case .pong(let pong): #expect(pong.payload == echo)
                case .error(let error):
                    #expect(error.code == .overloaded && error.isRetryable, "got \(error)")
                    overloaded += 1
                default: Issue.record("unexpected \(frame.opcode)")
                }
            }
            #expect(answered == Set(1...UInt32(sent)))
            await connection.close()
        }
    }

    @Test("past max in-flight the server answers OVERLOADED (retryable, with a retry hint) instead of queueing")
    func pipelinedPastMaxInFlight() async throws {
        try await withAttack(configure: { $0.limits.maxInFlightPerConnection = 2 }) { server in
            let connection = try await RawConnection.handshaken(port: server.port)
            var bytes = ByteBuffer()
            for n in 1...200 {
                var frame = RawConnection.frame(
                    .search(SearchRequest(text: "探针文章 成都", limit: 20)), id: RequestID(UInt32(n)))
                bytes.writeBuffer(&frame)
            }
            try await connection.send(bytes)
            var answered = Set<UInt32>()
            var overloaded = 0
            while answered.count < 200 {
                let frame = try #require(try await connection.nextFrame())
                #expect(answered.insert(frame.requestID.rawValue).inserted)
                switch try Response(frame: frame) {
                case .searchResult(let page): #expect(page.total == 40)
                case .error(let error):
                    #expect(error.code == .overloaded, "got \(error)")
                    #expect(error.isRetryable)
                    #expect(error.retryAfterMillis != nil)
                    overloaded += 1
                default: Issue.record("unexpected \(frame.opcode)")
                }
            }
            #expect(overloaded > 0, "200 pipelined searches never exceeded 2 in flight")
            try await expectStillServes(connection)
        }
    }

    @Test("slowloris: 200 connections that never speak each get TIMEOUT at the handshake deadline and are closed")
    func slowlorisSilent() async throws {
        try await withAttack(configure: shortHandshake) { server in
            var connections: [RawConnection] = []
            for _ in 0..<200 { connections.append(try await RawConnection.connect(port: server.port)) }
            for connection in connections {
                let error = try await connection.nextError(within: .seconds(10))
                #expect(error.code == .timeout)
                #expect(error.requestID == .connection)
                #expect(try await connection.waitUntilClosed())
            }
        }
    }

    @Test("slowloris: 100 connections trickling a HELLO a byte at a time are cut off at the handshake deadline")
    func slowlorisTrickle() async throws {
        try await withAttack(configure: shortHandshake) { server in
            var connections: [RawConnection] = []
            for _ in 0..<100 { connections.append(try await RawConnection.connect(port: server.port)) }
            let hello = Array(
                RawConnection.frame(.hello(HelloMessage(clientName: "trickle")), id: RequestID(1)).readableBytesView)
            // One byte per connection every 100 ms: the full HELLO would take seconds; the deadline is 1 s.
            for index in 0..<8 {
                for connection in connections where !connection.isClosed {
                    try? await connection.send([hello[index]])
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            for connection in connections {
                let error = try await connection.nextError(within: .seconds(10))
                #expect(error.code == .timeout)
                #expect(try await connection.waitUntilClosed())
            }
        }
    }

    @Test("a connection flood past max connections: the extra ones get OVERLOADED (retryable) and are closed")
    func connectionFlood() async throws {
        try await withAttack(configure: { $0.limits.maxConnections = 32 }) { server in
            var admitted: [RawConnection] = []
            var rejected = 0
            for _ in 0..<64 {
                let connection = try await RawConnection.connect(port: server.port)
                // A refused connection may already be closed (with its OVERLOADED frame waiting) before HELLO goes.
                _ = try? await connection.send(.hello(HelloMessage(clientName: "flood")), id: RequestID(0))
                switch try await connection.nextResponse() {
                case .welcome:
                    admitted.append(connection)
                case .error(let error):
                    #expect(error.code == .overloaded && error.isRetryable, "got \(error)")
                    #expect(error.retryAfterMillis != nil)
                    #expect(try await connection.waitUntilClosed())
                    rejected += 1
                default:
                    Issue.record("unexpected answer to HELLO")
                }
            }
            // The well-behaved client holds one of the 32 slots.
            #expect(admitted.count == 31)
            #expect(rejected == 33)
            for connection in admitted { await connection.close() }
            // Slots come back once the flood leaves.
            try await eventually("a new connection is admitted after the flood closed") {
                let connection = try await RawConnection.connect(port: server.port)
                defer { Task { await connection.close() } }
                if case .welcome = try await connection.hello() { return true }
                return false
            }
        }
    }

    @Test("a connection refused before its HELLO went out still reads the refusal: OVERLOADED, retryable")
    func refusedBeforeHello() async throws {
        try await withAttack(configure: { $0.limits.maxConnections = 2 }) { server in
            // The well-behaved client and the hog hold both slots: the server refuses the next connection at once
            // and closes it, before its HELLO is sent. (The checks after each attack met this on a busy machine.)
            let hog = try #require(
                await takeTheLastSlot(port: server.port), "the last connection slot never came free")
            let refused = try await RawConnection.connect(port: server.port)
            #expect(try await refused.waitUntilClosed())
            let answer = try await refused.hello()
            guard case .error(let error) = answer else {
                Issue.record("got \(answer) instead of OVERLOADED")
                return
            }
            #expect(error.code == .overloaded && error.isRetryable)
            await refused.close()
            await hog.close()
        }
    }

    @Test("the client library backs off and retries OVERLOADED until the server has room")
    func clientRetriesOverloaded() async throws {
        try await withAttack(configure: { $0.limits.maxConnections = 2 }) { server in
            let full = try #require(
                await takeTheLastSlot(port: server.port), "the last connection slot never came free")
            // Without retries the caller sees the retryable refusal, with the server's reason.
            let impatient = server.client(maxRetries: 0)
            let error = await #expect(throws: NewswireClientError.self) { try await impatient.ping() }
            #expect(error?.isRetryable == true)
            #expect(error?.serverError?.code == .overloaded)
            await impatient.shutdown()

            // Its retries back off for about 12 s in all, far longer than the hog takes to leave on a busy machine.
            let patient = server.client(maxRetries: 8)
            let releaser = Task {
                try await Task.sleep(for: .milliseconds(300))
                await full.close()
            }
            _ = try await patient.ping()
            try await releaser.value
            await patient.shutdown()
        }
    }
}

/// A hog that takes the server's last connection slot (the well-behaved client holds another). A connection the
/// probe client just replaced can still be counted for a moment on a busy machine, so it tries until it is welcomed
/// (then the server is full); nil if none came free.
func takeTheLastSlot(port: Int) async throws -> RawConnection? {
    for _ in 0..<200 {
        let attempt = try await RawConnection.connect(port: port)
        if case .welcome = try await attempt.hello() { return attempt }
        await attempt.close()
        try await Task.sleep(for: .milliseconds(50))
    }
    return nil
}

/// Polls `condition` for up to 10 s.
func eventually(
    _ what: String, sourceLocation: SourceLocation = #_sourceLocation, _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + .seconds(10)
    while ContinuousClock.now < deadline {
        if (try? await condition()) == true { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    Issue.record("never happened: \(what)", sourceLocation: sourceLocation)
}
