import ArticleExtraction
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NewswireEngine
import NewswireModel
import NewswireProtocol
import NewswireSearch

/// Live queries: each WATCH stream, from its checks to the ERROR that ends it.
extension ServerContext {
    /// Runs one WATCH stream (PROTOCOL.md §5.19): checks it, registers its standing query, sends STARTED, replays
    /// the change feed after its position (when resuming), then sends live events until it ends, and ends it with
    /// an ERROR carrying the position to resume after.
    func streamWatch(
        _ request: WatchMessage, requestID: RequestID, connection: Connection
    ) async throws {
        guard request.text.unicodeScalars.count <= Limits.maxQueryLength else {
            throw ProtocolError(
                code: .badQuery,
                message: "query of \(request.text.unicodeScalars.count) characters; the limit is \(Limits.maxQueryLength)")
        }
        guard request.bufferEvents <= Limits.maxWatchBufferEvents else {
            throw ProtocolError(
                code: .limitExceeded,
                message: "WATCH buffer_events \(request.bufferEvents == Int.max ? "2^63-1 or more" : "\(request.bufferEvents)") is above \(Limits.maxWatchBufferEvents); ask for "
                    + "less (0 is the server default, \(Limits.defaultWatchBufferEvents))")
        }
        let storeIdentifier = engine.storeIdentifier
        if request.start == .afterPosition, let store = request.store, store != storeIdentifier {
            throw ProtocolError(
                code: .unknownPosition,
                message: "WATCH position \(request.position) belongs to store \(store), not to this server's store "
                    + "\(storeIdentifier); start again from now or from the beginning")
        }
        let query = StandingQuery(
            text: request.text, sources: request.sources, publishedFrom: request.publishedFrom,
            publishedBefore: request.publishedBefore, includeSnippets: request.includeSnippets,
            snippetLength: request.snippetLength == 0 ? Limits.defaultSnippetLength : request.snippetLength)
        let capacity = request.bufferEvents == 0 ? Limits.defaultWatchBufferEvents : request.bufferEvents
        if request.start == .afterPosition, engine.followsSharedStore {
            // A position the store itself has not reached was never delivered (a store restored from an older
            // backup): refused, as on a single node, rather than waited for and then taken as read up to there.
            let latest: UInt64
            do {
                latest = try await onPool { try self.engine.latestPosition() }
            } catch {
                throw protocolError(for: error)
            }
            guard request.position <= latest else {
                throw ProtocolError(
                    code: .unknownPosition,
                    message: "WATCH position \(request.position) is ahead of this store's latest position \(latest) "
                        + "(a store restored from an older backup?); start again from now or from the beginning")
            }
            // A cluster node that has not applied the position yet waits for it, as GET's min_position does.
            try await waitForPosition(request.position)
        }
        let watch: Watch
        do {
            watch = try watches.register(
                query, includeArticle: request.includeArticle, reportUnmatched: request.reportUnmatched,
                capacity: capacity)
        } catch {
            throw protocolError(for: error)
        }
        defer { watches.remove(watch) }
        // Where replay starts: the request's position, the beginning, or nothing to replay (start now).
        var covered: UInt64
        switch request.start {
        case .afterPosition:
            guard request.position <= watch.after else {
                throw ProtocolError(
                    code: .unknownPosition,
                    message: "WATCH position \(request.position) is ahead of this store's latest position "
                        + "\(watch.after) (a store restored from an older backup?); start again from now or from "
                        + "the beginning")
            }
            covered = request.position
        case .beginning: covered = 0
        default: covered = watch.after
        }
        watch.cover(covered)
        connection.attach(watch, to: requestID)
        defer { connection.detach(requestID) }
        func end(_ reason: Watch.End?) throws -> Never {
            let position = watches.endPosition(of: watch)
            switch reason ?? watch.endReason ?? .gone {
            case .cutOff:
                throw ProtocolError(
                    code: .overloaded,
                    message: "this watch's \(capacity) buffered events were not read in time; it was cut off: "
                        + "resume after position \(position)", retryAfterMillis: 100, position: position)
            case .cancelled:
                throw ProtocolError(code: .cancelled, message: "watch cancelled by the client", position: position)
            case .gone:
                // Never sent (the connection is gone); the client ended the watch by leaving, as a CANCEL would,
                // and STATS counts it so rather than as a shutdown that did not happen.
                throw ProtocolError(code: .cancelled, message: "the client closed the connection", position: position)
            case .shuttingDown:
                throw ProtocolError(
                    code: .shuttingDown,
                    message: "server is shutting down; resume after position \(position) on a new connection",
                    position: position)
            }
        }
        let started = WatchEventMessage(position: covered, kind: .started, store: storeIdentifier)
        guard try await connection.sendWatchEvent(started, requestID: requestID, watch: watch) else {
            try end(nil)
        }
        // Every ERROR that ends the watch from here on carries the position to resume after (§5.19 rule 7): one
        // that does not yet (an event larger than the client's max_frame_length, no room on the server) gets the
        // position of the last event delivered before it.
        do {
            // Replay: the compacted feed from `covered` up to where live delivery took over.
            if covered < watch.after {
                let replay = StandingQueryMatcher()
                do {
                    _ = try replay.register(query)
                } catch {
                    throw protocolError(for: error)
                }
                // From the beginning nothing was seen before, so nothing can have stopped matching.
                let reportsReplayedUnmatched = request.reportUnmatched && request.start == .afterPosition
                while covered < watch.after {
                    if let reason = watch.endReason { try end(reason) }
                    let from = covered
                    let page = try await onPool { try self.engine.changes(after: from, limit: 512) }
                    let changes = page.filter { $0.position <= watch.after }
                    if changes.isEmpty { break }
                    let result = replay.match(
                        changes.map { $0.article.map(ArticleChange.inserted) ?? .deleted($0.id) })
                    var matched: [Int: SearchHit] = [:]
                    for match in result.matches where match.kind != .stoppedMatching { matched[match.change] = match.hit }
                    for (index, change) in changes.enumerated() {
                        let event: WatchEventMessage
                        if change.kind == .deleted {
                            event = WatchEventMessage(
                                position: change.position, kind: .deleted,
                                hit: SearchHit(id: change.id, title: "", source: nil, publishedAt: nil, score: 0))
                        } else if let hit = matched[index] {
                            event = WatchEventMessage(
                                position: change.position, kind: .changed, hit: hit,
                                record: request.includeArticle ? change.article.map(ArticleRecord.init) : nil)
                        } else if reportsReplayedUnmatched, let article = change.article {
                            // The compacted feed does not say whether the client saw an earlier version match, so
                            // every replayed article that does not match is reported (§5.19 rule 3).
                            event = WatchEventMessage(
                                position: change.position, kind: .unmatched, hit: WatchHub.bareHit(article))
                        } else {
                            continue
                        }
                        guard try await connection.sendWatchEvent(event, requestID: requestID, watch: watch) else {
                            try end(nil)
                        }
                        watches.recordSent(1)
                        covered = change.position
                    }
                    covered = max(covered, min(page.last!.position, watch.after))
                    watch.cover(covered)
                    if page.count < 512 { break }
                }
                covered = watch.after
                watch.cover(covered)
            }
            // Live: the hub queues events on the connection itself while it has room; this task sends the rest.
            watch.goLive(WatchSink(connection: connection, requestID: requestID))
            while true {
                switch await watch.next() {
                case .ended(let reason):
                    try end(reason)
                case .event(let event):
                    let delivered = try await connection.sendWatchEvent(event.built(), requestID: requestID, watch: watch)
                    watch.sent(event.message.position, delivered: delivered)
                    guard delivered else { try end(nil) }
                    watches.recordSent(streamedAfter: .now - event.offered)
                }
            }
        } catch var error as ProtocolError where error.position == nil {
            let position = watches.endPosition(of: watch)
            error.position = position
            error.message += "; resume after position \(position)"
            throw error
        }
    }
}
