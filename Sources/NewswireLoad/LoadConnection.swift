import NIOCore
import NewswireModel
import NewswireProtocol

/// The load generator's per-connection channel handler: splits response frames without copying or inflating
/// them, matches them to requests by id, records latency, and keeps the next requests going.
///
/// Request ids are slot numbers (`0..<pipeline`): a slot is reused only after its response arrived, and the
/// server frees an id before answering, so ids never collide in flight.
final class LoadConnectionHandler: LoadChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private struct Slot {
        var operation: LoadOperation = .get
        var scheduled: UInt64 = 0
        var sent: UInt64 = 0
        var measured = false
        var busy = false
    }

    private enum Phase {
        case connecting
        case handshaking
        case ready
        case running
        case finished
    }

    private let workload: EncodedWorkload
    private let hello: HelloMessage
    private let requestedPipeline: Int
    private let handshakePromise: EventLoopPromise<Void>
    private let finishedPromise: EventLoopPromise<Void>
    private let maxFrameLength: Int

    private var context: ChannelHandlerContext?
    private var phase = Phase.connecting
    /// GOAWAY arrived: no new requests on this connection.
    private var goneAway = false
    private var received = ReceivedFrames()
    private var out = ByteBuffer()
    private var slots: [Slot] = []
    private var freeSlots: [Int] = []
    private var inFlight = 0
    private var pipeline = 1
    private var plan: ConnectionPlan?
    private var pacer: OpenLoopPacer?
    private var timerArmed = false
    private var measuredSent = 0
    private var generator = SplitMix64(seed: 1)
    /// RESP mode: slots in the order their requests were sent.
    private var respOrder = CircularBuffer<Int>()
    private(set) var recorder: LatencyRecorder

    /// Failure detail when the connection ended early.
    private(set) var failure: String?

    init(
        workload: EncodedWorkload, hello: HelloMessage, pipeline: Int, openLoop: Bool,
        handshakePromise: EventLoopPromise<Void>, finishedPromise: EventLoopPromise<Void>
    ) {
        self.workload = workload
        self.hello = hello
        self.requestedPipeline = pipeline
        self.handshakePromise = handshakePromise
        self.finishedPromise = finishedPromise
        self.recorder = LatencyRecorder(serviceTime: openLoop)
        self.maxFrameLength = Int(ProtocolLimits.defaultMaxFrameLength)
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        out = context.channel.allocator.buffer(capacity: 4096)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        if workload.resp {
            // RESP has no handshake: answers come back in request order, so slots are matched first in, first out.
            pipeline = requestedPipeline
            slots = Array(repeating: Slot(), count: pipeline)
            freeSlots = Array((0..<pipeline).reversed())
            respOrder = CircularBuffer(initialCapacity: pipeline)
            phase = .ready
            handshakePromise.succeed()
            context.fireChannelActive()
            return
        }
        phase = .handshaking
        context.writeAndFlush(wrapOutboundOut(ReceivedFrames.hello(hello, allocator: context.channel.allocator)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        received.append(&incoming)
        parseFrames()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flush()
        context.fireChannelReadComplete()
    }

    // MARK: Control (called on the event loop by the generator)

    /// Starts sending per `plan`.
    func start(_ plan: ConnectionPlan) {
        guard phase == .ready else { return }
        self.plan = plan
        phase = .running
        generator = SplitMix64(seed: plan.seed)
        if case .open(let schedule) = plan.mode { pacer = OpenLoopPacer(schedule: schedule, end: plan.sendUntil) }
        if goneAway { stopSending(now: monotonicNanos()) }
        guard phase == .running, let eventLoop = context?.eventLoop else { return }
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        let deadlineIn = Int64(clamping: plan.hardDeadline &- min(plan.hardDeadline, monotonicNanos()))
        eventLoop.scheduleTask(in: .nanoseconds(deadlineIn)) { bound.value.hardDeadlineReached() }
        let startIn = Int64(clamping: plan.startAt &- min(plan.startAt, monotonicNanos()))
        eventLoop.scheduleTask(in: .nanoseconds(startIn)) {
            bound.value.refill(now: monotonicNanos())
            bound.value.flush()
        }
    }

    /// Sends nothing more from `now` on (the run was stopped early); the connection finishes once the answers in
    /// flight are in. Requests an open-loop schedule would have sent later are not counted as unsent.
    func stopSending(now: UInt64) {
        guard phase == .running, var plan else { return }
        plan.sendUntil = min(plan.sendUntil, now)
        self.plan = plan
        if var pacer {
            // Those due already but waiting for a slot are dropped too: the run was cut, not outpaced.
            pacer.end(at: now)
            while pacer.takeDue(now: now) != nil {}
            self.pacer = pacer
        }
        if inFlight == 0 { finish() }
    }

    /// The server is closing this connection: nothing more is sent on it, from now or (not started yet) at all.
    private func goAwayReceived(now: UInt64) {
        goneAway = true
        stopSending(now: now)
    }

    /// Requests kept in flight, after the server's limit.
    var effectivePipeline: Int { pipeline }

    /// Measured requests answered so far (for progress lines).
    var completedCount: Int { recorder.completedCount }
    /// Errors so far.
    var errorCount: Int { recorder.errors.values.reduce(0, +) }

    /// The recorder, sealed, with unsent open-loop requests counted (call after the connection finished).
    func finalRecorder() -> LatencyRecorder {
        var result = recorder
        result.seal()
        return result
    }

    // MARK: Frames

    private func parseFrames() {
        if workload.resp {
            parseRESPReplies()
            return
        }
        loop: while true {
            switch received.next(maxLength: maxFrameLength) {
            case .incomplete:
                break loop
            case .oversized(let length):
                fail("server sent a frame of \(length) bytes, above the \(maxFrameLength)-byte limit")
                context?.close(promise: nil)
                return
            case .frame(let header):
                handleFrame(
                    flags: header.flags, opcode: header.opcode, requestID: header.requestID,
                    payloadAt: header.payloadAt, length: header.length)
                received.consume(header)
                if phase == .finished && context == nil { return }
            }
        }
        received.compact()
    }

    /// Splits RESP replies to GET: `$<n>\r\n<n bytes>\r\n`, `$-1\r\n` (no such key) or `-<message>\r\n`.
    private func parseRESPReplies() {
        while received.unread.readableBytes > 0 {
            let base = received.unread.readerIndex
            let view = received.unread.readableBytesView
            guard let lineEnd = view.firstIndex(of: UInt8(ascii: "\n")) else { break }
            let kind = received.unread.getInteger(at: base, as: UInt8.self)!
            let headerLength = lineEnd - base + 1
            var consumed = headerLength
            var failed: String?
            switch kind {
            case UInt8(ascii: "$"):
                let digits = received.unread.getString(at: base + 1, length: max(0, headerLength - 3)) ?? ""
                guard let length = Int(digits) else {
                    fail("malformed RESP reply header \(digits.debugDescription)")
                    context?.close(promise: nil)
                    return
                }
                if length < 0 {
                    failed = "NOT_FOUND"
                } else {
                    guard received.unread.readableBytes >= headerLength + length + 2 else { return }
                    consumed = headerLength + length + 2
                }
            case UInt8(ascii: "-"):
                failed = "ERROR"
            default:
                fail("unexpected RESP reply type \(kind)")
                context?.close(promise: nil)
                return
            }
            received.unread.moveReaderIndex(to: base + consumed)
            guard phase == .running || phase == .ready, let slotIndex = respOrder.popFirst() else {
                if phase == .running || phase == .ready { recorder.recordError("UNEXPECTED_RESPONSE") }
                continue
            }
            let now = monotonicNanos()
            let slot = releaseSlot(slotIndex)
            if slot.measured {
                recorder.bytesReceived += consumed
                recorder.bytesReceivedUncompressed += consumed
                if let failed {
                    recorder.recordAnsweredError(failed, completed: now)
                } else {
                    recorder.record(slot.operation, scheduled: slot.scheduled, sent: slot.sent, completed: now)
                }
            }
            refill(now: now)
        }
        received.compact()
    }

    /// Frees the slot of an answered request (RESP or Newswire) for the next send; returns what it held.
    private func releaseSlot(_ slotIndex: Int) -> Slot {
        let slot = slots[slotIndex]
        slots[slotIndex].busy = false
        freeSlots.append(slotIndex)
        inFlight -= 1
        return slot
    }

    private func payload(at index: Int, length: Int) -> ByteBuffer {
        received.unread.getSlice(at: index, length: length) ?? ByteBuffer()
    }

    private func handleFrame(flags: FrameFlags, opcode: Opcode, requestID: UInt32, payloadAt: Int, length: Int) {
        switch phase {
        case .handshaking:
            handleHandshake(opcode: opcode, payload: payload(at: payloadAt, length: length))
            return
        case .running, .ready:
            break
        case .connecting, .finished:
            // After the end (or the hard deadline) late answers are not counted.
            return
        }
        if requestID == RequestID.connection.rawValue {
            // GOAWAY or a connection-level error: the server is closing this connection.
            let name = opcode == .goAway ? "GOAWAY" : errorName(flags: flags, payload: payload(at: payloadAt, length: length))
            recorder.recordError(name)
            // PROTOCOL.md §6.4: after GOAWAY a client sends no new requests on the connection; the answers in flight
            // still come.
            if opcode == .goAway { goAwayReceived(now: monotonicNanos()) }
            return
        }
        let slotIndex = Int(requestID)
        guard slotIndex < slots.count, slots[slotIndex].busy else {
            recorder.recordError("UNEXPECTED_RESPONSE")
            return
        }
        if flags.contains(.moreToFollow) { return }
        let now = monotonicNanos()
        let slot = releaseSlot(slotIndex)
        if slot.measured {
            recorder.bytesReceived += FrameHeader.length + length
            if flags.contains(.compressed), length >= 4 {
                let declared = Int(received.unread.getInteger(at: payloadAt, endianness: .big, as: UInt32.self)!)
                recorder.bytesReceivedUncompressed += FrameHeader.length + declared
            } else {
                recorder.bytesReceivedUncompressed += FrameHeader.length + length
            }
            if opcode == .error {
                recorder.recordAnsweredError(
                    errorName(flags: flags, payload: payload(at: payloadAt, length: length)), completed: now)
            } else if opcode.rawValue != slot.operation.opcode.rawValue | 0x8000 {
                recorder.recordAnsweredError("UNEXPECTED_OPCODE", completed: now)
            } else {
                recorder.record(slot.operation, scheduled: slot.scheduled, sent: slot.sent, completed: now)
            }
        }
        refill(now: now)
    }

    private func errorName(flags: FrameFlags, payload: ByteBuffer) -> String {
        guard !flags.contains(.compressed) else { return "ERROR" }
        if case .error(let error)? = try? Response.decode(opcode: .error, payload: payload) { return error.code.name }
        return "MALFORMED_ERROR"
    }

    private func handleHandshake(opcode: Opcode, payload: ByteBuffer) {
        do {
            let response = try Response.decode(opcode: opcode, payload: payload)
            switch response {
            case .welcome(let welcome):
                _ = try hello.accept(welcome)
                let serverLimit = welcome.maxInFlight == 0 ? Int(ProtocolLimits.defaultMaxInFlight) : Int(welcome.maxInFlight)
                pipeline = max(1, min(requestedPipeline, serverLimit))
                slots = Array(repeating: Slot(), count: pipeline)
                freeSlots = Array((0..<pipeline).reversed())
                phase = .ready
                handshakePromise.succeed()
            case .error(let error):
                failHandshake("server refused the handshake: \(error.code.name): \(error.message)", serverRefused: true)
            default:
                failHandshake("expected WELCOME, got \(opcode)")
            }
        } catch {
            failHandshake("malformed WELCOME: \(error)")
        }
    }

    private func failHandshake(_ message: String, serverRefused: Bool = false) {
        failure = message
        phase = .finished
        handshakePromise.fail(LoadConfigurationError(message, serverRefused: serverRefused))
        finishedPromise.succeed()
        context?.close(promise: nil)
    }

    // MARK: Sending

    private func refill(now: UInt64) {
        guard phase == .running, let plan else { return }
        if var pacer {
            // Requests that fell due while every slot was busy go out late (their latency counts from the schedule)
            // until the duration ends; those still waiting then are NOT_SENT, so the run ends on time.
            while inFlight < pipeline, now < plan.sendUntil, let due = pacer.takeDue(now: now) {
                issue(scheduled: due, now: now, measured: due >= plan.measureFrom)
            }
            self.pacer = pacer
            if now >= plan.sendUntil {
                if inFlight == 0 { finish() }
            } else if inFlight < pipeline, let next = pacer.nextDue {
                armTimer(at: next)
            } else if inFlight == 0, pacer.nextDue == nil {
                finish()
            }
        } else {
            while inFlight < pipeline, now < plan.sendUntil, measuredSent < (plan.quota ?? .max) {
                issue(scheduled: now, now: now, measured: now >= plan.measureFrom)
            }
            if inFlight == 0 { finish() }
        }
    }

    private func armTimer(at due: UInt64) {
        guard !timerArmed, let context else { return }
        timerArmed = true
        let delay = Int64(clamping: due &- min(due, monotonicNanos()))
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(in: .nanoseconds(delay)) {
            bound.value.timerArmed = false
            bound.value.refill(now: monotonicNanos())
            bound.value.flush()
        }
    }

    @inline(__always)
    private func issue(scheduled: UInt64, now: UInt64, measured: Bool) {
        let slotIndex = freeSlots.removeLast()
        let operation = workload.mix.pick(generator.next())
        let payload: ByteBuffer
        switch operation {
        case .get: payload = workload.get[workload.keys!.sample(using: &generator)]
        case .related: payload = workload.related[workload.keys!.sample(using: &generator)]
        case .search: payload = workload.search[Int(generator.next() % UInt64(workload.search.count))]
        case .ping: payload = workload.ping
        }
        let before = out.writerIndex
        if workload.resp {
            respOrder.append(slotIndex)
        } else {
            out.writeMultipleIntegers(
                ProtocolVersion.current, UInt8(0), operation.opcode.rawValue, UInt32(slotIndex),
                UInt32(payload.readableBytes), endianness: .big)
        }
        out.writeImmutableBuffer(payload)
        slots[slotIndex] = Slot(operation: operation, scheduled: scheduled, sent: now, measured: measured, busy: true)
        inFlight += 1
        if measured {
            measuredSent += 1
            recorder.bytesSent += out.writerIndex - before
        }
    }

    private func flush() {
        guard out.readableBytes > 0, let context else { return }
        let buffer = out
        out = context.channel.allocator.buffer(capacity: max(4096, buffer.readableBytes))
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    // MARK: Ending

    private func hardDeadlineReached() {
        guard phase == .running else { return }
        let unanswered = slots.filter { $0.busy && $0.measured }.count
        if unanswered > 0 { recorder.recordError("NO_RESPONSE", count: unanswered) }
        for index in slots.indices { slots[index].busy = false }
        respOrder.removeAll()
        inFlight = 0
        finish()
    }

    private func finish() {
        guard phase == .running else { return }
        phase = .finished
        if let pacer, let plan {
            // Requests that fell due but were never sent (every slot stayed busy): the server could not keep up.
            var remaining = pacer
            var unsent = 0
            while let due = remaining.takeDue(now: .max) {
                if due >= plan.measureFrom { unsent += 1 }
            }
            if unsent > 0 { recorder.recordError("NOT_SENT", count: unsent) }
        }
        finishedPromise.succeed()
    }

    func fail(_ message: String) {
        switch phase {
        case .connecting, .handshaking:
            failHandshake(message)
        case .ready:
            failure = message
            phase = .finished
            finishedPromise.succeed()
        case .running:
            failure = message
            let unanswered = slots.filter { $0.busy && $0.measured }.count
            recorder.recordError("CONNECTION", count: max(1, unanswered))
            for index in slots.indices { slots[index].busy = false }
            inFlight = 0
            finish()
        case .finished:
            break
        }
    }
}
