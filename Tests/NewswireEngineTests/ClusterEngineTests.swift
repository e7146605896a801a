import Foundation
import NewswireModel
import NewswirePostgres
import NewswireSearch
import NewswireStore
import NewswireTestSupport
import Testing

@testable import NewswireEngine

#if canImport(Glibc)
    import Glibc
#endif

/// Cluster mode: several engines (nodes) over one PostgreSQL, each index kept in step from the change feed.
@Suite(
    "Cluster engines over PostgreSQL", .serialized,
    .enabled(if: TemporaryPostgres.isAvailable, "skipped: \(TemporaryPostgres.unavailableReason ?? "")"))
struct ClusterEngineTests {
    /// A node: its own data directory (index snapshot) and its own connections to the shared database.
    final class Node: @unchecked Sendable {
        let directory = TemporaryDirectory("node")
        let url: String
        var engine: NewswireEngine

        init(url: String) throws {
            self.url = url
            engine = try Self.open(url: url, directory: self.directory.path)
        }

        static func open(url: String, directory: String) throws -> NewswireEngine {
            try NewswireEngine.open(store: PostgresArticleStore(url: url), dataDirectory: directory)
        }

        func restart() throws {
            try engine.close()
            engine = try Self.open(url: url, directory: directory.path)
        }

        deinit { try? engine.close() }
    }

    /// A node that reads the feed only when told (``NewswireEngine/catchUp()``): no notifications, and a poll
    /// interval longer than any test.
    static func quietNode(
        url: String, directory: TemporaryDirectory, compactionQuietPeriod: Duration? = .seconds(1)
    ) throws -> NewswireEngine {
        try NewswireEngine.open(
            store: PostgresArticleStore(
                url: PostgresStoreURL(parsing: url), configuration: .init(listensForChanges: false)),
            dataDirectory: directory.path,
            configuration: .init(followPollInterval: .seconds(3_600), compactionQuietPeriod: compactionQuietPeriod))
    }

    /// The ids each of a few searches finds, plus every live id (what a user could tell apart between nodes).
    static func answers(_ engine: NewswireEngine, queries: [String]) throws -> [String: Set<ArticleID>] {
        var result: [String: Set<ArticleID>] = [:]
        for query in queries {
            result[query] = Set(try engine.search(SearchRequest(text: query, limit: 1_000)).hits.map(\.id))
        }
        return result
    }

    /// Digits spelled as letters a–j, so a marker is one Latin word to the analyzer.
    static func letters(_ n: Int) -> String {
        String(String(n).unicodeScalars.map { Character(Unicode.Scalar($0.value + 49)!) })
    }

    /// `zq<n>w<writer>v<version>` in letters: unique to one version of one article.
    static func marker(_ n: Int, writer: Int, version: Int) -> String {
        "zq\(letters(n))w\(letters(writer))v\(letters(version))"
    }

    static func article(_ n: Int, writer: Int, version: Int) -> Article {
        let marker = marker(n, writer: writer, version: version)
        return Article(
            id: ArticleID("c\(n)"), url: "https://example.com/c\(n)", title: "集群 \(marker) 第\(n)篇",
            publishedAt: PublishedTime(year: 2024, month: 5, day: 1 + n % 28, utcOffsetSeconds: 28_800),
            source: "测试源", paragraphs: chineseParagraphs(seed: UInt64(n * 31 + version), characters: 120) + [marker],
            language: "zh")
    }

    @Test("three nodes answer the same id sets after a concurrent mixed write load on all of them")
    func threeNodesConverge() async throws {
        try await runBlocking {
            let url = try SharedTestPostgres.freshDatabaseURL()
            let nodes = try (0..<3).map { _ in try Node(url: url) }
            let failures = Locked<[String]>([])
            DispatchQueue.concurrentPerform(iterations: 3) { w in
                let node = nodes[w]
                let committer = GroupCommitter(engine: node.engine)
                var random = SplitMix64(seed: UInt64(100 + w))
                do {
                    for step in 0..<40 {
                        let n = random.next(below: 60)
                        switch random.next(below: 6) {
                        case 0: _ = try node.engine.delete(id: ArticleID("c\(n)"))
                        case 1, 2:
                            // Concurrent grouped writes, as the server sends them.
                            let batch = (0..<3).map { k in Self.article((n + k) % 60, writer: w, version: step) }
                            let done = DispatchSemaphore(value: 0)
                            let outcome = Locked<String?>(nil)
                            committer.submit(batch) { result in
                                if case .failure(let error) = result { outcome.withLock { $0 = "\(error)" } }
                                done.signal()
                            }
                            done.wait()
                            if let error = outcome.withLock({ $0 }) { throw EngineError(.invalidArgument, error) }
                        default: _ = try node.engine.put([Self.article(n, writer: w, version: step)])
                        }
                    }
                } catch {
                    failures.withLock { $0.append("node \(w): \(error)") }
                }
            }
            #expect(failures.withLock { $0 } == [])
            let head = try nodes[0].engine.latestPosition()
            for node in nodes {
                #expect(try node.engine.waitUntilApplied(head, timeout: .seconds(60)), "node catches up to \(head)")
            }
            // The truth: the store's live set.
            var live: Set<ArticleID> = []
            var cursor: RecordCursor?
            repeat {
                let page = try nodes[0].engine.scan(order: .id, after: cursor, limit: 1_000)
                live.formUnion(page.articles.map(\.id))
                cursor = page.next
            } while cursor != nil
            // Every article, some by number, and the markers of the versions the writers wrote last.
            var queries = ["集群", "第1篇", "第17篇", "第42篇"]
            for w in 0..<3 { for n in stride(from: 0, to: 60, by: 7) { queries.append(Self.marker(n, writer: w, version: 39)) } }
            queries += (0..<60).map { Self.marker($0, writer: 1, version: 20) }
            let first = try Self.answers(nodes[0].engine, queries: Array(queries))
            #expect(first["集群"] == live, "a search every article matches finds exactly the live set")
            #expect(first.values.filter { !$0.isEmpty }.count >= 4, "the marker searches find something")
            for (n, node) in nodes.enumerated().dropFirst() {
                #expect(try Self.answers(node.engine, queries: Array(queries)) == first, "node \(n) answers like node 0")
                #expect(node.engine.indexedCount == live.count)
            }
        }
    }

    @Test("a near-duplicate verdict does not depend on which node took the write")
    func verdictsAreNodeIndependent() async throws {
        try await runBlocking {
            let url = try SharedTestPostgres.freshDatabaseURL()
            let a = try Node(url: url)
            let b = try Node(url: url)
            let body = chineseParagraphs(seed: 7, characters: 400)
            let original = makeArticle("orig", day: 1, paragraphs: body)
            let copy = makeArticle("copy", day: 2, paragraphs: ["转载自新华网"] + body)
            // The copy goes to node B right after node A acknowledged the original: B decides against a state that
            // holds it even if B's follower has not woken yet (the write catches up under the store's write lock).
            #expect(try a.engine.put([original]).map(\.duplicateOf) == [nil])
            #expect(try b.engine.put([copy]).map(\.duplicateOf) == ["orig"])
            // And the same pair on a single node gives the same verdicts.
            let single = TemporaryDirectory()
            let engine = try NewswireEngine.open(dataDirectory: single.path)
            defer { try? engine.close() }
            #expect(try engine.put([original, copy]).map(\.duplicateOf) == [nil, "orig"])
            #expect(try a.engine.waitUntilApplied(try b.engine.latestPosition(), timeout: .seconds(30)))
            #expect(try a.engine.stats().duplicateCount == 1)
        }
    }

    @Test("applying the feed is idempotent and ordered: a replay, and a delete after an upsert, give the store's state")
    func idempotentApply() async throws {
        try await runBlocking {
            let url = try SharedTestPostgres.freshDatabaseURL()
            let writer = try Node(url: url)
            _ = try writer.engine.put((0..<20).map { Self.article($0, writer: 0, version: 0) })
            _ = try writer.engine.put([Self.article(3, writer: 0, version: 1)])
            #expect(try writer.engine.delete(id: "c5"))
            let feed = try writer.engine.store.changes(since: 0, limit: 1_000)
            let reader = try Node(url: url)
            let head = try writer.engine.latestPosition()
            #expect(try reader.engine.waitUntilApplied(head, timeout: .seconds(30)))
            let queries = ["集群", "zqdwavb", "zqdwava", "zqfwava", "zqgwava"]
            let before = try Self.answers(reader.engine, queries: queries)
            #expect(before["zqdwavb"] == ["c3"] && before["zqdwava"] == [] && before["zqfwava"] == [])
            #expect(before["zqgwava"] == ["c6"] && before["集群"]?.count == 19)
            // The whole feed again, then an upsert of c5 followed by its delete (the order the feed gives them).
            reader.engine.applyFeed(feed)
            reader.engine.applyFeed([
                StoreChange(sequence: 1, id: "c5", article: Self.article(5, writer: 0, version: 0)),
                StoreChange(sequence: head, id: "c5", article: nil),
            ])
            #expect(try Self.answers(reader.engine, queries: queries) == before)
            #expect(reader.engine.indexedCount == 19)
            #expect(try reader.engine.stats().duplicateCount == (try writer.engine.stats().duplicateCount))
        }
    }

    @Test("the follower's page, read before this node's own write applied it and wrote past it, installs nothing stale")
    func followerPageOvertakenByOwnWrite() async throws {
        // Node B only follows when told.
        try await runBlocking { try Self.withQuietFollower { b, a, _ in
            _ = try a.engine.put((0..<10).map { Self.article($0, writer: 0, version: 0) })
            // B's follower reads and prepares the page holding c3 version 0; before it installs it, B itself
            // writes c3 version 1 (applying the whole page first, inside the store's write lock) and deletes c4.
            let interleaved = Locked(0)
            b.beforeFollowerInstall.withLock { hook in
                hook = {
                    guard interleaved.withLock({ count in
                        count += 1
                        return count == 1
                    }) else { return }
                    _ = try! b.put([Self.article(3, writer: 1, version: 1)])
                    _ = try! b.delete(id: "c4")
                }
            }
            let reached = try b.catchUp()
            #expect(interleaved.withLock { $0 } == 1)
            #expect(reached == (try a.engine.latestPosition()))
            let answers = try Self.answers(b, queries: ["集群", "zqdwbvb", "zqdwava", "zqewava"])
            #expect(answers["zqdwbvb"] == ["c3"], "B's own later version stays")
            #expect(answers["zqdwava"] == [], "the page's older version of c3 was not installed over it")
            #expect(answers["zqewava"] == [], "the deleted c4 did not come back")
            #expect(answers["集群"]?.count == 9)
            // Node A, which followed normally, ends with the same answers.
            #expect(try a.engine.waitUntilApplied(reached, timeout: .seconds(30)))
            #expect(try Self.answers(a.engine, queries: ["集群", "zqdwbvb", "zqdwava", "zqewava"]) == answers)
            #expect(try b.stats().duplicateCount == (try a.engine.stats().duplicateCount))
        } }
    }

    @Test("reads waiting for a feed position hold no thread: more than the pool has wait on a node behind, all answer once it applies the position, one past the head times out")
    func readsWaitForAPositionWithoutAThread() async throws {
        let url = try await runBlocking { try SharedTestPostgres.freshDatabaseURL() }
        let directory = TemporaryDirectory("waiting-reads")
        let follower = try Self.quietNode(url: url, directory: directory)
        defer { try? follower.close() }
        let writer = try Node(url: url)
        _ = try await runBlocking { try writer.engine.put((0..<5).map { Self.article($0, writer: 1, version: 1) }) }
        let head = try writer.engine.latestPosition()
        // The catch-up the first waiting read starts (a quiet node hears no notifications) stops before it
        // installs anything until every read waits; then it stays open.
        let gate = DispatchSemaphore(value: 0)
        follower.beforeFollowerInstall.withLock { hook in
            hook = {
                gate.wait()
                gate.signal()
            }
        }
        let readers = 64
        let answers = await withTaskGroup(of: Bool.self) { group -> [Bool] in
            for _ in 0..<readers { group.addTask { await follower.applied(atLeast: head, within: .seconds(600)) } }
            // This loop runs on the cooperative pool, which has far fewer threads than readers: it gets here only
            // because waiting holds none.
            while follower.readsWaitingForFeed < readers { await Task.yield() }
            #expect(follower.appliedSequence < head)
            gate.signal()
            var answers: [Bool] = []
            for await answer in group { answers.append(answer) }
            return answers
        }
        #expect(answers == Array(repeating: true, count: readers))
        #expect(follower.appliedSequence == head)
        #expect(follower.readsWaitingForFeed == 0)
        #expect(try follower.search(SearchRequest(text: "集群", limit: 10)).total == 5)
        // A position past the head is not reached: the read answers false once its time is up, and leaves nothing.
        #expect(await follower.applied(atLeast: head + 1_000, within: .milliseconds(20)) == false)
        #expect(follower.readsWaitingForFeed == 0)
        // Closing the engine answers a read still waiting at once (false), not at its timeout.
        let waiting = Task { await follower.applied(atLeast: head + 1_000, within: .seconds(600)) }
        while follower.readsWaitingForFeed < 1 { await Task.yield() }
        try follower.close()
        #expect(await waiting.value == false)
        #expect(await follower.applied(atLeast: head + 1_000, within: .seconds(600)) == false)
    }

    @Test("a cluster node prepares write batches on one thread unless configured otherwise; a single node on every core")
    func writePreparationCores() async throws {
        try await runBlocking {
            let url = try SharedTestPostgres.freshDatabaseURL()
            let node = try Node(url: url)
            #expect(!node.engine.preparesWritesOnEveryCore)
            let directory = TemporaryDirectory("every-core")
            let configured = try NewswireEngine.open(
                store: PostgresArticleStore(url: url), dataDirectory: directory.path,
                configuration: .init(preparesWritesOnEveryCore: true))
            defer { try? configured.close() }
            #expect(configured.preparesWritesOnEveryCore)
            // Both ways give the same index: a batch large enough to be prepared on several threads.
            _ = try configured.put((0..<80).map { Self.article($0, writer: 1, version: 1) })
            #expect(try node.engine.waitUntilApplied(try configured.latestPosition(), timeout: .seconds(30)))
            _ = try node.engine.put((80..<160).map { Self.article($0, writer: 2, version: 1) })
            #expect(try configured.waitUntilApplied(try node.engine.latestPosition(), timeout: .seconds(30)))
            let queries = ["集群", Self.marker(5, writer: 1, version: 1), Self.marker(100, writer: 2, version: 1)]
            #expect(try Self.answers(node.engine, queries: queries) == (try Self.answers(configured, queries: queries)))
            #expect(try Self.answers(node.engine, queries: ["集群"])["集群"]?.count == 160)
        }
        let single = TemporaryDirectory("single-node")
        let engine = try NewswireEngine.open(dataDirectory: single.path)
        defer { try? engine.close() }
        #expect(engine.preparesWritesOnEveryCore)
    }

    @Test("a cluster node builds its merges at a lower priority unless configured otherwise; a single node at its own")
    func mergePriority() async throws {
        let own = Self.threadNiceness()
        try await runBlocking {
            let url = try SharedTestPostgres.freshDatabaseURL()
            let node = try Node(url: url)
            #expect(node.engine.mergesAtLowPriority)
            #if os(Linux)
                let lowered = min(19, own + NewswireEngine.lowPriorityMergeNiceness)
                #expect(Self.nicenessDuringScheduledMerge(of: node.engine) == lowered)
            #endif
            let directory = TemporaryDirectory("normal-merges")
            let configured = try NewswireEngine.open(
                store: PostgresArticleStore(url: url), dataDirectory: directory.path,
                configuration: .init(mergesAtLowPriority: false))
            defer { try? configured.close() }
            #expect(!configured.mergesAtLowPriority)
            #expect(Self.nicenessDuringScheduledMerge(of: configured) == own)
        }
        let single = TemporaryDirectory("single-node")
        let engine = try NewswireEngine.open(dataDirectory: single.path)
        defer { try? engine.close() }
        #expect(!engine.mergesAtLowPriority)
        #expect(Self.nicenessDuringScheduledMerge(of: engine) == own)
    }

    /// The nice value of the thread a merge pass scheduled now runs on (nil when none ran within a minute). Two
    /// segments of one article each are installed first, so that the pass has a merge to build (a pass with
    /// nothing to merge starts no thread).
    static func nicenessDuringScheduledMerge(of engine: NewswireEngine) -> Int32? {
        for n in 0..<2 {
            engine.index.install(engine.index.prepare(contentsOf: [article(90_000 + n, writer: 9, version: 1)]))
        }
        #expect(engine.index.hasMergeDue)
        let seen = Locked<Int32?>(nil)
        let ran = DispatchSemaphore(value: 0)
        engine.beforeScheduledMerge.withLock {
            $0 = {
                seen.withLock { $0 = threadNiceness() }
                ran.signal()
            }
        }
        defer { engine.beforeScheduledMerge.withLock { $0 = nil } }
        engine.scheduleMerge()
        guard ran.wait(timeout: .now() + 60) == .success else { return nil }
        return seen.withLock { $0 }
    }

    /// The calling thread's nice value (per thread on Linux).
    static func threadNiceness() -> Int32 {
        #if os(Linux)
            return getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        #else
            return getpriority(PRIO_PROCESS, 0)
        #endif
    }

    @Test("a node woken by the notifications of its own commits does not read its own writes back from the feed")
    func writerDoesNotReadItsOwnWritesBack() async throws {
        try await runBlocking {
            let url = try SharedTestPostgres.freshDatabaseURL()
            // No poll timeout during the test: every feed read the writer makes is one a notification caused.
            let directory = TemporaryDirectory("writer")
            let writer = try NewswireEngine.open(
                store: PostgresArticleStore(url: url), dataDirectory: directory.path,
                configuration: .init(followPollInterval: .seconds(3_600)))
            defer { try? writer.close() }
            let shared = try #require(writer.store as? any SharedArticleStore)
            let deadline = ContinuousClock.now + .seconds(30)
            while shared.announcedSequence == nil, ContinuousClock.now < deadline { usleep(1_000) }
            try #require(shared.announcedSequence != nil, "the writer's change listener connected")
            let readsBefore = writer.feedPagesRead.withLock { $0 }
            for batch in 0..<5 {
                _ = try writer.put((0..<20).map { Self.article(batch * 20 + $0, writer: 1, version: 1) })
                // The notification of this commit reached the writer (its follower woke for it).
                let position = writer.appliedSequence
                while (shared.announcedSequence ?? 0) < position, ContinuousClock.now < deadline { usleep(1_000) }
                #expect((shared.announcedSequence ?? 0) >= position)
            }
            // Another node's write: the writer's follower reads the feed once for it. Notifications arrive and are
            // handled in commit order, so by then it has handled every wake-up of its own commits.
            let other = try Node(url: url)
            _ = try other.engine.put([Self.article(500, writer: 2, version: 1)])
            let head = try other.engine.latestPosition()
            while writer.appliedSequence < head, ContinuousClock.now < deadline { usleep(1_000) }
            #expect(writer.appliedSequence == head)
            #expect(writer.feedPagesRead.withLock { $0 } - readsBefore == 1)
            #expect(try Self.answers(writer, queries: ["集群"])["集群"]?.count == 101)
        }
    }

    @Test("the writer's near-duplicate features travel with the record; missing or stale ones are recomputed")
    func storedFeaturesTravelWithTheRecord() async throws {
        try await runBlocking {
            let url = try SharedTestPostgres.freshDatabaseURL()
            let writer = try Node(url: url)
            let body = chineseParagraphs(seed: 11, characters: 400)
            let original = makeArticle("feat-orig", day: 1, paragraphs: body)
            _ = try writer.engine.put([original])
            let store = try PostgresArticleStore(url: url)
            defer { try? store.close() }
            let written = try #require(try store.changes(since: 0, limit: 10).first)
            let stored = try #require(written.article)
            let computed = NewswireEngine.entry(for: stored, features: TextFeatures(body: stored.body))
            #expect(StoredDuplicateFeatures.entry(for: stored, from: written.derivedData) == computed)
            // A writer that stores no features (a plain upsert, or an older node) over the same id: the feed has
            // none, and a stale copy is never used for another version of the article.
            var edited = stored
            edited.paragraphs = ["改写：" + body[0]] + body.dropFirst()
            #expect(StoredDuplicateFeatures.entry(for: edited, from: written.derivedData) == nil)
            _ = try store.upsert([edited])
            let rewritten = try #require(try store.changes(since: written.sequence, limit: 10).first)
            #expect(rewritten.derivedData == nil)
            let recomputed = NewswireEngine.duplicateEntry(for: rewritten)
            #expect(recomputed?.fingerprint == TextFeatures(body: edited.body).fingerprint)
            // A follower that applied both decides a copy exactly as the writer does.
            let follower = try Node(url: url)
            let copy = makeArticle("feat-copy", day: 2, paragraphs: ["转载"] + edited.paragraphs)
            #expect(try follower.engine.put([copy]).map(\.duplicateOf) == ["feat-orig"])
            // Another format, or truncated bytes, are not read.
            let bytes = try #require(written.derivedData)
            #expect(StoredDuplicateFeatures.entry(for: stored, from: [0xFF] + bytes.dropFirst()) == nil)
            let featureLength = 18 + 4 * Int(bytes[17])
            #expect(StoredDuplicateFeatures.entry(for: stored, from: Array(bytes.prefix(featureLength - 1))) == nil)
        }
    }

    /// A fresh database with a follower that reads the feed only when told (so it reads every batch written before
    /// in one page), a writing node, and the store itself (for writes that ship no analysis).
    static func withQuietFollower(
        _ body: (_ follower: NewswireEngine, _ writer: Node, _ store: PostgresArticleStore) throws -> Void
    ) throws {
        let url = try SharedTestPostgres.freshDatabaseURL()
        let directory = TemporaryDirectory("quiet-follower")
        let follower = try quietNode(url: url, directory: directory)
        defer { try? follower.close() }
        let writer = try Node(url: url)
        let store = try PostgresArticleStore(url: url)
        defer { try? store.close() }
        try body(follower, writer, store)
    }

    @Test("a follower installs a whole batch from its writer's shipped analysis, analyses anything else, and answers as the writer and a single node do")
    func followerInstallsShippedAnalysis() async throws {
        try await runBlocking { try Self.withQuietFollower { follower, writer, store in
            // Shipped: one engine batch of 40.
            let shippedBatch = (0..<40).map { Self.article($0, writer: 1, version: 1) }
            _ = try writer.engine.put(shippedBatch)
            // Not shipped: a batch stored by a writer that ships nothing (an older node, a plain store upsert).
            _ = try store.upsert((40..<50).map { Self.article($0, writer: 2, version: 1) })
            // Shipped but broken up since: one of its records rewritten later (its position moved), so the rest of
            // the batch is no longer whole at consecutive positions and is analysed.
            _ = try writer.engine.put((50..<70).map { Self.article($0, writer: 1, version: 1) })
            _ = try store.upsert([Self.article(55, writer: 2, version: 2)])
            // A batch that names an id twice ships nothing (the segment keeps the last copy only).
            _ = try writer.engine.put([Self.article(70, writer: 1, version: 1), Self.article(70, writer: 1, version: 2)])

            #expect(try follower.catchUp() == (try writer.engine.latestPosition()))
            #expect(follower.indexedCount == 71)
            #expect(try follower.stats().shippedArticles == 40)
            var queries = ["集群", "第", ""] + (0..<71).map { Self.marker($0, writer: 1, version: 1) }
            queries += [Self.marker(55, writer: 2, version: 2), Self.marker(70, writer: 1, version: 2)]
            queries += (40..<50).map { Self.marker($0, writer: 2, version: 1) }
            let single = SearchIndex()
            for article in try store.changes(since: 0, limit: 1_000).compactMap(\.article) { single.upsert(article) }
            // Whole pages (scores, snippets, totals) as an index that analysed the feed's articles itself; the
            // writer still counts the replaced copies it holds in its statistics, so against it the id sets.
            for text in queries {
                for sort in [SearchSort.relevance, .newest] {
                    let request = SearchRequest(text: text, sort: sort, limit: 100, includeSnippets: true)
                    var (a, c) = (try follower.search(request), try single.search(request))
                    (a.tookMicros, c.tookMicros) = (0, 0)
                    #expect(a == c, "\(text): follower and a single index differ")
                }
            }
            #expect(try Self.answers(follower, queries: queries) == Self.answers(writer.engine, queries: queries))

            // The shipped analysis is used only for records exactly as analysed: a page whose record differs from
            // it (another title under the same content hash check) is analysed instead.
            let feed = try store.changes(since: 0, limit: 40)
            let pieces = feed.map { StoredDuplicateFeatures.analysisPiece(in: $0.derivedData) }
            #expect(pieces.map { $0?.index } == Array(0..<40))
            #expect(pieces.allSatisfy { $0?.count == 40 })
            let before = follower.shippedDocuments.withLock { $0 }
            #expect(follower.prepareFeedPage(feed)?.segments.count == 1)
            #expect(follower.shippedDocuments.withLock { $0 } == before + 40)
            var altered = feed
            altered[7].article?.title += "（改）"
            let fallback = try #require(follower.prepareFeedPage(altered))
            #expect(fallback.segments.map(\.count) == [40], "analysed as one segment")
            #expect(follower.shippedDocuments.withLock { $0 } == before + 40)
            // A record whose piece is missing (rewritten by a node that ships none), or a damaged piece: analysed.
            var stripped = feed
            stripped[12].derivedData = stripped[12].derivedData.map { Array($0.prefix(18 + 4 * Int($0[17]))) }
            #expect(try #require(follower.prepareFeedPage(stripped)).segments.map(\.count) == [40])
            var damaged = feed
            damaged[20].derivedData![damaged[20].derivedData!.count - 1] ^= 0x01
            #expect(try #require(follower.prepareFeedPage(damaged)).segments.map(\.count) == [40])
            #expect(follower.shippedDocuments.withLock { $0 } == before + 40)
            // Part of a batch at the start of a page: analysed, never installed from the shipped analysis.
            _ = follower.prepareFeedPage(Array(feed.prefix(30)))
            #expect(follower.shippedDocuments.withLock { $0 } == before + 40)

            // A full page that ends inside a shipped batch ends before it, so the batch is read whole next.
            let notShipped = try store.changes(since: 40, limit: 10)
            #expect(NewswireEngine.startOfCutBatch(in: notShipped + feed.prefix(30)) == 10)
            #expect(NewswireEngine.startOfCutBatch(in: Array(feed.prefix(30))) == nil)
            #expect(NewswireEngine.startOfCutBatch(in: notShipped + feed) == nil)
        } }
    }

    @Test("a follower makes each writer batch of a feed page searchable before it prepares the next")
    func followerInstallsBatchByBatch() async throws {
        try await runBlocking { try Self.withQuietFollower { follower, writer, store in
            // Two shipped batches, then changes stored without an analysis, all read in one page.
            _ = try writer.engine.put((0..<20).map { Self.article($0, writer: 1, version: 1) })
            let endOfFirst = try writer.engine.latestPosition()
            _ = try writer.engine.put((20..<45).map { Self.article($0, writer: 1, version: 1) })
            let endOfSecond = try writer.engine.latestPosition()
            _ = try store.upsert((45..<50).map { Self.article($0, writer: 2, version: 1) })
            let page = try store.changes(since: 0, limit: 1_000)
            #expect(NewswireEngine.batchPieces(of: page) == [0..<20, 20..<45, 45..<50])
            #expect(NewswireEngine.batchPieces(of: Array(page[5...])) == [0..<15, 15..<40, 40..<45])
            #expect(NewswireEngine.batchPieces(of: Array(page[25...])) == [0..<25], "no batch starts in it")
            // What the follower holds each time it is about to install a piece of the page.
            let seen = Locked<[(applied: UInt64, firstBatchFound: Int)]>([])
            follower.beforeFollowerInstall.withLock { hook in
                hook = {
                    let found = (try? follower.search(SearchRequest(text: "集群", limit: 100)).total) ?? -1
                    seen.withLock { $0.append((follower.appliedSequence, found)) }
                }
            }
            #expect(try follower.catchUp() == (try writer.engine.latestPosition()))
            let steps = seen.withLock { $0 }
            #expect(steps.map(\.applied) == [0, endOfFirst, endOfSecond])
            #expect(steps.map(\.firstBatchFound) == [0, 20, 45])
            #expect(follower.indexedCount == 50)
            #expect(try follower.stats().shippedArticles == 45)
        } }
    }

    @Test("a follower behind by several announced writer batches reads each as a page of its own, and ends in step")
    func followerReadsAnnouncedBatchesOneByOne() async throws {
        try await runBlocking {
            let url = try SharedTestPostgres.freshDatabaseURL()
            let writer = try Node(url: url)
            let directory = TemporaryDirectory("announced-pages")
            let follower = try NewswireEngine.open(store: PostgresArticleStore(url: url), dataDirectory: directory.path)
            defer { try? follower.close() }
            let followerStore = try #require(follower.store as? PostgresArticleStore)
            // Held before installing the first batch, until two more batches are committed and announced to it.
            let holding = DispatchSemaphore(value: 0)
            let release = DispatchSemaphore(value: 0)
            let installs = Locked<[(applied: UInt64, pagesRead: UInt64)]>([])
            follower.beforeFollowerInstall.withLock { hook in
                hook = {
                    let count = installs.withLock { steps -> Int in
                        steps.append((follower.appliedSequence, follower.feedPagesRead.withLock { $0 }))
                        return steps.count
                    }
                    if count == 1 {
                        holding.signal()
                        release.wait()
                    }
                }
            }
            let size = NewswireEngine.followMinimumCutPage + 44
            _ = try writer.engine.put((0..<size).map { Self.article($0, writer: 1, version: 1) })
            let endOfFirst = try writer.engine.latestPosition()
            holding.wait()
            _ = try writer.engine.put((size..<2 * size).map { Self.article($0, writer: 1, version: 1) })
            let endOfSecond = try writer.engine.latestPosition()
            // The third rewrites the first batch's records: their old positions leave the feed.
            _ = try writer.engine.put((0..<size).map { Self.article($0, writer: 1, version: 2) })
            let endOfThird = try writer.engine.latestPosition()
            let deadline = ContinuousClock.now + .seconds(30)
            while followerStore.announcedPositions(after: endOfFirst, limit: 10) != [endOfSecond, endOfThird],
                ContinuousClock.now < deadline
            {
                usleep(1_000)
            }
            #expect(followerStore.announcedPositions(after: endOfFirst, limit: 10) == [endOfSecond, endOfThird])
            #expect(followerStore.announcedPositions(after: 0, limit: 2) == [endOfFirst, endOfSecond])
            release.signal()
            #expect(try follower.waitUntilApplied(endOfThird, timeout: .seconds(30)))
            let steps = installs.withLock { $0 }
            #expect(steps.map(\.applied) == [0, endOfFirst, endOfSecond])
            // Read apart: the third batch's page after the second was installed from a page of its own.
            if steps.count == 3 { #expect(steps[2].pagesRead == steps[1].pagesRead + 1, "\(steps)") }
            #expect(try follower.stats().shippedArticles == UInt64(3 * size))
            var queries = ["集群", "第"] + (0..<(2 * size)).map { Self.marker($0, writer: 1, version: 1) }
            queries += (0..<size).map { Self.marker($0, writer: 1, version: 2) }
            #expect(try Self.answers(follower, queries: queries) == Self.answers(writer.engine, queries: queries))
        }
    }

    @Test("a node's write applies what other nodes committed meanwhile from their shipped analyses, and answers as they do")
    func writeAppliesOthersBatchesFromTheirAnalyses() async throws {
        // B follows only when told: its write below finds A's two batches not applied yet.
        try await runBlocking { try Self.withQuietFollower { b, a, _ in
            _ = try a.engine.put((0..<20).map { Self.article($0, writer: 1, version: 1) })
            _ = try a.engine.put((20..<30).map { Self.article($0, writer: 1, version: 1) })
            let shippedBefore = b.shippedDocuments.withLock { $0 }
            _ = try b.put([Self.article(30, writer: 2, version: 1)])
            #expect(b.shippedDocuments.withLock { $0 } == shippedBefore + 30, "A's batches installed as analysed")
            #expect(b.appliedSequence == (try a.engine.latestPosition()))
            #expect(try a.engine.waitUntilApplied(b.appliedSequence, timeout: .seconds(30)))
            var queries = ["集群", "第"] + (0..<30).map { Self.marker($0, writer: 1, version: 1) }
            queries.append(Self.marker(30, writer: 2, version: 1))
            #expect(try Self.answers(b, queries: queries) == Self.answers(a.engine, queries: queries))
            #expect(try b.stats().duplicateCount == (try a.engine.stats().duplicateCount))
        } }
    }

    @Test("a follower folds the segments the feed left once it has been quiet")
    func followerCompactsOnceTheFeedIsQuiet() async throws {
        try await runBlocking {
            let url = try SharedTestPostgres.freshDatabaseURL()
            let writer = try Node(url: url)
            let directory = TemporaryDirectory("follower")
            let follower = try Self.quietNode(url: url, directory: directory, compactionQuietPeriod: .milliseconds(100))
            defer { try? follower.close() }
            // Batches each under half the one before: the merge policy alone leaves every one its own segment.
            var n = 0
            for size in [64, 16, 4, 1] {
                _ = try writer.engine.put((n..<(n + size)).map { Self.article($0, writer: 1, version: 1) })
                n += size
                try follower.catchUp()
            }
            try? waitUntil("the follower compacted", timeout: 60) {
                follower.indexSegmentCount <= 2 && follower.compactions.withLock { $0 } > 0
            }
            #expect(follower.indexSegmentCount <= 2)
            #expect(follower.compactions.withLock { $0 } > 0)
            #expect(try follower.search(SearchRequest(text: "集群")).total == n)
            #expect(try Self.answers(follower, queries: ["集群", Self.marker(70, writer: 1, version: 1)])
                == Self.answers(writer.engine, queries: ["集群", Self.marker(70, writer: 1, version: 1)]))
        }
    }

    @Test("a node started after 10,000 writes catches up from the feed, and a restarted one from snapshot plus feed")
    func lateNodeCatchesUp() async throws {
        try await runBlocking {
            let url = try SharedTestPostgres.freshDatabaseURL()
            let writer = try Node(url: url)
            let total = 10_000
            let store = try PostgresArticleStore(url: url)
            defer { try? store.close() }
            // Written straight to the store in batches (the engine path is covered above; this is about volume).
            for start in stride(from: 0, to: total, by: 1_000) {
                _ = try store.upsert((start..<(start + 1_000)).map { n in
                    sampleArticle("late-\(n)", title: "迟到 zq\(String(n, radix: 26)) 第\(n)篇", day: 1 + n % 28)
                })
            }
            let late = try Node(url: url)
            #expect(late.engine.startup.source == .rebuilt)
            #expect(late.engine.indexedCount == total)
            #expect(late.engine.appliedSequence == UInt64(total))
            for n in [0, 4_321, 9_999] {
                let hits = try late.engine.search(SearchRequest(text: "zq\(String(n, radix: 26))", limit: 5)).hits
                #expect(hits.map(\.id).contains(ArticleID("late-\(n)")))
            }
            // Restart after more writes: snapshot (saved on close) plus the feed since.
            try late.engine.close()
            _ = try writer.engine.put([Self.article(1, writer: 9, version: 9)])
            #expect(try writer.engine.delete(id: "late-7"))
            late.engine = try Node.open(url: url, directory: late.directory.path)
            #expect(late.engine.startup.source == .snapshot)
            #expect(late.engine.startup.replayedChanges == 2)
            #expect(late.engine.indexedCount == total)
            #expect(late.engine.isIndexed("late-7") == false)
            #expect(late.engine.isIndexed("c1"))
        }
    }
}
