// store-bench: measurements for the store and the engine, one step per process (run.sh drives it).
//
//   store-bench parse <corpus.jsonl>                     JSON Lines → Article only (the import floor)
//   store-bench import-store <corpus.jsonl> <dir> <copies>  store upserts only (no index, no near-duplicates)
//   store-bench import <corpus.jsonl> <dir> <copies>      full engine put; closes (saves the snapshot)
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

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("store-bench: \(message)\n".utf8))
    exit(2)
}

/// Reads the corpus, expanding it to `copies` copies with suffixed ids, and hands batches of 1000 to `body`.
func forEachBatch(corpus: String, copies: Int, _ body: ([Article]) throws -> Void) throws -> (Int, Int) {
    var articles: [Article] = []
    try JSONLinesImport.readArticles(path: corpus, batchSize: 10_000) { articles += $0 }
    let bytes = (try FileManager.default.attributesOfItem(atPath: corpus)[.size] as? Int ?? 0) * copies
    var total = 0
    for copy in 0..<copies {
        for start in stride(from: 0, to: articles.count, by: 1000) {
            var batch = Array(articles[start..<min(articles.count, start + 1000)])
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
        guard arguments.count == 5, let copies = Int(arguments[4]) else { fail("import <corpus> <dir> <copies>") }
        // No periodic snapshots while importing: the benchmark measures put, then one snapshot at close.
        let engine = try NewswireEngine.open(
            dataDirectory: arguments[3], configuration: .init(snapshotEveryChanges: Int.max / 2))
        var putSeconds = 0.0
        var duplicates = 0
        let (count, bytes) = try forEachBatch(corpus: arguments[2], copies: copies) { batch in
            let start = clock.now
            duplicates += try engine.put(batch).filter { $0.duplicateOf != nil }.count
            putSeconds += seconds(clock.now - start)
        }
        let rss = residentMegabytes()
        let closeStart = clock.now
        try engine.close()
        let closeSeconds = seconds(clock.now - closeStart)
        print(
            "RESULT step=import articles=\(count) seconds=\(putSeconds) perSecond=\(Double(count) / putSeconds) "
                + "mbPerSecond=\(Double(bytes) / putSeconds / 1e6) duplicates=\(duplicates) rssMB=\(rss) "
                + "snapshotSeconds=\(closeSeconds)")

    case "open", "rebuild":
        let directory = arguments[2]
        if arguments[1] == "rebuild" {
            try? FileManager.default.removeItem(
                atPath: (directory as NSString).appendingPathComponent(NewswireEngine.snapshotFileName))
        }
        let start = clock.now
        let engine = try NewswireEngine.open(dataDirectory: directory)
        let elapsed = seconds(clock.now - start)
        let rss = residentMegabytes()
        let s = engine.startup
        engine.waitForBackgroundWork()
        try engine.close()
        print(
            "RESULT step=\(arguments[1]) source=\(s.source.rawValue) articles=\(s.articleCount) seconds=\(elapsed) "
                + "snapshotLoadSeconds=\(s.snapshotLoadSeconds) catchUpSeconds=\(s.catchUpSeconds) "
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
