import Foundation
import NewswireClient
import NewswireModel
import NewswireTestSupport
import Testing

/// A watcher while `newswired` is killed with SIGKILL mid-ingest: it never received an event for a write the crash
/// took back, and it resumes on the restarted server with no gap and no duplicate (PROTOCOL.md §5.19 rules 4, 5).
@Suite("Live queries under kill -9", .serialized, .timeLimit(.minutes(5)))
struct WatchKillTests {
    /// What a watcher needs of an event.
    struct Seen: Hashable, CustomStringConvertible {
        var position: UInt64
        var kind: NewswireClient.WatchEvent.Kind
        var id: ArticleID
        var title: String
        var store: String?
        var description: String { "\(position) \(kind) \(id) \(title)" }

        init(_ event: NewswireClient.WatchEvent) {
            position = event.position.sequence
            kind = event.kind
            id = event.hit.id
            title = event.hit.title
            store = event.position.store
        }
    }

    /// Write `n` of the writer: three articles among 45 ids (so later writes update earlier ones).
    static func articles(_ n: Int, round: String) -> [Article] {
        (0..<3).map { k in
            let id = ArticleID("kill-\((n * 3 + k) % 45)")
            return Article(
                id: id, title: "能源 \(round) \(n)-\(k)", source: "测试来源",
                paragraphs: ["第\(n)次写入，\(id.rawValue)，第\(round)轮。"], language: "zh")
        }
    }

    /// Reads `events` until `stop` holds for one, or the task is cancelled; returns what it read.
    static func collect(
        _ sequence: WatchSequence, onEach: @escaping @Sendable (Int) -> Void = { _ in },
        until stop: @escaping @Sendable (Seen) -> Bool = { _ in false }
    ) -> Task<[Seen], Never> {
        Task {
            var seen: [Seen] = []
            var events = sequence.makeAsyncIterator()
            while let event = try? await events.next() {
                seen.append(Seen(event))
                onEach(seen.count)
                if stop(seen.last!) { break }
            }
            return seen
        }
    }

    /// The ids a client shows after applying `events` in order, with the title of the version it last saw.
    static func view(_ events: [Seen]) -> [ArticleID: String] {
        var shown: [ArticleID: String] = [:]
        for event in events {
            switch event.kind {
            case .deleted, .unmatched: shown[event.id] = nil
            default: shown[event.id] = event.title
            }
        }
        return shown
    }

    @Test("SIGKILL with a watch open: every event received is durable; the resumed watch has no gap, no duplicate")
    func killWithWatchOpen() async throws {
        let directory = TemporaryDirectory()
        let first = try ServerProcess(dataDirectory: directory.path)
        let firstPort = try await first.waitUntilListening()
        let watcherClient = NewswireClient(configuration: .init(port: firstPort, compression: false))
        let writer = NewswireClient(configuration: .init(port: firstPort, compression: false, maxRetries: 0))

        // The watcher kills the server itself right after consuming its 40th event: the writer is mid-stream, and
        // the server holds changes it has not yet sent.
        // From the beginning of the (empty) store's feed: whether the watch is registered before the first write or
        // after it, every write reaches it, replayed or live.
        let watching = Self.collect(
            watcherClient.watch("", from: .beginning),
            onEach: { count in if count == 40 { first.process.signal(SIGKILL) } })
        let writing = Task { () -> Int in
            var n = 0
            while true {
                do {
                    if n % 7 == 6 {
                        _ = try await writer.delete(ids: [ArticleID("kill-\(n % 45)")])
                    } else {
                        _ = try await writer.put(Self.articles(n, round: "一"))
                    }
                } catch {
                    return n  // the server is gone
                }
                n += 1
            }
        }
        let killed = await first.process.finished()
        #expect(killed.signal == SIGKILL, "\(killed)")
        let writes = await writing.value
        // Everything the watcher consumes from here on was sent before the server died.
        watching.cancel()
        let before = await watching.value
        await watcherClient.shutdown()
        await writer.shutdown()
        #expect(before.count >= 40 && writes > 0, "\(before.count) events, \(writes) writes")
        let last = try #require(before.last)

        // Restart on the same data directory.
        let second = try ServerProcess(dataDirectory: directory.path)
        let port = try await second.waitUntilListening()
        let client = NewswireClient(configuration: .init(port: port, compression: false))
        let fence = ArticleID("kill-fence")
        let marker = ArticleID("kill-marker")
        let isFenceDeletion: @Sendable (Seen) -> Bool = { $0.id == fence && $0.kind == .deleted }
        // The whole (compacted) feed as the restarted server has it, read up to a marker (the first write after the
        // restart) before anything else is written: the feed keeps each article's latest change only, so a later
        // update of an id written before the kill would take its earlier change out of a replay that started after
        // it. And the watcher resuming where it stood, which gets every change after its start, replayed or live,
        // whenever it is registered.
        let feed = Self.collect(client.watch("", from: .beginning), until: { $0.id == marker })
        let resumed = Self.collect(
            client.watch("", from: .after(NewswireClient.WatchPosition(sequence: last.position, store: last.store))), until: isFenceDeletion)
        // Writes after the restart: the marker (its position is the first after the restart); once the feed is read,
        // updates of ids written before, then the fence.
        _ = try await client.put([Article(id: marker, title: "marker", paragraphs: ["marker"])])
        let replayed = await feed.value
        for n in 0..<6 { _ = try await client.put(Self.articles(n, round: "二")) }
        _ = try await client.put([Article(id: fence, title: "fence", paragraphs: ["fence"])])
        _ = try await client.delete(ids: [fence])
        let after = await resumed.value

        // Durable: every event received before the kill is in the restarted store's feed, at its position with the
        // same content, or superseded by a later change of the same article that survived too.
        let restartPosition = try #require(replayed.first { $0.id == marker }).position - 1
        let restartedFeed = replayed.filter { $0.position <= restartPosition }
        let byPosition = Dictionary(uniqueKeysWithValues: restartedFeed.map { ($0.position, $0) })
        let latest = Dictionary(restartedFeed.map { ($0.id, $0) }, uniquingKeysWith: { $1 })
        #expect(last.position <= restartPosition, "an event at \(last.position) but the store restarted at \(restartPosition)")
        for event in before {
            if let durable = byPosition[event.position] {
                #expect(durable.id == event.id && durable.title == event.title, "\(event) became \(durable)")
                #expect((durable.kind == .deleted) == (event.kind == .deleted), "\(event) became \(durable)")
            } else {
                let superseding = try #require(latest[event.id], "\(event): no durable change of \(event.id)")
                #expect(superseding.position > event.position, "\(event) is not durable")
            }
        }
        // Resumed: strictly after the last event it consumed, positions strictly increasing, and the view built from
        // both streams equals the store's articles.
        let positions = (before + after).map(\.position)
        #expect(positions == positions.sorted() && Set(positions).count == positions.count, "\(positions)")
        var stored: [ArticleID: String] = [:]
        for try await article in client.scan(order: .byID) { stored[article.id] = article.title }
        #expect(Self.view(before + after) == stored)
        await client.shutdown()
        let stopped = await second.stop()
        #expect(stopped.status == 0, "\(stopped)")
    }
}
