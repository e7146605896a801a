import NIOCore
import NewswireProtocol

/// The connection's timers and graceful shutdown: each feeds the state machine and runs what it decides.
extension Connection {
    // MARK: Timers

    /// No HELLO within the handshake timeout (fired by ``ConnectionTimeoutHandler``).
    func handshakeTimedOut(after timeout: TimeAmount) {
        perform(
            shared.withLockedValue { $0.machine.handshakeTimedOut(after: timeout.nanoseconds / 1_000_000) },
            opcode: nil)
    }

    /// Nothing read for the idle timeout (fired by ``ConnectionTimeoutHandler``).
    func idleTimedOut() {
        perform(shared.withLockedValue { $0.machine.idleTimedOut() }, opcode: nil)
    }

    // MARK: Shutdown

    /// Graceful shutdown: GOAWAY now, new requests get SHUTTING_DOWN, in-flight ones get `grace` to finish and are
    /// then told to retry; the connection closes once nothing is in flight and the client has closed its side or
    /// the linger after GOAWAY is over (at the latest when the grace ends).
    func drain(grace: Duration) {
        let graceMillis = UInt32(clamping: grace.microseconds / 1000)
        let action = shared.withLockedValue {
            $0.machine.shutdownRequested(
                message: "server is shutting down; in-flight requests have \(graceMillis) ms to finish",
                graceMillis: graceMillis)
        }
        perform(action, opcode: nil)
        guard case .goAway = action else { return }
        // A watch never finishes by itself: end each now, with the position to resume from (PROTOCOL.md §5.19).
        let watches = shared.withLockedValue { shared in shared.machine.watchesInFlight.compactMap { shared.watches[$0] } }
        for watch in watches { watch.end(.shuttingDown) }
        channel.eventLoop.scheduleTask(in: .nanoseconds(grace.nanoseconds)) { [self] in
            self.expireGrace()
        }
    }

    /// Grace period over: every request still in flight is told to retry, then the connection closes (at once
    /// when the grace is shorter than the linger after GOAWAY). A write already handed to the committer is the
    /// exception: it will be stored whatever is answered, so it finishes and is answered its outcome (SHUTTING_DOWN
    /// means "did not run", PROTOCOL.md §7.3); the connection closes after the last of them. Writes not handed
    /// over yet never will be.
    private func expireGrace() {
        let tickets = shared.withLockedValue { $0.writeTickets }
        let running = Set(tickets.filter { !$0.value.abandon() }.keys)
        let expired = shared.withLockedValue { shared in
            shared.machine.graceExpired(keeping: running).map { ($0, shared.watches, shared.machine.isClosed) }
        }
        guard let (unanswered, watches, closed) = expired else { return }
        for requestID in unanswered {
            var error = ProtocolError(
                code: .shuttingDown, message: "server shut down before this request finished; retry on a new connection",
                requestID: requestID)
            if let watch = watches[requestID] {
                // A watch whose task has not sent its own ending yet still says where to resume (§5.19 rule 7).
                let position = context.watches.endPosition(of: watch)
                error.message = "server is shutting down; resume after position \(position) on a new connection"
                error.position = position
            }
            queue.enqueue(.frame(OutboundFrame(.error(error), requestID: requestID)))
        }
        // With writes still finishing, the last one's answer closes the connection (the state machine says so).
        // The grace was the time to read the answers: a client still not reading gets a second more, not the
        // usual ten (a stopping server waited for it).
        if closed { queueClose(within: context.handshakeCloseTimeout) }
    }
}
