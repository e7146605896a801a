/// The server side of one connection's protocol rules (PROTOCOL.md §3.3, §3.5, §6), as a value type that turns
/// each received frame into an action for the connection handler to perform.
///
/// It enforces: HELLO first and only once, no compression before the handshake, no ids from the server-reserved
/// range, no reuse of an id still in flight, the in-flight limit, and SHUTTING_DOWN after GOAWAY. It does no I/O
/// and knows nothing about tokens or timers; the server checks ``clientToken`` for writes and runs the timeouts.
///
/// ```swift
/// var machine = ServerConnectionStateMachine(policy: policy)
/// for try await frame in inbound {
///     switch machine.frameReceived(frame) {
///     case .sendWelcome(let welcome, let handshake): write(.welcome(welcome)); encoder.compression = handshake.compression
///     case .run(let request, let id): startTask { answer(request, id); machine.requestCompleted(id) }
///     case .cancel(let id): cancelTask(id)
///     case .reject(let error): write(.error(error), id: error.requestID!)
///     case .close(let error): if let error { write(.error(error)) }; close()
///     }
/// }
/// ```
public struct ServerConnectionStateMachine: Sendable {
    /// Where the connection is.
    public enum State: Sendable, Hashable {
        /// Waiting for the client's HELLO.
        case awaitingHello
        /// Handshake done; serving requests.
        case ready(Handshake)
        /// GOAWAY sent: requests already running finish, new ones get SHUTTING_DOWN.
        case draining(Handshake)
        /// The connection is being closed; every further frame is ignored.
        case closed
    }

    /// What the connection handler should do with a frame.
    public enum Action: Sendable, Hashable {
        /// Send this WELCOME (request id 0, header version ``ProtocolVersion/handshake``), then switch the
        /// connection's ``FrameEncoder`` to `handshake.compression`.
        case sendWelcome(WelcomeMessage, Handshake)
        /// Run the request and answer it with this id; call ``requestCompleted(_:)`` after its final frame.
        case run(Request, RequestID)
        /// Stop the stream with this id; end it with ERROR ``ProtocolError/Code/cancelled`` unless it already ended.
        case cancel(RequestID)
        /// Answer with this error (its ``ProtocolError/requestID`` is set); the connection stays open.
        case reject(ProtocolError)
        /// Send the error, if any, on its request id (``RequestID/connection`` when nil), then close.
        case close(ProtocolError?)
    }

    /// The current state.
    public private(set) var state: State = .awaitingHello
    /// The token the client sent in HELLO, for the server's auth checks (PROTOCOL.md §6.3).
    public private(set) var clientToken: String?
    /// The client's name from HELLO, for logs.
    public private(set) var clientName: String?
    /// Requests running now.
    public private(set) var inFlight: Set<RequestID> = []
    private let policy: HandshakePolicy

    /// Creates the state machine for a new connection.
    public init(policy: HandshakePolicy) {
        self.policy = policy
    }

    /// Decides what to do with a frame from the client.
    public mutating func frameReceived(_ frame: Frame) -> Action {
        switch state {
        case .closed:
            return .close(nil)
        case .awaitingHello:
            return handshake(frame)
        case .ready(let handshake), .draining(let handshake):
            if frame.wasCompressed, handshake.welcome.compression == .none {
                return close(.protocolError, "compressed frame on a connection that agreed on no compression", frame)
            }
            if frame.opcode == .hello {
                return close(.protocolError, "second HELLO on an established connection", frame)
            }
            if frame.requestID.isServerInitiated {
                return close(
                    .protocolError,
                    "request id \(frame.requestID) is in the server-reserved range 0x80000000...0xFFFFFFFF", frame)
            }
            if frame.opcode == .cancel { return .cancel(frame.requestID) }
            if inFlight.contains(frame.requestID) {
                return close(
                    .protocolError, "request id \(frame.requestID) is reused while that request is still in flight",
                    frame)
            }
            if case .draining = state {
                return .reject(
                    ProtocolError(
                        code: .shuttingDown,
                        message: "the server is shutting down and did not run this \(frame.opcode); retry on a "
                            + "new connection", requestID: frame.requestID))
            }
            if inFlight.count >= Int(handshake.welcome.maxInFlight) {
                return .reject(
                    ProtocolError(
                        code: .overloaded,
                        message: "\(inFlight.count) requests already in flight on this connection (limit "
                            + "\(handshake.welcome.maxInFlight)); wait for answers before sending more",
                        requestID: frame.requestID))
            }
            do {
                let request = try Request(frame: frame)
                inFlight.insert(frame.requestID)
                return .run(request, frame.requestID)
            } catch {
                return .reject(error)
            }
        }
    }

    /// The frame decoder failed (a frame-level error): send it and close.
    public mutating func decoderFailed(_ error: ProtocolError) -> Action {
        state = .closed
        return .close(error)
    }

    /// The request's final frame (or ERROR) has been written.
    public mutating func requestCompleted(_ id: RequestID) {
        inFlight.remove(id)
    }

    /// Starts a graceful shutdown: returns the GOAWAY to send (nil before the handshake, when the connection
    /// should simply close). New requests are answered SHUTTING_DOWN from now on.
    public mutating func beginShutdown(
        code: ProtocolError.Code = .shuttingDown, message: String = "server shutting down", graceMillis: UInt32
    ) -> GoAwayMessage? {
        switch state {
        case .ready(let handshake), .draining(let handshake):
            state = .draining(handshake)
            return GoAwayMessage(code: code, message: message, graceMillis: graceMillis)
        case .awaitingHello, .closed:
            state = .closed
            return nil
        }
    }

    private mutating func handshake(_ frame: Frame) -> Action {
        guard frame.opcode == .hello else {
            return close(.protocolError, "the first frame must be HELLO, got \(frame.opcode)", frame)
        }
        guard !frame.wasCompressed else {
            return close(.protocolError, "HELLO must not be compressed", frame)
        }
        do {
            let hello = try HelloMessage(decoding: frame.payload)
            let handshake = try policy.negotiate(hello)
            state = .ready(handshake)
            clientToken = hello.token
            clientName = hello.clientName
            return .sendWelcome(handshake.welcome, handshake)
        } catch {
            state = .closed
            return .close(error.with(requestID: frame.requestID))
        }
    }

    private mutating func close(_ code: ProtocolError.Code, _ message: String, _ frame: Frame) -> Action {
        state = .closed
        return .close(ProtocolError(code: code, message: message, requestID: frame.requestID))
    }
}
