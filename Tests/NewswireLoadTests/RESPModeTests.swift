import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

@testable import NewswireLoad

/// A minimal RESP server: answers `GET key` with the bulk string `value-<key>` for the keys it holds and `$-1`
/// otherwise, each reply written in two pieces so the generator's parser must join a reply split across reads.
final class RESPGetServer: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let held: Set<String>
    let seen: NIOLockedValueBox<[String]>
    private var buffer = ByteBuffer()

    init(held: Set<String>, seen: NIOLockedValueBox<[String]>) {
        self.held = held
        self.seen = seen
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        buffer.writeBuffer(&incoming)
        while let command = takeCommand() {
            seen.withLockedValue { $0.append(command.joined(separator: " ")) }
            let reply: String
            if command.count == 2, command[0] == "GET", held.contains(command[1]) {
                let value = "value-\(command[1])"
                reply = "$\(value.utf8.count)\r\n\(value)\r\n"
            } else {
                reply = "$-1\r\n"
            }
            let bytes = Array(reply.utf8)
            let cut = bytes.count / 2
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: bytes[..<cut])), promise: nil)
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: bytes[cut...])), promise: nil)
        }
    }

    /// One `*N\r\n($len\r\narg\r\n)×N` command, or nil when it has not fully arrived.
    private func takeCommand() -> [String]? {
        var probe = buffer
        func line() -> String? {
            guard let end = probe.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
            let text = probe.readString(length: end - probe.readerIndex + 1)!
            return String(decoding: text.utf8.dropLast(2), as: UTF8.self)
        }
        guard let header = line(), header.first == "*", let count = Int(header.dropFirst()) else { return nil }
        var arguments: [String] = []
        for _ in 0..<count {
            guard let size = line(), size.first == "$", let length = Int(size.dropFirst()),
                probe.readableBytes >= length + 2
            else { return nil }
            arguments.append(probe.readString(length: length)!)
            probe.moveReaderIndex(forwardBy: 2)
        }
        buffer = probe
        return arguments
    }
}

@Suite("Bench in RESP mode against a loopback RESP server")
struct RESPModeTests {
    @Test("the generator sends RESP GETs of key:%012d, counts bulk answers and nil answers as NOT_FOUND")
    func respGets() async throws {
        let seen = NIOLockedValueBox<[String]>([])
        let held: Set<String> = ["key:000000000000", "key:000000000001", "key:000000000002"]
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let listener = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RESPGetServer(held: held, seen: seen))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        var configuration = LoadConfiguration()
        configuration.port = listener.localAddress!.port!
        configuration.connections = 3
        configuration.pipeline = 4
        configuration.warmup = .zero
        configuration.requests = 300
        configuration.respKeys = 4
        // Ends even if answers stop coming (a bug here must fail fast, not hang for the default cap).
        configuration.timeLimit = .seconds(30)
        configuration.drainTimeout = .seconds(2)
        let result = try await LoadGenerator.run(configuration)
        try await listener.close()
        try await group.shutdownGracefully()

        let commands = seen.withLockedValue { $0 }
        // Only the four keys, each as one GET; key 3 is not held, so its answers are the errors.
        #expect(Set(commands) == ["GET key:000000000000", "GET key:000000000001", "GET key:000000000002",
            "GET key:000000000003"])
        #expect(result.connectionFailures == [])
        #expect(result.idCount == 4)
        #expect(result.pipeline == 4)
        #expect(Set(result.errors.keys).isSubset(of: ["NOT_FOUND"]))
        let notFound = result.errors["NOT_FOUND"] ?? 0
        #expect(notFound > 0)
        #expect(result.requests + notFound == 300)
        #expect(result.latency.count == result.requests)
    }

    @Test("RESP mode refuses other operations and open loop, saying which flag to drop")
    func respValidation() throws {
        var configuration = LoadConfiguration()
        configuration.respKeys = 10
        configuration.mix = try OperationMix(parsing: "get=1,ping=1")
        #expect(throws: LoadConfigurationError("--resp-keys sends GET only; drop --mix")) {
            try configuration.validate()
        }
        configuration.mix = .only(.get)
        configuration.rate = 100
        #expect(throws: LoadConfigurationError("--resp-keys runs closed loop only; drop --rate")) {
            try configuration.validate()
        }
    }
}
