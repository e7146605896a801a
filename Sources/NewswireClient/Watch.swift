import Logging
import NIOConcurrencyHelpers
import NIOCore
import NewswireProtocol

extension NewswireClient {
    /// A place in a server's change feed: where a watch stands, to resume it from later.
    ///
    /// Its text form, `SEQUENCE@STORE` (or just `SEQUENCE`), is what `newswire watch --since` takes.
    public struct WatchPosition: Sendable, Hashable, Codable, LosslessStringConvertible {
        /// The store's change sequence.
        public var sequence: UInt64
        /// The store the sequence belongs to (checked by the server when given).
        public var store: String?

        /// Creates a position.
        public init(sequence: UInt64, store: String? = nil) {
            self.sequence = sequence
            self.store = store
        }

        /// Parses `SEQUENCE@STORE` or `SEQUENCE`.
        public init?(_ description: String) {
            let parts = description.split(separator: "@", maxSplits: 1).map(String.init)
            guard let first = parts.first, let sequence = UInt64(first) else { return nil }
            self.init(sequence: sequence, store: parts.count > 1 ? parts[1] : nil)
        }

        public var description: String { store.map { "\(sequence)@\($0)" } ?? "\(sequence)" }
    }

    /// Where a watch starts.
    public enum WatchStart: Sendable, Hashable {
        /// Changes committed from now on.
        case now
        /// Every change after this position (none twice, none missing), then live.
        case after(WatchPosition)
        /// The whole change feed, then live.
        case beginning
    }

    /// What a watch sends besides the hit.
    public struct WatchOptions: Sendable, Hashable {
        /// Only articles from these sources; empty means any.
        public var sources: [String]
        /// Only articles published at or after.
        public var publishedFrom: PublishedTime?
        /// Only articles published before.
        public var publishedBefore: PublishedTime?
        /// Include the full article with new, updated and changed events. Default false.
        public var includeArticle: Bool
        /// Compute a snippet with highlights in each hit. Default true.
        public var includeSnippets: Bool
        /// Events the server may hold for this watch before cutting it off (0: the server's default). The watch
        /// resumes by itself after a cut-off.
        public var bufferEvents: Int
        /// Events this client holds unread before it stops the server's stream, to resume once they are read.
        /// Default 4096.
        public var clientBufferEvents: Int
        /// Also report ``WatchEvent/Kind/unmatched``: an article that matched was updated and no longer does.
        /// Default true, so a view built from the events never keeps an article the query no longer matches.
        public var reportUnmatched: Bool

        /// Creates options; every parameter has the documented default.
        public init(
            sources: [String] = [], publishedFrom: PublishedTime? = nil, publishedBefore: PublishedTime? = nil,
            includeArticle: Bool = false, includeSnippets: Bool = true, bufferEvents: Int = 0,
            clientBufferEvents: Int = 4096, reportUnmatched: Bool = true
        ) {
            self.sources = sources
            self.publishedFrom = publishedFrom
            self.publishedBefore = publishedBefore
            self.includeArticle = includeArticle
            self.includeSnippets = includeSnippets
            self.bufferEvents = bufferEvents
            self.clientBufferEvents = clientBufferEvents
            self.reportUnmatched = reportUnmatched
        }
    }

    /// One change a watch reports.
    public struct WatchEvent: Sendable, Hashable {
        /// What happened.
        public enum Kind: String, Sendable, Hashable, Codable {
            /// A new article that matches.
            case new
            /// A new version of an existing article; the new version matches.
            case updated
            /// An article was deleted (reported to every watch; ignore ids you never saw).
            case deleted
            /// Replayed from the server's compacted change feed: the article's latest version, created or updated
            /// after the start position.
            case changed
            /// An article the query matched was updated and no longer matches: drop it from a view (ignore ids
            /// you never saw: after a resume the server reports every replayed article that does not match).
            /// The hit describes the new version, without snippet.
            case unmatched
        }

        /// The change's position: resume after it.
        public var position: WatchPosition
        /// What happened.
        public var kind: Kind
        /// The article as search returns it (score 0); for deletions only the id.
        public var hit: SearchHit
        /// The article, with ``WatchOptions/includeArticle``.
        public var article: Article?
    }

    /// Every change concerning `query` (SEARCH query language) from `start`, in commit order, as an endless
    /// sequence that reconnects and resumes by itself (none twice, none missing) when the connection drops, the
    /// server restarts or cuts a slow reader off. It throws for errors retrying cannot fix (a bad query, a position
    /// from another store, no server to reach before the first stream started); cancelling the iterating task
    /// ends it.
    ///
    /// ```swift
    /// for try await event in client.watch("疆电入川", from: .now) {
    ///     print(event.position, event.kind, event.hit.title)
    /// }
    /// ```
    public func watch(_ query: String, from start: WatchStart = .now, options: WatchOptions = WatchOptions())
        -> WatchSequence
    {
        WatchSequence(client: self, query: query, start: start, options: options)
    }

    /// Opens one WATCH stream on a pooled connection.
    func openWatch(_ message: WatchMessage, into session: WatchSession) async throws {
        let connection = try await pool.connection()
        let (requestID, ended) = try await connection.openStream(.watch(message)) { response in
            session.received(response)
        }
        session.opened(connection: connection, requestID: requestID)
        ended.whenComplete { result in
            switch result {
            case .success:
                session.ended(
                    NewswireClientError(
                        code: .protocolViolation, message: "the server ended a WATCH stream without an error"))
            case .failure(let error as NewswireClientError): session.ended(error)
            case .failure(let error):
                session.ended(
                    NewswireClientError(code: .connectionClosed, message: "watch failed: \(error)", isRetryable: true))
            }
        }
    }

    var watchLogger: Logger { logger }
}

/// The events of ``NewswireClient/watch(_:from:options:)``.
public struct WatchSequence: AsyncSequence, Sendable {
    public typealias Element = NewswireClient.WatchEvent

    let client: NewswireClient
    let query: String
    let start: NewswireClient.WatchStart
    let options: NewswireClient.WatchOptions

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(state: WatchIteratorState(client: client, query: query, start: start, options: options))
    }

    /// Iterates a watch. ``position`` is where it stands: resume from it later.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let state: WatchIteratorState

        /// The position to resume after: the last event returned, or further when the server said later changes
        /// did not concern the query. Nil until the first stream started (start `.now`).
        public var position: NewswireClient.WatchPosition? { state.position }

        /// Called before each wait to resume or to start again, with the error that ended the stream (or refused
        /// it: a server at its watch limit answers `OVERLOADED`) and the wait: a program showing the watch can say
        /// why nothing arrives. Runs on the iterating task.
        public var onRetry: (@Sendable (NewswireClientError, Duration) -> Void)? {
            get { state.onRetry }
            nonmutating set { state.onRetry = newValue }
        }

        /// The next event; nil when the iterating task was cancelled.
        public mutating func next() async throws -> NewswireClient.WatchEvent? {
            try await state.next()
        }
    }
}

/// The resuming logic behind a ``WatchSequence`` iterator (a class, so a dropped iterator cancels its stream).
final class WatchIteratorState: @unchecked Sendable {
    private let client: NewswireClient
    private let query: String
    private let options: NewswireClient.WatchOptions
    private var start: NewswireClient.WatchStart
    private var session: WatchSession?
    private(set) var position: NewswireClient.WatchPosition?
    private var failures = 0
    /// Whether a stream ever started: before that, a server that cannot be reached is an error, not a wait.
    private var everStarted = false
    /// See ``WatchSequence/AsyncIterator/onRetry``.
    var onRetry: (@Sendable (NewswireClientError, Duration) -> Void)?

    init(
        client: NewswireClient, query: String, start: NewswireClient.WatchStart,
        options: NewswireClient.WatchOptions
    ) {
        self.client = client
        self.query = query
        self.start = start
        self.options = options
        if case .after(let position) = start { self.position = position }
    }

    deinit { session?.cancel() }

    private func message() -> WatchMessage {
        var message = WatchMessage(
            text: query, sources: options.sources, publishedFrom: options.publishedFrom,
            publishedBefore: options.publishedBefore, includeArticle: options.includeArticle,
            includeSnippets: options.includeSnippets, bufferEvents: options.bufferEvents,
            reportUnmatched: options.reportUnmatched)
        switch start {
        case .now: message.start = .now
        case .beginning: message.start = .beginning
        case .after(let position):
            message.start = .afterPosition
            message.position = position.sequence
            message.store = position.store
        }
        return message
    }

    func next() async throws -> NewswireClient.WatchEvent? {
        while true {
            if Task.isCancelled {
                session?.cancel()
                session = nil
                return nil
            }
            let session: WatchSession
            if let current = self.session {
                session = current
            } else {
                session = WatchSession(capacity: max(1, options.clientBufferEvents))
                self.session = session
                do {
                    try await client.openWatch(message(), into: session)
                } catch let error as NewswireClientError {
                    session.ended(error)
                } catch {
                    session.ended(
                        NewswireClientError(code: .connectionClosed, message: "\(error)", isRetryable: true))
                }
            }
            let next = await withTaskCancellationHandler {
                await session.next()
            } onCancel: {
                session.cancel()
            }
            switch next {
            case .started(let store, let sequence):
                // From here on positions belong to `store`; a resume starts after the furthest one known.
                let known = position?.sequence ?? 0
                position = NewswireClient.WatchPosition(sequence: max(known, sequence), store: store)
                start = .after(position!)
                failures = 0
                everStarted = true
            case .event(let event, let store):
                // Positions only grow; anything at or before where we stand was returned already.
                guard event.position > (position?.sequence ?? 0) else { continue }
                let at = NewswireClient.WatchPosition(sequence: event.position, store: store)
                position = at
                start = .after(at)
                guard let kind = Self.kind(event.kind), let hit = event.hit else { continue }
                var article: Article?
                if let record = event.record { article = try client.decode(record) }
                return NewswireClient.WatchEvent(position: at, kind: kind, hit: hit, article: article)
            case .ended(let error, let resumeAfter):
                self.session = nil
                if Task.isCancelled || error.code == .cancelled { return nil }
                if let resumeAfter, resumeAfter > (position?.sequence ?? 0), let store = position?.store {
                    position = NewswireClient.WatchPosition(sequence: resumeAfter, store: store)
                    start = .after(position!)
                }
                guard error.isRetryable || error.code == .connectionFailed else { throw error }
                if !everStarted, error.code == .connectionFailed { throw error }
                failures += 1
                let hinted = error.serverError?.retryAfterMillis.map { Int($0) } ?? 0
                let backoff = min(2_000, 50 << min(failures, 6))
                client.watchLogger.debug(
                    "watch resuming", metadata: ["newswire_error": "\(error)", "newswire_position": "\(position?.description ?? "now")"])
                let wait = Duration.milliseconds(max(hinted, failures == 1 && error.code == .shuttingDown ? 0 : backoff))
                onRetry?(error, wait)
                do {
                    try await Task.sleep(for: wait)
                } catch {
                    return nil
                }
            }
        }
    }

    static func kind(_ kind: WatchEventKind) -> NewswireClient.WatchEvent.Kind? {
        switch kind {
        case .new: .new
        case .updated: .updated
        case .deleted: .deleted
        case .changed: .changed
        case .unmatched: .unmatched
        default: nil
        }
    }
}

/// One WATCH stream on one connection: frames arrive on the event loop; the iterator takes them.
final class WatchSession: Sendable {
    enum Next: Sendable {
        case started(store: String, sequence: UInt64)
        case event(WatchEventMessage, store: String?)
        /// The stream ended; `resumeAfter` is the server's position from the ending ERROR, when it gave one.
        case ended(NewswireClientError, resumeAfter: UInt64?)
    }

    private struct State {
        var items: [Next] = []
        var head = 0
        var ended = false
        /// The iterator's suspended `next()`. Whoever resumes it takes it out under the lock first, so it is resumed
        /// exactly once (an unchecked continuation: the checked one's bookkeeping showed per event in the profile).
        var waiter: UnsafeContinuation<Next, Never>?
        var connection: ClientConnection?
        var requestID: RequestID?
        var cancelled = false
        var store: String?
        /// This client's own cut-off: too many unread events; the stream was stopped and is resumed later.
        var overflowed = false
    }

    private let state = NIOLockedValueBox(State())
    private let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    func opened(connection: ClientConnection, requestID: RequestID) {
        let cancel = state.withLockedValue { state -> Bool in
            state.connection = connection
            state.requestID = requestID
            return state.cancelled || state.overflowed
        }
        if cancel {
            connection.cancelStream(
                requestID, NewswireClientError(code: .cancelled, message: "watch stopped by the client"))
        }
    }

    /// A frame of the stream (on the event loop).
    func received(_ response: Response) {
        guard case .watchEvent(let event) = response else { return }
        let (waiter, next, stop): (UnsafeContinuation<Next, Never>?, Next?, (ClientConnection, RequestID)?) =
            state.withLockedValue { state in
                guard !state.ended, !state.overflowed else { return (nil, nil, nil) }
                let item: Next
                if event.kind == .started {
                    state.store = event.store
                    item = .started(store: event.store ?? "", sequence: event.position)
                } else {
                    item = .event(event, store: state.store)
                }
                if let waiter = state.waiter {
                    state.waiter = nil
                    return (waiter, item, nil)
                }
                if state.items.count - state.head >= capacity {
                    // Unread events pile up: stop the server's stream; the iterator resumes after the last one
                    // it returned once it has read what is here.
                    state.overflowed = true
                    state.items.append(
                        .ended(
                            NewswireClientError(
                                code: .overloaded, message: "\(capacity) watch events unread; resuming later",
                                isRetryable: true), resumeAfter: nil))
                    if let connection = state.connection, let id = state.requestID { return (nil, nil, (connection, id)) }
                    return (nil, nil, nil)
                }
                state.items.append(item)
                return (nil, nil, nil)
            }
        if let waiter, let next { waiter.resume(returning: next) }
        if let (connection, id) = stop {
            connection.cancelStream(id, NewswireClientError(code: .cancelled, message: "watch paused by the client"))
        }
    }

    /// The stream's end (its final ERROR, or the connection's failure).
    func ended(_ error: NewswireClientError) {
        let waiter: UnsafeContinuation<Next, Never>? = state.withLockedValue { state in
            guard !state.ended else { return nil }
            state.ended = true
            if state.overflowed { return nil }  // the overflow already queued its own end
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.items.append(.ended(error, resumeAfter: error.serverError?.position))
            return nil
        }
        waiter?.resume(returning: .ended(error, resumeAfter: error.serverError?.position))
    }

    /// The iterator gave up (task cancelled, or dropped): CANCEL the stream.
    func cancel() {
        let (waiter, stop): (UnsafeContinuation<Next, Never>?, (ClientConnection, RequestID)?) =
            state.withLockedValue { state in
                state.cancelled = true
                let waiter = state.waiter
                state.waiter = nil
                if let connection = state.connection, let id = state.requestID, !state.ended {
                    return (waiter, (connection, id))
                }
                return (waiter, nil)
            }
        waiter?.resume(
            returning: .ended(NewswireClientError(code: .cancelled, message: "watch cancelled"), resumeAfter: nil))
        if let (connection, id) = stop {
            connection.cancelStream(id, NewswireClientError(code: .cancelled, message: "watch cancelled"))
        }
    }

    func next() async -> Next {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Next, Never>) in
            let ready: Next? = state.withLockedValue { state in
                if state.head < state.items.count {
                    let item = state.items[state.head]
                    state.head += 1
                    if state.head > 1024, state.head * 2 > state.items.count {
                        state.items.removeFirst(state.head)
                        state.head = 0
                    }
                    return item
                }
                if state.cancelled {
                    return .ended(NewswireClientError(code: .cancelled, message: "watch cancelled"), resumeAfter: nil)
                }
                if state.ended {
                    return .ended(
                        NewswireClientError(code: .connectionClosed, message: "watch ended", isRetryable: true),
                        resumeAfter: nil)
                }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
