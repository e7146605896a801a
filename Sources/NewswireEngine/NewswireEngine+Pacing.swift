/// Pacing group commits for live queries.
extension NewswireEngine {
    /// Has ``GroupCommitter`` call `pacer` before it commits each batch, outside the write lock. A live-query hub
    /// uses it to hold the next commit (for a bounded time) while it still delivers the events of earlier ones:
    /// under a bulk load, delivering what is already durable goes before making more of it, so events do not
    /// queue behind the commits that follow them.
    public func paceCommits(with pacer: @escaping @Sendable () -> Void) {
        commitPacers.withLock { $0.append(pacer) }
    }

    /// Runs the pacers (see ``paceCommits(with:)``).
    func paceCommit() {
        for pacer in commitPacers.withLock({ $0 }) { pacer() }
    }
}
