import Foundation
import NewswireModel

/// What a put did to one article's stored record (the protocol's STORE_OUTCOME names the same three).
public enum WriteOutcome: UInt8, Sendable, Hashable {
    /// The id had no article before.
    case created
    /// A new version replaced the stored one.
    case updated
    /// The stored record was equal: nothing was written.
    case unchanged
}

/// What ``NewswireEngine/put(_:)`` did with one article.
public struct PutOutcome: Sendable, Hashable {
    /// The article's id.
    public var id: ArticleID
    /// What the put did (an equal re-put is ``WriteOutcome/unchanged`` and writes nothing).
    public var outcome: WriteOutcome
    /// The earlier article this one was found to copy, as stored in the record (see ``NewswireEngine``).
    public var duplicateOf: ArticleID?

    /// Creates an outcome.
    public init(id: ArticleID, outcome: WriteOutcome, duplicateOf: ArticleID?) {
        self.id = id
        self.outcome = outcome
        self.duplicateOf = duplicateOf
    }
}

/// How the engine brought its index up at open.
public struct EngineStartup: Sendable, Hashable, CustomStringConvertible {
    /// Where the index came from.
    public enum Source: String, Sendable, Hashable {
        /// Loaded from the snapshot, then caught up from the store's change feed.
        case snapshot
        /// Rebuilt from every record in the store (no usable snapshot; see ``EngineStartup/rebuildReason``).
        case rebuilt
    }

    /// Where the index came from.
    public var source: Source
    /// Why the snapshot was not used (missing, corrupt, of another store, ahead of the store…); nil when it was.
    public var rebuildReason: String?
    /// Store changes applied on top of the snapshot.
    public var replayedChanges: Int
    /// Articles indexed once open.
    public var articleCount: Int
    /// Seconds spent loading the snapshot (0 when rebuilt). The near-duplicate table stored with it is decoded
    /// afterwards in the background (writes wait for it; ``NewswireEngine/waitForBackgroundWork()``).
    public var snapshotLoadSeconds: Double
    /// Seconds spent replaying changes or rebuilding.
    public var catchUpSeconds: Double
    /// Total seconds from the start of open to ready.
    public var totalSeconds: Double

    /// Creates a startup report.
    public init(
        source: Source, rebuildReason: String?, replayedChanges: Int, articleCount: Int, snapshotLoadSeconds: Double,
        catchUpSeconds: Double, totalSeconds: Double
    ) {
        self.source = source
        self.rebuildReason = rebuildReason
        self.replayedChanges = replayedChanges
        self.articleCount = articleCount
        self.snapshotLoadSeconds = snapshotLoadSeconds
        self.catchUpSeconds = catchUpSeconds
        self.totalSeconds = totalSeconds
    }

    /// One line for a log: `index from snapshot + 12 changes: 19537 articles in 0.84 s` or
    /// `index rebuilt from store (snapshot missing: …): …`.
    public var description: String {
        let seconds = String(format: "%.2f", totalSeconds)
        switch source {
        case .snapshot:
            return "index from snapshot + \(replayedChanges) changes: \(articleCount) articles in \(seconds) s"
        case .rebuilt:
            return "index rebuilt from store (\(rebuildReason ?? "no snapshot")): \(articleCount) articles in \(seconds) s"
        }
    }
}

/// Counters for `stats` requests and monitoring.
public struct EngineStats: Sendable, Hashable {
    /// Articles in the index (equals the store's live count).
    public var articleCount: Int
    /// Articles whose `duplicateOf` is set.
    public var duplicateCount: Int
    /// The store's latest change sequence.
    public var storeSequence: UInt64
    /// The change sequence the newest saved snapshot covers (0 when none was saved yet).
    public var snapshotSequence: UInt64
    /// Store changes since the newest snapshot (what the next restart would replay).
    public var changesSinceSnapshot: UInt64
    /// How the index came up at open.
    public var startup: EngineStartup
    /// Why the last background snapshot failed (for example a full disk); nil when it succeeded.
    public var lastSnapshotError: String?
    /// The feed position this engine's index has applied (equals ``storeSequence`` on a single node).
    public var appliedSequence: UInt64 = 0
    /// Cluster mode: the age in milliseconds of the oldest committed change this engine's index does not hold yet
    /// (since its commit was announced to this node; 0 when the index is in step).
    public var lagMilliseconds: UInt64 = 0
    /// The store kind and where it writes: `sqlite` or `postgres HOST:PORT (primary)`.
    public var storeDescription: String = "sqlite"
    /// Why the store is not sound or did not answer, nil when it is and did: a cluster node's shared store did
    /// not tell its position within a second (``storeSequence`` is then the newest position this node knows of),
    /// or the database is damaged (writes are refused).
    public var storeError: String?
    /// Cluster mode: articles from the feed indexed from their writer's shipped analysis (not analysed here).
    public var shippedArticles: UInt64 = 0
    /// Segments of the search index, which every search visits: many during a burst of writes, at most two
    /// once writes have been quiet for ``NewswireEngine/Configuration/compactionQuietPeriod``.
    public var indexSegments: Int = 0

    /// Feed positions the index is behind the store.
    public var lagChanges: UInt64 { storeSequence >= appliedSequence ? storeSequence - appliedSequence : 0 }

    /// Creates stats.
    public init(
        articleCount: Int, duplicateCount: Int, storeSequence: UInt64, snapshotSequence: UInt64,
        changesSinceSnapshot: UInt64, startup: EngineStartup, lastSnapshotError: String? = nil
    ) {
        self.lastSnapshotError = lastSnapshotError
        self.articleCount = articleCount
        self.duplicateCount = duplicateCount
        self.storeSequence = storeSequence
        self.snapshotSequence = snapshotSequence
        self.changesSinceSnapshot = changesSinceSnapshot
        self.startup = startup
    }
}

/// An engine failure a caller can act on.
public struct EngineError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable error code. New codes may be added; switch with a `default`.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// The code's name, e.g. `NOT_FOUND`.
        public var rawValue: String
        /// Wraps a name.
        public init(rawValue: String) { self.rawValue = rawValue }

        /// No article with the given id.
        public static let notFound = Code(rawValue: "NOT_FOUND")
        /// Another process (or engine) has the data directory open.
        public static let dataDirectoryInUse = Code(rawValue: "DATA_DIRECTORY_IN_USE")
        /// The engine was closed.
        public static let closed = Code(rawValue: "CLOSED")
        /// The data directory cannot be used.
        public static let cannotOpen = Code(rawValue: "CANNOT_OPEN")
        /// An argument was out of range.
        public static let invalidArgument = Code(rawValue: "INVALID_ARGUMENT")
        /// A search query is malformed; the message names the character where the problem starts.
        public static let badQuery = Code(rawValue: "BAD_QUERY")
        /// The store failed (disk, database connection, a corrupt record); the message says how.
        public static let storeFailed = Code(rawValue: "STORE_FAILED")
        /// A write found no room in the store (its disk is full); nothing of it was stored, nothing acknowledged
        /// before was lost, and it succeeds once space is freed.
        public static let storeFull = Code(rawValue: "STORE_FULL")
        /// The store's database file is damaged: writes are refused (they would go into a damaged file) and reads
        /// of the damaged part fail, until it is restored from a backup. Retrying does not help.
        public static let storeDamaged = Code(rawValue: "STORE_DAMAGED")
        /// ``NewswireEngine/close()`` could not save the index snapshot (a full disk); the store was closed, and
        /// the next open replays it from the previous snapshot.
        public static let snapshotNotSaved = Code(rawValue: "SNAPSHOT_NOT_SAVED")

        public var description: String { rawValue }
    }

    /// What kind of failure.
    public var code: Code
    /// What failed, for which input, and what to do.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
