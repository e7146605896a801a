// How long a snapshot holds up writes (`--snapshot-pause DIR`, run by benchmarks/search/housekeeping.py).
//
// Builds the index over the corpus (× `--scale`), then a writer thread writes one new article per call, as a live
// feed does, while the main thread waits `quietSeconds`, writes a snapshot, and waits again. Each write is
// `prepare` then `install`, as the engine writes (merges run apart from writes, so they are left out here; what
// is measured is how long a write waits for the index). Prints one JSON object: the snapshot's wall time and the
// slowest write that overlapped it, against the slowest write of a window as long right after it (on a shared
// machine a longer window catches more scheduler stalls, so the two windows are equal).
import Foundation
import NewswireModel
import NewswireSearch

/// Upsert latencies recorded by the feed thread.
private final class FeedRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var started: [Double] = []
    private var took: [Double] = []
    private var stopRequested = false
    let finished = DispatchSemaphore(value: 0)

    func record(start: Double, seconds: Double) {
        lock.lock()
        started.append(start)
        took.append(seconds)
        lock.unlock()
    }

    var shouldStop: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopRequested
    }

    func stop() {
        lock.lock()
        stopRequested = true
        lock.unlock()
        finished.wait()
    }

    /// Latencies of upserts running at some point within `window`.
    func latencies(overlapping window: ClosedRange<Double>) -> [Double] {
        lock.lock()
        defer { lock.unlock() }
        return zip(started, took).filter { $0.0 <= window.upperBound && $0.0 + $0.1 >= window.lowerBound }.map(\.1)
    }
}

func runSnapshotPauseBenchmark(corpusPath: String, scale: Int, directory: String) -> Never {
    let base = readCorpus(corpusPath)
    let index = SearchIndex()
    var articles = scaled(base, scale)
    index.upsert(contentsOf: articles)
    articles = []

    let quietSeconds = 1.0
    let recorder = FeedRecorder()
    let feed = Thread {
        var k = 0
        while !recorder.shouldStop {
            var article = base[k % base.count]
            article.id = ArticleID("live-\(k)")
            k += 1
            let start = now()
            index.install(index.prepare(contentsOf: [article]))
            recorder.record(start: start, seconds: now() - start)
        }
        recorder.finished.signal()
    }
    feed.start()
    let quietStart = now()
    Thread.sleep(forTimeInterval: quietSeconds)
    let path = directory + "/pause-\(scale).snapshot"
    let snapshotStart = now()
    do { try index.write(to: path, metadata: Array("bench".utf8)) } catch { fail("snapshot write: \(error)") }
    let snapshotEnd = now()
    Thread.sleep(forTimeInterval: snapshotEnd - snapshotStart + 0.1)
    recorder.stop()
    try? FileManager.default.removeItem(atPath: path)

    _ = quietStart
    let during = recorder.latencies(overlapping: snapshotStart...snapshotEnd)
    let quiet = recorder.latencies(overlapping: (snapshotEnd + 0.05)...(2 * snapshotEnd - snapshotStart + 0.05))
    let result: [String: Any] = [
        "articles": base.count * scale, "snapshotSeconds": snapshotEnd - snapshotStart,
        "upsertsDuringSnapshot": during.count, "slowestUpsertDuringSnapshotMs": (during.max() ?? 0) * 1e3,
        "upsertsQuiet": quiet.count, "slowestUpsertQuietMs": (quiet.max() ?? 0) * 1e3,
        "medianUpsertQuietMs": quiet.isEmpty ? 0 : quiet.sorted()[quiet.count / 2] * 1e3,
    ]
    let json = try! JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
    print(String(decoding: json, as: UTF8.self))
    exit(0)
}
