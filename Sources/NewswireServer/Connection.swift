import Logging
import NIOConcurrencyHelpers
import NIOCore
import NewswireModel
import NewswireProtocol

/// What a connection's token lets it do.
enum AccessLevel: Int, Comparable, Sendable {
    case none = 0
    case read = 1
    case write = 2

    static func < (lhs: AccessLevel, rhs: AccessLevel) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// One client connection: the handshake, the read loop, concurrent request tasks and the writer.
///
/// Requests run as child tasks, so responses go out in completion order (matched by request id). The read loop
/// stops reading while too many response bytes wait to be written, which keeps a client that does not read from
/// costing more than bounded memory.
final class Connection: Sendable {
    private struct State {
        /// The spec's connection rules (handshake, request ids, in-flight limit, draining): PROTOCOL.md §3.3, §6.
        var machine: ServerConnectionStateMachine
        var access: AccessLevel = .none
        /// Streams the client cancelled.
        var cancelled: Set<RequestID> = []
        var readerDone = false
        var closeQueued = false
        /// Requests refused UNAUTHORISED so far (SECURITY.md "Authentication").
        var authFailures = 0
    }

    let id: UInt64
    let context: ServerContext
    let channel: any Channel
    let queue: OutboundQueue
    let logger: Logger
    private let state: NIOLockedValueBox<State>

    init(id: UInt64, context: ServerContext, channel: any Channel) {
        self.id = id
        self.context = context
        self.channel = channel
        self.queue = OutboundQueue(highWatermark: context.configuration.limits.maxQueuedResponseBytes)
        self.state = NIOLockedValueBox(State(machine: ServerConnectionStateMachine(policy: context.handshakePolicy)))
        var logger = context.logger
        logger[metadataKey: "newswire_connection"] = "\(id)"
        if let remote = channel.remoteAddress { logger[metadataKey: "newswire_peer"] = "\(remote)" }
        self.logger = logger
    }

    /// Serves the connection until the peer leaves, a frame-level error closes it, or shutdown drains it.
    func run(_ asyncChannel: NIOAsyncChannel<Frame, ByteBuffer>) async {
        do {
            try await asyncChannel.executeThenClose { inbound, outbound in
                await withDiscardingTaskGroup { group in
                    group.addTask { await self.runWriter(outbound) }
                    do {
                        readLoop: for try await frame in inbound {
                            context.statistics.recordBytesIn(FrameHeader.length + Int(frame.header.payloadLength))
                            await queue.waitForRoom()
                            switch self.accept(frame) {
                            case .continue:
                                break
                            case .close:
                                // Nothing after a connection-ending error is read: pipelined frames behind it
                                // must not run (they may come from a peer that failed auth or broke framing).
                                self.queueClose()
                                break readLoop
                            case .run(let request):
                                group.addTask { await self.respond(to: request, requestID: frame.requestID) }
                            }
                        }
                    } catch let error as ProtocolError {
                        // A frame-level error from the decoder: answer it, then close (PROTOCOL.md §7.1).
                        logger.info(
                            "closing connection after a frame error",
                            metadata: ["newswire_error": "\(error)"])
                        if case .close(let answer) = state.withLockedValue({ $0.machine.decoderFailed(error) }),
                            let answer
                        {
                            queue.enqueue(.frame(OutboundFrame(.error(answer), requestID: answer.requestID ?? .connection)))
                        }
                        self.queueClose()
                    } catch {
                        logger.debug("connection read ended", metadata: ["newswire_error": "\(error)"])
                    }
                    self.readerFinished()
                }
            }
        } catch {
            logger.debug("connection closed with an error", metadata: ["newswire_error": "\(error)"])
        }
    }

    // MARK: Writer

    private func runWriter(_ outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) async {
        var encoder = FrameEncoder(compression: .disabled)
        var fastPathEnabled = false
        while let items = await queue.next() {
            var buffer = channel.allocator.buffer(capacity: 4096)
            var accounted = 0
            var payloadBytes = 0
            var close = false
            for item in items {
                switch item {
                case .frame(let frame):
                    encoder.encode(frame, into: &buffer)
                    accounted += frame.approximateSize
                    switch frame.payload {
                    case .plain(let payload): payloadBytes += payload.readableBytes
                    case .precompressed(_, let length): payloadBytes += Int(length)
                    }
                case .compression(let settings):
                    encoder.compression = settings
                case .closeAfterFlush:
                    close = true
                }
            }
            if buffer.readableBytes > 0 {
                let wire = buffer.readableBytes
                do {
                    try await outbound.write(buffer)
                    context.statistics.recordBytesOut(wire: wire, uncompressedPayload: payloadBytes)
                } catch {
                    queue.finish()
                    channel.close(promise: nil)
                    return
                }
            }
            queue.written(bytes: accounted)
            if !fastPathEnabled, let handshake, access >= readAccessNeeded {
                // WELCOME has been handed to the channel: from now on cached GETs may be answered in the pipeline.
                fastPathEnabled = true
                enableCachedGetHandler(handshake: handshake)
            }
            if close {
                queue.finish()
                outbound.finish()
                channel.close(mode: .all, promise: nil)
                return
            }
        }
    }

    private var access: AccessLevel { state.withLockedValue { $0.access } }

    /// Reads need a read token only when the server has one.
    private var readAccessNeeded: AccessLevel { context.configuration.readToken == nil ? .none : .read }

    private func enableCachedGetHandler(handshake: Handshake) {
        let channel = self.channel
        channel.eventLoop.execute {
            guard let handler = try? channel.pipeline.syncOperations.handler(type: CachedGetHandler.self) else { return }
            handler.enable(connection: self, handshake: handshake)
        }
    }

    private func queueClose() {
        let first = state.withLockedValue { state in
            defer { state.closeQueued = true }
            return !state.closeQueued
        }
        if first { queue.enqueue(.closeAfterFlush) }
    }

    private func readerFinished() {
        let finishNow = state.withLockedValue { state in
            state.readerDone = true
            return state.machine.inFlight.isEmpty
        }
        if finishNow { queue.finish() }
    }

    // MARK: Read loop decisions

    private enum Decision {
        case `continue`
        case close
        case run(Request)
    }

    /// Decides what to do with one frame (by the spec's state machine); what needs no engine work is answered here.
    private func accept(_ frame: Frame) -> Decision {
        let requestID = frame.requestID
        let (action, access) = state.withLockedValue { state -> (ServerConnectionStateMachine.Action, AccessLevel) in
            let action = state.machine.frameReceived(frame)
            if case .sendWelcome(let welcome, let handshake) = action {
                state.access = context.accessLevel(forToken: state.machine.clientToken)
                // Queued under the lock: a concurrent drain() must not get its GOAWAY in ahead of WELCOME.
                queue.enqueue(.frame(OutboundFrame(.welcome(welcome), requestID: requestID)))
                queue.enqueue(.compression(handshake.compression))
            }
            if case .cancel(let id) = action, state.machine.inFlight.contains(id) { state.cancelled.insert(id) }
            return (action, state.access)
        }
        switch action {
        case .sendWelcome(let welcome, _):
            context.statistics.recordRequest(opcode: .hello, outcome: "ok", latency: .zero)
            logger.debug(
                "handshake complete",
                metadata: [
                    "newswire_client": "\(state.withLockedValue { $0.machine.clientName ?? "" })",
                    "newswire_compression": "\(welcome.compression)",
                ])
            return .continue
        case .cancel:
            return .continue
        case .reject(var error):
            if error.code == .overloaded, error.retryAfterMillis == nil { error.retryAfterMillis = 10 }
            context.statistics.recordRequest(opcode: frame.opcode, outcome: error.code.name, latency: .zero)
            queue.enqueue(.frame(OutboundFrame(.error(error.with(requestID: requestID)), requestID: requestID)))
            return .continue
        case .close(let error):
            if let error {
                logger.info("closing connection", metadata: ["newswire_error": "\(error)"])
                queue.enqueue(.frame(OutboundFrame(.error(error), requestID: error.requestID ?? .connection)))
            }
            return .close
        case .run(let request, _):
            if var denial = context.authorise(request, access: access) {
                let maxFailures = context.configuration.limits.maxAuthFailuresPerConnection
                let failures = state.withLockedValue { state in
                    state.authFailures += 1
                    return state.authFailures
                }
                // The token itself is never logged (SECURITY.md); the peer and the operation are.
                logger.notice(
                    "request refused: not authorised",
                    metadata: ["newswire_opcode": "\(frame.opcode)", "newswire_auth_failures": "\(failures)"])
                if failures >= maxFailures {
                    denial.message += "; \(failures) refused requests on this connection, closing it"
                    complete(requestID, with: .error(denial), opcode: frame.opcode, started: .now)
                    return .close
                }
                complete(requestID, with: .error(denial), opcode: frame.opcode, started: .now)
                return .continue
            }
            // Fast path: a cached GET is answered from memory on the read loop, with no task and no store access.
            if case .get(let get) = request, get.minPosition == nil, let entry = context.recordCache.entry(for: get.id),
                let handshake = self.handshake
            {
                completeWithCachedRecord(requestID, entry: entry, handshake: handshake)
                context.statistics.recordRequest(opcode: .get, outcome: "ok", latency: .zero)
                return .continue
            }
            return .run(request)
        }
    }

    // MARK: Requests

    private func respond(to request: Request, requestID: RequestID) async {
        let started = ContinuousClock.now
        let opcode = request.opcode
        do {
            try await context.respond(to: request, requestID: requestID, connection: self)
        } catch let error as ProtocolError {
            complete(requestID, with: .error(error.with(requestID: requestID)), opcode: opcode, started: started)
        } catch {
            logger.error(
                "request failed unexpectedly",
                metadata: ["newswire_request": "\(requestID)", "newswire_opcode": "\(opcode)", "newswire_error": "\(error)"])
            complete(
                requestID,
                with: .error(
                    ProtocolError(
                        code: .internal, message: "internal error while serving \(opcode): \(error)",
                        requestID: requestID)), opcode: opcode, started: started)
        }
    }

    /// The negotiated handshake (requests only run after it).
    var handshake: Handshake? {
        state.withLockedValue { state in
            switch state.machine.state {
            case .ready(let handshake), .draining(let handshake): return handshake
            case .awaitingHello, .closed: return nil
            }
        }
    }

    /// Sends a non-final frame of a stream. Returns false when the client cancelled the stream or the request
    /// was already answered (shutdown), so the producer stops.
    func sendPartial(_ response: Response, requestID: RequestID) async -> Bool {
        let live = state.withLockedValue {
            $0.machine.inFlight.contains(requestID) && !$0.cancelled.contains(requestID)
        }
        guard live else { return false }
        await queue.waitForRoom()
        return queue.enqueue(.frame(OutboundFrame(response, requestID: requestID, moreToFollow: true)))
    }

    /// Whether the client cancelled this stream.
    func isCancelled(_ requestID: RequestID) -> Bool {
        state.withLockedValue { $0.cancelled.contains(requestID) }
    }

    /// Sends the final frame of a request (unless shutdown already answered it) and frees its slot.
    func complete(_ requestID: RequestID, with response: Response, opcode: Opcode, started: ContinuousClock.Instant) {
        complete(requestID, frame: OutboundFrame(response, requestID: requestID), opcode: opcode, started: started)
        if case .error(let error) = response {
            context.statistics.recordRequest(opcode: opcode, outcome: error.code.name, latency: .now - started)
        } else {
            context.statistics.recordRequest(opcode: opcode, outcome: "ok", latency: .now - started)
        }
        let latency = ContinuousClock.now - started
        if latency > context.configuration.slowRequestThreshold {
            context.statistics.recordSlowRequest()
            logger.notice(
                "slow request",
                metadata: [
                    "newswire_request": "\(requestID)", "newswire_opcode": "\(opcode)",
                    "newswire_latency_ms": "\(latency.microseconds / 1000)",
                ])
        }
    }

    private func complete(_ requestID: RequestID, frame: OutboundFrame, opcode: Opcode, started: ContinuousClock.Instant) {
        let (finishQueue, closeNow) = state.withLockedValue { state in
            // Queued under the lock, so a request answered SHUTTING_DOWN by expireGrace() is never answered twice.
            if state.machine.inFlight.contains(requestID) { queue.enqueue(.frame(frame)) }
            state.machine.requestCompleted(requestID)
            state.cancelled.remove(requestID)
            let empty = state.machine.inFlight.isEmpty
            var draining = false
            if case .draining = state.machine.state { draining = true }
            return (empty && state.readerDone, empty && draining)
        }
        if closeNow { queueClose() }
        if finishQueue { queue.finish() }
    }

    /// Whether a request can be answered at once by ``CachedGetHandler`` (cache hit on the event loop): not while
    /// draining or closing, and not under an id still in flight here (which the read loop answers as a duplicate).
    func admitsImmediateAnswer(_ requestID: RequestID) -> Bool {
        state.withLockedValue { state in
            guard case .ready = state.machine.state else { return false }  // not before WELCOME, not while draining
            return !state.closeQueued && !state.machine.inFlight.contains(requestID)
        }
    }

    func completeWithCachedRecord(_ requestID: RequestID, entry: RecordCache.Entry, handshake: Handshake) {
        complete(
            requestID,
            frame: OutboundFrame(opcode: .article, requestID: requestID, payload: entry.payload(for: handshake)),
            opcode: .get, started: .now)
    }

    // MARK: Shutdown

    /// Graceful shutdown: GOAWAY now, new requests get SHUTTING_DOWN, in-flight ones get `grace` to finish and are
    /// then told to retry; the connection closes once nothing is in flight.
    func drain(grace: Duration) {
        let graceMillis = UInt32(clamping: grace.microseconds / 1000)
        enum Step {
            case nothing, close, waitForInFlight
        }
        let step = state.withLockedValue { state -> Step in
            if case .draining = state.machine.state { return .nothing }
            let goAway = state.machine.beginShutdown(
                message: "server is shutting down; in-flight requests have \(graceMillis) ms to finish",
                graceMillis: graceMillis)
            guard let goAway else {
                // Before the handshake (the machine is now closed): nothing to drain.
                return .close
            }
            queue.enqueue(.frame(OutboundFrame(.goAway(goAway), requestID: .connection)))
            return state.machine.inFlight.isEmpty ? .close : .waitForInFlight
        }
        switch step {
        case .nothing: return
        case .close:
            queueClose()
            return
        case .waitForInFlight: break
        }
        let nanos = grace.nanoseconds
        channel.eventLoop.scheduleTask(in: .nanoseconds(nanos)) { [self] in
            self.expireGrace()
        }
    }

    /// Grace period over: every request still in flight is told to retry, then the connection closes.
    private func expireGrace() {
        let unanswered = state.withLockedValue { state in
            let ids = state.machine.inFlight
            for id in ids { state.machine.requestCompleted(id) }
            return ids
        }
        for requestID in unanswered.sorted() {
            queue.enqueue(
                .frame(
                    OutboundFrame(
                        .error(
                            ProtocolError(
                                code: .shuttingDown,
                                message: "server shut down before this request finished; retry on a new connection",
                                requestID: requestID)), requestID: requestID)))
        }
        queueClose()
    }
}
