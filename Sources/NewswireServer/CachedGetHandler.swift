import NIOCore
import NewswireModel
import NewswireProtocol

/// Answers GETs of cached records on the event loop, straight from the received bytes, before the frame decoder:
/// no `Frame` value, no task hop, no queue, and one write per read burst for all the answers it produced.
///
/// It is the first handler to see received bytes (after TLS, when configured) and passes every frame it does not answer on to the
/// decoder unchanged and in order, always whole: partial frames wait here until complete, so it always knows
/// where the next frame starts, and it counts the frames it passes on. A header the decoder would reject (unknown
/// version, reserved flags, oversized length) switches it to pass-through for good, so the decoder sees the bytes
/// and reports the error as before.
///
/// It decides nothing itself: for each canonical GET (``CanonicalGet``) whose record is cached it asks the
/// connection's state machine, which admits it only once WELCOME is out, with read access, when the read loop has
/// seen every frame passed on before it (so a reused id — a stream's included — is caught there), and within the
/// in-flight limit. It answers only while the socket is writable, the burst's answers stay within the connection's
/// answer budget, and the server-wide budget has room.
///
/// Being first, it also keeps the read-idle clock (PROTOCOL.md §6.4) the way NIO's `IdleStateHandler` does — the
/// time of the last read burst, checked by one timer that re-arms for the remaining time — without a separate
/// handler that every read, read-complete, write and flush would pass through.
///
/// After a burst it answered entirely, it asks the channel for the next read itself (one step to the head of the
/// pipeline) when the handlers behind it let the previous read through and have been given nothing since: NIO's
/// automatic read would otherwise walk `read()` through every handler from the tail, only for the async channel's
/// gate to pass it on unchanged.
final class CachedGetHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let server: ServerContext
    private let limits: FrameLimits
    private let connection: Connection
    /// Set once WELCOME has been handed to the channel, so no answer can overtake it.
    private var welcomed = false
    /// The client's max frame length: larger records go to the connection, which answers LIMIT_EXCEEDED.
    private var clientMaxFrameLength = 0
    /// The connection's zlib threshold when it negotiated zlib (cached records at or above it go compressed).
    private var zlibThreshold: Int?
    /// Frames passed on to the decoder so far (the state machine compares it with the frames it has seen).
    private var framesPassedOn = 0
    /// Received bytes not yet answered or passed on: at most one partial frame once a read is processed.
    private var cumulation = emptyBuffer
    private static let emptyBuffer = ByteBuffer()
    /// Set after a header the decoder must see and reject: from then on bytes pass straight through.
    private var passThrough = false
    /// Bytes taken from the server's budget of large request frames for the incomplete frame held in `cumulation`
    /// (there is at most one); 0 when it holds none, or a small one. Once the frame is whole they pass to the
    /// connection, which gives them back when the request is answered.
    private var largeFrameReservation = 0
    /// Set once a large frame found the server's budget full: the connection is closing, and bytes are dropped.
    private var refused = false
    /// Answers of the current read burst. Reused across bursts: once the socket took the previous write, the
    /// storage is uniquely referenced again and `clear()` keeps it, so a steady stream allocates nothing here.
    private var pending = ByteBuffer()
    /// Whether the server-wide answer budget had room when this read began.
    private var serverHasRoom = false
    private var answered = 0
    /// Whether this read burst passed any bytes to the decoder (see `channelReadComplete`).
    private var forwardedThisBurst = false
    private var bytesIn = 0
    private var payloadBytes = 0
    /// Set when a `read()` from the handlers behind this one passed through (their gate was open); cleared when
    /// they are given bytes, which is the only thing that closes that gate while the connection is served.
    private var readsAllowedBehind = false
    /// Under TLS the TLS handler takes the answers off this handler's buffer before the socket does, so whether
    /// the socket took them is asked of the channel (see `holdUnsentAnswers`).
    private let behindTLS: Bool

    /// Most answer bytes one read burst produces: a 16-deep pipeline of news records fits; more goes to the
    /// connection. A slow reader can hold at most one burst beyond the server-wide budget (SECURITY.md).
    static let maxBurstBytes = 256 << 10

    /// How long the connection may go without a read before the state machine hears of it (PROTOCOL.md §6.4).
    private let idleTimeout: TimeAmount
    /// Set by a read, cleared when its burst completes; while set the connection is not idle.
    private var reading = false
    private var lastReadTime = NIODeadline.distantPast
    private var idleCheck: Scheduled<Void>?

    init(
        server: ServerContext, limits: FrameLimits, connection: Connection, idleTimeout: TimeAmount,
        behindTLS: Bool = false
    ) {
        self.server = server
        self.limits = limits
        self.connection = connection
        self.idleTimeout = idleTimeout
        self.behindTLS = behindTLS
    }

    // MARK: Read-idle timeout

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { startIdleClock(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        idleCheck?.cancel()
        idleCheck = nil
        releaseLargeFrameReservation()
    }

    func channelActive(context: ChannelHandlerContext) {
        startIdleClock(context: context)
        context.fireChannelActive()
    }

    private func startIdleClock(context: ChannelHandlerContext) {
        guard idleCheck == nil else { return }
        lastReadTime = .now()
        scheduleIdleCheck(context: context, at: lastReadTime + idleTimeout)
    }

    private func scheduleIdleCheck(context: ChannelHandlerContext, at deadline: NIODeadline) {
        idleCheck = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(deadline: deadline) {
            self.checkIdle(context: context)
        }
    }

    /// Runs when the connection may have been idle for `idleTimeout`: tells the state machine if so (and checks
    /// again a whole timeout later, as `IdleStateHandler` does), otherwise re-arms for the time left.
    private func checkIdle(context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        let now = NIODeadline.now()
        if reading {
            scheduleIdleCheck(context: context, at: now + idleTimeout)
        } else if now - lastReadTime >= idleTimeout {
            scheduleIdleCheck(context: context, at: now + idleTimeout)
            connection.idleTimedOut()
        } else {
            scheduleIdleCheck(context: context, at: lastReadTime + idleTimeout)
        }
    }

    // MARK: Reads

    /// Called on the event loop once WELCOME has been handed to the channel.
    func welcomeSent(_ handshake: Handshake) {
        welcomed = true
        clientMaxFrameLength = Int(handshake.clientMaxFrameLength)
        zlibThreshold = RecordCache.Entry.zlibThreshold(for: handshake)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        reading = true
        var incoming = unwrapInboundIn(data)
        if refused { return }
        if passThrough {
            forwardedThisBurst = true
            context.fireChannelRead(data)
            return
        }
        if cumulation.readableBytes == 0 {
            cumulation = incoming
        } else {
            cumulation.writeBuffer(&incoming)
        }
        var forwardFrom = cumulation.readerIndex
        var index = cumulation.readerIndex
        let end = cumulation.writerIndex
        let answering = welcomed && context.channel.isWritable
        serverHasRoom = answering && server.responseBudget.hasRoom
        while end - index >= FrameHeader.length {
            guard
                let (version, flags, opcode, requestID, length) = cumulation.getMultipleIntegers(
                    at: index, endianness: .big, as: (UInt8, UInt8, UInt16, UInt32, UInt32).self),
                limits.supportedVersions.contains(version), FrameFlags(rawValue: flags).isSubset(of: .known),
                length <= limits.maxFrameLength,
                // Compressed before compression was agreed (PROTOCOL.md §6.3), or too short to hold the length
                // prefix (§3.1): refused from the header, not once the payload has been buffered.
                flags & FrameFlags.compressed.rawValue == 0 || (connection.compressionGate.isOpen && length >= 4)
            else {
                // Let the decoder see this header and answer it with its error; stop interpreting the stream.
                passThrough = true
                break
            }
            let frameEnd = index + FrameHeader.length + Int(length)
            // A large frame counts from its header (the bytes still arriving are the cheap way to pin memory)
            // until its request is answered.
            if Int(length) > Limits.largeRequestFrameBytes, largeFrameReservation == 0 {
                guard server.largeRequestBudget.take(Int(length)) else {
                    refuseLargeFrame(context: context, from: forwardFrom, to: index)
                    return
                }
                largeFrameReservation = Int(length)
            }
            guard frameEnd <= end else { break }
            if largeFrameReservation > 0 {
                connection.holdRequestBytes(RequestID(rawValue: requestID), largeFrameReservation)
                largeFrameReservation = 0
            }
            if answering,
                let idRange = CanonicalGet.idRange(
                    in: cumulation, version: version, flags: flags, opcode: opcode, requestID: requestID,
                    payloadIndex: index + FrameHeader.length, payloadLength: Int(length)),
                answer(requestID: RequestID(rawValue: requestID), idRange: idRange, frameLength: frameEnd - index)
            {
                forward(context: context, from: forwardFrom, to: index)
                forwardFrom = frameEnd
            } else {
                framesPassedOn += 1
            }
            index = frameEnd
        }
        if passThrough {
            releaseLargeFrameReservation()
            forward(context: context, from: forwardFrom, to: end)
            cumulation = ByteBuffer()
            return
        }
        forward(context: context, from: forwardFrom, to: index)
        cumulation.moveReaderIndex(to: index)
        if cumulation.readableBytes == 0 {
            // Let go of the read buffer, so the channel reuses it for the next read: `clear()` on a buffer the
            // channel's pool still holds would allocate a fresh one of the same capacity on every read.
            cumulation = Self.emptyBuffer
        } else if cumulation.readerIndex >= 1 << 16 {
            cumulation.discardReadBytes()
        }
    }

    private func releaseLargeFrameReservation() {
        guard largeFrameReservation > 0 else { return }
        server.largeRequestBudget.give(largeFrameReservation)
        largeFrameReservation = 0
    }

    /// A large frame began while the server holds as many large request bytes as it allows: the frames before it
    /// go on as usual, then the connection is answered OVERLOADED (retryable; the client sends it again later or
    /// elsewhere) and closes. Its bytes are never buffered.
    private func refuseLargeFrame(context: ChannelHandlerContext, from start: Int, to end: Int) {
        forward(context: context, from: start, to: end)
        refused = true
        cumulation = ByteBuffer()
        let limit = server.largeRequestBudget.limit
        context.fireErrorCaught(
            ProtocolError(
                code: .overloaded,
                message: "the server holds \(limit >> 20) MiB of large requests already; send this one again later",
                requestID: .connection, retryAfterMillis: 1_000))
    }

    /// Writes the answer of a cached GET into the burst's buffer; false when this GET must go to the connection.
    private func answer(requestID: RequestID, idRange: Range<Int>, frameLength: Int) -> Bool {
        // Memory: this burst's answers count against the connection's budget, and against the server's while the
        // socket has not taken them (checked once per read: one lock per burst, not per GET).
        guard serverHasRoom else { return false }
        // Look the id up in place (the range is at or after the reader index, and the frame is whole) and copy the
        // answer under the cache's lock, so the entry is never retained; taken back if the connection refuses it.
        let start = idRange.lowerBound - cumulation.readerIndex
        let answerStart = pending.writerIndex
        let clientMaxFrameLength = clientMaxFrameLength
        let zlibThreshold = zlibThreshold
        let payloadLength: Int? = cumulation.withUnsafeReadableBytes { bytes in
            let idBytes = UnsafeRawBufferPointer(rebasing: bytes[start..<(start + idRange.count)])
            guard zlibThreshold != nil else {
                return server.recordCache.withPlainFrame(forIDBytes: idBytes) { frame -> Int? in
                    let payloadLength = frame.count - FrameHeader.length
                    guard payloadLength <= clientMaxFrameLength, pending.readableBytes + frame.count <= Self.maxBurstBytes
                    else { return nil }
                    RecordCache.Entry.append(frame: frame, requestID: requestID, into: &pending)
                    return payloadLength
                }
            }
            return server.recordCache.withEntry(forIDBytes: idBytes) { entry -> Int? in
                guard entry.payloadLength <= clientMaxFrameLength else { return nil }
                let compressed = entry.sendsCompressed(zlibThreshold: zlibThreshold)
                guard pending.readableBytes + entry.frameLength(compressed: compressed) <= Self.maxBurstBytes
                else { return nil }
                entry.writeFrame(requestID: requestID, compressed: compressed, into: &pending)
                return entry.payloadLength
            }
        }
        guard let payloadLength else { return false }
        guard connection.cachedGetArrived(requestID, framesPassedOn: framesPassedOn) else {
            pending.moveWriterIndex(to: answerStart)
            return false
        }
        answered += 1
        bytesIn += frameLength
        payloadBytes += payloadLength
        return true
    }

    private func forward(context: ChannelHandlerContext, from start: Int, to end: Int) {
        guard end > start, let slice = cumulation.getSlice(at: start, length: end - start) else { return }
        forwardedThisBurst = true
        context.fireChannelRead(wrapInboundOut(slice))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if reading {
            lastReadTime = .now()
            reading = false
        }
        let answeredBurst = pending.readableBytes > 0
        if answeredBurst {
            let wire = pending.readableBytes
            context.writeAndFlush(wrapOutboundOut(pending), promise: nil)
            // Once the socket took the whole write, the channel let go of the buffer and it is ours alone again.
            // Otherwise (or under TLS, which copies it first) the channel says how much is still waiting.
            if behindTLS || pending.modifyIfUniquelyOwned({ $0.clear() }) == nil {
                pending.clear()
                holdUnsentAnswers(context: context, wire: wire)
            }
            server.statistics.recordCachedGets(
                count: answered, bytesIn: bytesIn, wire: wire, uncompressedPayload: payloadBytes)
            answered = 0
            bytesIn = 0
            payloadBytes = 0
        }
        // The handlers behind this one only need the event after a burst that passed them bytes: they act on
        // what they were given. A burst answered entirely here skips the walk down the pipeline, and asks for
        // the next read itself when the handlers behind let the last one through (see the type's notes).
        if forwardedThisBurst || !welcomed {
            forwardedThisBurst = false
            readsAllowedBehind = false
            context.fireChannelReadComplete()
        } else if answeredBurst && readsAllowedBehind {
            context.read()
        }
    }

    func read(context: ChannelHandlerContext) {
        readsAllowedBehind = true
        context.read()
    }

    /// Counts the part of a burst's answers the socket did not take at once against the server-wide budget until
    /// it leaves. At pipeline 1 the socket nearly always takes the whole write inside `writeAndFlush`, so this
    /// runs only when it did not (or under TLS): no promise, no closure, no budget lock in the common case.
    private func holdUnsentAnswers(context: ChannelHandlerContext, wire: Int) {
        let buffered = (try? context.channel.syncOptions?.getOption(.bufferedWritableBytes)) ?? wire
        // Writes leave in order, so anything still buffered beyond this burst's answers was written before them.
        let unsent = min(buffered, wire)
        guard unsent > 0 else { return }
        let budget = server.responseBudget
        _ = budget.take(unsent, force: true)
        // An empty write completes once everything written before it has left.
        context.writeAndFlush(wrapOutboundOut(Self.emptyBuffer)).whenComplete { _ in budget.give(unsent) }
    }

    /// At end of input, a partial frame still held here goes to the decoder, which reports it as before.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .some(.inputClosed) = event as? ChannelEvent { flushHeldBytes(context: context) }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        idleCheck?.cancel()
        idleCheck = nil
        releaseLargeFrameReservation()
        flushHeldBytes(context: context)
        context.fireChannelInactive()
    }

    private func flushHeldBytes(context: ChannelHandlerContext) {
        guard cumulation.readableBytes > 0 else { return }
        let held = cumulation
        cumulation = ByteBuffer()
        context.fireChannelRead(wrapInboundOut(held))
    }
}
