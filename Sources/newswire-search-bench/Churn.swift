// What replaced and removed articles leave behind (`--churn`, run by benchmarks/search/housekeeping.py).
//
// Builds the index over the corpus (× `--scale`), then replays a feed of corrections in batches of 64: two in
// five articles are written again with an edited body, and one in ten is removed. Prints one JSON object: the
// index payload at its largest during the feed (sampled after every write) and after it, against a fresh index
// built over the same final articles (the bytes of dead copies still held), the segments, and whether every
// query's total equals the fresh index's.
import Foundation
import NewswireModel
import NewswireSearch

func runChurnBenchmark(corpusPath: String, queries: [String], scale: Int) -> Never {
    let articles = scaled(readCorpus(corpusPath), scale)
    let index = SearchIndex()
    index.upsert(contentsOf: articles)

    // The feed: articles in a fixed shuffled order (a multiplicative step over the indices).
    var final = articles
    var removed = Set<Int>()
    var batch: [Article] = []
    var updates = 0
    let started = now()
    var peak = 0
    func sample() { peak = max(peak, index.statistics.totalBytes) }
    let n = articles.count
    let step = 7919 % n == 0 ? 1 : 7919
    for k in 0..<(n / 2) {
        let i = k * step % n
        if k % 5 == 4 {
            if !batch.isEmpty { index.upsert(contentsOf: batch); batch.removeAll(); sample() }
            index.remove(id: articles[i].id)
            sample()
            removed.insert(i)
        } else {
            var edited = articles[i]
            edited.paragraphs.append("更正：本文第\(k)次修订。")
            final[i] = edited
            batch.append(edited)
            updates += 1
            if batch.count == 64 { index.upsert(contentsOf: batch); batch.removeAll(); sample() }
        }
    }
    if !batch.isEmpty { index.upsert(contentsOf: batch) }
    let churnSeconds = now() - started
    sample()

    let fresh = SearchIndex()
    fresh.upsert(contentsOf: final.indices.filter { !removed.contains($0) }.map { final[$0] })
    var agree = 0
    for text in queries {
        let request = SearchRequest(text: text, limit: 10, includeSnippets: false)
        if (try? index.search(request).total) == (try? fresh.search(request).total) { agree += 1 }
    }
    let after = index.statistics
    let rebuilt = fresh.statistics
    let result: [String: Any] = [
        "articles": n, "updates": updates, "removals": removed.count, "churnSeconds": churnSeconds,
        "liveAfter": index.count, "segmentsAfter": after.segments, "payloadAfterBytes": after.totalBytes, "payloadPeakBytes": peak,
        "payloadFreshBytes": rebuilt.totalBytes, "totalsAgree": agree, "queries": queries.count,
    ]
    let json = try! JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
    print(String(decoding: json, as: UTF8.self))
    exit(0)
}
