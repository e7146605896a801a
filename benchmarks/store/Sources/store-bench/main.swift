// store-bench: measurements for the store and the engine, one step per process (run.sh drives it).
//
//   store-bench parse <corpus.jsonl>                     JSON Lines → Article only (the import floor)
//   store-bench codec <corpus.jsonl>                     the hand-written JSON reader/writer against Foundation's
//                                                        JSONDecoder/JSONEncoder on the same records, best of 3
//   store-bench import-store <corpus.jsonl> <dir> <copies>  store upserts only (no index, no near-duplicates)
//   store-bench import <corpus.jsonl> <dir> <copies> [batch]  full engine put; closes (saves the snapshot)
//   store-bench open <dir>                               open (snapshot + change feed), report, close
//   store-bench rebuild <dir>                            delete the snapshot, open (rebuild), report, close
//   store-bench mutate <dir> <count>                     update <count> articles, then exit without close
//                                                        (like a crash: the next open replays them)
//
// Copies > 1 make the corpus ×N variant: ids suffixed `-k`, bodies unchanged. Each step prints one line
// `RESULT key=value ...` for run.sh.
import Foundation
import NewswireEngine
import NewswireModel
import NewswireSearch
import NewswireStore

#if canImport(Glibc)
    import Glibc
#endif

let clock = ContinuousClock()

func seconds(_ d: Duration) -> Double {
    let (s, atto) = d.components
    return Double(s) + Double(atto) / 1e18
}

func residentMegabytes() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        let kb = Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
        return kb / 1024
    }
    return 0
}

/// CPU seconds (user + system) this process used so far: a measure that holds up on a shared, busy machine.
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
        + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("store-bench: \(message)\n".utf8))
    exit(2)
}

/// Reads the corpus, expanding it to `copies` copies with suffixed ids, and hands batches of 1000 to `body`.
func forEachBatch(corpus: String, copies: Int, batchSize: Int = 1000, _ body: ([Article]) throws -> Void) throws
    -> (Int, Int)
{
    var articles: [Article] = []
    try JSONLinesImport.readArticles(path: corpus, batchSize: 10_000) { articles += $0 }
    let bytes = (try FileManager.default.attributesOfItem(atPath: corpus)[.size] as? Int ?? 0) * copies
    var total = 0
    for copy in 0..<copies {
        for start in stride(from: 0, to: articles.count, by: batchSize) {
            var batch = Array(articles[start..<min(articles.count, start + batchSize)])
            if copies > 1 {
                for i in batch.indices { batch[i].id = ArticleID(batch[i].id.rawValue + "-\(copy)") }
            }
            try body(batch)
            total += batch.count
        }
    }
    return (total, bytes)
}

let arguments = CommandLine.arguments
guard arguments.count >= 3 else { fail("usage: see the comment at the top of main.swift") }
do {
    switch arguments[1] {
    case "parse":
        let start = clock.now
        var count = 0
        try JSONLinesImport.readArticles(path: arguments[2], batchSize: 1000) { count += $0.count }
        let elapsed = seconds(clock.now - start)
        let bytes = try FileManager.default.attributesOfItem(atPath: arguments[2])[.size] as? Int ?? 0
        print(
            "RESULT step=parse articles=\(count) seconds=\(elapsed) perSecond=\(Double(count) / elapsed) "
                + "mbPerSecond=\(Double(bytes) / elapsed / 1e6)")

    case "codec":
        try codecBenchmark(corpus: arguments[2])
    case "duplicates":
        // Near-duplicate quality: false positives among the corpus itself, then recall on republished copies
        // (published a day later) with four kinds of small edits, 1,000 copies each.
        guard arguments.count == 4 else { fail("duplicates <corpus> <dir>") }
        let engine = try NewswireEngine.open(
            dataDirectory: arguments[3], configuration: .init(snapshotEveryChanges: Int.max / 2))
        var articles: [Article] = []
        try JSONLinesImport.readArticles(path: arguments[2], batchSize: 10_000) { articles += $0 }
        var falsePositives = 0
        for start in stride(from: 0, to: articles.count, by: 5000) {
            falsePositives += try engine.put(Array(articles[start..<min(articles.count, start + 5000)]))
                .filter { $0.duplicateOf != nil }.count
        }
        var random = SystemRandomNumberGenerator()
        let pool = Array("的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种")
        let originals = articles.filter { $0.body.count >= 100 }.shuffled(using: &random).prefix(1000)
        let edits: [(String, (Article) -> [String])] = [
            ("credit-and-editor-lines", { ["来源：新华网 记者 张三 李四"] + $0.paragraphs + ["（责任编辑：王五）"] }),
            ("5-characters-replaced", { a in
                var chars = Array(a.body)
                for _ in 0..<5 { chars[Int.random(in: 0..<chars.count, using: &random)] = pool.randomElement(using: &random)! }
                return String(chars).split(separator: "\n").map(String.init)
            }),
            ("one-sentence-dropped", { a in
                var sentences = a.body.split(separator: "。", omittingEmptySubsequences: false).map(String.init)
                if sentences.count > 3 { sentences.remove(at: Int.random(in: 0..<(sentences.count - 1), using: &random)) }
                return sentences.joined(separator: "。").split(separator: "\n").map(String.init)
            }),
            ("one-paragraph-dropped", { a in
                var p = a.paragraphs
                if p.count > 2 { p.remove(at: Int.random(in: 0..<p.count, using: &random)) }
                return p
            }),
        ]
        print("RESULT step=duplicates-corpus articles=\(articles.count) falsePositives=\(falsePositives)")
        for (k, (name, edit)) in edits.enumerated() {
            var copies: [Article] = []
            for original in originals {
                var copy = original
                copy.id = ArticleID(original.id.rawValue + "-edit\(k)")
                copy.paragraphs = edit(original)
                copy.publishedAt = original.publishedAt.map { PublishedTime(secondsSinceEpoch: $0.secondsSinceEpoch + 86_400) }
                copies.append(copy)
            }
            let outcomes = try engine.put(copies)
            let found = zip(outcomes, originals).filter { $0.duplicateOf == $1.id }.count
            let wrong = zip(outcomes, originals).filter { $0.duplicateOf != nil && $0.duplicateOf != $1.id }.count
            print("RESULT step=duplicates-edit edit=\(name) copies=\(copies.count) found=\(found) wrongOriginal=\(wrong)")
            // Remove the copies so each edit kind is measured against the originals alone.
            for copy in copies { _ = try engine.delete(id: copy.id) }
        }
        try engine.close()

    case "index-only":
        // The search index alone, fed in batches of <batch> (what put and rebuild hand it).
        guard arguments.count == 4, let batchSize = Int(arguments[3]) else { fail("index-only <corpus> <batch>") }
        var articles: [Article] = []
        try JSONLinesImport.readArticles(path: arguments[2], batchSize: 10_000) { articles += $0 }
        let index = SearchIndex()
        let start = clock.now
        for s in stride(from: 0, to: articles.count, by: batchSize) {
            index.upsert(contentsOf: Array(articles[s..<min(articles.count, s + batchSize)]))
        }
        let elapsed = seconds(clock.now - start)
        print("RESULT step=index-only batch=\(batchSize) articles=\(articles.count) seconds=\(elapsed) perSecond=\(Double(articles.count) / elapsed)")

    case "import-store":
        guard arguments.count == 5, let copies = Int(arguments[4]) else { fail("import-store <corpus> <dir> <copies>") }
        let store = try SQLiteArticleStore(directory: arguments[3])
        var writeSeconds = 0.0
        let (count, bytes) = try forEachBatch(corpus: arguments[2], copies: copies) { batch in
            let start = clock.now
            _ = try store.upsert(batch)
            writeSeconds += seconds(clock.now - start)
        }
        try store.close()
        print(
            "RESULT step=import-store articles=\(count) seconds=\(writeSeconds) "
                + "perSecond=\(Double(count) / writeSeconds) mbPerSecond=\(Double(bytes) / writeSeconds / 1e6)")

    case "import":
        guard arguments.count >= 5, let copies = Int(arguments[4]) else {
            fail("import <corpus> <dir> <copies> [batch size, default 1000]")
        }
        let batchSize = arguments.count > 5 ? Int(arguments[5]) ?? 1000 : 1000
        // No periodic snapshots while importing: the benchmark measures put, then one snapshot at close.
        let engine = try NewswireEngine.open(
            dataDirectory: arguments[3], configuration: .init(snapshotEveryChanges: Int.max / 2))
        var putSeconds = 0.0
        var duplicates = 0
        let cpuStart = cpuSeconds()
        let (count, bytes) = try forEachBatch(corpus: arguments[2], copies: copies, batchSize: batchSize) { batch in
            let start = clock.now
            duplicates += try engine.put(batch).filter { $0.duplicateOf != nil }.count
            putSeconds += seconds(clock.now - start)
        }
        let rss = residentMegabytes()
        let cpu = cpuSeconds() - cpuStart
        let closeStart = clock.now
        try engine.close()
        let closeSeconds = seconds(clock.now - closeStart)
        print(
            "RESULT step=import batch=\(batchSize) articles=\(count) seconds=\(putSeconds) perSecond=\(Double(count) / putSeconds) "
                + "mbPerSecond=\(Double(bytes) / putSeconds / 1e6) duplicates=\(duplicates) rssMB=\(rss) cpuSeconds=\(cpu) "
                + "snapshotSeconds=\(closeSeconds)")

    case "open", "rebuild":
        let directory = arguments[2]
        if arguments[1] == "rebuild" {
            try? FileManager.default.removeItem(
                atPath: (directory as NSString).appendingPathComponent(NewswireEngine.snapshotFileName))
        }
        let start = clock.now
        let cpuStart = cpuSeconds()
        let engine = try NewswireEngine.open(dataDirectory: directory)
        let elapsed = seconds(clock.now - start)
        let cpu = cpuSeconds() - cpuStart
        let rss = residentMegabytes()
        let s = engine.startup
        engine.waitForBackgroundWork()  // near-duplicate table decoded (and, after a rebuild, snapshot saved)
        let writable = seconds(clock.now - start)
        try engine.close()
        print(
            "RESULT step=\(arguments[1]) source=\(s.source.rawValue) articles=\(s.articleCount) seconds=\(elapsed) "
                + "snapshotLoadSeconds=\(s.snapshotLoadSeconds) writableSeconds=\(writable) "
                + "catchUpSeconds=\(s.catchUpSeconds) cpuSeconds=\(cpu) "
                + "replayed=\(s.replayedChanges) rssMB=\(rss)")

    case "mutate":
        guard arguments.count == 4, let count = Int(arguments[3]) else { fail("mutate <dir> <count>") }
        let engine = try NewswireEngine.open(
            dataDirectory: arguments[2], configuration: .init(snapshotEveryChanges: Int.max / 2))
        engine.waitForBackgroundWork()
        var changed = 0
        var cursor: ScanCursor?
        while changed < count {
            let page = try engine.scan(order: .id, after: cursor, limit: min(1000, count - changed))
            if page.articles.isEmpty { break }
            let updated = page.articles.map { article -> Article in
                var a = article
                a.paragraphs.append("更新 \(changed)")
                return a
            }
            _ = try engine.put(updated)
            changed += updated.count
            cursor = page.next
        }
        print("RESULT step=mutate changed=\(changed)")
        exit(0)  // no close: the snapshot stays behind the store, as after a crash

    default:
        fail("unknown step \(arguments[1])")
    }
} catch {
    fail("\(error)")
}

/// A corpus line as Foundation decodes it (the peer of `JSONLinesImport`).
struct CorpusRecord: Decodable {
    var id: String
    var title: String
    var published: String?
    var source: String?
    var url: String?
    var body: String
}

/// The body's lines, trimmed, empty ones dropped: what `JSONLinesImport` does after reading a line.
func corpusParagraphs(_ body: String) -> [String] {
    body.split(separator: "\n").compactMap { part in
        let scalars = part.unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else { return nil }
        let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })!
        return String(scalars[first...last])
    }
}

/// Best-of-3 wall seconds of `body`.
func bestOf3(_ body: () throws -> Void) rethrows -> Double {
    var best = Double.infinity
    for _ in 0..<3 {
        let start = clock.now
        try body()
        best = min(best, seconds(clock.now - start))
    }
    return best
}

/// Hand-written JSON (``JSONLinesImport``, ``ArticleCodec``) against Foundation's coders on the same input, same
/// process: corpus lines → Article, stored records → Article, Article → stored record (byte-identical output).
func codecBenchmark(corpus: String) throws {
    guard let data = FileManager.default.contents(atPath: corpus) else { fail("cannot read \(corpus)") }
    let lines = data.split(separator: UInt8(ascii: "\n")).filter { !$0.isEmpty }.map { Array($0) }
    let lineBytes = lines.reduce(0) { $0 + $1.count }
    let lineData = lines.map { Data($0) }

    var fast: [Article] = []
    let readFast = try bestOf3 {
        fast = try lines.enumerated().map { try JSONLinesImport.article(fromJSONLine: $1, lineNumber: $0 + 1) }
    }
    var slow: [Article] = []
    let readFoundation = try bestOf3 {
        let decoder = JSONDecoder()
        slow = try lineData.map { line in
            let r = try decoder.decode(CorpusRecord.self, from: line)
            return Article(
                id: ArticleID(r.id), url: r.url, title: r.title,
                publishedAt: r.published.flatMap { $0.isEmpty ? nil : PublishedTime(iso8601: $0) }, source: r.source,
                paragraphs: corpusParagraphs(r.body), language: "zh")
        }
    }
    guard fast == slow else { fail("JSONLinesImport and JSONDecoder disagree on the corpus") }

    var stored: [[UInt8]] = []
    let encodeFast = bestOf3 { stored = fast.map { ArticleCodec.encode($0) } }
    var storedFoundation: [Data] = []
    let encodeFoundation = try bestOf3 {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        storedFoundation = try fast.map { try encoder.encode($0) }
    }
    guard stored.map({ Data($0) }) == storedFoundation else { fail("ArticleCodec and JSONEncoder bytes differ") }
    let storedBytes = stored.reduce(0) { $0 + $1.count }

    var decoded: [Article] = []
    let decodeFast = try bestOf3 { decoded = try stored.map { try ArticleCodec.decode($0) } }
    let decodeFoundation = try bestOf3 {
        let decoder = JSONDecoder()
        decoded = try storedFoundation.map { try decoder.decode(Article.self, from: $0) }
    }
    guard decoded == fast else { fail("a stored record does not decode to its article") }

    for (name, bytes, mine, foundation) in [
        ("corpus-line-read", lineBytes, readFast, readFoundation),
        ("stored-encode", storedBytes, encodeFast, encodeFoundation),
        ("stored-decode", storedBytes, decodeFast, decodeFoundation),
    ] {
        print(
            "RESULT step=codec-\(name) articles=\(fast.count) seconds=\(mine) foundationSeconds=\(foundation) "
                + "mbPerSecond=\(Double(bytes) / mine / 1e6) foundationMBPerSecond=\(Double(bytes) / foundation / 1e6) "
                + "ratio=\(foundation / mine)")
    }
}
