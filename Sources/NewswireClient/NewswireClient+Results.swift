import NewswireModel
import NewswireProtocol

/// What the client's calls return: the client's own public types (wire messages stay in NewswireProtocol).
extension NewswireClient {
    /// What the store did with a record.
    public enum StoreOutcome: Sendable, Hashable, CustomStringConvertible {
        /// A new article was stored.
        case created
        /// An article with the same id was replaced.
        case updated
        /// An identical article was already stored.
        case unchanged
        /// Parsed only (a dry run); nothing stored.
        case notStored
        /// An outcome this client does not know (a newer server), by its wire value.
        case other(UInt8)

        init(_ outcome: NewswireProtocol.StoreOutcome) {
            switch outcome {
            case .created: self = .created
            case .updated: self = .updated
            case .unchanged: self = .unchanged
            case .notStored: self = .notStored
            default: self = .other(outcome.rawValue)
            }
        }

        public var description: String {
            switch self {
            case .created: "created"
            case .updated: "updated"
            case .unchanged: "unchanged"
            case .notStored: "not stored"
            case .other(let value): "outcome#\(value)"
            }
        }
    }

    /// What INGEST did with a page.
    public struct IngestResult: Sendable, Hashable {
        /// The article parsed from the page (with `duplicateOf` as stored).
        public var article: Article
        /// What the store did.
        public var outcome: StoreOutcome
    }

    /// What a PUT did: counts per outcome, and the records refused with why.
    public struct PutResult: Sendable, Hashable {
        /// A record the server refused (the others were stored).
        public struct Rejection: Sendable, Hashable {
            /// Position in the articles passed to ``NewswireClient/put(_:)``.
            public var index: Int
            /// Its id, when it had one.
            public var id: ArticleID?
            /// Why.
            public var reason: String
        }

        /// New articles stored.
        public var created = 0
        /// Articles replaced.
        public var updated = 0
        /// Articles already stored identically.
        public var unchanged = 0
        /// Records refused.
        public var rejected: [Rejection] = []
        /// The cluster change-feed position of the last batch (nil from a single node); reads through this client
        /// wait for it on any node (PROTOCOL.md §5.18).
        public var commitPosition: UInt64?
    }

    /// What a DELETE did.
    public struct DeleteResult: Sendable, Hashable {
        /// Articles deleted.
        public var deleted: Int
        /// Ids that had no article.
        public var missing: [ArticleID]
        /// The cluster change-feed position of the delete (nil from a single node); reads through this client wait
        /// for it on any node (PROTOCOL.md §5.18).
        public var commitPosition: UInt64?
    }

    /// The server's statistics (names are listed in README "STATS").
    public struct Stats: Sendable, Hashable {
        /// A statistic's value.
        public enum Value: Sendable, Hashable, CustomStringConvertible {
            case integer(Int64)
            case double(Double)
            case text(String)

            public var description: String {
                switch self {
                case .integer(let value): "\(value)"
                case .double(let value): "\(value)"
                case .text(let value): value
                }
            }
        }

        /// Every statistic, in the server's order.
        public var entries: [(name: String, value: Value)]

        /// The value named `name`, if the server reported it.
        public subscript(name: String) -> Value? { entries.first { $0.name == name }?.value }

        public static func == (lhs: Stats, rhs: Stats) -> Bool {
            lhs.entries.map(\.name) == rhs.entries.map(\.name) && lhs.entries.map(\.value) == rhs.entries.map(\.value)
        }

        public func hash(into hasher: inout Hasher) {
            for entry in entries {
                hasher.combine(entry.name)
                hasher.combine(entry.value)
            }
        }
    }

    /// The order of a scan.
    public enum ScanOrder: Sendable, Hashable {
        /// Oldest publication first, ties by id, undated articles last.
        case byDate
        /// Ascending id.
        case byID

        var wire: NewswireProtocol.ScanOrder { self == .byDate ? .byDate : .byID }
    }
}
