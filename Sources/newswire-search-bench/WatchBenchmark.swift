// `--watch` mode: the cost of matching committed batches against standing queries (live queries), against
// the naive peer that indexes each batch and runs every query over it, in the same run.
//
// Usage: newswire-search-bench --watch --corpus zh-news.jsonl --queries queries.txt
//            [--standing 1000,10000] [--distinct-queries] [--batch 64,512] [--articles 4096] [--warmup 1024]
//            [--naive-batches 8] [--snippets on,off] [--analysed]
// Prints one JSON object with one entry per (standing queries, batch size, snippets on/off). The naive peer is
// timed on the first --naive-batches batches of each entry (it is slow); the matcher on all of them. With
// --analysed each batch comes with the analyses the index made of it (as the server's matcher gets them), made
// before the clock starts, so the matcher's time is the matching alone.
import Foundation
import NewswireLoad
import NewswireModel
import NewswireSearch

/// `count` standing queries: the query file's lines, then variations as watchers write them: CJK topics of
/// 3–5 characters sampled from titles, two-topic ANDs, ORs, exclusions, title-only, source and date filters,
/// and a few pure filters (no term: checked on every article).
func standingQueries(count: Int, base: [String], articles: [Article], seed: UInt64) -> [StandingQuery] {
    var rng = SplitMix64(seed: seed)
    let titles = articles.map { Array($0.title.unicodeScalars) }
    let sources = Array(Set(articles.compactMap(\.source))).sorted()
    func isCJK(_ s: Unicode.Scalar) -> Bool { (0x4E00...0x9FFF).contains(s.value) }
    func topic() -> String {
        while true {
            let title = titles.randomElement(using: &rng)!
            let length = Int.random(in: 3...5, using: &rng)
            guard title.count >= length else { continue }
            let start = Int.random(in: 0...(title.count - length), using: &rng)
            let slice = title[start..<(start + length)]
            guard slice.allSatisfy(isCJK) else { continue }
            return String(String.UnicodeScalarView(slice))
        }
    }
    var queries = base.prefix(count).map { StandingQuery(text: $0) }
    while queries.count < count {
        var query = StandingQuery(text: topic())
        switch Int.random(in: 0..<100, using: &rng) {
        case 0..<50: break
        case 50..<60: query.text = topic() + " " + topic()
        case 60..<70: query.text = topic() + " OR " + topic()
        case 70..<78: query.text = topic() + " -" + base.randomElement(using: &rng)!.split(separator: " ")[0]
        case 78..<86: query.text = "title:" + topic()
        case 86..<92: query.sources = [sources.randomElement(using: &rng)!]
        case 92..<93: query.text = base.randomElement(using: &rng)! + " after:2021-01-01"
        case 93..<99: query.text = topic() + " before:2024-01-01"
        default:
            // One in 100 (then halved): no term at all, so it is checked on every article.
            if Bool.random(using: &rng) { continue }
            query = StandingQuery(text: "source:" + sources.randomElement(using: &rng)!)
        }
        if (try? StandingQueryMatcher().register(query)) != nil { queries.append(query) }
    }
    return queries
}

func runWatchBenchmark() -> Never {
    guard let corpusPath = argument("--corpus"), let queriesPath = argument("--queries") else {
        fail("usage: newswire-search-bench --watch --corpus FILE.jsonl --queries FILE [--standing N,N] [--batch N,N]")
    }
    let standingCounts = (argument("--standing") ?? "1000,10000").split(separator: ",").compactMap { Int($0) }
    let batchSizes = (argument("--batch") ?? "64,512").split(separator: ",").compactMap { Int($0) }
    let timedCount = Int(argument("--articles") ?? "4096") ?? 4096
    let warmupCount = Int(argument("--warmup") ?? "1024") ?? 1024
    let naiveBatches = Int(argument("--naive-batches") ?? "8") ?? 8
    let snippetModes = (argument("--snippets") ?? "on,off").split(separator: ",").map { $0 == "on" }
    let base = ((try? String(contentsOfFile: queriesPath, encoding: .utf8)) ?? "")
        .split(separator: "\n").map(String.init).filter { !$0.isEmpty && !$0.hasPrefix("#") }
    guard !base.isEmpty else { fail("no queries in \(queriesPath)") }
    // `--distinct-queries`: the standing queries `newswire bench watch --distinct-queries` subscribes (the file's
    // queries, then each pair, then each triple of them) instead of the generated mix.
    let distinctQueries = CommandLine.arguments.contains("--distinct-queries")
    let analysed = CommandLine.arguments.contains("--analysed")
    let corpus = readCorpus(corpusPath)
    guard corpus.count > warmupCount else { fail("the corpus has \(corpus.count) articles, fewer than the warm-up") }
    // Warm-up articles first (they feed the matcher's term statistics, as a running server's earlier batches
    // would), then the timed ones; both are spread over the corpus.
    let spread = corpus.enumerated().sorted { ($0.offset * 7919) % corpus.count < ($1.offset * 7919) % corpus.count }
        .map(\.element)
    let warmup = Array(spread.prefix(warmupCount))
    let timed = Array(spread.dropFirst(warmupCount).prefix(timedCount))

    var results: [[String: Any]] = []
    for standing in standingCounts {
        for snippets in snippetModes {
            var queries = standingQueries(count: standing, base: base, articles: corpus, seed: 15)
            if distinctQueries {
                queries = WatchQueryTexts.make(from: base, count: standing, distinct: true).map { StandingQuery(text: $0) }
            }
            for k in queries.indices { queries[k].includeSnippets = snippets }
            let before = residentBytes()
            let matcher = StandingQueryMatcher()
            for query in queries { _ = try! matcher.register(query) }
            let registryBytes = residentBytes() - before
            var start = 0
            while start < warmup.count {
                _ = matcher.match(warmup[start..<min(warmup.count, start + 256)].map { .inserted($0) })
                start += 256
            }
            let requests = queries.map(\.searchRequest)
            for batchSize in batchSizes {
                var matcherTimes: [Double] = []
                var naiveTimes: [Double] = []
                var matches = 0
                var checkedMatches = 0
                var naiveMatches = 0
                var evaluatedPairs = 0
                var evaluatedQueries = 0
                start = 0
                while start < timed.count {
                    let batch = Array(timed[start..<min(timed.count, start + batchSize)])
                    start += batchSize
                    let changes = batch.map { ArticleChange.inserted($0) }
                    let analyses =
                        analysed ? SearchIndex().prepare(contentsOf: batch, keepingAnalyses: true).analyses : nil
                    var t = now()
                    let result = analyses.map { matcher.match(changes, analyses: $0) } ?? matcher.match(changes)
                    matcherTimes.append(now() - t)
                    matches += result.matches.count
                    evaluatedPairs += result.evaluatedPairs
                    evaluatedQueries += result.evaluatedQueries
                    guard naiveTimes.count < naiveBatches else { continue }
                    checkedMatches += result.matches.count
                    // The naive peer: a mini-index of the batch, every query run over it (same snippets).
                    t = now()
                    let index = SearchIndex()
                    index.upsert(contentsOf: batch)
                    for var request in requests {
                        request.limit = batch.count
                        naiveMatches += (try? index.search(request))?.hits.count ?? 0
                    }
                    naiveTimes.append(now() - t)
                }
                let sortedMatcher = matcherTimes.sorted()
                let sortedNaive = naiveTimes.sorted()
                func pct(_ values: [Double], _ p: Double) -> Double {
                    values.isEmpty ? 0 : values[min(values.count - 1, Int(Double(values.count) * p))] * 1e3
                }
                let batches = matcherTimes.count
                results.append([
                    "standing": standing, "batchSize": batchSize, "batches": batches, "articles": timed.count,
                    "snippets": snippets, "naiveBatches": naiveTimes.count, "checkedMatches": checkedMatches,
                    "matcherMeanMs": matcherTimes.reduce(0, +) / Double(batches) * 1e3,
                    "matcherP50Ms": pct(sortedMatcher, 0.5), "matcherMaxMs": sortedMatcher.last! * 1e3,
                    "naiveMeanMs": naiveTimes.isEmpty ? 0 : naiveTimes.reduce(0, +) / Double(naiveTimes.count) * 1e3,
                    "naiveP50Ms": pct(sortedNaive, 0.5),
                    "matches": matches, "naiveMatches": naiveMatches,
                    "evaluatedPairsPerBatch": Double(evaluatedPairs) / Double(batches),
                    "evaluatedQueriesPerBatch": Double(evaluatedQueries) / Double(batches),
                    "alwaysChecked": matcher.statistics.alwaysChecked, "indexedTerms": matcher.statistics.indexedTerms,
                    "registryBytes": registryBytes, "analysed": analysed,
                ])
            }
        }
    }
    let json = try! JSONSerialization.data(
        withJSONObject: ["configs": results, "warmup": warmupCount, "corpusArticles": corpus.count],
        options: [.sortedKeys])
    print(String(decoding: json, as: UTF8.self))
    exit(0)
}
