import Foundation
@testable import NewswireEngine
import NewswireModel
import NewswireStore
import NewswireTestSupport
import Testing

/// A stream of writes that is easy to get wrong when grouped: the same page ingested twice (also within one
/// write), ids updated with new text, republished copies (a credit line added, one character changed) of earlier
/// articles and of their updated versions, copies further apart than the window, undated and too-short bodies.
/// Seeded, so every run checks the same stream.
func groupCommitWorkload(seed: UInt64, writes: Int) -> [[Article]] {
    var state = seed | 1
    func next(_ bound: Int) -> Int {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return Int(state % UInt64(bound))
    }
    let bodies = (0..<6).map { chineseParagraphs(seed: 500 + UInt64($0), characters: 260) }
    func body(_ base: Int, edit: Int) -> [String] {
        guard edit > 0 else { return bodies[base] }
        var paragraphs = bodies[base]
        var characters = Array(paragraphs[0])
        characters[3 + edit] = "变"
        paragraphs[0] = String(characters)
        return ["转载自新华网"] + paragraphs
    }
    var writesOut: [[Article]] = []
    var sent: [Article] = []
    for _ in 0..<writes {
        var write: [Article] = []
        for _ in 0..<(1 + next(3)) {
            let article: Article
            switch next(10) {
            case 0...1 where !sent.isEmpty:
                article = sent[next(sent.count)]  // the same page again (also a repeat within this write)
            case 2:
                article = makeArticle("short\(next(3))", day: 1 + next(3), paragraphs: ["天气晴。"])
            case 3:
                article = makeArticle("undated\(next(4))", day: nil, paragraphs: body(next(6), edit: next(3)))
            default:
                // 12 ids over 6 bodies with 3 variants each: new articles, updates, copies and copies of copies.
                article = makeArticle(
                    "a\(next(12))", title: "标题\(next(2))", day: 1 + next(12), paragraphs: body(next(6), edit: next(3)))
            }
            write.append(article)
            sent.append(article)
        }
        writesOut.append(write)
    }
    return writesOut
}

/// Everything stored, in id order (`duplicateOf` included).
func storedArticles(_ engine: NewswireEngine) throws -> [Article] {
    var all: [Article] = []
    var cursor: RecordCursor?
    repeat {
        let page = try engine.scan(order: .id, after: cursor, limit: 500)
        all += page.articles
        cursor = page.next
    } while cursor != nil
    return all
}

@Suite("GroupCommitter")
struct GroupCommitterTests {
    @Test(
        "grouped writes give exactly what applying them one at a time in queue order gives",
        arguments: [(UInt64(1), 1), (UInt64(2), 3), (UInt64(3), 8), (UInt64(4), 10_000)])
    func groupedEqualsSequential(seed: UInt64, maxBatchArticles: Int) async throws {
        let writes = groupCommitWorkload(seed: seed, writes: 60)

        // The oracle: one put per write, in order.
        let sequentialDirectory = TemporaryDirectory("sequential")
        let sequential = try NewswireEngine.open(dataDirectory: sequentialDirectory.path)
        defer { try? sequential.close() }
        let expected = try writes.map { try sequential.put($0) }
        let outcomes = expected.flatMap { $0 }
        // The stream must exercise what grouping could get wrong, or this test proves nothing.
        #expect(outcomes.contains { $0.outcome == .unchanged })
        #expect(outcomes.contains { $0.outcome == .updated })
        #expect(outcomes.filter { $0.duplicateOf != nil }.count >= 5)
        #expect(writes.contains { write in Set(write.map(\.id)).count < write.count }, "an id twice in one write")

        // Grouped: every write queued at once from one thread (so queue order is submission order).
        let groupedDirectory = TemporaryDirectory("grouped")
        let grouped = try NewswireEngine.open(dataDirectory: groupedDirectory.path)
        defer { try? grouped.close() }
        let committer = GroupCommitter(engine: grouped, maxBatchArticles: maxBatchArticles)
        let answers = Locked([Result<[PutOutcome], any Error>?](repeating: nil, count: writes.count))
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let remaining = Locked(writes.count)
            for (index, write) in writes.enumerated() {
                committer.submit(write) { result in
                    answers.withLock { $0[index] = result }
                    if remaining.withLock({ $0 -= 1; return $0 }) == 0 { done.resume() }
                }
            }
        }
        let actual = try answers.withLock { $0 }.map { try #require($0).get() }
        #expect(firstMismatch(actual.flatMap { $0 }, outcomes) == "none")
        #expect(actual.map(\.count) == expected.map(\.count))
        let (batches, answered) = committer.counters
        #expect(answered == writes.count)
        if maxBatchArticles > 1 { #expect(batches < writes.count, "writes were grouped") }

        // The same stream as one batch.
        let oneBatchDirectory = TemporaryDirectory("one-batch")
        let oneBatch = try NewswireEngine.open(dataDirectory: oneBatchDirectory.path)
        defer { try? oneBatch.close() }
        let flat = try oneBatch.put(writes.flatMap { $0 })
        #expect(firstMismatch(flat, outcomes) == "none")

        let oracleRecords = try storedArticles(sequential)
        #expect(try storedArticles(grouped) == oracleRecords)
        #expect(try storedArticles(oneBatch) == oracleRecords)
        #expect(try grouped.stats().duplicateCount == sequential.stats().duplicateCount)
        let queries = ["天气", "转载", "标题0", "标题1", "变"]
        let oracleResults = try results(sequential, queries)
        #expect(firstDifference(try results(grouped, queries), oracleResults, queries) == "none")
        #expect(firstDifference(try results(oneBatch, queries), oracleResults, queries) == "none")
    }

    /// Submits `writes` (each one new article) and returns the index's segment count each completion saw. The first
    /// write's completion holds the committer until every write is queued, so the writes wait behind each other
    /// however the machine schedules this loop and the committer's thread.
    static func segmentCountsSeen(submitting writes: [[Article]], to committer: GroupCommitter) async -> [Int] {
        let engine = committer.engine
        let observed = Locked<[Int]>([])
        let allQueued = DispatchSemaphore(value: 0)
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let remaining = Locked(writes.count)
            for (n, write) in writes.enumerated() {
                committer.submit(write) { result in
                    if n == 0 { allQueued.wait() }
                    #expect((try? result.get())?.map(\.outcome) == [.created])
                    observed.withLock { $0.append(engine.indexSegmentCount) }
                    if remaining.withLock({ $0 -= 1; return $0 }) == 0 { done.resume() }
                }
            }
            allQueued.signal()
        }
        return observed.withLock { $0 }
    }

    @Test(
        "while writes are queued, segment merges wait (at most twice the limit of segments); they run once the queue is empty"
    )
    func mergesWaitForTheQueue() async throws {
        let directory = TemporaryDirectory()
        let engine = try NewswireEngine.open(dataDirectory: directory.path)
        defer { try? engine.close() }
        // One article per commit, so every commit adds one segment.
        let committer = GroupCommitter(engine: engine, maxBatchArticles: 1)
        let writes = (0..<120).map { n in
            [makeArticle("m\(n)", day: 1 + n % 28, paragraphs: chineseParagraphs(seed: UInt64(3000 + n), characters: 80))]
        }
        let counts = await Self.segmentCountsSeen(submitting: writes, to: committer)
        // Merges start at the limit and run alongside the writes; past twice the limit a writer merges first.
        #expect(counts.max()! <= NewswireEngine.mergeBackpressureSegments, "segments seen by writers: \(counts)")
        #expect(counts.max()! >= 16, "merges were deferred while writes waited: \(counts)")
        // The last commit found the queue empty: its merge runs right after it answered.
        // Polled until it happens (bounded generously: a merge on a busy machine can take seconds).
        var settled = engine.indexSegmentCount
        let deadline = ContinuousClock.now + .seconds(60)
        while settled > 4, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(25))
            settled = engine.indexSegmentCount
        }
        #expect(settled <= 4, "segments after the queue emptied: \(settled)")
        #expect(try engine.stats().articleCount == writes.count)
        #expect(try engine.search(SearchRequest(text: "标题")).total == writes.count)
    }

    @Test("once writes have been quiet, the segments they left are folded together, and STATS says so")
    func quietWritesCompactTheIndex() async throws {
        let directory = TemporaryDirectory()
        let engine = try NewswireEngine.open(
            dataDirectory: directory.path, configuration: .init(compactionQuietPeriod: .milliseconds(200)))
        defer { try? engine.close() }
        // Writes each under half the one before: the merge policy alone leaves every one its own segment. Two
        // rounds: the first may be folded by the timer the engine arms when it opens, the second only by the one
        // its writes arm.
        var n = 0
        for (round, sizes) in [[64, 16, 4, 1], [24, 6, 1]].enumerated() {
            for size in sizes {
                _ = try engine.put((n..<(n + size)).map { k in
                    makeArticle(
                        "q\(k)", day: 1 + k % 28, paragraphs: chineseParagraphs(seed: UInt64(7000 + k), characters: 60))
                })
                n += size
            }
            // Polled until the quiet period has passed and the merge thread folded them (bounded generously).
            let deadline = ContinuousClock.now + .seconds(60)
            while engine.indexSegmentCount > 2 || engine.compactions.withLock({ $0 }) <= round,
                ContinuousClock.now < deadline
            {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(engine.compactions.withLock { $0 } >= round + 1, "round \(round)")
            // One segment when the writes came within the quiet period; the oldest and a folded tail when a slow
            // machine let a quiet period pass between them.
            #expect(engine.indexSegmentCount <= 2, "round \(round)")
            #expect(try engine.stats().indexSegments == engine.indexSegmentCount)
        }
        #expect(try engine.search(SearchRequest(text: "标题")).total == n)
    }

    @Test("a commit made without the group committer's maintenance still keeps the index from counting as quiet")
    func commitsWithoutMaintenanceDelayCompaction() throws {
        let directory = TemporaryDirectory()
        // No timer fires during the test: only what a commit tells the timer is looked at.
        let engine = try NewswireEngine.open(
            dataDirectory: directory.path, configuration: .init(compactionQuietPeriod: .seconds(3_600)))
        defer { try? engine.close() }
        func writesSeen() -> UInt64 { engine.compactionTimer.withLock { $0.writes } }
        let articles = (0..<3).map { k in
            makeArticle("m\(k)", day: 1 + k, paragraphs: chineseParagraphs(seed: UInt64(9100 + k), characters: 60))
        }
        // The group committer's path while its queue is not empty: prepared, committed, no maintenance.
        var before = writesSeen()
        _ = try engine.commit(engine.prepareWrite(articles))
        #expect(writesSeen() > before, "a batch commit counts as a write")
        before = writesSeen()
        _ = try engine.commit(engine.prepareWrite(articles))
        #expect(writesSeen() == before, "an unchanged re-put changes nothing and does not count")
        before = writesSeen()
        #expect(try engine.delete(ids: [articles[0].id]) == [true])
        #expect(writesSeen() > before, "a deletion counts as a write")
    }

    @Test("writes go on while a merge runs; a writer merges first only past twice the deferred limit")
    func writesGoOnWhileAMergeRuns() async throws {
        let directory = TemporaryDirectory()
        let engine = try NewswireEngine.open(dataDirectory: directory.path)
        defer { try? engine.close() }
        // The merge thread is held before its first pass until every write is answered.
        let mergeStarted = DispatchSemaphore(value: 0)
        let releaseMerge = DispatchSemaphore(value: 0)
        let held = Locked(true)
        engine.beforeScheduledMerge.withLock {
            $0 = {
                guard held.withLock({ $0 }) else { return }
                mergeStarted.signal()
                releaseMerge.wait()
            }
        }
        func release() {
            held.withLock { $0 = false }
            releaseMerge.signal()
        }
        let committer = GroupCommitter(engine: engine, maxBatchArticles: 1)
        let writes = (0..<100).map { n in
            [
                makeArticle(
                    "h\(n)", day: 1 + n % 28, paragraphs: chineseParagraphs(seed: UInt64(5000 + n), characters: 60))
            ]
        }
        let counts = await Self.segmentCountsSeen(submitting: writes, to: committer)
        // Scheduled once the deferred limit was reached (it may start late on a busy machine, never not at all).
        let mergeWasHeld = mergeStarted.wait(timeout: .now() + 60) == .success
        release()
        #expect(mergeWasHeld, "a merge was scheduled once the deferred limit was reached")
        // Merged on the committer's thread, no write would have seen more than the deferred limit.
        #expect(counts.max()! > GroupCommitter.deferredSegmentLimit, "segments seen by writers: \(counts)")
        #expect(counts.max()! <= NewswireEngine.mergeBackpressureSegments, "segments seen by writers: \(counts)")
        #expect(try engine.search(SearchRequest(text: "标题")).total == writes.count)
    }

    @Test("a commit pacer runs before each group commit, outside the write lock, and holds the commit until it returns")
    func pacerHoldsTheCommit() async throws {
        try await runBlocking {
            let directory = TemporaryDirectory()
            let engine = try NewswireEngine.open(dataDirectory: directory.path)
            defer { try? engine.close() }
            let entered = DispatchSemaphore(value: 0)
            let release = DispatchSemaphore(value: 0)
            let holding = Locked(true)
            engine.paceCommits {
                guard holding.withLock({ $0 }) else { return }
                entered.signal()
                release.wait()
            }
            let committer = GroupCommitter(engine: engine)
            let before = try engine.committedPosition()
            let done = DispatchSemaphore(value: 0)
            let outcome = Locked<[PutOutcome]?>(nil)
            committer.submit([makeArticle("paced", day: 1, paragraphs: chineseParagraphs(seed: 77, characters: 80))]) {
                outcome.withLock { [result = $0] in $0 = try? result.get() }
                done.signal()
            }
            entered.wait()
            // Held by the pacer: nothing committed yet, and the write lock is free (a direct put goes through).
            #expect(try engine.committedPosition() == before)
            #expect(outcome.withLock { $0 } == nil)
            holding.withLock { $0 = false }
            #expect(try engine.put([makeArticle("direct", day: 2, paragraphs: ["直接写入的文章正文。"])]).map(\.outcome) == [.created])
            release.signal()
            done.wait()
            #expect(outcome.withLock { $0 }?.map(\.outcome) == [.created])
            #expect(try engine.committedPosition() == before + 2)
        }
    }

    @Test("an id updated earlier in a batch is not matched through its superseded stored text")
    func supersededTextInBatch() throws {
        let body = chineseParagraphs(seed: 900, characters: 300)
        let other = chineseParagraphs(seed: 901, characters: 300)
        let writes: [[Article]] = [
            [makeArticle("w", day: 1, paragraphs: body)],
            [makeArticle("w", day: 1, paragraphs: other)],  // w no longer has `body`
            [makeArticle("copy", day: 2, paragraphs: body)],  // so this copies nothing stored
        ]
        let sequentialDirectory = TemporaryDirectory("sequential")
        let sequential = try NewswireEngine.open(dataDirectory: sequentialDirectory.path)
        defer { try? sequential.close() }
        let expected = try writes.flatMap { try sequential.put($0) }
        #expect(expected.map(\.duplicateOf) == [nil, nil, nil])
        #expect(expected.map(\.outcome) == [.created, .updated, .created])

        let groupedDirectory = TemporaryDirectory("grouped")
        let grouped = try NewswireEngine.open(dataDirectory: groupedDirectory.path)
        defer { try? grouped.close() }
        _ = try grouped.put(writes[0])
        #expect(try grouped.put(writes[1] + writes[2]) == Array(expected.dropFirst()))
    }

    @Test("a failing batch fails every write in it; closing with writes queued answers them all")
    func failuresReachEveryWaiter() async throws {
        let directory = TemporaryDirectory()
        let engine = try NewswireEngine.open(dataDirectory: directory.path)
        let committer = GroupCommitter(engine: engine)
        let writes = (0..<200).map { n in
            [makeArticle("q\(n)", day: 1 + n % 28, paragraphs: chineseParagraphs(seed: UInt64(2000 + n), characters: 80))]
        }
        // Close while writes are queued and committing: each is either acknowledged or told the engine closed.
        let acknowledged = try await withThrowingTaskGroup(of: ArticleID?.self) { group in
            for write in writes {
                group.addTask {
                    do {
                        let outcome = try await committer.put(write)
                        #expect(outcome.map(\.outcome) == [.created])
                        return write[0].id
                    } catch let error as EngineError {
                        #expect(error.code == .closed)
                        return nil
                    }
                }
            }
            group.addTask {
                try await Task.sleep(for: .milliseconds(20))
                try engine.close()
                return nil
            }
            var acknowledged: [ArticleID] = []
            for try await id in group { if let id { acknowledged.append(id) } }
            return acknowledged
        }
        // After close every write fails with `closed`, alone or grouped.
        let late = await withTaskGroup(of: EngineError.Code?.self) { group in
            for write in writes.prefix(20) {
                group.addTask {
                    do {
                        _ = try await committer.put(write)
                        return nil
                    } catch {
                        return (error as? EngineError)?.code
                    }
                }
            }
            return await group.reduce(into: [EngineError.Code?]()) { $0.append($1) }
        }
        #expect(late == Array(repeating: .closed, count: 20))
        #expect(try await committer.put([]) == [])

        // Every acknowledged write survived the close.
        let reopened = try NewswireEngine.open(dataDirectory: directory.path)
        defer { try? reopened.close() }
        let stored = Set(try storedArticles(reopened).map(\.id))
        #expect(Set(acknowledged).isSubset(of: stored))
        #expect(reopened.index.count == stored.count)
    }
}

/// The first position where two outcome lists differ, for a readable failure ("none" when equal).
func firstMismatch(_ actual: [PutOutcome], _ expected: [PutOutcome]) -> String {
    for (i, (a, e)) in zip(actual, expected).enumerated() where a != e { return "#\(i): \(a) instead of \(e)" }
    return actual.count == expected.count ? "none" : "\(actual.count) outcomes instead of \(expected.count)"
}

@Suite("Group committer: DELETE")
struct GroupCommitterDeleteTests {
    @Test("a DELETE of several ids commits as one transaction (one change-sequence step per id, one batch), in order with puts")
    func deleteIsOneBatch() async throws {
        let directory = TemporaryDirectory()
        let engine = try NewswireEngine.open(dataDirectory: directory.path)
        defer { try? engine.close() }
        let committer = GroupCommitter(engine: engine)
        let articles = (0..<5).map { makeArticle("del\($0)", day: 1 + $0, paragraphs: chineseParagraphs(seed: UInt64(7000 + $0), characters: 60)) }
        _ = try await committer.put(articles)
        let before = committer.counters.batches
        let sequenceBefore = try engine.stats().storeSequence
        let existed = try await committer.delete([ArticleID("del1"), ArticleID("nope"), ArticleID("del3"), ArticleID("del1")])
        #expect(existed == [true, false, true, false])
        #expect(committer.counters.batches == before + 1)
        #expect(try engine.stats().storeSequence == sequenceBefore + 2)
        #expect(try engine.article(id: ArticleID("del1")) == nil)
        #expect(try engine.article(id: ArticleID("del0")) != nil)
        #expect(try engine.search(SearchRequest(text: articles[3].title)).hits.allSatisfy { $0.id != ArticleID("del3") })
    }
}

/// A SQLite store whose commits a test can hold and fail: the upsert holding a `gated` id waits for `gate`
/// (after signalling `entered`); the one holding a `failing` id waits until `failWhen` holds, then fails.
final class ScriptedFailureStore: ForwardingArticleStore, @unchecked Sendable {
    struct InjectedFailure: Error {}
    let base: SQLiteArticleStore
    let gated: ArticleID
    let failing: ArticleID
    let entered = DispatchSemaphore(value: 0)
    let gate = DispatchSemaphore(value: 0)
    let failWhen: @Sendable () -> Bool
    /// Fails once; later commits of the same id succeed.
    private let armed = Locked(true)
    /// Whether `failWhen` held when the failure was thrown (the interleaving the test asks for happened).
    let failedWhenReady = Locked(false)

    init(directory: String, gated: ArticleID, failing: ArticleID, failWhen: @escaping @Sendable () -> Bool) throws {
        base = try SQLiteArticleStore(directory: directory)
        self.gated = gated
        self.failing = failing
        self.failWhen = failWhen
    }

    func upsert(_ articles: [Article]) throws -> [UpsertOutcome] {
        if articles.contains(where: { $0.id == gated }) {
            entered.signal()
            gate.wait()
        }
        if articles.contains(where: { $0.id == failing }), armed.withLock({ armed in defer { armed = false }; return armed }) {
            // Bounded, so a committer that never takes the next batch fails the test instead of hanging it.
            let deadline = Date().addingTimeInterval(60)
            while !failWhen() && Date() < deadline { usleep(200) }
            failedWhenReady.withLock { $0 = failWhen() }
            throw InjectedFailure()
        }
        return try base.upsert(articles)
    }
}

@Suite("Group committer: pipelined batches")
struct GroupCommitterPipelineTests {
    @Test("a commit that fails while the next batch is being prepared fails only its writes; the next commits as if it never ran")
    func failureWhileTheNextBatchIsPrepared() async throws {
        try await runBlocking {
            let directory = TemporaryDirectory()
            let text = chineseParagraphs(seed: 4242, characters: 300)
            let warmUp = makeArticle("pipe-warm", day: 1, paragraphs: chineseParagraphs(seed: 4243, characters: 200))
            let failed = makeArticle("pipe-failed", day: 2, paragraphs: text)
            let copy = makeArticle("pipe-copy", day: 3, paragraphs: ["转载自新华网"] + text)
            let committerBox = Locked<GroupCommitter?>(nil)
            // Fail the commit only once the next batch has been taken to be prepared (the third batch).
            let store = try ScriptedFailureStore(
                directory: directory.path, gated: warmUp.id, failing: failed.id,
                failWhen: { (committerBox.withLock { $0 }?.counters.batches ?? 0) >= 3 })
            let engine = try NewswireEngine(store: store, indexSnapshotPath: nil)
            defer { try? engine.close() }
            let committer = GroupCommitter(engine: engine, maxBatchArticles: 1)
            committerBox.withLock { $0 = committer }

            let answers = Locked<[ArticleID: Result<[PutOutcome], any Error>]>([:])
            let done = DispatchGroup()
            func submit(_ article: Article) {
                done.enter()
                committer.submit([article]) { result in
                    answers.withLock { $0[article.id] = result }
                    done.leave()
                }
            }
            // Hold the first commit so the next two writes queue behind it as two batches.
            submit(warmUp)
            store.entered.wait()
            submit(failed)
            submit(copy)
            store.gate.signal()
            done.wait()

            #expect(store.failedWhenReady.withLock { $0 }, "the next batch was taken while the failing one committed")
            let results = answers.withLock { $0 }
            #expect(throws: (any Error).self) { try results[failed.id]!.get() }
            #expect(try results[warmUp.id]!.get().map(\.outcome) == [.created])
            // The copy's verdict is decided at its own commit, after the failure: its original never existed.
            let copyOutcome = try #require(try results[copy.id]!.get().first)
            #expect(copyOutcome.outcome == .created)
            #expect(copyOutcome.duplicateOf == nil)
            #expect(committer.counters.batches == 3)

            // Store and index agree: the failed write is in neither.
            #expect(try engine.article(id: failed.id) == nil)
            #expect(try storedArticles(engine).map(\.id) == [copy.id, warmUp.id].sorted())
            #expect(engine.index.count == 2)
            let hits = try engine.search(SearchRequest(text: String(text[0].prefix(6)), limit: 10)).hits
            #expect(hits.map(\.id) == [copy.id])

            // Written again, it commits, and is now the copy's copy (the copy is its earliest indexed original).
            let again = try engine.put([failed])
            #expect(again.map(\.outcome) == [.created])
            #expect(again[0].duplicateOf == copy.id)
        }
    }
}
