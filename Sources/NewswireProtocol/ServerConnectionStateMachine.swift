/// Every decision the server makes about one connection (PROTOCOL.md §3.3, §3.5, §6, §7), as a value type: events
/// go in, actions come out, and the connection handler only performs them. It does no I/O and owns no timers.
///
/// It owns: the handshake (HELLO first and once, no compression before WELCOME), the access the HELLO token grants
/// and the count of refused requests (§6.3), the request ids in flight — single requests and streams alike — and
/// the streams the client cancelled, the in-flight limit, the handshake and idle timeouts, GOAWAY and draining
/// (§6.4), and whether a cached GET may be answered ahead of the read loop (the pipeline fast path).
///
/// ```swift
/// var machine = ServerConnectionStateMachine(configuration)
/// switch machine.frameReceived(frame) {
/// case .sendWelcome(let welcome, let handshake): write(.welcome(welcome)); encoder.compression = handshake.compression
/// case .run(let request, let id): start { answer(request, id); if machine.requestFinished(id).send { write } }
/// case .answer(let error): write(.error(error))
/// case .answerAndClose(let error): write(.error(error)); close()
/// case .goAway(let goAway): write(.goAway(goAway)); after the linger: perform(machine.goAwayLingerExpired())
/// case .close: close()
/// case .none: break
/// }
/// ```
public struct ServerConnectionStateMachine: Sendable {
    /// What a connection's HELLO token lets it do. Each level includes the ones below it.
    public enum Access: Int, Comparable, Sendable {
        /// Only PING.
        case none = 0
        /// Reads: everything but INGEST, PUT and DELETE.
        case read = 1
        /// Everything (PROTOCOL.md §6.3: the write token grants reads too).
        case write = 2

        public static func < (lhs: Access, rhs: Access) -> Bool { lhs.rawValue < rhs.rawValue }

        /// The access `opcode` needs: PING none, writes write, everything else read.
        public static func needed(for opcode: Opcode) -> Access {
            switch opcode {
            case .ping: .none
            case .ingest, .put, .delete: .write
            default: .read
            }
        }
    }

    /// How the server is set up, as far as one connection's rules go.
    public struct Configuration: Sendable {
        /// Versions, compression and limits for the handshake.
        public var policy: HandshakePolicy
        /// Requests refused UNAUTHORISED before the connection is closed; the last refusal is answered (§6.3).
        public var maxAuthFailures: Int
        /// The access a HELLO token (nil: none sent) grants. Compares in constant time (the server's job).
        public var access: @Sendable (String?) -> Access

        /// Creates a configuration; by default every token (or none) grants everything, as a server without tokens.
        public init(
            policy: HandshakePolicy, maxAuthFailures: Int = Limits.defaultMaxAuthFailures,
            access: @escaping @Sendable (String?) -> Access = { _ in .write }
        ) {
            self.policy = policy
            self.maxAuthFailures = maxAuthFailures
            self.access = access
        }
    }

    /// Where the connection is.
    public enum State: Sendable, Hashable {
        /// Waiting for the client's HELLO.
        case awaitingHello
        /// Handshake done; serving requests.
        case ready(Handshake)
        /// GOAWAY sent: requests already running finish, new ones get SHUTTING_DOWN, until the connection closes
        /// (see ``goAwayLingerExpired()``).
        case draining(Handshake)
        /// A close was decided: nothing more is read, started or answered except what is already queued.
        case closed
    }

    /// What the connection handler should do.
    public enum Action: Sendable, Hashable {
        /// Nothing to send.
        case none
        /// Send this WELCOME (request id 0, header version ``ProtocolVersion/handshake``), then switch the
        /// connection's ``FrameEncoder`` to `handshake.compression`.
        case sendWelcome(WelcomeMessage, Handshake)
        /// Run the request and answer it with this id; report ``requestFinished(_:)`` before sending its final frame.
        case run(Request, RequestID)
        /// Answer with this error (its ``ProtocolError/requestID`` is set); the connection stays open.
        case answer(ProtocolError)
        /// Send this error on its request id (``RequestID/connection`` when nil), then close the connection.
        case answerAndClose(ProtocolError)
        /// Send this GOAWAY on the connection id and keep reading: requests in flight may finish within the grace
        /// period (see ``graceExpired()``), and requests that arrive get SHUTTING_DOWN, until nothing is in flight
        /// and the client has closed its side or the linger is over (``goAwayLingerExpired()``).
        case goAway(GoAwayMessage)
        /// Close without sending anything more.
        case close
        /// Wake the producer of this stream: it was cancelled, and the producer waits for something other than
        /// room to send (a WATCH waits for committed changes). It ends the stream with ERROR CANCELLED (§5.19).
        case stopStream(RequestID)
    }

    /// What to do when a request has produced its final frame.
    public struct Completion: Sendable, Hashable {
        /// Send the final frame. False when the request was already answered (SHUTTING_DOWN at the end of the
        /// grace period) or the connection is closing.
        public var send: Bool
        /// Close the connection after it (the last request of a drain).
        public var close: Bool
    }

    private struct InFlight: Sendable, Hashable {
        var opcode: Opcode
        var cancelled = false
    }

    /// The current state.
    public private(set) var state: State = .awaitingHello {
        didSet { clientMaxFrameLength = Int(handshake?.clientMaxFrameLength ?? ProtocolLimits.defaultMaxFrameLength) }
    }
    /// The largest payload the client accepts: the handshake's once WELCOME is decided, the spec default before and
    /// after. Kept beside the state because a server reads it for every live event it queues, and reading it
    /// through ``handshake`` copied the handshake (a retain and a release of each of its strings).
    public private(set) var clientMaxFrameLength = Int(ProtocolLimits.defaultMaxFrameLength)
    /// The client's name from HELLO, for logs.
    public private(set) var clientName: String?
    /// What the HELLO token granted (none before the handshake).
    public private(set) var access: Access = .none
    /// Requests refused UNAUTHORISED so far.
    public private(set) var authFailures = 0
    /// Frames the machine has seen (the pipeline fast path compares it with the frames it passed on).
    public private(set) var framesReceived = 0
    /// Whether the read side has ended (the writer may stop once nothing is in flight).
    public private(set) var readerFinished = false
    /// Whether the time a drain keeps reading after GOAWAY is over (``goAwayLingerExpired()``).
    public private(set) var goAwayLingerOver = false
    private var inFlight: [RequestID: InFlight] = [:]
    private let configuration: Configuration

    /// Creates the state machine for a new connection.
    public init(_ configuration: Configuration) {
        self.configuration = configuration
    }

    /// Creates the state machine with a handshake policy and every access granted.
    public init(policy: HandshakePolicy) {
        self.init(Configuration(policy: policy))
    }

    /// Request ids in flight, streams included.
    public var inFlightIDs: Set<RequestID> { Set(inFlight.keys) }

    /// How many requests are in flight, streams included.
    public var inFlightCount: Int { inFlight.count }

    /// The negotiated handshake, once WELCOME is decided (until the connection closes).
    public var handshake: Handshake? {
        switch state {
        case .ready(let handshake), .draining(let handshake): handshake
        case .awaitingHello, .closed: nil
        }
    }

    // MARK: Frames

    /// Decides what to do with a frame from the client.
    public mutating func frameReceived(_ frame: Frame) -> Action {
        framesReceived += 1
        switch state {
        case .closed:
            return .none
        case .awaitingHello:
            return handshake(frame)
        case .ready(let handshake), .draining(let handshake):
            return request(frame, handshake: handshake)
        }
    }

    private mutating func request(_ frame: Frame, handshake: Handshake) -> Action {
        let id = frame.requestID
        if frame.wasCompressed, handshake.welcome.compression == .none {
            return close(.protocolError, "compressed frame on a connection that agreed on no compression (§10)", id)
        }
        if frame.opcode == .hello {
            return close(.protocolError, "second HELLO on an established connection", id)
        }
        if id.isServerInitiated {
            return close(.protocolError, "request id \(id) is in the server-reserved range 0x80000000...0xFFFFFFFF", id)
        }
        if frame.opcode == .cancel {
            // §3.5: a request frame never sets more-to-follow. A CANCEL has no answer of its own (its id names the
            // request it would stop, whose answers go on), so the rejection goes out on the connection id.
            guard !frame.hasMoreToFollow else {
                return .answer(
                    ProtocolError(
                        code: .malformedMessage,
                        message: "CANCEL for request \(id) sets more-to-follow; v1 requests are single frames "
                            + "(the CANCEL was not acted on)",
                        requestID: .connection))
            }
            // §3.5: stop the stream (its producer sees it is no longer live); unknown ids are ignored.
            guard let running = inFlight[id], !running.cancelled else { return .none }
            inFlight[id]?.cancelled = true
            return running.opcode == .watch ? .stopStream(id) : .none
        }
        if let running = inFlight[id] {
            return close(
                .protocolError, "request id \(id) is reused while the \(running.opcode) with that id is unfinished", id)
        }
        if case .draining = state {
            return .answer(
                ProtocolError(
                    code: .shuttingDown,
                    message: "the server is shutting down and did not run this \(frame.opcode); retry on a new "
                        + "connection", requestID: id))
        }
        if inFlight.count >= Int(handshake.welcome.maxInFlight) {
            return .answer(
                ProtocolError(
                    code: .overloaded,
                    message: "\(inFlight.count) requests already in flight on this connection (limit "
                        + "\(handshake.welcome.maxInFlight)); wait for answers before sending more",
                    requestID: id, retryAfterMillis: Limits.overloadedRetryAfterMillis))
        }
        let request: Request
        do {
            request = try Request(frame: frame)
        } catch {
            return .answer(error.with(requestID: id))
        }
        let needed = Access.needed(for: frame.opcode)
        guard access >= needed else { return refuse(frame.opcode, needed: needed, id: id) }
        inFlight[id] = InFlight(opcode: frame.opcode)
        return .run(request, id)
    }

    /// §6.3: UNAUTHORISED, and after ``Configuration/maxAuthFailures`` refusals the last one is answered, saying
    /// so, and the connection closes; nothing pipelined behind it runs.
    private mutating func refuse(_ opcode: Opcode, needed: Access, id: RequestID) -> Action {
        authFailures += 1
        var error = ProtocolError(
            code: .unauthorised,
            message: needed == .write
                ? "\(opcode) needs the write token; connect with --token (or NEWSWIRE_TOKEN)"
                : "this server requires a read token for \(opcode); connect with --token", requestID: id)
        guard authFailures >= configuration.maxAuthFailures else { return .answer(error) }
        error.message += "; \(authFailures) refused requests on this connection, closing it"
        state = .closed
        return .answerAndClose(error)
    }

    private mutating func handshake(_ frame: Frame) -> Action {
        guard frame.opcode == .hello else {
            return close(.protocolError, "the first frame must be HELLO, got \(frame.opcode)", frame.requestID)
        }
        guard !frame.wasCompressed else {
            return close(.protocolError, "HELLO must not be compressed", frame.requestID)
        }
        guard !frame.hasMoreToFollow else {
            // §3.5: a request frame never sets more-to-follow; an ERROR answering HELLO closes (§2).
            return close(.malformedMessage, "HELLO sets more-to-follow; v1 requests are single frames", frame.requestID)
        }
        do {
            let hello = try HelloMessage(decoding: frame.payload)
            let handshake = try configuration.policy.negotiate(hello)
            state = .ready(handshake)
            access = configuration.access(hello.token)
            clientName = hello.clientName
            return .sendWelcome(handshake.welcome, handshake)
        } catch {
            state = .closed
            return .answerAndClose(error.with(requestID: frame.requestID))
        }
    }

    private mutating func close(_ code: ProtocolError.Code, _ message: String, _ id: RequestID) -> Action {
        state = .closed
        return .answerAndClose(ProtocolError(code: code, message: message, requestID: id))
    }

    /// The frame decoder failed (a frame-level error, §7.1): send it and close.
    public mutating func decoderFailed(_ error: ProtocolError) -> Action {
        guard state != .closed else { return .close }
        state = .closed
        return .answerAndClose(error)
    }

    // MARK: The pipeline fast path

    /// A canonical GET with id `id` whose record is cached arrived; `framesPassedOn` frames went to the read loop
    /// before it. True when it may be answered at once, ahead of the read loop: the connection is ready (not
    /// before WELCOME, not draining), reads are allowed, the read loop has seen every earlier frame (so an id in
    /// flight, a stream included, is recognised as reused), the id is not in flight, and the in-flight limit has
    /// room. It is answered at once, so it starts and finishes within this call. Otherwise the GET goes to the read
    /// loop. Frames answered here are not passed on, so neither side counts them.
    public mutating func cachedGetArrived(_ id: RequestID, framesPassedOn: Int) -> Bool {
        guard case .ready(let handshake) = state, access >= .read, framesPassedOn == framesReceived,
            !id.isServerInitiated, inFlight[id] == nil, inFlight.count < Int(handshake.welcome.maxInFlight)
        else { return false }
        return true
    }

    // MARK: Requests

    /// Whether the stream `id` should go on: still in flight and not cancelled.
    public func isLive(_ id: RequestID) -> Bool {
        guard let running = inFlight[id] else { return false }
        return !running.cancelled
    }

    /// The WATCH streams in flight, in id order: shutdown ends them at once, each with its position (§5.19), since
    /// a watch never finishes by itself within a grace period.
    public var watchesInFlight: [RequestID] {
        inFlight.filter { $0.value.opcode == .watch }.keys.sorted()
    }

    /// Whether the client cancelled `id` (its producer ends it with ERROR CANCELLED, §3.5).
    public func isCancelled(_ id: RequestID) -> Bool { inFlight[id]?.cancelled ?? false }

    /// A request is about to send its final frame (or ERROR): its id is free from now on.
    public mutating func requestFinished(_ id: RequestID) -> Completion {
        guard inFlight.removeValue(forKey: id) != nil else { return Completion(send: false, close: false) }
        if case .draining = state, inFlight.isEmpty, goAwayLingerOver || readerFinished {
            state = .closed
            return Completion(send: true, close: true)
        }
        return Completion(send: state != .closed, close: false)
    }

    /// The read side ended (peer closed, or a close was decided). True when the writer may finish now.
    public mutating func readEnded() -> Bool {
        readerFinished = true
        return inFlight.isEmpty
    }

    /// Whether the writer may finish: the reader ended and nothing is in flight.
    public var writerMayFinish: Bool { readerFinished && inFlight.isEmpty }

    // MARK: Timers

    /// The handshake timeout expired (§6.3): closes with ERROR TIMEOUT unless HELLO already arrived.
    public mutating func handshakeTimedOut(after millis: Int64) -> Action {
        guard case .awaitingHello = state else { return .none }
        state = .closed
        return .answerAndClose(
            ProtocolError(
                code: .timeout, message: "no HELLO within \(millis) ms of connecting; send HELLO first",
                requestID: .connection))
    }

    /// Nothing was read for the idle timeout (§6.4, §9): GOAWAY TIMEOUT, then a drain with nothing in flight (a
    /// request the client sent before the GOAWAY reached it is answered SHUTTING_DOWN), but only when nothing is in
    /// flight (a connection waiting for its answers is not idle) and after HELLO (before it, the handshake timeout
    /// applies).
    public mutating func idleTimedOut() -> Action {
        switch state {
        case .awaitingHello:
            // The handshake timeout governs a connection without HELLO. Closing here too closed connections whose
            // HELLO had been read but not yet reached this machine on a loaded server, with a short idle timeout.
            return .none
        case .ready(let handshake):
            guard inFlight.isEmpty else { return .none }
            state = .draining(handshake)
            return .goAway(GoAwayMessage(code: .timeout, message: "connection idle for too long; closing it"))
        case .draining, .closed:
            return .none
        }
    }

    // MARK: Shutdown

    /// Graceful shutdown (§6.4): GOAWAY now; new requests get SHUTTING_DOWN; the connection closes once the
    /// requests in flight finish and the linger is over (or the client closed its side), or at ``graceExpired()``.
    public mutating func shutdownRequested(message: String, graceMillis: UInt32) -> Action {
        switch state {
        case .ready(let handshake):
            state = .draining(handshake)
            return .goAway(GoAwayMessage(code: .shuttingDown, message: message, graceMillis: graceMillis))
        case .awaitingHello:
            state = .closed
            return .close
        case .draining, .closed:
            return .none
        }
    }

    /// The grace period ended: every request still in flight is to be answered SHUTTING_DOWN (returned in id
    /// order), then the connection closes. Nil when the connection is not draining (it closed already).
    /// `keeping`: requests that finish after the grace all the same (writes the store already has); the
    /// connection then closes when the last of them is answered.
    public mutating func graceExpired(keeping: Set<RequestID> = []) -> [RequestID]? {
        guard case .draining = state else { return nil }
        let unanswered = inFlight.keys.filter { !keeping.contains($0) }.sorted()
        for id in unanswered { inFlight[id] = nil }
        goAwayLingerOver = true
        if inFlight.isEmpty { state = .closed }
        return unanswered
    }

    /// Whether the connection is closed (nothing more is sent on it but what was queued).
    public var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    /// The time a drain keeps reading after GOAWAY is over (§6.4 step 4): a request the client sent before GOAWAY
    /// reached it has arrived by now and was answered SHUTTING_DOWN. Closes now when nothing is in flight;
    /// otherwise the last request to finish closes.
    public mutating func goAwayLingerExpired() -> Action {
        guard case .draining = state else { return .none }
        goAwayLingerOver = true
        guard inFlight.isEmpty else { return .none }
        state = .closed
        return .close
    }
}
