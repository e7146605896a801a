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
    enum Phase: Sendable {
        case awaitingHello
        case ready(Handshake)
    }

    private struct State {
        var phase: Phase = .awaitingHello
        var access: AccessLevel = .none
        /// Requests read and not yet answered with their final frame.
        var inFlight: Set<RequestID> = []
        /// Streams the client cancelled.
        var cancelled: Set<RequestID> = []
        var draining = false
        var readerDone = false
        var closeQueued = false
    }

    let id: UInt64
    let context: ServerContext
    let channel: any Channel
    let queue: OutboundQueue
    let logger: Logger
    private let state = NIOLockedValueBox(State())

    init(id: UInt64, context: ServerContext, channel: any Channel) {
        self.id = id
        self.context = context
        self.channel = channel
        self.queue = OutboundQueue(highWatermark: context.configuration.limits.maxQueuedResponseBytes)
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
                        for try await frame in inbound {
                            context.statistics.recordBytesIn(FrameHeader.length + Int(frame.header.payloadLength))
                            await queue.waitForRoom()
                            switch self.accept(frame) {
                            case .continue:
                                break
                            case .close:
                                self.queueClose()
                            case .run(let request):
                                group.addTask { await self.respond(to: request, requestID: frame.requestID) }
                            }
                        }
                    } catch let error as ProtocolError {
                        // A frame-level error from the decoder: answer it, then close (PROTOCOL.md §7.1).
                        logger.info(
                            "closing connection after a frame error",
                            metadata: ["newswire_error": "\(error)"])
                        queue.enqueue(.frame(OutboundFrame(.error(error), requestID: error.requestID ?? .connection)))
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
            return state.inFlight.isEmpty
        }
        if finishNow { queue.finish() }
    }

    // MARK: Read loop decisions

    private enum Decision {
        case `continue`
        case close
        case run(Request)
    }

    /// Decides what to do with one frame; everything that needs no engine work is answered here.
    private func accept(_ frame: Frame) -> Decision {
        let requestID = frame.requestID
        let phase = state.withLockedValue { $0.phase }
        guard case .ready(let handshake) = phase else { return acceptHello(frame) }

        if frame.wasCompressed, handshake.welcome.compression == .none {
            return closeWith(
                ProtocolError(
                    code: .protocolError,
                    message: "compressed frame on a connection that negotiated no compression",
                    requestID: requestID))
        }
        switch frame.opcode {
        case .hello:
            return closeWith(
                ProtocolError(
                    code: .protocolError, message: "second HELLO on a connection that already completed its handshake",
                    requestID: requestID))
        case .cancel:
            state.withLockedValue { state in
                if state.inFlight.contains(requestID) { state.cancelled.insert(requestID) }
            }
            return .continue
        default:
            break
        }
        if requestID.isServerInitiated {
            answer(
                ProtocolError(
                    code: .malformedMessage,
                    message: "request id \(requestID.rawValue) is in the server-initiated range (bit 31 set); "
                        + "clients use 0...\(RequestID.maxClient.rawValue)"), requestID: requestID)
            return .continue
        }

        let request: Request
        do {
            request = try Request(frame: frame)
        } catch {
            answer(error, requestID: requestID)
            return .continue
        }

        enum Admission {
            case admitted
            case draining
            case duplicate
            case overloaded
        }
        let limit = context.configuration.limits.maxInFlightPerConnection
        let (admission, access): (Admission, AccessLevel) = state.withLockedValue { state in
            if state.draining { return (.draining, state.access) }
            if state.inFlight.contains(requestID) { return (.duplicate, state.access) }
            if state.inFlight.count >= limit { return (.overloaded, state.access) }
            state.inFlight.insert(requestID)
            return (.admitted, state.access)
        }
        switch admission {
        case .admitted:
            break
        case .draining:
            answer(
                ProtocolError(
                    code: .shuttingDown, message: "server is shutting down; retry on a new connection",
                    requestID: requestID), requestID: requestID)
            return .continue
        case .duplicate:
            answer(
                ProtocolError(
                    code: .malformedMessage,
                    message: "request id \(requestID.rawValue) is already in flight on this connection; "
                        + "use a fresh id per request"), requestID: requestID)
            return .continue
        case .overloaded:
            answer(
                ProtocolError(
                    code: .overloaded,
                    message: "\(limit) requests already in flight on this connection; wait for responses, then retry",
                    retryAfterMillis: 10), requestID: requestID)
            return .continue
        }

        if let denial = context.authorise(request, access: access) {
            complete(requestID, with: .error(denial), opcode: frame.opcode, started: .now)
            return .continue
        }
        // Fast path: a cached GET is answered from memory on the read loop, with no task and no store access.
        if case .get(let get) = request, let entry = context.recordCache.entry(for: get.id) {
            completeWithCachedRecord(requestID, entry: entry, handshake: handshake)
            context.statistics.recordRequest(opcode: .get, outcome: "ok", latency: .zero)
            return .continue
        }
        return .run(request)
    }

    private func acceptHello(_ frame: Frame) -> Decision {
        let requestID = frame.requestID
        guard frame.opcode == .hello else {
            return closeWith(
                ProtocolError(
                    code: .protocolError,
                    message: "expected HELLO as the first frame, got \(frame.opcode); see PROTOCOL.md §6",
                    requestID: requestID))
        }
        guard !frame.wasCompressed else {
            return closeWith(
                ProtocolError(
                    code: .protocolError, message: "HELLO must not be compressed (nothing is, before WELCOME)",
                    requestID: requestID))
        }
        let hello: HelloMessage
        let handshake: Handshake
        do {
            hello = try HelloMessage(decoding: frame.payload)
            handshake = try context.handshakePolicy.negotiate(hello)
        } catch {
            return closeWith(error.with(requestID: requestID))
        }
        let access: AccessLevel
        switch context.accessLevel(forToken: hello.token) {
        case .some(let level):
            access = level
        case .none:
            context.statistics.recordRequest(opcode: .hello, outcome: "UNAUTHORISED", latency: .zero)
            logger.notice("HELLO with an unknown token refused", metadata: ["newswire_client": "\(hello.clientName)"])
            return closeWith(
                ProtocolError(
                    code: .unauthorised,
                    message: "the token in HELLO matches no token this server accepts; check --token",
                    requestID: requestID))
        }
        state.withLockedValue { state in
            state.phase = .ready(handshake)
            state.access = access
        }
        queue.enqueue(.frame(OutboundFrame(.welcome(handshake.welcome), requestID: requestID)))
        queue.enqueue(.compression(handshake.compression))
        context.statistics.recordRequest(opcode: .hello, outcome: "ok", latency: .zero)
        logger.debug(
            "handshake complete",
            metadata: [
                "newswire_client": "\(hello.clientName)", "newswire_compression": "\(handshake.welcome.compression)",
            ])
        return .continue
    }

    private func closeWith(_ error: ProtocolError) -> Decision {
        logger.info("closing connection", metadata: ["newswire_error": "\(error)"])
        queue.enqueue(.frame(OutboundFrame(.error(error), requestID: error.requestID ?? .connection)))
        return .close
    }

    /// Answers a request that was never admitted (no in-flight slot).
    private func answer(_ error: ProtocolError, requestID: RequestID) {
        queue.enqueue(.frame(OutboundFrame(.error(error.with(requestID: requestID)), requestID: requestID)))
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
            if case .ready(let handshake) = state.phase { return handshake }
            return nil
        }
    }

    /// Sends a non-final frame of a stream. Returns false when the client cancelled the stream or the request
    /// was already answered (shutdown), so the producer stops.
    func sendPartial(_ response: Response, requestID: RequestID) async -> Bool {
        let live = state.withLockedValue { $0.inFlight.contains(requestID) && !$0.cancelled.contains(requestID) }
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
        let (wasLive, finishQueue, closeNow) = state.withLockedValue { state in
            let wasLive = state.inFlight.remove(requestID) != nil
            state.cancelled.remove(requestID)
            let empty = state.inFlight.isEmpty
            return (wasLive, empty && state.readerDone, empty && state.draining)
        }
        if wasLive { queue.enqueue(.frame(frame)) }
        if closeNow { queueClose() }
        if finishQueue { queue.finish() }
    }

    /// Whether a request can be answered at once by ``CachedGetHandler`` (cache hit on the event loop): not while
    /// draining or closing, and not under an id still in flight here (which the read loop answers as a duplicate).
    func admitsImmediateAnswer(_ requestID: RequestID) -> Bool {
        state.withLockedValue { state in
            !state.draining && !state.closeQueued && !state.inFlight.contains(requestID)
        }
    }

    func completeWithCachedRecord(_ requestID: RequestID, entry: RecordCache.Entry, handshake: Handshake) {
        let payload: OutboundPayload
        if handshake.welcome.compression == .zlib,
            entry.payload.readableBytes >= Int(handshake.welcome.compressionThreshold),
            let compressed = entry.compressed
        {
            payload = .precompressed(zlib: compressed, uncompressedLength: UInt32(entry.payload.readableBytes))
        } else {
            payload = .plain(entry.payload)
        }
        complete(
            requestID, frame: OutboundFrame(opcode: .article, requestID: requestID, payload: payload), opcode: .get,
            started: .now)
    }

    // MARK: Shutdown

    /// Graceful shutdown: GOAWAY now, new requests get SHUTTING_DOWN, in-flight ones get `grace` to finish and are
    /// then told to retry; the connection closes once nothing is in flight.
    func drain(grace: Duration) {
        let (alreadyDraining, idle) = state.withLockedValue { state in
            defer { state.draining = true }
            return (state.draining, state.inFlight.isEmpty)
        }
        guard !alreadyDraining else { return }
        let graceMillis = UInt32(clamping: grace.microseconds / 1000)
        queue.enqueue(
            .frame(
                OutboundFrame(
                    .goAway(
                        GoAwayMessage(
                            message: "server is shutting down; in-flight requests have \(graceMillis) ms to finish",
                            graceMillis: graceMillis)), requestID: .connection)))
        if idle {
            queueClose()
            return
        }
        let nanos = grace.nanoseconds
        channel.eventLoop.scheduleTask(in: .nanoseconds(nanos)) { [self] in
            self.expireGrace()
        }
    }

    /// Grace period over: every request still in flight is told to retry, then the connection closes.
    private func expireGrace() {
        let unanswered = state.withLockedValue { state in
            let ids = state.inFlight
            state.inFlight.removeAll()
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
