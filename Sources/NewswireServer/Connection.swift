import Logging
import NIOConcurrencyHelpers
import NIOCore
import NewswireModel
import NewswireProtocol

/// One client connection: runs what its ``ServerConnectionStateMachine`` decides.
///
/// Every decision about the connection (handshake, access, in-flight ids, cancellations, timeouts, drain, whether
/// a cached GET may be answered in the pipeline) is the state machine's; this class only feeds it events — frames
/// from the read loop, timer firings from ``ConnectionTimeoutHandler``, cached GETs from ``CachedGetHandler``,
/// finished requests, shutdown — and performs the actions it returns. Requests run as child tasks, so answers go
/// out in completion order, matched by request id (PROTOCOL.md §3.3). The writer sends what ``OutboundQueue``
/// holds, which also keeps the connection's answer bytes within its budget and the server's.
final class Connection: Sendable {
    struct Shared {
        var machine: ServerConnectionStateMachine
        /// Whether a close has been queued (it is queued once).
        var closeQueued = false
        /// Bytes reserved in the queue for the next frame of each stream in progress.
        var streamReservations: [RequestID: Int] = [:]
        /// The WATCH streams running on this connection, to wake on CANCEL, shutdown or close.
        var watches: [RequestID: Watch] = [:]
        /// Bytes of the server's budget of large request frames held for each request received and not yet
        /// answered (``holdRequestBytes(_:_:)``).
        var heldRequestBytes: [RequestID: Int] = [:]
        /// The writes in flight, by request: at the end of shutdown's grace those handed to the committer finish.
        var writeTickets: [RequestID: WriteTicket] = [:]
    }

    let id: UInt64
    let context: ServerContext
    let channel: any Channel
    let queue: OutboundQueue
    /// This connection's writes, handed to the committer in arrival order (``WriteOrder``).
    let writeOrder = WriteOrder()
    let logger: Logger
    let shared: NIOLockedValueBox<Shared>
    /// Shut until the WELCOME that chose compression is written: the frame decoder refuses compressed frames
    /// before that (and for good when WELCOME chose none) without inflating them.
    let compressionGate = CompressionGate()

    init(id: UInt64, context: ServerContext, channel: any Channel) {
        self.id = id
        self.context = context
        self.channel = channel
        self.queue = OutboundQueue(
            budget: context.configuration.limits.maxQueuedResponseBytes, global: context.responseBudget)
        self.shared = NIOLockedValueBox(Shared(machine: ServerConnectionStateMachine(context.connectionRules)))
        var logger = context.logger
        logger[metadataKey: "newswire_connection"] = "\(id)"
        if let remote = channel.remoteAddress { logger[metadataKey: "newswire_peer"] = "\(NewswireServer.describe(remote))" }
        self.logger = logger
    }

    // MARK: Reading

    /// Serves the connection until the peer leaves, a frame-level error closes it, or shutdown drains it.
    func run(_ asyncChannel: NIOAsyncChannel<Frame, ByteBuffer>) async {
        do {
            try await asyncChannel.executeThenClose { inbound, _ in
                await withDiscardingTaskGroup { group in
                    group.addTask { await self.runWriter() }
                    var iterator = inbound.makeAsyncIterator()
                    do {
                        while let frame = try await iterator.next() {
                            context.statistics.recordBytesIn(FrameHeader.length + Int(frame.header.payloadLength))
                            await queue.waitForRoom()
                            let action = shared.withLockedValue { $0.machine.frameReceived(frame) }
                            if case .run(let request, let requestID) = action {
                                // Taken here, in arrival order: the committer gets this connection's writes so.
                                let ticket = request.isOrderedWrite ? writeOrder.take() : nil
                                if let ticket { shared.withLockedValue { $0.writeTickets[requestID] = ticket } }
                                group.addTask { await self.respond(to: request, requestID: requestID, writeTicket: ticket) }
                            } else if !perform(action, opcode: frame.opcode) {
                                break
                            }
                        }
                    } catch let error as ProtocolError {
                        logger.info("closing connection after a frame error", metadata: ["newswire_error": "\(error)"])
                        perform(shared.withLockedValue { $0.machine.decoderFailed(error) }, opcode: nil)
                    } catch {
                        logger.debug("connection read ended", metadata: ["newswire_error": "\(error)"])
                    }
                    // The reader's end and the watches to end are taken under one lock: a WATCH whose task
                    // attaches its watch after this sees `readerFinished` (``attach(_:to:)``), one before is here.
                    let (writerMayFinish, watches) = shared.withLockedValue { shared in
                        (shared.machine.readEnded(), Array(shared.watches.values))
                    }
                    for watch in watches { watch.end(.gone) }
                    if writerMayFinish { queue.finish() }
                    // After a close was decided, keep reading (and discarding) until the peer closes or the
                    // linger bound passes: closing a socket with unread input resets it, and the reset would
                    // destroy the answers the peer has not read yet (e.g. the last UNAUTHORISED, §6.3).
                    if shared.withLockedValue({ $0.closeQueued }) {
                        while (try? await iterator.next()) != nil {}
                    }
                }
            }
        } catch {
            logger.debug("connection closed with an error", metadata: ["newswire_error": "\(error)"])
        }
        // Requests refused or cut off with the connection were never answered: their bytes come back here.
        let held = shared.withLockedValue { shared in
            defer { shared.heldRequestBytes = [:] }
            return shared.heldRequestBytes.values.reduce(0, +)
        }
        context.largeRequestBudget.give(held)
    }

    /// Takes over the budget bytes the pipeline's first handler reserved for a large request frame, until the
    /// request is answered, refused, or the connection ends.
    func holdRequestBytes(_ requestID: RequestID, _ bytes: Int) {
        shared.withLockedValue { $0.heldRequestBytes[requestID, default: 0] += bytes }
    }

    /// Gives back what ``holdRequestBytes(_:_:)`` held for `requestID`, if anything (when it is answered, or when it
    /// becomes a stream, which holds its own state rather than its frame).
    func releaseRequestBytes(_ requestID: RequestID) {
        guard let bytes = shared.withLockedValue({ $0.heldRequestBytes.removeValue(forKey: requestID) }) else { return }
        context.largeRequestBudget.give(bytes)
    }

    /// Performs a state machine action other than `.run`. Returns false when the connection is closing.
    @discardableResult
    func perform(_ action: ServerConnectionStateMachine.Action, opcode: Opcode?) -> Bool {
        switch action {
        case .none:
            return true
        case .run:
            preconditionFailure("requests are started by the read loop")
        case .sendWelcome(let welcome, let handshake):
            // One batch: the writer opens the compression gate as the write carrying WELCOME completes.
            queue.enqueue(contentsOf: [
                .frame(OutboundFrame(.welcome(welcome), requestID: RequestID(rawValue: 0))),
                .compression(handshake.compression), .welcomeSent(handshake),
            ])
            context.statistics.recordRequest(opcode: .hello, outcome: "ok", latency: .zero)
            logger.debug(
                "handshake complete",
                metadata: [
                    "newswire_client": "\(shared.withLockedValue { $0.machine.clientName ?? "" })",
                    "newswire_compression": "\(welcome.compression)",
                ])
            return true
        case .answer(let error):
            if let requestID = error.requestID { releaseRequestBytes(requestID) }
            if let opcode { context.statistics.recordRequest(opcode: opcode, outcome: error.code.name, latency: .zero) }
            if error.code == .unauthorised { logRefusal(opcode) }
            queue.enqueue(.frame(OutboundFrame(.error(error), requestID: error.requestID ?? .connection)))
            return true
        case .answerAndClose(let error):
            if let opcode { context.statistics.recordRequest(opcode: opcode, outcome: error.code.name, latency: .zero) }
            if error.code == .unauthorised { logRefusal(opcode) }
            logger.info("closing connection", metadata: ["newswire_error": "\(error)"])
            queue.enqueue(.frame(OutboundFrame(.error(error), requestID: error.requestID ?? .connection)))
            queueClose()
            return false
        case .goAway(let goAway):
            queue.enqueue(.frame(OutboundFrame(.goAway(goAway), requestID: .connection)))
            // Read on for a while (PROTOCOL.md §6.4 step 4): what the client sent before GOAWAY reached it is
            // answered SHUTTING_DOWN, not cut off by the close.
            let linger = context.configuration.limits.goAwayLinger
            channel.eventLoop.scheduleTask(in: .nanoseconds(linger.nanoseconds)) { [self] in
                perform(shared.withLockedValue { $0.machine.goAwayLingerExpired() }, opcode: nil)
            }
            return true
        case .close:
            queueClose()
            return false
        case .stopStream(let requestID):
            shared.withLockedValue { $0.watches[requestID] }?.end(.cancelled)
            return true
        }
    }

    private func logRefusal(_ opcode: Opcode?) {
        // The token itself is never logged (SECURITY.md); the peer, the operation and the count are.
        let failures = shared.withLockedValue { $0.machine.authFailures }
        logger.notice(
            "request refused: not authorised",
            metadata: ["newswire_opcode": "\(opcode.map { "\($0)" } ?? "")", "newswire_auth_failures": "\(failures)"])
    }

    /// `within` overrides how long queued answers may take to leave before the socket is closed anyway (the end
    /// of a shutdown's grace: its time is up already).
    func queueClose(within: TimeAmount? = nil) {
        let (first, welcomed) = shared.withLockedValue { shared in
            defer { shared.closeQueued = true }
            return (!shared.closeQueued, shared.machine.framesReceived > 0 && shared.machine.clientName != nil)
        }
        guard first else { return }
        queue.enqueue(.closeAfterFlush)
        // Bounded: a peer that reads nothing cannot keep the socket, however long the last answers take to leave.
        // A busy machine must not cut real answers short, so that bound is generous; before a handshake (a
        // silent peer, a TLS handshake that never ends: its write can never leave) there is nothing worth waiting
        // for, and the bound is short.
        let channel = self.channel
        let bound = within ?? (welcomed ? context.closeTimeout : context.handshakeCloseTimeout)
        channel.eventLoop.scheduleTask(in: bound) { channel.close(promise: nil) }
    }

    // MARK: Writing

    private func runWriter() async {
        var encoder = FrameEncoder(compression: .disabled)
        // The last write not awaited: the writer returns only once it is done (the channel closes after).
        var lastWrite: EventLoopFuture<Void>?
        while var items = await queue.next() {
            // Sized for the whole batch up front: growing it frame by frame copied what was already encoded.
            var capacity = 0
            for case .frame(let frame) in items { capacity += frame.approximateSize }
            var buffer = channel.allocator.buffer(capacity: max(capacity, 64))
            var accounted = 0
            var payloadBytes = 0
            var close = false
            var welcomed: Handshake?
            for item in items {
                switch item {
                case .frame(let frame):
                    encoder.encode(frame, into: &buffer)
                    accounted += frame.approximateSize
                    payloadBytes += frame.uncompressedPayloadLength
                case .compression(let settings):
                    encoder.compression = settings
                case .welcomeSent(let handshake):
                    welcomed = handshake
                case .closeAfterFlush:
                    close = true
                }
            }
            // The answers now live only in `buffer`: never two copies of a queued answer.
            items = []
            if buffer.readableBytes > 0 {
                let wire = buffer.readableBytes
                let written = channel.eventLoop.makePromise(of: Void.self)
                if let welcomed, welcomed.welcome.compression != .none {
                    // Registered before the write, so it runs on the event loop as the write completes: before the
                    // decoder can see any frame the client sent after reading WELCOME (PROTOCOL.md §6.3).
                    let gate = compressionGate
                    written.futureResult.whenSuccess { gate.openGate() }
                }
                channel.writeAndFlush(buffer, promise: written)
                // Counted until the kernel took the bytes, not merely until the channel did; a failed write
                // closes the connection. Writes complete in order.
                let (queue, statistics, channel) = (self.queue, context.statistics, self.channel)
                let (accounted, payloadBytes) = (accounted, payloadBytes)
                written.futureResult.whenComplete { result in
                    if case .success = result {
                        statistics.recordBytesOut(wire: wire, uncompressedPayload: payloadBytes)
                    }
                    queue.written(bytes: accounted)
                    if case .failure = result {
                        queue.discardRemaining()
                        channel.close(promise: nil)
                    }
                }
                lastWrite = written.futureResult
                // Only a welcome (cached GETs may be answered after it) or a close waits for its write: otherwise
                // the writer takes what was queued meanwhile while the event loop writes, a task switch per write
                // fewer (with thousands of watches, a write per connection per committed batch).
                guard welcomed != nil || close else { continue }
                guard (try? await written.futureResult.get()) != nil else { return }
            }
            if let welcomed { enableCachedGets(welcomed) }
            if close {
                queue.discardRemaining()
                // Half-close: the peer reads everything sent, sees the end, and closes; the read loop drains
                // its input meanwhile (see `run`).
                let channel = self.channel
                channel.close(mode: .output).whenFailure { _ in channel.close(promise: nil) }
                channel.eventLoop.scheduleTask(in: context.lingerTimeout) { channel.close(promise: nil) }
                return
            }
        }
        // The connection closes once the writer returns: the last write (and so every one before it) is done first.
        _ = try? await lastWrite?.get()
    }

    private func enableCachedGets(_ handshake: Handshake) {
        let channel = self.channel
        channel.eventLoop.execute {
            guard let handler = try? channel.pipeline.syncOperations.handler(type: CachedGetHandler.self) else { return }
            handler.welcomeSent(handshake)
        }
    }

    // MARK: The pipeline fast path

    /// ``CachedGetHandler`` found a canonical GET of a cached record, after passing `framesPassedOn` frames to the
    /// read loop: may it answer it now? (The state machine decides, and counts it.)
    func cachedGetArrived(_ requestID: RequestID, framesPassedOn: Int) -> Bool {
        shared.withLockedValue { $0.machine.cachedGetArrived(requestID, framesPassedOn: framesPassedOn) }
    }

    // MARK: Requests

    private func respond(to request: Request, requestID: RequestID, writeTicket: WriteTicket?) async {
        let started = ContinuousClock.now
        let opcode = request.opcode
        // A write that failed before reaching the committer gives its place up, so the next one need not wait.
        defer { writeTicket?.release() }
        do {
            try await context.respond(
                to: request.withServerDefaults(), requestID: requestID, connection: self, writeTicket: writeTicket)
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
    var handshake: Handshake? { shared.withLockedValue { $0.machine.handshake } }

    /// Requests accepted and not yet answered to the end, streams included.
    var requestsInFlight: Int { shared.withLockedValue { $0.machine.inFlightCount } }

    /// The largest payload a frame to this client may carry (HELLO field 6, PROTOCOL.md §3.5).
    var clientMaxFrameLength: Int { shared.withLockedValue { $0.machine.clientMaxFrameLength } }

    /// The payload size stream producers aim at per frame (they cut batches before it): the client's max frame
    /// length, at most ``Limits/maxStreamFrameLength``, less room for the final frame's cursor.
    var streamFramePayloadBudget: Int {
        min(clientMaxFrameLength, Limits.maxStreamFrameLength) - 2 * (Limits.maxIDLength + 64)
    }

    /// Stream producers call this before producing a frame: it waits until the connection has room for one frame
    /// and reserves it. False when the stream should stop (cancelled, or the connection is gone); throws
    /// OVERLOADED (retryable) when the server as a whole has no room.
    func awaitStreamRoom(_ requestID: RequestID) async throws -> Bool {
        guard isLive(requestID) else { return false }
        let bytes = streamFramePayloadBudget + FrameHeader.length
        let alreadyReserved = shared.withLockedValue { $0.streamReservations[requestID] != nil }
        if alreadyReserved { return true }
        guard await queue.reserve(bytes) else {
            guard isLive(requestID) else { return false }
            throw ProtocolError(
                code: .overloaded,
                message: "the server holds too many unread answers to continue this stream; retry it later",
                retryAfterMillis: 100)
        }
        shared.withLockedValue { $0.streamReservations[requestID] = bytes }
        return true
    }

    private func isLive(_ requestID: RequestID) -> Bool { shared.withLockedValue { $0.machine.isLive(requestID) } }

    /// Sends a non-final frame of a stream. Returns false when the client cancelled the stream or the request
    /// was already answered (shutdown), so the producer stops; throws LIMIT_EXCEEDED when the frame is larger
    /// than the client accepts, and OVERLOADED when the server has no room for it.
    func sendPartial(_ response: Response, requestID: RequestID) async throws -> Bool {
        guard try await awaitStreamRoom(requestID) else { return false }
        let frame = OutboundFrame(response, requestID: requestID, moreToFollow: true)
        try checkFits(frame)
        let reserved = shared.withLockedValue { $0.streamReservations.removeValue(forKey: requestID) } ?? 0
        guard isLive(requestID) else {
            queue.release(reserved: reserved)
            return false
        }
        return queue.enqueue(frame, reserved: reserved)
    }

    /// Whether the client cancelled this stream.
    func isCancelled(_ requestID: RequestID) -> Bool {
        shared.withLockedValue { $0.machine.isCancelled(requestID) }
    }

    /// PROTOCOL.md §3.5: no frame larger than the client's announced max frame length is sent; an answer that
    /// cannot be split and would be is answered LIMIT_EXCEEDED instead (counted uncompressed: the server does not
    /// rely on compression to make it fit).
    private func checkFits(_ frame: OutboundFrame) throws(ProtocolError) {
        let length = frame.uncompressedPayloadLength
        let limit = clientMaxFrameLength
        guard length > limit else { return }
        throw ProtocolError(
            code: .limitExceeded,
            message: "the answer is \(length) bytes, more than the max_frame_length of \(limit) bytes this "
                + "connection announced in HELLO; ask for less (a smaller limit) or announce a larger max_frame_length")
    }

    /// Sends the final frame of a request (unless shutdown already answered it) and frees its id.
    func complete(_ requestID: RequestID, with response: Response, opcode: Opcode, started: ContinuousClock.Instant) {
        var name = "ok"
        var isError = false
        if case .error(let error) = response {
            name = error.code.name
            isError = true
        }
        // Never refused for memory, whatever the connection holds: an ERROR (it is small, and one ending a watch
        // carries the position to resume after), and a write's answer (the write ran: OVERLOADED would say it
        // did not). Both are bounded by the requests in flight.
        let mustDeliver = isError || ServerConnectionStateMachine.Access.needed(for: opcode) == .write
        let outcome = complete(
            requestID, frame: OutboundFrame(response, requestID: requestID), outcome: name, mustDeliver: mustDeliver)
        record(requestID, opcode: opcode, outcome: outcome, started: started)
    }

    /// The same for an answer encoded (and maybe compressed) off the connection: `answer` is its opcode.
    func complete(
        _ requestID: RequestID, payload: OutboundPayload, answer: Opcode, opcode: Opcode,
        started: ContinuousClock.Instant
    ) {
        let frame = OutboundFrame(opcode: answer, requestID: requestID, payload: payload)
        let outcome = complete(requestID, frame: frame, outcome: "ok")
        record(requestID, opcode: opcode, outcome: outcome, started: started)
    }

    private func record(_ requestID: RequestID, opcode: Opcode, outcome: String, started: ContinuousClock.Instant) {
        let latency = ContinuousClock.now - started
        // A WATCH lasts as long as its subscriber wants: its length says nothing about the server.
        let slow = latency > context.configuration.slowRequestThreshold && opcode != .watch
        let slowToLog = context.statistics.recordRequest(opcode: opcode, outcome: outcome, latency: latency, slow: slow)
        if let slowToLog {
            // At most one line a second; `newswire_slow_requests` counts the slow requests it stands for.
            logger.notice(
                "slow request",
                metadata: [
                    "newswire_request": "\(requestID)", "newswire_opcode": "\(opcode)",
                    "newswire_latency_ms": "\(latency.microseconds / 1000)", "newswire_slow_requests": "\(slowToLog)",
                ])
        } else if logger.logLevel <= .trace {
            // Every answered request at trace level (GETs answered in the read pipeline are not: see README).
            logger.trace(
                "answered",
                metadata: [
                    "newswire_request": "\(requestID)", "newswire_opcode": "\(opcode)", "newswire_outcome": "\(outcome)",
                    "newswire_latency_us": "\(latency.microseconds)",
                ])
        }
    }

    /// Sends the final frame (or, when it cannot be sent, the error saying why) and returns the outcome's name.
    private func complete(_ requestID: RequestID, frame: OutboundFrame, outcome: String, mustDeliver: Bool = false)
        -> String
    {
        var frame = frame
        var outcome = outcome
        do {
            try checkFits(frame)
        } catch {
            frame = OutboundFrame(.error(error.with(requestID: requestID)), requestID: requestID)
            outcome = error.code.name
        }
        let (completion, reserved, held) = shared.withLockedValue { shared in
            shared.writeTickets[requestID] = nil
            return (
                shared.machine.requestFinished(requestID), shared.streamReservations.removeValue(forKey: requestID),
                shared.heldRequestBytes.removeValue(forKey: requestID)
            )
        }
        if let held { context.largeRequestBudget.give(held) }
        if completion.send {
            if let reserved, frame.approximateSize <= reserved {
                queue.enqueue(frame, reserved: reserved)
            } else {
                if let reserved { queue.release(reserved: reserved) }
                if mustDeliver {
                    queue.enqueue(.frame(frame))
                } else if !queue.enqueueAnswer(frame) {
                    let (held, _) = queue.usage
                    queue.enqueue(
                        .frame(
                            OutboundFrame(
                                .error(
                                    ProtocolError(
                                        code: .overloaded,
                                        message: "the answer (\(frame.approximateSize) bytes) was not queued: "
                                            + "\(held) bytes of answers wait for this connection to read them; "
                                            + "read them, then retry",
                                        requestID: requestID, retryAfterMillis: 100)),
                                requestID: requestID)))
                    context.statistics.recordAnswerRefusedForMemory()
                    outcome = ProtocolError.Code.overloaded.name
                }
            }
        } else if let reserved {
            queue.release(reserved: reserved)
        }
        if completion.close { queueClose() }
        if shared.withLockedValue({ $0.machine.writerMayFinish }) { queue.finish() }
        return outcome
    }

    /// Answers a GET from the record cache (the cached frame, compressed when the connection agreed on zlib).
    func completeWithCachedRecord(_ requestID: RequestID, entry: RecordCache.Entry, handshake: Handshake) {
        let outcome = complete(
            requestID,
            frame: OutboundFrame(opcode: .article, requestID: requestID, payload: entry.payload(for: handshake)),
            outcome: "ok")
        context.statistics.recordRequest(opcode: .get, outcome: outcome, latency: .zero)
    }

    // MARK: Watches

    /// A WATCH stream's task registers its watch, so CANCEL, shutdown and close can wake it. A watch whose
    /// CANCEL or GOAWAY came first is ended at once.
    func attach(_ watch: Watch, to requestID: RequestID) {
        let end: Watch.End? = shared.withLockedValue { shared in
            shared.watches[requestID] = watch
            if shared.machine.isCancelled(requestID) { return .cancelled }
            switch shared.machine.state {
            case .draining: return .shuttingDown
            case .closed: return .gone
            case .ready, .awaitingHello: return shared.machine.readerFinished ? .gone : nil
            }
        }
        if let end { watch.end(end) }
    }

    /// The WATCH stream ended.
    func detach(_ requestID: RequestID) {
        _ = shared.withLockedValue { $0.watches.removeValue(forKey: requestID) }
    }

    /// The watch hub's fast path for a live event: queues its WATCH_EVENT frame at once when the stream is live,
    /// the frame fits the client's limit and the connection has room, without waking the writer (see
    /// ``WatchSink``). False otherwise: the event then goes through the watch's buffer and ``sendWatchEvent``.
    func queueWatchEventIfRoom(_ payload: ByteBuffer, requestID: RequestID) -> Bool {
        let length = payload.readableBytes
        // Liveness and the client's limit under one lock: this runs for every event of every live watch.
        guard shared.withLockedValue({ $0.machine.isLive(requestID) && length <= $0.machine.clientMaxFrameLength })
        else { return false }
        return queue.enqueueIfRoom(
            OutboundFrame(opcode: .watchEvent, requestID: requestID, flags: .moreToFollow, payload: .plain(payload)))
    }

    /// Hands what ``queueWatchEventIfRoom`` queued to the writer.
    func flushWatchEvents() {
        queue.wakeWriter()
    }

    /// Sends one WATCH_EVENT frame (more-to-follow), waiting for room in this connection's answer budget. False
    /// when the stream should stop (cancelled, answered by shutdown, or the connection is gone); throws
    /// OVERLOADED when the server as a whole has no room, and LIMIT_EXCEEDED when the frame is larger than the
    /// client accepts.
    func sendWatchEvent(_ event: WatchEventMessage, requestID: RequestID, watch: Watch) async throws -> Bool {
        let frame = OutboundFrame(.watchEvent(event), requestID: requestID, moreToFollow: true)
        try checkFits(frame)
        guard isLive(requestID) else { return false }
        let size = frame.approximateSize
        guard await queue.reserve(size) else {
            guard isLive(requestID) else { return false }
            throw ProtocolError(
                code: .overloaded,
                message: "the server holds too many unread answers to continue this watch; resume it later",
                retryAfterMillis: 100)
        }
        // Queued and recorded as covered under the connection's lock: a shutdown's grace running out answers the
        // watch with the position it covers (`expireGrace`), and must see the event either not queued, or queued
        // and covered.
        enum Outcome { case notLive, queued, refused }
        let outcome = shared.withLockedValue { shared -> Outcome in
            guard shared.machine.isLive(requestID) else { return .notLive }
            guard queue.enqueue(frame, reserved: size) else { return .refused }
            watch.cover(event.position)
            return .queued
        }
        if outcome == .notLive { queue.release(reserved: size) }
        return outcome == .queued
    }
}
