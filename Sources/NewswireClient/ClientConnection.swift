import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import NewswireModel
import NewswireProtocol

/// Flags a connection's handler sets for the pool to read from any thread.
final class ConnectionFlags: Sendable {
    private let goingAway = NIOLockedValueBox(false)
    func markGoingAway() { goingAway.withLockedValue { $0 = true } }
    var isGoingAway: Bool { goingAway.withLockedValue { $0 } }
}

/// One handshaken connection: sends requests with fresh ids and awaits their (possibly streamed) responses.
final class ClientConnection: Sendable {
    let channel: any Channel
    let handshake: Handshake
    /// Whether the server sent GOAWAY (a graceful leave, not a failure of its node).
    var wentAway: Bool { flags.isGoingAway && channel.isActive }
    private let flags: ConnectionFlags
    private let nextRequestID = NIOLockedValueBox(RequestID(1))
    /// Requests beyond the server's announced in-flight limit wait here instead of drawing OVERLOADED.
    private let slots: AsyncSemaphore

    private init(channel: any Channel, handshake: Handshake, flags: ConnectionFlags) {
        self.channel = channel
        self.handshake = handshake
        self.flags = flags
        self.slots = AsyncSemaphore(permits: max(1, Int(handshake.welcome.maxInFlight)))
    }

    /// Usable for new requests: open and not told to go away.
    var isUsable: Bool { channel.isActive && !flags.isGoingAway }

    /// Connects, sends HELLO and waits for WELCOME.
    static func connect(
        configuration: NewswireClient.Configuration, endpoint: NewswireClient.Endpoint, eventLoop: any EventLoop
    ) async throws -> ClientConnection {
        let hello = HelloMessage(
            clientName: configuration.clientName, compressions: configuration.compression ? [.zlib] : [],
            token: configuration.token)
        let handshakePromise = eventLoop.makePromise(of: Handshake.self)
        let flags = ConnectionFlags()
        let limits = FrameLimits()
        let tls = try configuration.tls.map { try ClientTLSContext.make($0, host: endpoint.host) }
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: eventLoop)
                .connectTimeout(.nanoseconds(configuration.connectTimeout.nanoseconds))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tls {
                            try channel.pipeline.syncOperations.addHandler(
                                NIOSSLClientHandler(context: tls.context, serverHostname: tls.serverHostname))
                        }
                        try channel.pipeline.syncOperations.addHandler(
                            ByteToMessageHandler(NewswireFrameDecoder(limits: limits)))
                        try channel.pipeline.syncOperations.addHandler(
                            ClientChannelHandler(
                                hello: hello, handshakePromise: handshakePromise, flags: flags, usesTLS: tls != nil))
                    }
                }
                .connect(host: endpoint.host, port: endpoint.port).get()
        } catch {
            handshakePromise.fail(error)
            throw NewswireClientError(
                code: .connectionFailed,
                message: "cannot connect to \(endpoint): \(error); "
                    + "is newswired running there?",
                isRetryable: true)
        }
        let timeout = eventLoop.scheduleTask(in: .nanoseconds(configuration.connectTimeout.nanoseconds)) {
            handshakePromise.fail(
                NewswireClientError(
                    code: .connectionFailed,
                    message: "\(endpoint) accepted the connection but sent no "
                        + "WELCOME in time; is it a Newswire server?", isRetryable: true))
        }
        do {
            let handshake = try await handshakePromise.futureResult.get()
            timeout.cancel()
            return ClientConnection(channel: channel, handshake: handshake, flags: flags)
        } catch {
            timeout.cancel()
            channel.close(promise: nil)
            throw error
        }
    }

    /// Sends a request and returns every frame of its response; a task cancellation cancels the request.
    func send(_ request: Request, timeout: Duration) async throws -> [Response] {
        try await slots.acquire()
        defer { slots.release() }
        let requestID = nextRequestID.withLockedValue { id in
            defer { id = id.nextClientID == RequestID(0) ? RequestID(1) : id.nextClientID }
            return id
        }
        let promise = channel.eventLoop.makePromise(of: [Response].self)
        let command = ClientCommand.request(
            request, requestID, timeout: .nanoseconds(timeout.nanoseconds), promise: promise)
        return try await withTaskCancellationHandler {
            channel.writeAndFlush(command).whenFailure { error in
                promise.fail(
                    NewswireClientError(
                        code: .connectionClosed, message: "could not send \(request.opcode): \(error)",
                        isRetryable: true))
            }
            return try await promise.futureResult.get()
        } onCancel: {
            channel.writeAndFlush(
                ClientCommand.cancel(
                    requestID, NewswireClientError(code: .cancelled, message: "\(request.opcode) cancelled by the caller")),
                promise: nil)
        }
    }

    /// Opens a stream whose frames go to `onFrame` as they arrive (a WATCH). Holds one of the connection's
    /// in-flight slots until the returned future completes (the stream's end, always an error for a WATCH).
    /// ``cancelStream(_:_:)`` sends CANCEL.
    func openStream(_ request: Request, onFrame: @escaping @Sendable (Response) -> Void) async throws
        -> (RequestID, EventLoopFuture<[Response]>)
    {
        try await slots.acquire()
        let requestID = nextRequestID.withLockedValue { id in
            defer { id = id.nextClientID == RequestID(0) ? RequestID(1) : id.nextClientID }
            return id
        }
        let promise = channel.eventLoop.makePromise(of: [Response].self)
        let slots = self.slots
        promise.futureResult.whenComplete { _ in slots.release() }
        channel.writeAndFlush(ClientCommand.stream(request, requestID, onFrame: onFrame, promise: promise))
            .whenFailure { error in
                promise.fail(
                    NewswireClientError(
                        code: .connectionClosed, message: "could not send \(request.opcode): \(error)",
                        isRetryable: true))
            }
        return (requestID, promise.futureResult)
    }

    /// Stops a stream opened with ``openStream(_:onFrame:)``: its future fails with `error` at once, and the
    /// server is sent CANCEL.
    func cancelStream(_ requestID: RequestID, _ error: NewswireClientError) {
        channel.writeAndFlush(ClientCommand.cancel(requestID, error), promise: nil)
    }

    func close() async {
        try? await channel.close()
    }
}

/// A client TLS context built from ``NewswireClient/TLS``: full certificate verification, hostname checked.
struct ClientTLSContext: Sendable {
    let context: NIOSSLContext
    /// Nil when connecting by IP address: SNI cannot carry one, and NIOSSL then checks the certificate's IP
    /// subject alternative names against the connected address.
    let serverHostname: String?

    static func make(_ settings: NewswireClient.TLS, host: String) throws -> ClientTLSContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .fullVerification
        configuration.minimumTLSVersion = .tlsv12
        if let path = settings.trustRootsPath {
            do {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(path))
            } catch {
                throw NewswireClientError(
                    code: .connectionFailed,
                    message: "cannot load the CA certificates in \(path) (\(error)); pass a PEM file with --tls-ca")
            }
        }
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            throw NewswireClientError(code: .connectionFailed, message: "cannot set up TLS: \(error)")
        }
        let name = settings.serverHostname ?? host
        let isAddress = (try? SocketAddress(ipAddress: name, port: 0)) != nil
        return ClientTLSContext(context: context, serverHostname: isAddress ? nil : name)
    }
}

/// A counting semaphore for async callers; waiting is cancellable.
final class AsyncSemaphore: Sendable {
    private struct State {
        var available: Int
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
        var nextWaiter: UInt64 = 0
        /// Acquires that have an id but have not yet tried to take a permit or registered as a waiter.
        var starting: Set<UInt64> = []
        /// Starting acquires whose task was cancelled before they registered: they throw instead of waiting.
        var cancelledWhileStarting: Set<UInt64> = []
    }

    private let state: NIOLockedValueBox<State>

    init(permits: Int) {
        state = NIOLockedValueBox(State(available: permits))
    }

    /// How many acquires are waiting for a permit.
    var waiterCount: Int { state.withLockedValue { $0.waiters.count } }

    func acquire() async throws {
        let waiterID = state.withLockedValue { state -> UInt64 in
            state.nextWaiter += 1
            state.starting.insert(state.nextWaiter)
            return state.nextWaiter
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let granted = state.withLockedValue { state -> Bool? in
                    state.starting.remove(waiterID)
                    if state.cancelledWhileStarting.remove(waiterID) != nil { return nil }
                    if state.available > 0 {
                        state.available -= 1
                        return true
                    }
                    state.waiters.append((waiterID, continuation))
                    return false
                }
                switch granted {
                case true?: continuation.resume()
                case nil: continuation.resume(throwing: CancellationError())
                case false?: break
                }
            }
        } onCancel: {
            // The cancellation may come before the waiter is registered (even before the operation runs, when the
            // task is already cancelled): then it is remembered, so the waiter does not wait for a release.
            let cancelled = state.withLockedValue { state -> CheckedContinuation<Void, any Error>? in
                if state.starting.remove(waiterID) != nil {
                    state.cancelledWhileStarting.insert(waiterID)
                    return nil
                }
                guard let index = state.waiters.firstIndex(where: { $0.id == waiterID }) else { return nil }
                return state.waiters.remove(at: index).continuation
            }
            cancelled?.resume(throwing: CancellationError())
        }
    }

    func release() {
        let next = state.withLockedValue { state -> CheckedContinuation<Void, any Error>? in
            if state.waiters.isEmpty {
                state.available += 1
                return nil
            }
            return state.waiters.removeFirst().continuation
        }
        next?.resume()
    }
}
