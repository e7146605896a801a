import NIOCore
import NewswireModel
import Testing

@testable import NewswireProtocol

@Suite("Server connection state machine")
struct ServerStateMachineTests {
    static let policy = HandshakePolicy(serverName: "test", maxInFlight: 2)

    static func frame(_ request: Request, id: UInt32, compression: CompressionSettings = .disabled) -> Frame {
        var encoder = FrameEncoder(compression: compression)
        var wire = ByteBuffer()
        encoder.encode(request, requestID: RequestID(id), into: &wire)
        var decoder = NewswireFrameDecoder()
        return try! decoder.decode(buffer: &wire)!
    }

    static func ready() -> ServerConnectionStateMachine {
        var machine = ServerConnectionStateMachine(policy: policy)
        _ = machine.frameReceived(frame(.hello(HelloMessage(clientName: "c", token: "t0k")), id: 0))
        return machine
    }

    static func closeCode(_ action: ServerConnectionStateMachine.Action) -> ProtocolError.Code? {
        if case .close(let error) = action { return error?.code }
        return nil
    }

    static func rejectCode(_ action: ServerConnectionStateMachine.Action) -> ProtocolError.Code? {
        if case .reject(let error) = action { return error.code }
        return nil
    }

    @Test("HELLO gets WELCOME with the negotiated handshake and remembers the token")
    func handshake() {
        var machine = ServerConnectionStateMachine(policy: Self.policy)
        let action = machine.frameReceived(Self.frame(.hello(HelloMessage(clientName: "c", token: "t0k")), id: 0))
        guard case .sendWelcome(let welcome, let handshake) = action else {
            Issue.record("expected WELCOME, got \(action)")
            return
        }
        #expect(welcome.version == 1 && welcome.compression == .zlib && welcome.maxInFlight == 2)
        #expect(handshake.compression.algorithm == .zlib)
        #expect(machine.clientToken == "t0k")
        #expect(machine.clientName == "c")
        #expect(machine.state == .ready(handshake))
    }

    @Test("anything but an uncompressed HELLO first closes with PROTOCOL_ERROR; a version mismatch names the range")
    func badFirstFrames() {
        var first = ServerConnectionStateMachine(policy: Self.policy)
        #expect(Self.closeCode(first.frameReceived(Self.frame(.ping(PingMessage()), id: 1))) == .protocolError)
        #expect(first.state == .closed)
        #expect(Self.closeCode(first.frameReceived(Self.frame(.stats, id: 2))) == nil)

        var future = ServerConnectionStateMachine(policy: Self.policy)
        let action = future.frameReceived(Self.frame(.hello(HelloMessage(versions: 7...9, clientName: "f")), id: 0))
        guard case .close(let error?) = action else {
            Issue.record("expected close, got \(action)")
            return
        }
        #expect(
            error.code == .unsupportedVersion && error.supportedVersions == 1...1 && error.requestID == RequestID(0))

        var compressed = ServerConnectionStateMachine(policy: Self.policy)
        var hello = Self.frame(.hello(HelloMessage(clientName: "c")), id: 0)
        hello.header.flags.insert(.compressed)
        #expect(Self.closeCode(compressed.frameReceived(hello)) == .protocolError)
    }

    @Test("requests run, count against the in-flight limit, and free their slot when completed")
    func inFlight() {
        var machine = Self.ready()
        #expect(
            machine.frameReceived(Self.frame(.get(GetMessage(id: "a")), id: 1))
                == .run(.get(GetMessage(id: "a")), RequestID(1)))
        #expect(machine.frameReceived(Self.frame(.stats, id: 2)) == .run(.stats, RequestID(2)))
        #expect(Self.rejectCode(machine.frameReceived(Self.frame(.stats, id: 3))) == .overloaded)
        machine.requestCompleted(RequestID(1))
        #expect(machine.frameReceived(Self.frame(.stats, id: 3)) == .run(.stats, RequestID(3)))
        #expect(machine.inFlight == [RequestID(2), RequestID(3)])
        #expect(machine.frameReceived(Self.frame(.cancel, id: 2)) == .cancel(RequestID(2)))
    }

    @Test("protocol violations after the handshake close the connection; bad payloads only reject the request")
    func violations() {
        var second = Self.ready()
        #expect(
            Self.closeCode(second.frameReceived(Self.frame(.hello(HelloMessage(clientName: "c")), id: 5)))
                == .protocolError)

        var reserved = Self.ready()
        #expect(Self.closeCode(reserved.frameReceived(Self.frame(.stats, id: 0x8000_0001))) == .protocolError)

        var reused = Self.ready()
        _ = reused.frameReceived(Self.frame(.stats, id: 9))
        #expect(Self.closeCode(reused.frameReceived(Self.frame(.stats, id: 9))) == .protocolError)

        var noCompression = ServerConnectionStateMachine(policy: HandshakePolicy(serverName: "s", compressions: []))
        _ = noCompression.frameReceived(Self.frame(.hello(HelloMessage(clientName: "c")), id: 0))
        let big = Self.frame(.put(PutMessage(articles: [Fixtures.longArticle])), id: 4, compression: .zlib)
        #expect(big.wasCompressed)
        #expect(Self.closeCode(noCompression.frameReceived(big)) == .protocolError)

        var malformed = Self.ready()
        let bad = Frame(
            header: FrameHeader(opcode: .get, requestID: RequestID(6), payloadLength: 2),
            payload: ByteBuffer(bytes: [0x0A, 0x05]))
        guard case .reject(let error) = malformed.frameReceived(bad) else {
            Issue.record("expected reject")
            return
        }
        #expect(error.code == .malformedMessage && error.requestID == RequestID(6))
        #expect(malformed.inFlight.isEmpty)
        let unknown = Frame(
            header: FrameHeader(opcode: Opcode(rawValue: 0x0042), requestID: RequestID(7), payloadLength: 0),
            payload: ByteBuffer())
        #expect(Self.rejectCode(malformed.frameReceived(unknown)) == .unknownOpcode)
    }

    @Test("after GOAWAY new requests get SHUTTING_DOWN; running ones and cancels still proceed")
    func shutdown() {
        var machine = Self.ready()
        _ = machine.frameReceived(Self.frame(.stats, id: 1))
        let goAway = machine.beginShutdown(graceMillis: 5_000)
        #expect(goAway == GoAwayMessage(code: .shuttingDown, message: "server shutting down", graceMillis: 5_000))
        guard case .reject(let error) = machine.frameReceived(Self.frame(.stats, id: 2)) else {
            Issue.record("expected reject")
            return
        }
        #expect(error.code == .shuttingDown && error.isRetryable && error.requestID == RequestID(2))
        #expect(machine.frameReceived(Self.frame(.cancel, id: 1)) == .cancel(RequestID(1)))
        #expect(machine.inFlight == [RequestID(1)])

        var fresh = ServerConnectionStateMachine(policy: Self.policy)
        #expect(fresh.beginShutdown(graceMillis: 1) == nil)
        #expect(fresh.state == .closed)
    }
}
