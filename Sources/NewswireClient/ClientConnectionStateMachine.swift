import NIOCore
import NewswireProtocol

/// Every decision the client makes about one connection, as a value type: events in (frames, requests sent,
/// cancellations, timeouts, the connection closing), actions out; ``ClientChannelHandler`` performs them.
///
/// It owns the handshake (WELCOME checked against HELLO), the requests in flight and the frames collected for
/// each (streams end at a frame without MORE_TO_FOLLOW, or an ERROR), GOAWAY (no new requests; those in flight
/// are still answered), and the failure that ends the connection: every request still waiting gets it, marked
/// retryable when the request may be sent again elsewhere (every Newswire request is idempotent, PROTOCOL.md §6.4).
/// `Pending` is generic so the tests can drive it with plain values.
struct ClientConnectionStateMachine<Pending> {
    enum State {
        case awaitingWelcome(HelloMessage)
        case ready(Handshake)
        /// GOAWAY received: requests in flight are still answered; new ones go to another connection.
        case goingAway(Handshake)
        case failed(NewswireClientError)
    }

    /// What the handler should do.
    enum Action {
        case none
        /// The handshake succeeded: use its compression from now on.
        case handshakeSucceeded(Handshake)
        /// The request's complete answer (every frame of a stream, in order).
        case succeed(Pending, [Response])
        /// One frame of a stream whose frames are delivered as they come (a WATCH): more follow.
        case deliver(Pending, Response)
        /// The request failed.
        case fail(Pending, NewswireClientError)
        /// The connection is unusable: fail the handshake if it is pending and every request, then close.
        case failConnection(NewswireClientError, handshakePending: Bool, requests: [Pending])
        /// The server sent GOAWAY: stop using this connection for new requests.
        case goingAway
    }

    private struct InFlight {
        var pending: Pending
        var collected: [Response] = []
        /// Deliver each frame as it arrives instead of collecting the stream (a WATCH never ends by itself).
        var delivers = false
    }

    private(set) var state: State
    private var inFlight: [RequestID: InFlight] = [:]

    init(hello: HelloMessage) {
        state = .awaitingWelcome(hello)
    }

    /// Whether new requests may be sent.
    var acceptsRequests: Bool {
        if case .ready = state { return true }
        return false
    }

    /// Requests waiting for an answer.
    var inFlightCount: Int { inFlight.count }

    /// A request is about to be written. Nil when it may be sent; else the error to fail it with.
    mutating func requestSent(_ id: RequestID, pending: Pending, delivers: Bool = false) -> NewswireClientError? {
        switch state {
        case .failed(let error):
            return error
        case .awaitingWelcome, .goingAway:
            return NewswireClientError(
                code: .connectionClosed, message: "this connection takes no new requests", isRetryable: true)
        case .ready:
            inFlight[id] = InFlight(pending: pending, delivers: delivers)
            return nil
        }
    }

    /// A frame from the server.
    mutating func frameReceived(_ frame: Frame) -> Action {
        switch state {
        case .failed:
            return .none
        case .awaitingWelcome(let hello):
            return welcome(frame, hello: hello)
        case .ready(let handshake), .goingAway(let handshake):
            // PROTOCOL.md §6.3: nothing is compressed on a connection whose WELCOME chose no compression.
            if frame.wasCompressed, handshake.welcome.compression == .none {
                return failConnection(
                    NewswireClientError(
                        code: .protocolViolation,
                        message: "server sent a compressed \(frame.opcode) frame although WELCOME chose no "
                            + "compression"))
            }
        }
        if frame.requestID == .connection {
            switch try? Response(frame: frame) {
            case .goAway:
                if case .ready(let handshake) = state { state = .goingAway(handshake) }
                return .goingAway
            case .error(let error):
                return failConnection(NewswireClientError(server: error))
            default:
                return .none
            }
        }
        guard var entry = inFlight[frame.requestID] else { return .none }  // cancelled or timed out
        let response: Response
        do {
            response = try Response(frame: frame)
        } catch {
            return failConnection(
                NewswireClientError(
                    code: .protocolViolation, message: "server sent an undecodable \(frame.opcode) frame: \(error)"))
        }
        if case .error(let error) = response {
            inFlight[frame.requestID] = nil
            return .fail(entry.pending, NewswireClientError(server: error))
        }
        if entry.delivers, frame.hasMoreToFollow { return .deliver(entry.pending, response) }
        entry.collected.append(response)
        if frame.hasMoreToFollow {
            inFlight[frame.requestID] = entry
            return .none
        }
        inFlight[frame.requestID] = nil
        return .succeed(entry.pending, entry.collected)
    }

    private mutating func welcome(_ frame: Frame, hello: HelloMessage) -> Action {
        // PROTOCOL.md §6.3: nothing is compressed before WELCOME, WELCOME included.
        guard !frame.wasCompressed else {
            return failConnection(
                NewswireClientError(
                    code: .protocolViolation, message: "server sent a compressed \(frame.opcode) frame before WELCOME"))
        }
        do {
            switch try Response(frame: frame) {
            case .welcome(let welcome):
                let handshake = try hello.accept(welcome)
                state = .ready(handshake)
                return .handshakeSucceeded(handshake)
            case .error(let error):
                return failConnection(Self.handshakeError(error))
            default:
                return failConnection(
                    NewswireClientError(
                        code: .protocolViolation, message: "server answered HELLO with \(frame.opcode), not WELCOME"))
            }
        } catch {
            return failConnection(Self.handshakeError(error))
        }
    }

    private static func handshakeError(_ error: ProtocolError) -> NewswireClientError {
        if error.code == .unauthorised { return NewswireClientError(server: error) }
        return NewswireClientError(
            code: .connectionFailed, message: "handshake refused: \(error.code.name): \(error.message)",
            isRetryable: error.isRetryable, serverError: error)
    }

    /// The caller gave up on a request (cancellation or timeout). Returns it, to fail with `error`, when it was
    /// still waiting (the handler then sends CANCEL).
    mutating func requestAbandoned(_ id: RequestID) -> Pending? {
        inFlight.removeValue(forKey: id)?.pending
    }

    /// The connection failed or closed.
    mutating func failConnection(_ error: NewswireClientError) -> Action {
        var handshakePending = false
        switch state {
        case .failed: return .none
        case .awaitingWelcome: handshakePending = true
        case .ready, .goingAway: break
        }
        state = .failed(error)
        let requests = inFlight.values.map(\.pending)
        inFlight.removeAll()
        return .failConnection(error, handshakePending: handshakePending, requests: requests)
    }
}
