import NIOConcurrencyHelpers
import NewswireProtocol

/// Hands one connection's writes to the group committer in the order they arrived.
///
/// Each request runs on a task of its own, and a write reaches the committer only after its own work (an INGEST's
/// page is parsed first): two PUTs of one id pipelined in one segment could be queued the other way round and the
/// older one stored last. README "Durability" and PROTOCOL.md §3.3 and §5.14 promise the outcome of applying a
/// connection's writes one at a time in arrival order, so the reader takes a ticket per write as it reads the
/// frame, and a write's submission runs only once every earlier ticket was submitted or given up (the request
/// failed before writing). The work before the submission still overlaps; only the queueing is ordered.
final class WriteOrder: Sendable {
    private struct State {
        /// The next ticket to hand out.
        var issued: UInt64 = 0
        /// The ticket whose submission is due.
        var due: UInt64 = 0
        /// Tickets settled before their turn: their submission, or nil for one given up.
        var waiting: [UInt64: (@Sendable () -> Void)?] = [:]
    }

    private let state = NIOLockedValueBox(State())

    /// A ticket for the write just read (call in arrival order: from the connection's reader).
    func take() -> WriteTicket {
        let number = state.withLockedValue { state -> UInt64 in
            defer { state.issued += 1 }
            return state.issued
        }
        return WriteTicket(order: self, number: number)
    }

    /// Settles ticket `number` with `submission` (nil: given up) and runs every submission now due, in ticket
    /// order. They run under the lock so that two threads settling tickets cannot run theirs out of order; each is
    /// a queue append (``GroupCommitter/submit(_:completion:)``), not a wait.
    fileprivate func settle(_ number: UInt64, _ submission: (@Sendable () -> Void)?) {
        state.withLockedValue { state in
            state.waiting[number] = .some(submission)
            while let next = state.waiting.removeValue(forKey: state.due) {
                next?()
                state.due += 1
            }
        }
    }
}

/// One write's place in its connection's ``WriteOrder``: ``submit(_:ifAbandoned:)`` once, or ``release()`` if
/// the write never reaches the committer. Shutdown may ``abandon()`` it: a write not yet handed over is then never
/// handed over (its answer, SHUTTING_DOWN, says it did not run), one handed over is left to finish.
final class WriteTicket: Sendable {
    private enum Stage {
        /// Neither submitted nor released.
        case waiting
        /// Submitted: its hand-over waits for its turn (or runs now).
        case submitted
        /// Handed to the committer: it will be stored (or fail with its batch).
        case handedOver
        /// Released, or abandoned at shutdown before its hand-over.
        case givenUp
    }

    private let order: WriteOrder
    private let number: UInt64
    private let stage = NIOLockedValueBox(Stage.waiting)

    fileprivate init(order: WriteOrder, number: UInt64) {
        self.order = order
        self.number = number
    }

    /// Runs `submission` (the hand-over to the committer) once every earlier write of the connection was handed
    /// over or given up: at once, or later on the thread that settles the last of them. When shutdown abandoned
    /// the ticket first, runs `ifAbandoned` instead.
    func submit(_ submission: @escaping @Sendable () -> Void, ifAbandoned: @escaping @Sendable () -> Void) {
        let first = stage.withLockedValue { stage -> Bool in
            guard case .waiting = stage else { return false }
            stage = .submitted
            return true
        }
        guard first else { return ifAbandoned() }
        order.settle(number) { [self] in
            if self.handOver() { submission() } else { ifAbandoned() }
        }
    }

    /// Gives the place up (the request failed, or wrote nothing): later writes need not wait for it.
    func release() {
        let first = stage.withLockedValue { stage -> Bool in
            guard case .waiting = stage else { return false }
            stage = .givenUp
            return true
        }
        if first { order.settle(number, nil) }
    }

    /// Shutdown's grace is over: true when the write was not handed over, and now never will be; false when it
    /// was (it finishes, and its answer is its outcome).
    func abandon() -> Bool {
        let (abandoned, settleNow) = stage.withLockedValue { stage -> (Bool, Bool) in
            switch stage {
            case .handedOver: return (false, false)
            case .givenUp: return (true, false)
            case .submitted:
                stage = .givenUp
                return (true, false)
            case .waiting:
                stage = .givenUp
                return (true, true)
            }
        }
        if settleNow { order.settle(number, nil) }
        return abandoned
    }

    /// Marks the hand-over; false when shutdown abandoned the write first.
    private func handOver() -> Bool {
        stage.withLockedValue { stage in
            guard case .submitted = stage else { return false }
            stage = .handedOver
            return true
        }
    }
}

extension Request {
    /// Whether this request writes (INGEST that stores, PUT, DELETE): such requests are queued in arrival order.
    var isOrderedWrite: Bool {
        if case .ingest(let ingest) = self, ingest.dryRun { return false }
        return ServerConnectionStateMachine.Access.needed(for: opcode) == .write
    }
}
