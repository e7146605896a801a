import NewswireTestSupport
import Foundation
import NewswireEngine
import NewswireModel
import NewswireSearch
import NewswireStore
import Testing

/// Pseudo-random Chinese prose from a fixed character pool: texts from different seeds share little beyond
/// common characters, like unrelated articles.
func chineseParagraphs(seed: UInt64, characters: Int) -> [String] {
    let pool = Array(
        "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省列习响约支般史感劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂京识适属圆包火住调满县局照参红细引听该铁价严"
    )
    var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    func next() -> Int {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return Int(state % UInt64(pool.count))
    }
    var paragraphs: [String] = []
    var current = ""
    for i in 0..<characters {
        current.append(pool[next()])
        if i % 23 == 22 { current.append("，") }
        if i % 97 == 96 {
            current.append("。")
            paragraphs.append(current)
            current = ""
        }
    }
    if !current.isEmpty { paragraphs.append(current + "。") }
    return paragraphs
}

func makeArticle(
    _ id: String, title: String = "标题", day: Int? = 1, month: Int = 3, paragraphs: [String]
) -> Article {
    Article(
        id: ArticleID(id), title: title,
        publishedAt: day.map { PublishedTime(year: 2024, month: month, day: $0, utcOffsetSeconds: 28_800)! },
        source: "测试源", paragraphs: paragraphs, language: "zh")
}

/// What must survive a restart for a query: the exact total, the facets, and every hit (id, title, snippet,
/// highlights). Scores and the order among hits are left out: the index counts a replaced or deleted article in
/// document frequencies until its segment is merged (as Lucene does), so BM25 scores depend on write history.
struct ComparableResult: Equatable, CustomStringConvertible {
    var total: Int
    var facets: [Facet]
    var hits: [ArticleID: SearchHit]

    init(_ page: SearchPage) {
        total = page.total
        facets = page.facets
        hits = Dictionary(uniqueKeysWithValues: page.hits.map { hit in
            var h = hit
            h.score = 0
            return (hit.id, h)
        })
    }

    var description: String { "total \(total), ids \(hits.keys.sorted())" }
}

/// Results of `queries` (limit 100, so every hit of these small collections is compared).
func results(_ engine: NewswireEngine, _ queries: [String]) throws -> [ComparableResult] {
    try queries.map { query in
        let page = try engine.search(SearchRequest(text: query, limit: 100, facets: [.source, .month]))
        #expect(page.hits.count == page.total, "limit covers every hit of \(query)")
        return ComparableResult(page)
    }
}

/// The first query whose results differ, for a readable failure ("none" when all agree).
func firstDifference(_ a: [ComparableResult], _ b: [ComparableResult], _ queries: [String]) -> String {
    for (i, (x, y)) in zip(a, b).enumerated() where x != y { return "\(queries[i]): \(x) vs \(y)" }
    return "none"
}

@Suite("NewswireEngine")
struct NewswireEngineTests {
    @Test("commit observers get each written article's index analysis only while the engine keeps them")
    func observersGetAnalysesWhenKept() throws {
        let dir = TemporaryDirectory()
        let engine = try NewswireEngine.open(dataDirectory: dir.path)
        defer { try? engine.close() }
        final class Observed: @unchecked Sendable {
            let lock = NSLock()
            var batches: [[CommittedChange]] = []
        }
        let observed = Observed()
        engine.observeCommittedChanges { changes in observed.lock.withLock { observed.batches.append(changes) } }
        let a = makeArticle("a", title: "北京大学开学", paragraphs: ["今天举行开学典礼。"])
        let b = makeArticle("b", title: "上海天气", paragraphs: ["晴到多云。"])
        _ = try engine.put([a, b])
        engine.keepAnalysesForObservers(true)
        var a2 = a
        a2.paragraphs = ["典礼改期。"]
        let c = makeArticle("c", title: "广州", paragraphs: ["下雨。"])
        // `a` twice in one batch: observers hear of its last copy, the one the segment analysed.
        _ = try engine.put([c, a, a2])
        engine.keepAnalysesForObservers(false)
        _ = try engine.put([makeArticle("d", title: "深圳", paragraphs: ["大风。"])])
        let batches = observed.lock.withLock { observed.batches }
        #expect(batches.map { $0.map(\.id) } == [["a", "b"], ["c", "a"], ["d"]])
        #expect(batches[1].map(\.article) == [c, a2])
        #expect(batches[0].allSatisfy { $0.analysis == nil })
        #expect(batches[1].allSatisfy { $0.analysis != nil })
        #expect(batches[2].allSatisfy { $0.analysis == nil })
        // A matcher given them reports what it reports analysing the text itself.
        let matcher = StandingQueryMatcher()
        _ = try matcher.register(StandingQuery(text: "改期"))
        _ = try matcher.register(StandingQuery(text: "广州"))
        let changes = batches[1].map { ArticleChange.inserted($0.article!) }
        let shared = matcher.match(changes, analyses: batches[1].map(\.analysis))
        #expect(shared.matches == matcher.match(changes).matches)
        #expect(shared.matches.map(\.change) == [0, 1])
    }

    @Test("the index follows every write: found after put, updated text replaces old, gone after delete")
    func indexInStep() throws {
        let dir = TemporaryDirectory()
        let engine = try NewswireEngine.open(dataDirectory: dir.path)
        defer { try? engine.close() }
        #expect(engine.startup.source == .rebuilt)
        #expect(engine.startup.rebuildReason?.contains("missing") == true)

        let a = makeArticle("a", title: "北京大学开学", paragraphs: ["alphaword 今天举行开学典礼。"])
        let b = makeArticle("b", title: "上海天气", paragraphs: ["晴到多云。"])
        #expect(try engine.put([a, b]).map(\.outcome) == [.created, .created])
        #expect(try engine.search(SearchRequest(text: "alphaword")).hits.map(\.id) == ["a"])
        #expect(try engine.search(SearchRequest(text: "北京")).hits.map(\.id) == ["a"])
        #expect(try engine.article(id: "a") == a)

        var updated = a
        updated.paragraphs = ["betaword 典礼改期。"]
        #expect(try engine.put([updated]).map(\.outcome) == [.updated])
        #expect(try engine.search(SearchRequest(text: "alphaword")).total == 0)
        #expect(try engine.search(SearchRequest(text: "betaword")).hits.map(\.id) == ["a"])
        #expect(try engine.put([updated]).map(\.outcome) == [.unchanged])

        #expect(try engine.delete(id: "a"))
        #expect(try engine.delete(id: "a") == false)
        #expect(try engine.search(SearchRequest(text: "betaword")).total == 0)
        #expect(try engine.search(SearchRequest(text: "北京")).total == 0)
        #expect(try engine.article(id: "a") == nil)
        #expect(engine.isIndexed("a") == false)
        let error = #expect(throws: EngineError.self) { try engine.related(to: "a", limit: 5) }
        #expect(error?.code == .notFound)
        #expect(try engine.related(to: "b", limit: 5).allSatisfy { $0.id != "b" })
        let stats = try engine.stats()
        #expect(stats.articleCount == 1)
        #expect(stats.storeSequence == 4)
    }

    /// A store that counts the records read by id (what a near-duplicate check used to read per candidate).
    final class CountingStore: ForwardingArticleStore, @unchecked Sendable {
        let base: SQLiteArticleStore
        private let lock = NSLock()
        private var readCount = 0
        var reads: Int { lock.withLock { readCount } }
        private func read(_ n: Int) { lock.withLock { readCount += n } }
        init(_ base: SQLiteArticleStore) { self.base = base }
        func article(_ id: ArticleID) throws -> Article? {
            read(1)
            return try base.article(id)
        }
        func articles(_ ids: [ArticleID]) throws -> [Article?] {
            read(ids.count)
            return try base.articles(ids)
        }
        func encodedArticles(_ ids: [ArticleID]) throws -> [[UInt8]?] {
            read(ids.count)
            return try base.encodedArticles(ids)
        }
    }

    @Test("a near-duplicate check compares with the index's copy of a stored candidate instead of reading the store")
    func nearDuplicateCheckReadsNoRecords() throws {
        let dir = TemporaryDirectory()
        let store = CountingStore(try SQLiteArticleStore(directory: dir.path))
        let engine = try NewswireEngine(store: store, indexSnapshotPath: nil)
        defer { try? engine.close() }
        let body = chineseParagraphs(seed: 1, characters: 400)
        var edited = body
        edited[1] = "变" + edited[1]
        let original = makeArticle("orig", day: 1, paragraphs: body)
        let copy = makeArticle("copy", day: 2, paragraphs: ["转载自新华网"] + edited)
        let other = makeArticle("other", day: 2, paragraphs: ["转载自新华网"] + chineseParagraphs(seed: 2, characters: 400))
        // Short texts that share their template (bands) without being copies: each is compared with every earlier
        // one (once a store read per pair).
        let probes = (0..<20).map { n in
            makeArticle("probe\(n)", day: nil, paragraphs: ["集群复制延迟探针 zq\(String(repeating: "x", count: n))。"])
        }
        #expect(try engine.put([original]).map(\.duplicateOf) == [nil])
        let before = store.reads
        // The copy's body differs (another fingerprint), so its similarity with the stored original is computed.
        #expect(try engine.put([copy, other]).map(\.duplicateOf) == ["orig", nil])
        for probe in probes { _ = try engine.put([probe]) }
        #expect(store.reads == before)
        #expect(try engine.article(id: "copy")?.duplicateOf == "orig")
    }

    @Test("republished copies with small edits point at the earliest original; unrelated and distant ones do not")
    func nearDuplicates() throws {
        let dir = TemporaryDirectory()
        let engine = try NewswireEngine.open(dataDirectory: dir.path)
        defer { try? engine.close() }
        let body = chineseParagraphs(seed: 1, characters: 400)
        func edited(_ paragraphs: [String], change: Int) -> [String] {
            var p = paragraphs
            var chars = Array(p[1])
            chars[5 + change] = "变"
            p[1] = String(chars)
            return ["转载自新华网"] + p + ["（责任编辑：王五）"]
        }
        let original = makeArticle("orig", day: 1, paragraphs: body)
        let copy = makeArticle("copy", day: 2, paragraphs: edited(body, change: 0))
        let copyOfCopy = makeArticle("copy2", day: 3, paragraphs: edited(edited(body, change: 0), change: 9))
        let unrelated = makeArticle("other", day: 2, paragraphs: chineseParagraphs(seed: 2, characters: 400))
        let distant = makeArticle("later", day: 28, month: 4, paragraphs: body)
        let undated = makeArticle("undated", day: nil, paragraphs: body)
        let short1 = makeArticle("short1", day: 1, paragraphs: ["天气晴。"])
        let short2 = makeArticle("short2", day: 1, paragraphs: ["天气晴。"])

        #expect(try engine.put([original]).map(\.duplicateOf) == [nil])
        let outcomes = try engine.put([copy, unrelated, copyOfCopy, distant, undated, short1, short2])
        #expect(outcomes.map(\.duplicateOf) == ["orig", nil, "orig", nil, "orig", nil, nil])
        #expect(try engine.article(id: "copy")?.duplicateOf == "orig")
        #expect(try engine.article(id: "copy2")?.duplicateOf == "orig")

        // Re-putting keeps the verdicts and writes nothing, even when the caller sends another duplicateOf.
        var claimed = unrelated
        claimed.duplicateOf = "orig"
        let again = try engine.put([original, copy, claimed])
        #expect(again.map(\.outcome) == [.unchanged, .unchanged, .unchanged])
        #expect(again.map(\.duplicateOf) == [nil, "orig", nil])

        // An original and its copy in one batch.
        let fresh = chineseParagraphs(seed: 3, characters: 300)
        let pair = try engine.put([
            makeArticle("first", day: 10, paragraphs: fresh), makeArticle("second", day: 10, paragraphs: edited(fresh, change: 3)),
        ])
        #expect(pair.map(\.duplicateOf) == [nil, "first"])

        #expect(try engine.stats().duplicateCount == 4)

        // Once the original is deleted, a new copy points at the earliest surviving copy instead.
        #expect(try engine.delete(id: "orig"))
        let late = makeArticle("copy3", day: 4, paragraphs: edited(body, change: 20))
        #expect(try engine.put([late]).map(\.duplicateOf) == ["copy"])
    }

    @Test(
        "on a corpus sample: no false positives, and edited republished copies are all found",
        .enabled(if: corpusPath != nil, "../shared/corpus/zh-news.jsonl is absent (fresh clone): skipped"))
    func corpusNearDuplicates() throws {
        var sample: [Article] = []
        try JSONLinesImport.readArticles(path: corpusPath!, batchSize: 500) { batch in
            if sample.count < 1500 { sample += batch }
        }
        sample = Array(sample.prefix(1500))
        let dir = TemporaryDirectory()
        let engine = try NewswireEngine.open(dataDirectory: dir.path)
        defer { try? engine.close() }
        for start in stride(from: 0, to: sample.count, by: 500) {
            _ = try engine.put(Array(sample[start..<min(sample.count, start + 500)]))
        }
        #expect(try engine.stats().duplicateCount == 0, "no corpus article is a republished copy of another")

        // Copies: a credit line before, an editor line after, one character changed, published a day later.
        let originals = sample.filter { $0.body.count >= 150 }.prefix(100)
        let copies = originals.map { original -> Article in
            var copy = original
            copy.id = ArticleID(original.id.rawValue + "-copy")
            var middle = Array(copy.paragraphs[0])
            middle[middle.count / 2] = "变"
            copy.paragraphs[0] = String(middle)
            copy.paragraphs = ["来源：新华网"] + copy.paragraphs + ["（责任编辑：张三）"]
            copy.publishedAt = PublishedTime(secondsSinceEpoch: original.publishedAt!.secondsSinceEpoch + 86_400)
            return copy
        }
        let outcomes = try engine.put(Array(copies))
        #expect(outcomes.map(\.duplicateOf) == originals.map(\.id))
    }

    @Test("restart: snapshot plus change feed, no snapshot, corrupt snapshot and foreign snapshot all agree")
    func restart() throws {
        let dir = TemporaryDirectory()
        let snapshot = dir.file("index.snapshot")
        let words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
        func article(_ i: Int, version: Int = 0) -> Article {
            makeArticle(
                "r\(i)", title: "第\(i)篇 \(words[i % words.count])", day: 1 + i % 28,
                paragraphs: chineseParagraphs(seed: UInt64(100 + i * 7 + version), characters: 120)
                    + ["\(words[(i + version) % words.count]) 新闻"])
        }
        let queries = words + ["新闻", "第1篇", "alpha OR beta", "-gamma 新闻", "的"]

        let first = try NewswireEngine(store: SQLiteArticleStore(directory: dir.path), indexSnapshotPath: snapshot)
        first.waitForBackgroundWork()
        _ = try first.put((0..<30).map { article($0) })
        try first.saveSnapshot()
        #expect(try first.stats().changesSinceSnapshot == 0)
        _ = try first.put((30..<35).map { article($0) } + [article(3, version: 1), article(4, version: 1)])
        for i in [5, 6, 31] { #expect(try first.delete(id: ArticleID("r\(i)"))) }
        #expect(try first.stats().changesSinceSnapshot == 10)
        let expected = try results(first, queries)
        #expect(expected.contains { $0.total > 1 })

        let fromSnapshot = try NewswireEngine(
            store: SQLiteArticleStore(directory: dir.path), indexSnapshotPath: snapshot)
        fromSnapshot.waitForBackgroundWork()
        #expect(fromSnapshot.startup.source == .snapshot)
        // The feed is compacted: r31, inserted and deleted after the snapshot, is one tombstone.
        #expect(fromSnapshot.startup.replayedChanges == 9)
        #expect(fromSnapshot.startup.articleCount == 32)
        let afterSnapshot = try results(fromSnapshot, queries)
        #expect(firstDifference(afterSnapshot, expected, queries) == "none")
        // The near-duplicate table came back with the snapshot: a copy of a pre-snapshot article is detected.
        var copy = article(7)
        copy.id = "r7-copy"
        #expect(try fromSnapshot.put([copy]).map(\.duplicateOf) == ["r7"])
        #expect(try fromSnapshot.delete(id: "r7-copy"))
        fromSnapshot.waitForBackgroundWork()

        try FileManager.default.removeItem(atPath: snapshot)
        let rebuilt = try NewswireEngine(store: SQLiteArticleStore(directory: dir.path), indexSnapshotPath: snapshot)
        rebuilt.waitForBackgroundWork()
        #expect(rebuilt.startup.source == .rebuilt)
        #expect(rebuilt.startup.rebuildReason?.contains("missing") == true)
        #expect(firstDifference(try results(rebuilt, queries), expected, queries) == "none")

        // A snapshot of an older format (what an upgrade finds when the index layout changed): rebuilt, not read.
        var older = try [UInt8](Data(contentsOf: URL(fileURLWithPath: snapshot)))
        let versionOffset = "NWSIDX\r\n".utf8.count
        let version = older[versionOffset..<(versionOffset + 4)].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        #expect(version > 1)
        withUnsafeBytes(of: (version - 1).littleEndian) {
            older.replaceSubrange(versionOffset..<(versionOffset + 4), with: $0)
        }
        try Data(older).write(to: URL(fileURLWithPath: snapshot))
        let afterUpgrade = try NewswireEngine(
            store: SQLiteArticleStore(directory: dir.path), indexSnapshotPath: snapshot)
        afterUpgrade.waitForBackgroundWork()
        #expect(afterUpgrade.startup.source == .rebuilt)
        #expect(
            afterUpgrade.startup.rebuildReason?.contains("format version \(version - 1), expected \(version)") == true,
            "\(afterUpgrade.startup.rebuildReason ?? "no reason")")
        #expect(firstDifference(try results(afterUpgrade, queries), expected, queries) == "none")

        // Corrupt the snapshot the rebuild just saved: flip bytes in the middle.
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: snapshot)))
        #expect(bytes.count > 100)
        for i in (bytes.count / 2)..<(bytes.count / 2 + 16) { bytes[i] ^= 0x5A }
        try Data(bytes).write(to: URL(fileURLWithPath: snapshot))
        let afterCorruption = try NewswireEngine(
            store: SQLiteArticleStore(directory: dir.path), indexSnapshotPath: snapshot)
        afterCorruption.waitForBackgroundWork()
        #expect(afterCorruption.startup.source == .rebuilt)
        #expect(afterCorruption.startup.rebuildReason?.contains("unreadable") == true)
        #expect(firstDifference(try results(afterCorruption, queries), expected, queries) == "none")

        // Truncated snapshot.
        let whole = try Data(contentsOf: URL(fileURLWithPath: snapshot))
        try whole.prefix(whole.count / 3).write(to: URL(fileURLWithPath: snapshot))
        let afterTruncation = try NewswireEngine(
            store: SQLiteArticleStore(directory: dir.path), indexSnapshotPath: snapshot)
        afterTruncation.waitForBackgroundWork()
        #expect(afterTruncation.startup.source == .rebuilt)
        #expect(firstDifference(try results(afterTruncation, queries), expected, queries) == "none")

        // A snapshot taken from another store is not applied to this one.
        let otherDir = TemporaryDirectory("other")
        let foreign = try NewswireEngine(
            store: SQLiteArticleStore(directory: otherDir.path), indexSnapshotPath: snapshot)
        #expect(foreign.startup.source == .rebuilt)
        #expect(foreign.startup.rebuildReason?.contains("another store") == true)
        #expect(foreign.indexedCount == 0)
        foreign.waitForBackgroundWork()
    }

    @Test("a snapshot that cannot be written fails saveSnapshot and shows in stats; writes go on")
    func snapshotFailure() throws {
        let dir = TemporaryDirectory()
        let unwritable = dir.file("missing-directory/index.snapshot")
        let engine = try NewswireEngine(store: SQLiteArticleStore(directory: dir.path), indexSnapshotPath: unwritable)
        engine.waitForBackgroundWork()
        #expect(try engine.stats().lastSnapshotError?.contains("missing-directory") == true)
        #expect(try engine.put([makeArticle("w", paragraphs: ["delta 新闻"])]).map(\.outcome) == [.created])
        #expect(throws: (any Error).self) { try engine.saveSnapshot() }
        #expect(try engine.search(SearchRequest(text: "delta")).total == 1)
        // Closing reports the unsaved snapshot, but closes the store all the same: it opens again, holding the write.
        let closing = #expect(throws: EngineError.self) { try engine.close() }
        #expect(closing?.code == .snapshotNotSaved, "\(String(describing: closing))")
        let reopened = try SQLiteArticleStore(directory: dir.path)
        #expect(try reopened.count() == 1)
        try reopened.close()
    }

    @Test("a data directory that is a file, or lies under one, is refused in one plain sentence")
    func dataDirectoryIsAFile() throws {
        let dir = TemporaryDirectory()
        let file = dir.file("not-a-directory")
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        let onFile = #expect(throws: EngineError.self) { try NewswireEngine.open(dataDirectory: file) }
        #expect(onFile?.code == .cannotOpen && onFile?.message == "\(file) exists and is not a directory")
        let under = #expect(throws: EngineError.self) { try NewswireEngine.open(dataDirectory: file + "/data") }
        #expect(under?.message == "cannot create data directory \(file)/data: Not a directory", "\(String(describing: under))")
    }

    @Test("opening a data directory removes the temporaries of snapshot writes a crash interrupted, and nothing else")
    func leftoverSnapshotTemporariesAreRemoved() throws {
        let dir = TemporaryDirectory()
        let leftovers = ["index.snapshot.tmp-4242", "index.snapshot.tmp-17"]
        let kept = ["notes.txt", "index.snapshot.tmp"]
        try FileManager.default.createDirectory(atPath: dir.path, withIntermediateDirectories: true)
        for name in leftovers + kept { try Data("x".utf8).write(to: URL(fileURLWithPath: dir.file(name))) }
        let engine = try NewswireEngine.open(dataDirectory: dir.path)
        for name in leftovers { #expect(!FileManager.default.fileExists(atPath: dir.file(name)), "\(name)") }
        for name in kept { #expect(FileManager.default.fileExists(atPath: dir.file(name)), "\(name)") }
        try engine.close()
    }

    @Test("a damaged database (a page overwritten while stopped) is found after open: writes are refused with the reason, stats say it")
    func damagedDatabaseIsFound() throws {
        let dir = TemporaryDirectory()
        do {
            let engine = try NewswireEngine.open(dataDirectory: dir.path)
            _ = try engine.put(
                (0..<200).map { n in
                    makeArticle("damage\(n)", paragraphs: (0..<4).map { "第\(n)篇第\($0)段：" + String(repeating: "电网建设与能源合作。", count: 20) })
                })
            try engine.close()
        }
        let database = dir.file("articles.sqlite")
        let size = try #require(try FileManager.default.attributesOfItem(atPath: database)[.size] as? Int)
        // A page in the middle overwritten: the open, which reads the first pages, still succeeds.
        let handle = try #require(FileHandle(forWritingAtPath: database))
        try handle.seek(toOffset: UInt64(size / 2 / 4096 * 4096))
        try handle.write(contentsOf: Data(repeating: 0xA5, count: 4096))
        try handle.close()
        let engine = try NewswireEngine.open(dataDirectory: dir.path)
        engine.waitForBackgroundWork()
        let damage = try #require(engine.storeDamage, "the damage was not found")
        #expect(damage.contains("is damaged") && damage.contains("articles.sqlite"), "\(damage)")
        let refused = #expect(throws: EngineError.self) { try engine.put([makeArticle("after", paragraphs: ["正文。"])]) }
        #expect(refused?.code == .storeDamaged, "\(String(describing: refused))")
        #expect(try engine.stats().storeError == damage)
        try? engine.close()
        // Truncated after a clean stop (the file's header knows its length): the open itself refuses, saying so.
        #expect(truncate(database, off_t(size / 2)) == 0)
        let unopened = #expect(throws: StoreError.self) { try NewswireEngine.open(dataDirectory: dir.path) }
        #expect(unopened?.code == .damaged, "\(String(describing: unopened))")
        #expect(unopened?.message.contains("it is damaged") == true, "\(String(describing: unopened))")
    }

    @Test("close saves a snapshot; reopening replays nothing; a second open of the directory is refused")
    func closeAndReopen() throws {
        let dir = TemporaryDirectory()
        do {
            let engine = try NewswireEngine.open(dataDirectory: dir.path)
            _ = try engine.put((0..<10).map { makeArticle("c\($0)", paragraphs: ["gamma 第\($0)条。"]) })
            let error = #expect(throws: EngineError.self) { try NewswireEngine.open(dataDirectory: dir.path) }
            #expect(error?.code == .dataDirectoryInUse)
            // Removing what is in the directory does not lift the lock (a lock file once did: the second open won).
            try? FileManager.default.removeItem(atPath: dir.file("LOCK"))
            let again = #expect(throws: EngineError.self) { try NewswireEngine.open(dataDirectory: dir.path) }
            #expect(again?.code == .dataDirectoryInUse)
            #expect(error?.message.contains(dir.path) == true)
            try engine.close()
            try engine.close()
            let closed = #expect(throws: EngineError.self) { try engine.put([makeArticle("z", paragraphs: ["x"])]) }
            #expect(closed?.code == .closed)
        }
        let engine = try NewswireEngine.open(dataDirectory: dir.path)
        defer { try? engine.close() }
        #expect(engine.startup.source == .snapshot)
        #expect(engine.startup.replayedChanges == 0)
        #expect(try engine.search(SearchRequest(text: "gamma")).total == 10)
        #expect(engine.startup.description.hasPrefix("index from snapshot + 0 changes: 10 articles"))
    }
}
