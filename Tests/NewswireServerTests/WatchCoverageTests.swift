import Logging
import NewswireEngine
import NewswireModel
import NewswireSearch
import NewswireStore
import NewswireTestSupport
import Testing

@testable import NewswireServer

/// The position a WATCH's ending ERROR carries is where the client resumes (PROTOCOL.md §5.19 rule 7): every change
/// up to it must have reached the client. These drive the hub and a watch in the orders a running server leaves
/// to chance: the hub offering a match after the watch ended, and the stream's task failing to send one it took.
@Suite("Watch coverage at its end")
struct WatchCoverageTests {
    final class Harness {
        let directory = TemporaryDirectory()
        let engine: NewswireEngine
        let hub: WatchHub

        init() throws {
            engine = try NewswireEngine(store: SQLiteArticleStore(directory: directory.path), indexSnapshotPath: nil)
            hub = WatchHub(engine: engine, logger: Logger(label: "test"), workers: 1, maxWatches: 16)
        }

        deinit { try? engine.close() }

        /// Puts one article matching 能源 and waits (bounded) until the hub has distributed its position.
        func putMatching(_ id: String) async throws -> UInt64 {
            _ = try engine.put([Article(id: ArticleID(id), title: "能源 \(id)", paragraphs: ["能源合作"])])
            let position = try engine.committedPosition()
            var waits = 0
            while distributed < position, waits < 60_000 {
                try await Task.sleep(for: .milliseconds(1))
                waits += 1
            }
            #expect(distributed >= position, "the hub never distributed position \(position)")
            return position
        }

        var distributed: UInt64 {
            for entry in hub.statEntries() where entry.name == "watches.position" {
                if case .integer(let value) = entry.value { return UInt64(value) }
            }
            return 0
        }
    }

    @Test("a match offered after the watch ended is not covered by the end's position")
    func matchOfferedAfterTheEnd() async throws {
        let harness = try Harness()
        let watch = try harness.hub.register(
            StandingQuery(text: "能源"), includeArticle: false, reportUnmatched: false, capacity: 64)
        let start = watch.after
        watch.end(.cancelled)
        let dropped = try await harness.putMatching("after-end")
        #expect(dropped > start)
        // Before: the hub's distributed position (the dropped match's), so a resume skipped it.
        #expect(harness.hub.coveredPosition(of: watch, lastSent: start) == dropped - 1)
        harness.hub.remove(watch)
    }

    @Test("an event the stream's task took and could not send is not covered; one it sent is")
    func eventTakenAndNotSent() async throws {
        let harness = try Harness()
        let watch = try harness.hub.register(
            StandingQuery(text: "能源"), includeArticle: false, reportUnmatched: false, capacity: 64)
        let first = try await harness.putMatching("first")
        let second = try await harness.putMatching("second")
        guard case .event(let sent) = await watch.next() else {
            Issue.record("expected the first event")
            return
        }
        #expect(sent.message.position == first)
        watch.sent(first, delivered: true)
        guard case .event(let taken) = await watch.next() else {
            Issue.record("expected the second event")
            return
        }
        #expect(taken.message.position == second)
        watch.end(.cancelled)
        watch.sent(second, delivered: false)
        #expect(harness.hub.coveredPosition(of: watch, lastSent: first) == second - 1)
        harness.hub.remove(watch)
    }

    @Test("a watch that ended with nothing offered after it covers what the hub distributed")
    func idleWatchCoversTheHubPosition() async throws {
        let harness = try Harness()
        let watch = try harness.hub.register(
            StandingQuery(text: "电网"), includeArticle: false, reportUnmatched: false, capacity: 64)
        // Matches another query only: nothing is offered to this watch, and its position still moves past it.
        let unrelated = try await harness.putMatching("unrelated")
        watch.end(.cancelled)
        #expect(harness.hub.coveredPosition(of: watch, lastSent: watch.after) == unrelated)
        harness.hub.remove(watch)
    }
}
