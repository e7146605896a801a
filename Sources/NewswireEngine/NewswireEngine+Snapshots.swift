import Dispatch
import Foundation
import NewswireModel
import NewswireSearch
import NewswireStore
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Index snapshots, background work and shutdown.
extension NewswireEngine {
    // MARK: Snapshots and shutdown

    /// Writes the index snapshot now (atomically: temp file, fsync, rename). Writers wait only while the
    /// engine captures the change sequence and the duplicate table, not while the file is written.
    /// Does nothing when the engine has no snapshot path or nothing changed since the last snapshot.
    public func saveSnapshot() throws {
        guard let snapshotPath else { return }
        duplicatesReady.wait()
        snapshotLock.lock()
        defer { snapshotLock.unlock() }
        // Capture a sequence S the index is in step with and the duplicate table at S. The index file may then
        // include writes after S: replaying the compacted change feed from S at open converges either way.
        let shared = store is any SharedArticleStore
        let captured = try writeState.withLock { state -> (UInt64, DuplicateTable)? in
            // On a shared store the head moves without us: the snapshot covers what this index applied.
            let sequence = shared ? state.applied : try store.latestSequence
            if sequence == state.snapshotSequence, FileManager.default.fileExists(atPath: snapshotPath) { return nil }
            return (sequence, state.duplicates)
        }
        guard let (sequence, duplicates) = captured else { return }
        let metadata = SnapshotMetadata(
            storeIdentifier: store.storeIdentifier, sequence: sequence, duplicates: duplicates)
        try index.write(to: snapshotPath, metadata: metadata.encoded())
        writeState.withLock { state in
            state.snapshotSequence = max(state.snapshotSequence, sequence)
            state.lastSnapshotError = nil
        }
    }

    func maybeScheduleSnapshot() {
        let due = writeState.withLock { state -> Bool in
            guard !state.closed, !state.snapshotInProgress, snapshotPath != nil else { return false }
            let sequence = store is any SharedArticleStore ? state.applied : ((try? store.latestSequence) ?? 0)
            return sequence >= state.snapshotSequence + UInt64(max(1, configuration.snapshotEveryChanges))
        }
        if due { scheduleSnapshot() }
    }

    func scheduleSnapshot() {
        let start = writeState.withLock { state -> Bool in
            if state.snapshotInProgress || state.closed { return false }
            state.snapshotInProgress = true
            return true
        }
        guard start else { return }
        backgroundQueue.async(group: background) { [self] in
            var failure: String?
            do { try saveSnapshot() } catch { failure = "\(error)" }
            writeState.withLock { state in
                state.snapshotInProgress = false
                if let failure { state.lastSnapshotError = failure }
            }
        }
    }

    /// Waits for a background snapshot to finish (tests and benchmarks use it to measure a settled engine).
    public func waitForBackgroundWork() {
        background.wait()
    }

    /// Stops accepting writes, waits for background work, saves the snapshot and closes the store.
    /// Reads after close may fail. Calling it twice is harmless.
    public func close() throws {
        let wasOpen = writeState.withLock { state -> Bool in
            defer { state.closed = true }
            return !state.closed
        }
        guard wasOpen else { return }
        appliedPosition.close()  // reads waiting for the feed answer now instead of at their timeout
        if store is any SharedArticleStore {
            // Closing the shared store wakes the follower from its wait; the snapshot needs only local state.
            try? store.close()
            follower.wait()
            background.wait()
            defer { releaseDirectoryLock() }
            do { try saveSnapshot() } catch { throw Self.snapshotNotSaved(error) }
            return
        }
        background.wait()
        defer { releaseDirectoryLock() }
        // The store closes even when the snapshot cannot be saved (a full disk): the next open replays the store
        // from the older snapshot, so that failure loses nothing and is reported after the store is closed.
        var snapshotFailure: (any Error)?
        do { try saveSnapshot() } catch { snapshotFailure = error }
        try store.close()
        if let snapshotFailure { throw Self.snapshotNotSaved(snapshotFailure) }
    }

    /// What ``close()`` throws when its snapshot could not be saved: nothing is lost, the next open catches up.
    static func snapshotNotSaved(_ failure: any Error) -> EngineError {
        EngineError(
            .snapshotNotSaved,
            "the index snapshot was not saved (\(failure)); nothing is lost: the next start catches up from the "
                + "previous snapshot")
    }

    /// Releases the data directory's lock. Unlocked explicitly before closing: a child process spawned meanwhile
    /// (forked, not yet exec'd) holds a reference to the locked file too, and closing ours alone would leave the
    /// directory locked until that child execs.
    func releaseDirectoryLock() {
        directoryLock.withLock { fd in
            if let descriptor = fd {
                _ = flock(descriptor, LOCK_UN)
                closeDescriptor(descriptor)
            }
            fd = nil
        }
    }
}

extension NewswireEngine {
    /// Checks the store's database after open, off the start-up path (SQLite's `quick_check` reads every page:
    /// about a second per GB when cold). A damaged file (truncated, overwritten) was otherwise found only by the
    /// reads that hit the damage, while writes went on into it: found here, writes are refused with the reason
    /// (``EngineError/Code/storeDamaged``) and stats say why (``EngineStats/storeError``).
    func checkStoreInBackground() {
        guard let sqlite = store as? SQLiteArticleStore else { return }
        backgroundQueue.async(group: background) { [self] in
            let problems: [String]
            do {
                problems = try sqlite.integrityCheck()
            } catch let error as StoreError where error.code == .damaged {
                problems = [error.message]
            } catch {
                return  // closed meanwhile, or another failure the next read reports
            }
            guard !problems.isEmpty else { return }
            let detail = problems.prefix(3).joined(separator: "; ")
            writeState.withLock { state in
                state.storeDamage =
                    "the database \(sqlite.databasePath) is damaged (\(detail)): writes are refused; stop the server and "
                    + "restore it from a backup"
            }
        }
    }

    /// Why the store's database is damaged, once found; nil while it is not known to be.
    public var storeDamage: String? { writeState.withLock { $0.storeDamage } }
}
