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

    static func admit(_ machine: inout ServerConnectionStateMachine, _ id: UInt32, _ passed: Int) -> Bool {
        machine.cachedGetArrived(RequestID(id), framesPassedOn: passed)
    }

    static func closeCode(_ action: ServerConnectionStateMachine.Action) -> ProtocolError.Code? {
        if case .answerAndClose(let error) = action { return error.code }
        return nil
    }

    static func rejectCode(_ action: ServerConnectionStateMachine.Action) -> ProtocolError.Code? {
        if case .answer(let error) = action { return error.code }
        return nil
    }

    @Test("HELLO gets WELCOME with the negotiated handshake and the access its token grants")
    func handshake() {
        var machine = ServerConnectionStateMachine(policy: Self.policy)
        let action = machine.frameReceived(Self.frame(.hello(HelloMessage(clientName: "c", token: "t0k")), id: 0))
        guard case .sendWelcome(let welcome, let handshake) = action else {
            Issue.record("expected WELCOME, got \(action)")
            return
        }
        #expect(welcome.version == 1 && welcome.compression == .zlib && welcome.maxInFlight == 2)
        #expect(handshake.compression.algorithm == .zlib)
        #expect(machine.access == .write)
        #expect(machine.clientName == "c")
        #expect(machine.state == .ready(handshake))
    }

    @Test("the client's max frame length is the spec default before HELLO, the HELLO's through a drain, and the default once closed")
    func clientMaxFrameLengthFollowsTheHandshake() {
        var machine = ServerConnectionStateMachine(policy: Self.policy)
        #expect(machine.clientMaxFrameLength == Int(ProtocolLimits.defaultMaxFrameLength))
        var hello = HelloMessage(clientName: "c", token: "t0k")
        hello.maxFrameLength = 100_000
        _ = machine.frameReceived(Self.frame(.hello(hello), id: 0))
        #expect(machine.clientMaxFrameLength == 100_000 && machine.handshake?.clientMaxFrameLength == 100_000)
        _ = machine.frameReceived(Self.frame(.stats, id: 1))
        _ = machine.shutdownRequested(message: "bye", graceMillis: 5_000)
        #expect(machine.clientMaxFrameLength == 100_000, "draining keeps the handshake")
        _ = machine.requestFinished(RequestID(1))
        #expect(machine.clientMaxFrameLength == 100_000, "the linger after GOAWAY keeps the handshake")
        _ = machine.goAwayLingerExpired()
        #expect(machine.state == .closed)
        #expect(machine.clientMaxFrameLength == Int(ProtocolLimits.defaultMaxFrameLength))
        // A HELLO without a limit takes the default.
        let plain = Self.ready()
        #expect(plain.clientMaxFrameLength == Int(ProtocolLimits.defaultMaxFrameLength))
    }

    @Test("anything but an uncompressed HELLO first closes with PROTOCOL_ERROR; a version mismatch names the range")
    func badFirstFrames() {
        var first = ServerConnectionStateMachine(policy: Self.policy)
        #expect(Self.closeCode(first.frameReceived(Self.frame(.ping(PingMessage()), id: 1))) == .protocolError)
        #expect(first.state == .closed)
        #expect(first.frameReceived(Self.frame(.stats, id: 2)) == .none)

        var future = ServerConnectionStateMachine(policy: Self.policy)
        let action = future.frameReceived(Self.frame(.hello(HelloMessage(versions: 7...9, clientName: "f")), id: 0))
        guard case .answerAndClose(let error) = action else {
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
        #expect(machine.requestFinished(RequestID(1)) == .init(send: true, close: false))
        #expect(machine.frameReceived(Self.frame(.stats, id: 3)) == .run(.stats, RequestID(3)))
        #expect(machine.inFlightIDs == [RequestID(2), RequestID(3)])
        #expect(machine.frameReceived(Self.frame(.cancel, id: 2)) == .none)
        #expect(machine.isCancelled(RequestID(2)) && !machine.isLive(RequestID(2)))
        #expect(machine.isLive(RequestID(3)))
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
        guard case .answer(let error) = malformed.frameReceived(bad) else {
            Issue.record("expected reject")
            return
        }
        #expect(error.code == .malformedMessage && error.requestID == RequestID(6))
        #expect(malformed.inFlightIDs.isEmpty)
        let unknown = Frame(
            header: FrameHeader(opcode: Opcode(rawValue: 0x0042), requestID: RequestID(7), payloadLength: 0),
            payload: ByteBuffer())
        #expect(Self.rejectCode(malformed.frameReceived(unknown)) == .unknownOpcode)
    }

    @Test("after GOAWAY new requests get SHUTTING_DOWN; running ones and cancels still proceed; the last closes once the linger is over")
    func shutdown() {
        var machine = Self.ready()
        _ = machine.frameReceived(Self.frame(.stats, id: 1))
        let action = machine.shutdownRequested(message: "server shutting down", graceMillis: 5_000)
        #expect(action == .goAway(GoAwayMessage(code: .shuttingDown, message: "server shutting down", graceMillis: 5_000)))
        guard case .answer(let error) = machine.frameReceived(Self.frame(.stats, id: 2)) else {
            Issue.record("expected an answer")
            return
        }
        #expect(error.code == .shuttingDown && error.isRetryable && error.requestID == RequestID(2))
        #expect(machine.frameReceived(Self.frame(.cancel, id: 1)) == .none)
        #expect(machine.inFlightIDs == [RequestID(1)])
        // §6.4 step 4: the linger after GOAWAY is not over, so the connection stays open for late requests.
        #expect(machine.requestFinished(RequestID(1)) == .init(send: true, close: false))
        guard case .answer(let lateAnswer) = machine.frameReceived(Self.frame(.ping(PingMessage()), id: 9)) else {
            Issue.record("a request arriving during the linger is answered")
            return
        }
        #expect(lateAnswer.code == .shuttingDown && lateAnswer.requestID == RequestID(9))
        #expect(machine.goAwayLingerExpired() == .close)
        #expect(machine.state == .closed)

        // The linger over first: the last request to finish closes.
        var busy = Self.ready()
        _ = busy.frameReceived(Self.frame(.stats, id: 1))
        _ = busy.shutdownRequested(message: "bye", graceMillis: 5_000)
        #expect(busy.goAwayLingerExpired() == .none)
        #expect(busy.requestFinished(RequestID(1)) == .init(send: true, close: true))

        // The client closing its side ends the linger too.
        var leaving = Self.ready()
        _ = leaving.frameReceived(Self.frame(.stats, id: 1))
        _ = leaving.shutdownRequested(message: "bye", graceMillis: 5_000)
        _ = leaving.readEnded()
        #expect(leaving.requestFinished(RequestID(1)) == .init(send: true, close: true))

        // Nothing in flight: GOAWAY, and the connection is read on until the linger is over.
        var idle = Self.ready()
        guard case .goAway = idle.shutdownRequested(message: "bye", graceMillis: 1) else {
            Issue.record("nothing in flight: GOAWAY")
            return
        }
        #expect(idle.goAwayLingerExpired() == .close)
        var fresh = ServerConnectionStateMachine(policy: Self.policy)
        #expect(fresh.shutdownRequested(message: "bye", graceMillis: 1) == .close)
        #expect(fresh.state == .closed)

        var late = Self.ready()
        _ = late.frameReceived(Self.frame(.stats, id: 4))
        _ = late.frameReceived(Self.frame(.stats, id: 3))
        _ = late.shutdownRequested(message: "bye", graceMillis: 1)
        #expect(late.graceExpired() == [RequestID(3), RequestID(4)])
        #expect(late.graceExpired() == nil)
        #expect(late.requestFinished(RequestID(3)) == .init(send: false, close: false))
    }

    @Test("§3.3: a request reusing the id of a stream in flight is PROTOCOL_ERROR and closes")
    func requestReusingAStreamID() {
        var machine = Self.ready()
        #expect(machine.frameReceived(Self.frame(.scan(ScanMessage(limit: 5)), id: 21)) == .run(.scan(ScanMessage(limit: 5)), RequestID(21)))
        let action = machine.frameReceived(Self.frame(.get(GetMessage(id: "a")), id: 21))
        #expect(Self.closeCode(action) == .protocolError)
        if case .answerAndClose(let error) = action { #expect(error.requestID == RequestID(21)) }
        #expect(machine.state == .closed)
        // The fast path is asked too: it must not answer under the stream's id (nor after the close).
        var other = Self.ready()
        _ = other.frameReceived(Self.frame(.scan(ScanMessage(limit: 5)), id: 21))
        let seen = other.framesReceived
        #expect(!Self.admit(&other, 21, seen))
    }

    @Test("the fast path answers only when the read loop has seen every earlier frame, within the in-flight limit")
    func fastPathAdmission() {
        var waiting = ServerConnectionStateMachine(policy: Self.policy)
        #expect(!Self.admit(&waiting, 1, 0))  // before WELCOME

        var machine = Self.ready()  // one frame (HELLO) seen
        #expect(Self.admit(&machine, 1, 1))
        // A SCAN 21 passed on but not yet seen by the read loop: a GET 21 must wait for it (and then is refused).
        #expect(!Self.admit(&machine, 21, 2))
        _ = machine.frameReceived(Self.frame(.stats, id: 5))
        _ = machine.frameReceived(Self.frame(.stats, id: 6))
        // The in-flight limit (2) counts the fast path as any other request: it goes to the read loop (OVERLOADED).
        #expect(!Self.admit(&machine, 7, 3))
        _ = machine.requestFinished(RequestID(5))
        #expect(Self.admit(&machine, 7, 3))
        _ = machine.shutdownRequested(message: "bye", graceMillis: 1)
        #expect(!Self.admit(&machine, 8, 3))  // draining

        var readless = ServerConnectionStateMachine(
            ServerConnectionStateMachine.Configuration(policy: Self.policy, access: { _ in .none }))
        _ = readless.frameReceived(Self.frame(.hello(HelloMessage(clientName: "c")), id: 0))
        #expect(!Self.admit(&readless, 1, 1))
    }

    @Test("§6.4, §9: the idle timeout closes only a connection with nothing in flight")
    func idleOnlyWithNothingInFlight() {
        var busy = Self.ready()
        _ = busy.frameReceived(Self.frame(.scan(ScanMessage()), id: 3))
        #expect(busy.idleTimedOut() == .none)
        _ = busy.requestFinished(RequestID(3))
        guard case .goAway(let goAway) = busy.idleTimedOut() else {
            Issue.record("an idle connection gets GOAWAY TIMEOUT")
            return
        }
        #expect(goAway.code == .timeout)
        // A request the client sent before the GOAWAY reached it is answered, not dropped (§6.4 step 2).
        guard case .answer(let error) = busy.frameReceived(Self.frame(.stats, id: 4)) else {
            Issue.record("a request after the idle GOAWAY is answered")
            return
        }
        #expect(error.code == .shuttingDown)
        #expect(busy.goAwayLingerExpired() == .close)

        var silent = ServerConnectionStateMachine(policy: Self.policy)
        // Before HELLO the idle timeout leaves the connection to the handshake timeout.
        #expect(silent.idleTimedOut() == .none)
        #expect(silent.state == .awaitingHello)
        guard case .answerAndClose(let error) = silent.handshakeTimedOut(after: 10) else {
            Issue.record("no HELLO: ERROR TIMEOUT")
            return
        }
        #expect(error.code == .timeout && error.requestID == .connection)
        var ready = Self.ready()
        let late = ready.handshakeTimedOut(after: 10)
        #expect(late == .none)
    }

    @Test("§6.3: writes need the write token, reads the read token; the write token grants reads; the last refusal is answered, then close")
    func authorisation() {
        let configuration = ServerConnectionStateMachine.Configuration(
            policy: Self.policy, maxAuthFailures: 3, access: { $0 == "w" ? .write : $0 == "r" ? .read : .none })
        var writer = ServerConnectionStateMachine(configuration)
        _ = writer.frameReceived(Self.frame(.hello(HelloMessage(clientName: "c", token: "w")), id: 0))
        #expect(writer.frameReceived(Self.frame(.stats, id: 1)) == .run(.stats, RequestID(1)))
        #expect(writer.frameReceived(Self.frame(.delete(DeleteMessage(ids: ["a"])), id: 2)) == .run(.delete(DeleteMessage(ids: ["a"])), RequestID(2)))

        var reader = ServerConnectionStateMachine(configuration)
        _ = reader.frameReceived(Self.frame(.hello(HelloMessage(clientName: "c", token: "r")), id: 0))
        #expect(reader.frameReceived(Self.frame(.stats, id: 1)) == .run(.stats, RequestID(1)))
        #expect(Self.rejectCode(reader.frameReceived(Self.frame(.delete(DeleteMessage(ids: ["a"])), id: 2))) == .unauthorised)
        #expect(Self.rejectCode(reader.frameReceived(Self.frame(.delete(DeleteMessage(ids: ["a"])), id: 3))) == .unauthorised)
        let last = reader.frameReceived(Self.frame(.delete(DeleteMessage(ids: ["a"])), id: 4))
        guard case .answerAndClose(let error) = last else {
            Issue.record("the last refusal is answered before the close, got \(last)")
            return
        }
        #expect(error.code == .unauthorised && error.requestID == RequestID(4))
        #expect(reader.frameReceived(Self.frame(.stats, id: 5)) == .none)

        var nobody = ServerConnectionStateMachine(configuration)
        _ = nobody.frameReceived(Self.frame(.hello(HelloMessage(clientName: "c")), id: 0))
        #expect(nobody.frameReceived(Self.frame(.ping(PingMessage()), id: 1)) == .run(.ping(PingMessage()), RequestID(1)))
        #expect(Self.rejectCode(nobody.frameReceived(Self.frame(.stats, id: 2))) == .unauthorised)
    }

    @Test("§3.5: MORE_TO_FOLLOW on a request frame is MALFORMED_MESSAGE: HELLO closes, CANCEL is not acted on")
    func moreToFollowOnRequests() {
        var greeting = ServerConnectionStateMachine(policy: Self.policy)
        var hello = Self.frame(.hello(HelloMessage(clientName: "c")), id: 0)
        hello.header.flags.insert(.moreToFollow)
        guard case .answerAndClose(let refusal) = greeting.frameReceived(hello) else {
            Issue.record("HELLO with more-to-follow: expected ERROR, then close")
            return
        }
        #expect(refusal.code == .malformedMessage && refusal.requestID == RequestID(0))
        #expect(greeting.state == .closed)

        var machine = Self.ready()
        let watch = Request.watch(WatchMessage(text: "疆电入川"))
        _ = machine.frameReceived(Self.frame(watch, id: 4))
        var cancel = Self.frame(.cancel, id: 4)
        cancel.header.flags.insert(.moreToFollow)
        // CANCEL has no answer of its own: the rejection goes out on the connection id, and the stream it named
        // goes on.
        guard case .answer(let error) = machine.frameReceived(cancel) else {
            Issue.record("CANCEL with more-to-follow: expected a rejection")
            return
        }
        #expect(error.code == .malformedMessage && error.requestID == .connection)
        #expect(machine.isLive(RequestID(4)) && !machine.isCancelled(RequestID(4)))
        var ping = Self.frame(.ping(PingMessage()), id: 5)
        ping.header.flags.insert(.moreToFollow)
        #expect(Self.rejectCode(machine.frameReceived(ping)) == .malformedMessage)
        #expect(machine.frameReceived(Self.frame(.cancel, id: 4)) == .stopStream(RequestID(4)))
    }

    @Test("a WATCH is a stream in flight: CANCEL wakes its producer once, shutdown lists it, its id is not reused")
    func watches() {
        var machine = Self.ready()
        let watch = Request.watch(WatchMessage(text: "疆电入川"))
        #expect(machine.frameReceived(Self.frame(watch, id: 4)) == .run(watch, RequestID(4)))
        #expect(machine.frameReceived(Self.frame(.stats, id: 5)) == .run(.stats, RequestID(5)))
        #expect(machine.watchesInFlight == [RequestID(4)])
        #expect(Self.closeCode(machine.frameReceived(Self.frame(watch, id: 4))) == .protocolError)

        var cancelling = Self.ready()
        _ = cancelling.frameReceived(Self.frame(watch, id: 4))
        _ = cancelling.frameReceived(Self.frame(.stats, id: 5))
        #expect(cancelling.frameReceived(Self.frame(.cancel, id: 5)) == .none)
        #expect(cancelling.frameReceived(Self.frame(.cancel, id: 4)) == .stopStream(RequestID(4)))
        #expect(cancelling.frameReceived(Self.frame(.cancel, id: 4)) == .none)
        #expect(!cancelling.isLive(RequestID(4)) && cancelling.isCancelled(RequestID(4)))
        #expect(cancelling.requestFinished(RequestID(4)) == .init(send: true, close: false))
        #expect(cancelling.watchesInFlight.isEmpty)

        var draining = Self.ready()
        _ = draining.frameReceived(Self.frame(watch, id: 9))
        _ = draining.frameReceived(Self.frame(watch, id: 7))
        guard case .goAway = draining.shutdownRequested(message: "bye", graceMillis: 1_000) else {
            Issue.record("watches in flight: GOAWAY, then drain")
            return
        }
        #expect(draining.watchesInFlight == [RequestID(7), RequestID(9)])
        #expect(draining.requestFinished(RequestID(7)) == .init(send: true, close: false))
        #expect(draining.goAwayLingerExpired() == .none)
        #expect(draining.requestFinished(RequestID(9)) == .init(send: true, close: true))
    }
}
