// Drives the hardening scripts (benchmarks/crash, benchmarks/soak) over the real protocol with NewswireClient.
//
//   newswire-hardening ingest PORT TOKEN_FILE CORPUS ACK_FILE [BATCH]
//       PUTs the corpus (JSON Lines) in batches, skipping ids already in ACK_FILE; after each acknowledged PUT
//       appends the batch's ids to ACK_FILE and fsyncs it. Exits 0 when done, 3 when the server goes away.
//   newswire-hardening verify PORT TOKEN_FILE CORPUS ACK_FILE [INDEX_SAMPLE]
//       Every id in ACK_FILE must be stored and equal to its corpus record; INDEX_SAMPLE acknowledged records
//       (default 300) must be found by searching their exact title; STATS must count them. Prints one JSON line.
//   newswire-hardening soak PORT TOKEN_FILE CONNECTIONS SECONDS
//       CONNECTIONS clients (one connection each) loop for SECONDS mixing GET, SEARCH, GET_MANY and PUT; prints
//       one JSON line with operation and error counts.
//   newswire-hardening lag WRITE_NODE READ_NODE TOKEN_FILE COUNT [STOP_FILE [INTERVAL_MS]]
//       Cluster feed lag as a reader sees it: PUTs a probe article to WRITE_NODE every INTERVAL_MS (default 50;
//       COUNT of them, or until STOP_FILE exists) and, once it is acknowledged, SEARCHes READ_NODE for it carrying
//       the write's commit position (read-your-writes: the node answers once its index holds it); prints each
//       probe's lag (its acknowledgement to that answer, ms) on a line of its own, and exits once every probe was
//       found.
// PORT may also be HOST:PORT, or several HOST:PORT separated by commas (cluster nodes: the client moves a failed
// node's requests to another one, retrying up to twice).
import Foundation
import NewswireClient

func fail(_ message: String, code: Int32 = 1) -> Never {
    FileHandle.standardError.write(Data(("newswire-hardening: " + message + "\n").utf8))
    exit(code)
}

func readToken(_ path: String) -> String {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8),
        let line = text.split(whereSeparator: \.isNewline).first
    else { fail("cannot read a token from \(path)") }
    return String(line).trimmingCharacters(in: .whitespaces)
}

func loadCorpus(_ path: String) -> [Article] {
    guard let data = FileManager.default.contents(atPath: path) else { fail("cannot read corpus \(path)") }
    var articles: [Article] = []
    var lineNumber = 0
    for line in data.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
        lineNumber += 1
        do {
            articles.append(try JSONLinesImport.article(fromJSONLine: line, lineNumber: lineNumber))
        } catch {
            fail("corpus line \(lineNumber): \(error.reason)")
        }
    }
    return articles
}

func readAcked(_ path: String) -> [String] {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
    return text.split(separator: "\n").map(String.init)
}

/// `PORT`, `HOST:PORT`, or `HOST:PORT,HOST:PORT…` as endpoints (host 127.0.0.1 by default).
func endpoints(_ text: String) -> [NewswireClient.Endpoint] {
    let parsed = text.split(separator: ",").map { part -> NewswireClient.Endpoint? in
        let pieces = part.split(separator: ":")
        guard let port = pieces.last.flatMap({ Int($0) }) else { return nil }
        return NewswireClient.Endpoint(host: pieces.count > 1 ? String(pieces[0]) : "127.0.0.1", port: port)
    }
    guard !parsed.isEmpty, parsed.allSatisfy({ $0 != nil }) else { fail("not a port or HOST:PORT list: \(text)", code: 64) }
    return parsed.compactMap { $0 }
}

func client(port: String, token: String, connections: Int? = nil) -> NewswireClient {
    let nodes = endpoints(port)
    return NewswireClient(
        configuration: .init(
            endpoints: nodes, token: token, connectTimeout: .seconds(5), requestTimeout: .seconds(60),
            connections: connections ?? nodes.count, maxRetries: nodes.count > 1 ? 2 : 0,
            clientName: "newswire-hardening"))
}

func ingest(port: String, token: String, corpusPath: String, ackPath: String, batchSize: Int) async {
    let corpus = loadCorpus(corpusPath)
    let acked = Set(readAcked(ackPath))
    let pending = corpus.filter { !acked.contains($0.id.rawValue) }
    if !FileManager.default.fileExists(atPath: ackPath) {
        _ = FileManager.default.createFile(atPath: ackPath, contents: nil)  // the open below reports a failure
    }
    guard let handle = FileHandle(forWritingAtPath: ackPath) else { fail("cannot open \(ackPath)") }
    handle.seekToEndOfFile()
    let newswire = client(port: port, token: token)
    var start = 0
    while start < pending.count {
        let batch = Array(pending[start..<min(pending.count, start + batchSize)])
        do {
            let result = try await newswire.put(batch)
            guard result.rejected.isEmpty else { fail("server rejected records: \(result.rejected)") }
        } catch {
            print("ingest stopped after \(start) of \(pending.count) pending records: \(error)")
            await newswire.shutdown()
            exit(3)
        }
        // Acknowledged: only now may the ids be recorded as promised.
        handle.write(Data(batch.map { $0.id.rawValue + "\n" }.joined().utf8))
        fsync(handle.fileDescriptor)
        start += batch.count
    }
    await newswire.shutdown()
    print("ingested \(pending.count) records")
}

func verify(port: String, token: String, corpusPath: String, ackPath: String, indexSample: Int) async {
    let corpus = Dictionary(
        loadCorpus(corpusPath).map { ($0.id.rawValue, $0) }, uniquingKeysWith: { first, _ in first })
    let acked = Array(Set(readAcked(ackPath))).sorted()
    let newswire = client(port: port, token: token)
    var missing: [String] = []
    var different: [String] = []
    do {
        for start in stride(from: 0, to: acked.count, by: 2000) {
            let ids = acked[start..<min(acked.count, start + 2000)].map { ArticleID($0) }
            let (articles, absent) = try await newswire.articles(ids: ids)
            missing += absent.map(\.rawValue)
            for var article in articles {
                guard let expected = corpus[article.id.rawValue] else { continue }
                article.duplicateOf = nil  // near-duplicate marking is the engine's, not the record's
                if article != expected { different.append(article.id.rawValue) }
            }
        }
        var unindexed: [String] = []
        var generator = SystemRandomNumberGenerator()
        for id in acked.shuffled(using: &generator).prefix(indexSample) {
            guard let article = corpus[id], let run = longestHanRun(article.title), run.count >= 2 else { continue }
            let page = try await newswire.search(SearchRequest(text: "\"" + run + "\"", limit: 1000))
            // A phrase shared by more than 1,000 articles cannot show this one; such samples prove nothing.
            if page.total <= 1000, !page.hits.contains(where: { $0.id.rawValue == id }) { unindexed.append(id) }
        }
        let stats = try await newswire.stats()
        var count: Int64 = -1
        var startup = "?"
        for entry in stats.entries {
            switch (entry.name, entry.value) {
            case ("articles.count", .integer(let value)): count = value
            case ("index.startup", .text(let value)): startup = value
            default: break
            }
        }
        await newswire.shutdown()
        let ok = missing.isEmpty && different.isEmpty && unindexed.isEmpty && count >= Int64(acked.count)
        print(
            "{\"acknowledged\": \(acked.count), \"missing\": \(missing.count), \"different\": \(different.count), "
                + "\"index_sample\": \(min(indexSample, acked.count)), \"unindexed\": \(unindexed.count), "
                + "\"stored\": \(count), \"index_startup\": \"\(startup)\", \"ok\": \(ok)}")
        if !ok {
            FileHandle.standardError.write(
                Data(
                    "missing \(missing.prefix(10)) different \(different.prefix(10)) unindexed \(unindexed.prefix(10))\n"
                        .utf8))
            exit(1)
        }
    } catch {
        fail("verify failed: \(error)")
    }
}

func soak(port: String, token: String, connections: Int, seconds: Int) async {
    let seedIDs = (0..<200).map { ArticleID("soak-\($0)") }
    let writer = client(port: port, token: token)
    do {
        _ = try await writer.put(seedIDs.enumerated().map { soakArticle($0.offset, revision: 0) })
    } catch {
        fail("cannot seed the soak articles: \(error)")
    }
    await writer.shutdown()
    let deadline = ContinuousClock.now + .seconds(seconds)
    let clients = (0..<connections).map { _ in client(port: port, token: token) }
    struct Tally: Sendable {
        var operations = 0
        var reads = 0
        var writes = 0
        var errors: [String: Int] = [:]
    }
    let total = await withTaskGroup(of: Tally.self) { group in
        for (index, newswire) in clients.enumerated() {
            group.addTask {
                var tally = Tally()
                var n = index
                while ContinuousClock.now < deadline {
                    n &+= 7919
                    let pick = n % 10
                    do {
                        switch pick {
                        case 0, 1:
                            _ = try await newswire.put([soakArticle(n % 200, revision: n)])
                            tally.writes += 1
                        case 2, 3, 4:
                            _ = try await newswire.article(id: seedIDs[n % 200])
                            tally.reads += 1
                        case 5, 6, 7:
                            _ = try await newswire.search(SearchRequest(text: "浸泡测试 第\(n % 200)篇", limit: 10))
                            tally.reads += 1
                        default:
                            _ = try await newswire.articles(ids: (0..<10).map { seedIDs[(n + $0) % 200] })
                            tally.reads += 1
                        }
                        tally.operations += 1
                    } catch let error as NewswireClientError {
                        tally.errors[error.code.rawValue, default: 0] += 1
                    } catch {
                        tally.errors["\(type(of: error))", default: 0] += 1
                    }
                }
                await newswire.shutdown()
                return tally
            }
        }
        var total = Tally()
        for await tally in group {
            total.operations += tally.operations
            total.reads += tally.reads
            total.writes += tally.writes
            total.errors.merge(tally.errors, uniquingKeysWith: +)
        }
        return total
    }
    let errors = total.errors.map { "\"\($0.key)\": \($0.value)" }.sorted().joined(separator: ", ")
    print(
        "{\"connections\": \(connections), \"seconds\": \(seconds), \"operations\": \(total.operations), "
            + "\"reads\": \(total.reads), \"writes\": \(total.writes), \"errors\": {\(errors)}}")
    if !total.errors.isEmpty { exit(1) }
}

func lag(writeNode: String, readNode: String, token: String, count: Int, stopFile: String?, interval: Duration) async {
    let writer = client(port: writeNode, token: token)
    let reader = client(port: readNode, token: token)  // its own client: it carries no position of the writes
    let run = UInt64(Date().timeIntervalSince1970 * 1000) % 1_000_000
    // Letters only (digits shifted to a-j): a word every probe of this run carries, and a word of each probe's own.
    func word(_ number: UInt64) -> String {
        String(String(number).unicodeScalars.map { Character(Unicode.Scalar($0.value + 49)!) })
    }
    let marker = "lagprobe" + word(run)
    do {
        // A probe every `interval`, each on its own task, whether or not the previous ones are answered yet: the
        // samples cover the whole run at an even rate instead of one per lag.
        try await withThrowingTaskGroup(of: Void.self) { probes in
            for n in 0..<count {
                if let stopFile, FileManager.default.fileExists(atPath: stopFile) { break }
                let next = ContinuousClock.now + interval
                probes.addTask {
                    let own = word(UInt64(n))
                    let article = Article(
                        id: ArticleID("lag-probe-\(run)-\(n)"), title: "延迟探针 \(marker) \(own)", source: "lag probe",
                        paragraphs: ["集群复制延迟探针 \(marker)。"], language: "zh")
                    let written = try await writer.put([article])
                    let acknowledged = ContinuousClock.now
                    guard let position = written.commitPosition else {
                        fail("lag probe: \(writeNode) answered without a commit position (not a cluster node)")
                    }
                    // Read-your-writes on the other node (PROTOCOL.md §5.18): a SEARCH carrying the write's position
                    // is answered once that node's index holds it, so the answer arrives when the probe became
                    // searchable there, plus a round trip. The node waits for its feed; nothing polls it.
                    var request = SearchRequest(text: "\(marker) \(own)", limit: 0, includeSnippets: false)
                    request.minPosition = position
                    let found = try await reader.search(request).total
                    let lag = ContinuousClock.now - acknowledged
                    guard found == 1 else { fail("lag probe: \(readNode) answered at \(position) without probe \(n)") }
                    let milliseconds = Double(lag.components.seconds) * 1e3 + Double(lag.components.attoseconds) / 1e15
                    // One unbuffered line per probe, so a caller that stops the probe early has every lag.
                    FileHandle.standardOutput.write(Data("\(milliseconds)\n".utf8))
                }
                try await Task.sleep(until: next)
            }
            try await probes.waitForAll()
        }
    } catch {
        fail("lag probe failed: \(error)")
    }
    await writer.shutdown()
    await reader.shutdown()
}

/// The longest run of Han characters in `text` (at most 12), a phrase the index must find.
func longestHanRun(_ text: String) -> String? {
    var best = ""
    var current = ""
    for scalar in text.unicodeScalars {
        if (0x4E00...0x9FFF).contains(scalar.value) {
            current.unicodeScalars.append(scalar)
            if current.unicodeScalars.count > best.unicodeScalars.count { best = current }
            if current.unicodeScalars.count == 12 { break }
        } else {
            current = ""
        }
    }
    return best.isEmpty ? nil : best
}

func soakArticle(_ n: Int, revision: Int) -> Article {
    Article(
        id: ArticleID("soak-\(n)"), title: "浸泡测试 第\(n)篇", source: "soak",
        paragraphs: ["浸泡测试文章第\(n)篇，第\(revision)次修订。", "Soak article \(n), revision \(revision)."],
        language: "zh")
}

let arguments = CommandLine.arguments
guard arguments.count >= 5 else {
    fail("usage: newswire-hardening ingest|verify|soak|lag PORT TOKEN_FILE ... (see the source header)", code: 64)
}
let port = arguments[2]

/// The whole number at `arguments[index]`, `fallback` when it is not given; a given one that is not a positive
/// whole number is a usage error naming it (a benchmark must not run with a count it was not asked for).
func count(at index: Int, _ name: String, fallback: Int) -> Int {
    guard index < arguments.count else { return fallback }
    guard let value = Int(arguments[index]), value > 0 else {
        fail("\(arguments[1]): \(name) \(arguments[index]) is not a positive whole number", code: 64)
    }
    return value
}

switch arguments[1] {
case "ingest" where arguments.count >= 6:
    await ingest(
        port: port, token: readToken(arguments[3]), corpusPath: arguments[4], ackPath: arguments[5],
        batchSize: count(at: 6, "BATCH", fallback: 200))
case "verify" where arguments.count >= 6:
    await verify(
        port: port, token: readToken(arguments[3]), corpusPath: arguments[4], ackPath: arguments[5],
        indexSample: count(at: 6, "INDEX_SAMPLE", fallback: 300))
case "soak" where arguments.count >= 6:
    await soak(
        port: port, token: readToken(arguments[3]), connections: count(at: 4, "CONNECTIONS", fallback: 1000),
        seconds: count(at: 5, "SECONDS", fallback: 60))
case "lag" where arguments.count >= 6:
    await lag(
        writeNode: port, readNode: arguments[3], token: readToken(arguments[4]), count: count(at: 5, "COUNT", fallback: 200),
        stopFile: arguments.count > 6 ? arguments[6] : nil,
        interval: .milliseconds(count(at: 7, "INTERVAL_MS", fallback: 50)))
default:
    fail("usage: newswire-hardening ingest|verify|soak|lag PORT TOKEN_FILE ... (see the source header)", code: 64)
}
