// newswire-crasher: a test helper for the kill -9 durability tests.
//
//     newswire-crasher store|engine|grouped <data-directory> <seed>
//     newswire-crasher cluster <data-directory> <seed> <postgres-url>
//
// Runs a deterministic stream of writes (batches of new articles, updates of earlier ones, deletes) against an
// `SQLiteArticleStore` or a `NewswireEngine` in <data-directory>, forever; `grouped` puts through the engine's
// `GroupCommitter` (as the server does) and acknowledges when its completion reports the commit; `cluster` is a
// cluster node: a grouped engine over the PostgreSQL store at <postgres-url>, with its index snapshot in
// <data-directory>. For every operation it prints
//     BEGIN <n> <operation as JSON>
// before starting it and
//     ACK <n>
// after the call returned (the write is then acknowledged as durable). Each line goes out in one write(2) so the
// parent sees whole lines only. The parent SIGKILLs this process mid-stream and checks the data directory.
import Foundation
import NewswireEngine
import NewswireModel
import NewswirePostgres
import NewswireStore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One write, as printed in the BEGIN line.
struct Operation: Codable {
    var kind: String  // "upsert" or "delete"
    var articles: [Article]?
    var id: ArticleID?
}

func writeLine(_ text: String) {
    var bytes = Array((text + "\n").utf8)
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeMutableBytes { write(1, $0.baseAddress! + offset, $0.count - offset) }
        if n < 0 {
            if errno == EINTR { continue }
            if errno == EAGAIN {  // a non-blocking pipe the parent has not drained yet
                usleep(1000)
                continue
            }
            FileHandle.standardError.write(Data("newswire-crasher: stdout write failed: errno \(errno)\n".utf8))
            exit(3)
        }
        offset += n
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("newswire-crasher: \(message)\n".utf8))
    exit(2)
}

let arguments = CommandLine.arguments
guard arguments.count == 4 || (arguments.count == 5 && arguments[1] == "cluster"),
    ["store", "engine", "grouped", "cluster"].contains(arguments[1]), let seed = UInt64(arguments[3])
else {
    fail("usage: newswire-crasher store|engine|grouped <data-directory> <seed>, or cluster <dir> <seed> <postgres-url>")
}
let mode = arguments[1]
let directory = arguments[2]

func makeArticle(_ id: ArticleID, operation: Int, version: Int, random: inout SplitMix64) -> Article {
    // Distinct Latin marker words make every version findable (and its old text unfindable) by search.
    let marker = markerWord(operation: operation, version: version)
    let paragraphs = (0..<(1 + random.next(below: 4))).map { p in
        "央视网消息：第\(operation)次写入的第\(p)段，记录\(id.rawValue)，标记 \(marker) 随机数\(random.next(below: 1_000_000))。"
    }
    let day = 1 + random.next(below: 28)
    return Article(
        id: id, url: "https://example.com/\(id.rawValue)", title: "崩溃测试 \(marker)",
        publishedAt: PublishedTime(year: 2024, month: 1 + random.next(below: 12), day: day, utcOffsetSeconds: 28_800),
        source: "测试源", paragraphs: paragraphs, language: "zh")
}

/// `zq<operation>x<version>` with digits spelled as letters a–j, so the analyzer sees one Latin word.
func markerWord(operation: Int, version: Int) -> String {
    func letters(_ n: Int) -> String { String(String(n).unicodeScalars.map { Character(Unicode.Scalar($0.value + 49)!) }) }
    return "zq" + letters(operation) + "x" + letters(version)
}

/// A completion's result handed from the committer's queue to the waiting main thread.
final class LockedResult: @unchecked Sendable {
    private let lock = NSLock()
    private var result: Result<Void, any Error> = .success(())
    func set(_ value: Result<Void, any Error>) { lock.withLock { result = value } }
    func get() throws { try lock.withLock { result }.get() }
}

let put: ([Article]) throws -> Void
let remove: (ArticleID) throws -> Void
switch mode {
case "store":
    let store: SQLiteArticleStore
    do { store = try SQLiteArticleStore(directory: directory) } catch { fail("cannot open store: \(error)") }
    put = { _ = try store.upsert($0) }
    remove = { _ = try store.delete($0) }
default:
    let engine: NewswireEngine
    do {
        // Snapshot often so kills also land during (and right after) background snapshot writes.
        if mode == "cluster" {
            let store = try PostgresArticleStore(url: arguments[4])
            engine = try NewswireEngine.open(
                store: store, dataDirectory: directory, configuration: .init(snapshotEveryChanges: 40))
        } else {
            engine = try NewswireEngine.open(
                dataDirectory: directory, configuration: .init(snapshotEveryChanges: 40))
        }
    } catch {
        fail("cannot open engine: \(error)")
    }
    if mode == "grouped" || mode == "cluster" {
        let committer = GroupCommitter(engine: engine)
        put = { articles in
            let done = DispatchSemaphore(value: 0)
            let outcome = LockedResult()
            committer.submit(articles) { result in
                outcome.set(result.map { _ in () })
                done.signal()
            }
            done.wait()
            try outcome.get()
        }
    } else {
        put = { _ = try engine.put($0) }
    }
    remove = { _ = try engine.delete(id: $0) }
}

var random = SplitMix64(seed: seed)
var written: [ArticleID] = []
let encoder = JSONEncoder()
encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
var operationNumber = 0
while true {
    operationNumber += 1
    let roll = random.next(below: 10)
    var operation: Operation
    if roll < 7 || written.count < 5 {
        let count = 1 + random.next(below: 8)
        let articles = (0..<count).map { k in
            makeArticle(ArticleID("crash-\(seed)-\(operationNumber)-\(k)"), operation: operationNumber, version: 0,
                random: &random)
        }
        operation = Operation(kind: "upsert", articles: articles)
    } else if roll < 9 {
        let id = written[random.next(below: written.count)]
        operation = Operation(
            kind: "upsert",
            articles: [makeArticle(id, operation: operationNumber, version: operationNumber, random: &random)])
    } else {
        operation = Operation(kind: "delete", id: written[random.next(below: written.count)])
    }
    let json = String(decoding: try encoder.encode(operation), as: UTF8.self)
    writeLine("BEGIN \(operationNumber) \(json)")
    do {
        if let articles = operation.articles {
            try put(articles)
            for article in articles where !written.contains(article.id) { written.append(article.id) }
        } else if let id = operation.id {
            try remove(id)
        }
    } catch {
        fail("operation \(operationNumber) failed: \(error)")
    }
    writeLine("ACK \(operationNumber)")
}
