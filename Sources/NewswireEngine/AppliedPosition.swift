/// The feed position an engine's index holds (`WriteState.applied`, readable without the write lock), and the
/// reads waiting for it to reach a position: a read carrying `minPosition` on a cluster node that has not applied
/// that write yet.
///
/// A waiting read holds no thread: it is a continuation resumed when the position is published. Reads used to wait
/// on a thread of the server's blocking pool (as many threads as cores), so two reads waiting on a node behind its
/// feed stopped every other request that needed the pool for up to the protocol's five-second bound.
final class AppliedPosition: Sendable {
    private struct Waiter {
        let sequence: UInt64
        let continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var position: UInt64 = 0
        var waiters: [UInt64: Waiter] = [:]
        var nextWaiter: UInt64 = 0
        /// The engine closed: nothing will be published any more.
        var closed = false
    }

    private let state = Locked(State())

    /// The position the index holds: every change up to it is searchable.
    var value: UInt64 { state.withLock { $0.position } }

    /// Reads waiting for a position not reached yet.
    var waitingCount: Int { state.withLock { $0.waiters.count } }

    /// The index now holds `position` (called after the index and the record cache changed): resumes every read
    /// waiting for it or less.
    func publish(_ position: UInt64) {
        let ready = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            state.position = position
            guard !state.waiters.isEmpty else { return [] }
            let reached = state.waiters.filter { $0.value.sequence <= position }
            for id in reached.keys { state.waiters[id] = nil }
            return reached.values.map(\.continuation)
        }
        for continuation in ready { continuation.resume(returning: true) }
    }

    /// The engine is closing: every waiting read answers false now, and later ones at once.
    func close() {
        let waiting = state.withLock { state -> [Waiter] in
            state.closed = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiting { waiter.continuation.resume(returning: false) }
    }

    /// Whether the position reaches `sequence` within `timeout`.
    func wait(for sequence: UInt64, timeout: Duration) async -> Bool {
        if value >= sequence { return true }
        let reached = await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.reached(sequence) }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        // The position may have been published as the timeout fired.
        return reached || value >= sequence
    }

    /// Returns true once the position reaches `sequence`, false when the task is cancelled first.
    private func reached(_ sequence: UInt64) async -> Bool {
        let id = state.withLock { state -> UInt64 in
            state.nextWaiter &+= 1
            return state.nextWaiter
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let answer = state.withLock { state -> Bool? in
                    if state.position >= sequence { return true }
                    // Cancelled before this registration: the handler ran and found nothing to resume. (A task is
                    // marked cancelled before its handler runs, and both take this lock: one sees the other.)
                    if Task.isCancelled { return false }
                    if state.closed { return false }
                    state.waiters[id] = Waiter(sequence: sequence, continuation: continuation)
                    return nil
                }
                if let answer { continuation.resume(returning: answer) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                // Not registered yet (it answers false when it is) or already resumed: nothing to do here.
                state.waiters.removeValue(forKey: id)
            }
            waiter?.continuation.resume(returning: false)
        }
    }
}
