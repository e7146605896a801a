// Benchmark driver for NewswireSearch, run by benchmarks/search/run.py (release build).
//
// Usage: newswire-search-bench --corpus zh-news.jsonl --queries queries.txt [--scale N] [--snapshot DIR]
//        [--search-snapshot FILE: search the index of a snapshot a server saved instead of one built from the corpus]
//        [--batches N: build from writes of N articles each, merged as a server merges its group commits]
//        [--compact: fold the index's segments first, as a server does once writes go quiet]
//        [--sort relevance|newest|oldest: the order the timed searches ask for (default relevance)]
// Prints one JSON object: build time, memory, per-query latency percentiles and QPS, snapshot timings.
// Housekeeping modes (benchmarks/search/housekeeping.py): --snapshot-pause DIR, --churn, --load-only SNAPSHOT.
// With --watch, measures standing-query matching instead (see WatchBenchmark.swift; benchmarks/search/watch.py).
import Foundation
import NewswireModel
import NewswireSearch

#if canImport(Glibc)
    import Glibc

    /// glibc's malloc_trim (not exported by the Glibc module): return freed heap to the OS before reading RSS.
    @_silgen_name("malloc_trim") func mallocTrim(_ pad: Int) -> Int32
#endif

func argument(_ name: String) -> String? {
    let args = CommandLine.arguments
    guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
    return args[i + 1]
}

func residentBytes() -> Int { statusBytes("VmRSS:") }

/// Resident anonymous memory (the heap and mapped arrays): unlike VmRSS it leaves out the pages of shared
/// libraries' code, which reading the corpus touches and an index never owns.
func anonymousBytes() -> Int { statusBytes("RssAnon:") }

/// A `/proc/self/status` field (given in kB) in bytes, after returning freed heap to the OS.
private func statusBytes(_ field: String) -> Int {
    #if canImport(Glibc)
        _ = mallocTrim(0)
    #endif
    guard let status = FileHandle(forReadingAtPath: "/proc/self/status")?.readDataToEndOfFile() else { return 0 }
    for line in String(decoding: status, as: UTF8.self).split(separator: "\n") where line.hasPrefix(field) {
        return line.split(separator: " ").compactMap { Int($0) }.first.map { $0 * 1024 } ?? 0
    }
    return 0
}

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    exit(2)
}

if CommandLine.arguments.contains("--watch") { runWatchBenchmark() }
if let path = argument("--load-only") {
    // A restart: a fresh process loads the snapshot (what a server does when it starts), so the memory measured
    // holds nothing left over from building or dropping an index.
    let (residentBefore, anonymousBefore) = (residentBytes(), anonymousBytes())
    let start = now()
    let loaded: SearchIndex
    do { loaded = try SearchIndex.load(from: path).index } catch { fail("snapshot load: \(error)") }
    let seconds = now() - start
    // The index must outlive the measurement (ARC may release it after its last use).
    let (resident, anonymous) = withExtendedLifetime(loaded) { (residentBytes(), anonymousBytes()) }
    let result: [String: Any] = [
        "loadedCount": loaded.count, "snapshotLoadSeconds": seconds,
        "loadedRSSBytes": resident - residentBefore, "loadedAnonymousBytes": anonymous - anonymousBefore,
    ]
    print(String(decoding: try! JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
    exit(0)
}

guard let corpusPath = argument("--corpus"), let queriesPath = argument("--queries") else {
    fail(
        "usage: newswire-search-bench --corpus FILE.jsonl --queries FILE [--scale N] [--snapshot DIR]"
            + " [--search-snapshot FILE]")
}
let scale = Int(argument("--scale") ?? "1") ?? 1
if let directory = argument("--snapshot-pause") {
    runSnapshotPauseBenchmark(corpusPath: corpusPath, scale: scale, directory: directory)
}
let snapshotDirectory = argument("--snapshot")
let baseline = residentBytes()
let anonymousBaseline = anonymousBytes()

func loadArticles() -> [Article] { scaled(readCorpus(corpusPath), scale) }

// One query per line; `#` lines are comments (as `newswire bench --queries` reads the same files).
let queries = (try? String(contentsOfFile: queriesPath, encoding: .utf8))?
    .split(separator: "\n").map(String.init).filter { !$0.isEmpty && !$0.hasPrefix("#") } ?? []
guard !queries.isEmpty else { fail("no queries in \(queriesPath)") }
if CommandLine.arguments.contains("--churn") { runChurnBenchmark(corpusPath: corpusPath, queries: queries, scale: scale) }

var index = SearchIndex()
var rawTextBytes = 0
var incrementalSeconds = 0.0
let incrementalCount = Int(argument("--incremental") ?? "0") ?? 0
var articleCount = 0
var buildSeconds = 0.0
if let path = argument("--search-snapshot") {
    // The index a server saved (e.g. `DATA_DIR/index.snapshot` after an ingest over the protocol), searched as the
    // server holds it: its documents in the order the server's commits stored them, not the corpus file's order.
    do { index = try SearchIndex.load(from: path).index } catch { fail("snapshot load: \(error)") }
    articleCount = index.count
} else {
    let articles = loadArticles()
    articleCount = articles.count
    for article in articles { rawTextBytes += article.title.utf8.count + article.body.utf8.count }
    let start = now()
    if let batch = argument("--batches").flatMap(Int.init), batch > 0 {
        // Written in batches, each one write with the merges it triggers, as a server's group commits write them.
        var i = 0
        while i < articles.count {
            index.upsert(contentsOf: Array(articles[i..<min(articles.count, i + batch)]))
            i += batch
        }
    } else {
        index.upsert(contentsOf: articles)
    }
    buildSeconds = now() - start
    if incrementalCount > 0 {
        // Ingest one article per call, as a live feed would, into a fresh index.
        let live = SearchIndex()
        let started = now()
        for article in articles.prefix(incrementalCount) { live.upsert(article) }
        incrementalSeconds = now() - started
    }
}
let loadedSegments = index.statistics.segments
var compactSeconds = 0.0
// `--compact`: fold the segments as a server does once writes go quiet.
if CommandLine.arguments.contains("--compact") {
    let start = now()
    index.compactSegments()
    compactSeconds = now() - start
}
let indexRSS = residentBytes() - baseline
let indexAnonymous = anonymousBytes() - anonymousBaseline
let statistics = index.statistics

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}

/// Runs every query `rounds` times; a query's latency is its fastest round (robust to a busy machine), QPS is
/// queries over the total elapsed time of all rounds.
/// `--sort`: the order every timed search asks for.
let resultOrder: SearchSort = {
    switch argument("--sort") ?? "relevance" {
    case "relevance": return .relevance
    case "newest": return .newest
    case "oldest": return .oldest
    case let other:
        FileHandle.standardError.write(Data("--sort \(other): expected relevance, newest or oldest\n".utf8))
        exit(64)
    }
}()

func timeQueries(
    _ index: SearchIndex, snippets: Bool, rounds: Int
) -> (p50: Double, p99: Double, qps: Double, totals: [Int], latencies: [Double]) {
    var best = [Double](repeating: .infinity, count: queries.count)
    var totals = [Int](repeating: -1, count: queries.count)
    var elapsed = 0.0
    for _ in 0..<rounds {
        for (q, text) in queries.enumerated() {
            let request = SearchRequest(text: text, sort: resultOrder, limit: 10, includeSnippets: snippets)
            let start = now()
            let page = try? index.search(request)
            let took = now() - start
            best[q] = min(best[q], took)
            totals[q] = page?.total ?? -1
            elapsed += took
        }
    }
    let inOrder = best.map { $0 * 1e3 }
    let sorted = best.sorted()
    return (
        percentile(sorted, 0.5) * 1e3, percentile(sorted, 0.99) * 1e3,
        Double(queries.count * rounds) / elapsed, totals, inOrder
    )
}

// Warm up once, then measure.
_ = timeQueries(index, snippets: false, rounds: 1)
// `--rounds N` times more rounds (for profiling the query path).
let plain = timeQueries(index, snippets: false, rounds: Int(argument("--rounds") ?? "3") ?? 3)
// `--no-snippets` skips the snippet rounds (for profiling the search path alone).
let withSnippets =
    CommandLine.arguments.contains("--no-snippets")
    ? plain : timeQueries(index, snippets: true, rounds: 3)

var result: [String: Any] = [
    "articles": articleCount, "rawTextBytes": rawTextBytes, "buildSeconds": buildSeconds, "indexRSSBytes": indexRSS, "indexAnonymousBytes": indexAnonymous,
    "p50ms": plain.p50, "p99ms": plain.p99, "qps": plain.qps, "snippetP50ms": withSnippets.p50,
    "snippetP99ms": withSnippets.p99, "totals": plain.totals, "queries": queries.count,
    "latenciesMs": plain.latencies, "snippetLatenciesMs": withSnippets.latencies,
    "loadedSegments": loadedSegments, "compactSeconds": compactSeconds,
    "postingsBytes": statistics.postingsBytes, "dictionaryBytes": statistics.dictionaryBytes,
    "storedTextBytes": statistics.storedTextBytes, "attributeBytes": statistics.attributeBytes,
    "segments": statistics.segments, "terms": statistics.terms, "deletedArticles": statistics.deletedArticles,
    "incrementalCount": min(incrementalCount, articleCount), "incrementalSeconds": incrementalSeconds,
]

if let snapshotDirectory {
    let path = snapshotDirectory + "/search-\(scale).snapshot"
    var start = now()
    do { try index.write(to: path, metadata: Array("bench".utf8)) } catch { fail("snapshot write: \(error)") }
    result["snapshotWriteSeconds"] = now() - start
    result["snapshotBytes"] = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    index = SearchIndex()
    let beforeLoad = residentBytes()
    start = now()
    do { index = try SearchIndex.load(from: path).index } catch { fail("snapshot load: \(error)") }
    result["snapshotLoadSeconds"] = now() - start
    result["loadedRSSBytes"] = residentBytes() - beforeLoad
    result["loadedCount"] = index.count
    // `--keep-snapshot` leaves the file for a restart measured in a fresh process (`--load-only PATH`).
    if !CommandLine.arguments.contains("--keep-snapshot") { try? FileManager.default.removeItem(atPath: path) }
}

let json = try! JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
print(String(decoding: json, as: UTF8.self))
