// Micro-benchmark of the Newswire v1 codec (see run.sh). Prints a markdown table.
//
// Peer: Foundation's JSONEncoder/JSONDecoder on the same values, measured in the same run, so the ratio column
// is comparable across machines even when the absolute numbers are not.
import Foundation
import NIOCore
import NewswireModel
import NewswireProtocol

// MARK: Inputs

func loadCorpus(limit: Int) -> [Article] {
    let root = URL(fileURLWithPath: CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : ".")
    let path = root.appendingPathComponent("../shared/corpus/zh-news.jsonl").standardizedFileURL.path
    guard let handle = FileHandle(forReadingAtPath: path) else { return [] }
    defer { try? handle.close() }
    var articles: [Article] = []
    var data = Data()
    while articles.count < limit {
        let chunk = handle.readData(ofLength: 1 << 20)
        if chunk.isEmpty { break }
        data.append(chunk)
        while let newline = data.firstIndex(of: 0x0A), articles.count < limit {
            let line = data[data.startIndex..<newline]
            data.removeSubrange(data.startIndex...newline)
            guard let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any],
                let id = object["id"] as? String, let title = object["title"] as? String
            else { continue }
            let body = object["body"] as? String ?? ""
            articles.append(
                Article(
                    id: ArticleID(id), url: object["url"] as? String, title: title,
                    publishedAt: (object["published"] as? String).flatMap { PublishedTime(iso8601: $0) },
                    source: object["source"] as? String,
                    paragraphs: body.split(separator: "\n").map(String.init), language: "zh"))
        }
    }
    return articles
}

let corpus = loadCorpus(limit: 2_000)
let corpusNote: String
let typical: Article
if corpus.isEmpty {
    corpusNote = "corpus ../shared/corpus/zh-news.jsonl not found: using a built-in 6-paragraph article"
    let paragraph = "本台消息：今天上午，特高压输电工程在西部地区正式投运，标志着疆电入川通道全面贯通，每年可向四川输送清洁电能。"
    typical = Article(
        id: "bench-1", title: "疆电入川工程全面投运",
        publishedAt: PublishedTime(secondsSinceEpoch: 1_712_541_840, utcOffsetSeconds: 28_800),
        source: "示例新闻网", paragraphs: Array(repeating: paragraph, count: 6), language: "zh")
} else {
    // The article with the median body length among the first 2,000.
    let sorted = corpus.sorted { $0.body.count < $1.body.count }
    typical = sorted[sorted.count / 2]
    corpusNote = "typical record = median body length of the first \(corpus.count) corpus articles (id \(typical.id))"
}
let pageSource = corpus.isEmpty ? Array(repeating: typical, count: 20) : Array(corpus.prefix(20))
let page = SearchPage(
    total: 1_234,
    hits: pageSource.enumerated().map { index, article in
        let snippet = String(article.body.prefix(80))
        return SearchHit(
            id: article.id, title: article.title, source: article.source, publishedAt: article.publishedAt,
            score: 12.5 - Double(index) * 0.37, snippet: snippet, highlights: [HighlightRange(start: 4, end: 8)])
    },
    facets: [
        Facet(
            field: .source, counts: [FacetCount(value: "央视网《新闻联播》", count: 1_200), FacetCount(value: "新华社", count: 34)]),
        Facet(field: .month, counts: (1...6).map { FacetCount(value: "2024-0\($0)", count: 200 - $0) }),
    ],
    tookMicros: 950)

// MARK: Measurement

/// Runs `body` in batches until `seconds` have passed; returns operations per second.
func measure(seconds: Double = 1.0, _ body: () -> Void) -> Double {
    for _ in 0..<50 { body() }  // warm-up
    var operations = 0
    var batch = 64
    let start = DispatchTime.now().uptimeNanoseconds
    var elapsed: Double = 0
    while elapsed < seconds {
        for _ in 0..<batch { body() }
        operations += batch
        elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        if elapsed < seconds / 10 { batch *= 2 }
    }
    return Double(operations) / elapsed
}

@inline(never) func blackHole<T>(_ value: T) { withExtendedLifetime(value) {} }

let jsonEncoder = JSONEncoder()
let jsonDecoder = JSONDecoder()
let zlibSettings = CompressionSettings(algorithm: .zlib, threshold: 0, level: 6)
let zlibFast = CompressionSettings(algorithm: .zlib, threshold: 0, level: 1)

func frameBytes(_ response: Response, compression: CompressionSettings) -> ByteBuffer {
    var encoder = FrameEncoder(compression: compression)
    var out = ByteBuffer()
    encoder.encode(response, requestID: RequestID(1), into: &out)
    return out
}

func zlibSize(_ data: [UInt8]) -> Int {
    var encoder = FrameEncoder(compression: CompressionSettings(algorithm: .zlib, level: 6))
    return encoder.compressPayload(ByteBuffer(bytes: data))?.readableBytes ?? data.count
}

/// The JSON peer with the same framing and compression: JSON bytes as the payload of a frame (opcode 0x7F00, which
/// the frame decoder does not interpret), so both sides pay for the same deflate/inflate.
func jsonPeer<T: Codable>(_ value: T, compression: CompressionSettings) -> (encode: Double, decode: Double) {
    var encoder = FrameEncoder(compression: compression)
    var out = ByteBuffer()
    let encode = measure {
        out.clear()
        let json = try! jsonEncoder.encode(value)
        encoder.encode(opcode: Opcode(rawValue: 0x7F00), requestID: RequestID(1), into: &out) { $0.writeBytes(json) }
    }
    var wire = ByteBuffer()
    encoder.encode(opcode: Opcode(rawValue: 0x7F00), requestID: RequestID(1), into: &wire) {
        $0.writeBytes(try! jsonEncoder.encode(value))
    }
    var decoder = NewswireFrameDecoder()
    let decode = measure {
        var input = wire
        let frame = try! decoder.decode(buffer: &input)!
        blackHole(try! jsonDecoder.decode(T.self, from: Data(frame.payload.readableBytesView)))
    }
    return (encode, decode)
}

struct Row {
    var name: String
    var ours: Double
    var peer: Double
}
var rows: [Row] = []

func benchmarkArticle(compression: CompressionSettings, label: String) {
    let response = Response.article(ArticleMessage(typical))
    let record = ArticleRecord(typical)
    var encoder = FrameEncoder(compression: compression)
    var out = ByteBuffer()
    let encodeFresh = measure {
        out.clear()
        encoder.encode(.article(ArticleMessage(typical)), requestID: RequestID(1), into: &out)
    }
    let encodeCached = measure {
        out.clear()
        encoder.encode(.article(ArticleMessage(record: record)), requestID: RequestID(1), into: &out)
    }
    let wire = frameBytes(response, compression: compression)
    var decoder = NewswireFrameDecoder()
    let decode = measure {
        var input = wire
        let frame = try! decoder.decode(buffer: &input)!
        guard case .article(let message) = try! Response(frame: frame) else { fatalError() }
        blackHole(try! message.record.decode())
    }
    let (jsonEncode, jsonDecode) = jsonPeer(typical, compression: compression)
    if compression.algorithm == .zlib {
        // The server's GET cache: record payload compressed once, then only the header is written per request.
        var payload = ByteBuffer()
        ArticleMessage(record: record).encode(into: &payload)
        let zlib = encoder.compressPayload(payload)!
        let frame = OutboundFrame(
            opcode: .article, requestID: RequestID(1),
            payload: .precompressed(zlib: zlib, uncompressedLength: UInt32(payload.readableBytes)))
        let encodePrecompressed = measure {
            out.clear()
            encoder.encode(frame, into: &out)
        }
        rows.append(
            Row(
                name: "ARTICLE encode, cached compressed payload (\(label))", ours: encodePrecompressed,
                peer: jsonEncode))
    }
    rows.append(Row(name: "ARTICLE encode, from Article (\(label))", ours: encodeFresh, peer: jsonEncode))
    rows.append(Row(name: "ARTICLE encode, cached record (\(label))", ours: encodeCached, peer: jsonEncode))
    rows.append(Row(name: "ARTICLE decode + record decode (\(label))", ours: decode, peer: jsonDecode))
}

func benchmarkSearch(compression: CompressionSettings, label: String) {
    var encoder = FrameEncoder(compression: compression)
    var out = ByteBuffer()
    let encode = measure {
        out.clear()
        encoder.encode(.searchResult(page), requestID: RequestID(1), into: &out)
    }
    let wire = frameBytes(.searchResult(page), compression: compression)
    var decoder = NewswireFrameDecoder()
    let decode = measure {
        var input = wire
        let frame = try! decoder.decode(buffer: &input)!
        blackHole(try! Response(frame: frame))
    }
    let (jsonEncode, jsonDecode) = jsonPeer(page, compression: compression)
    rows.append(Row(name: "SEARCH_RESULT encode, 20 hits (\(label))", ours: encode, peer: jsonEncode))
    rows.append(Row(name: "SEARCH_RESULT decode, 20 hits (\(label))", ours: decode, peer: jsonDecode))
}

benchmarkArticle(compression: .disabled, label: "plain")
benchmarkArticle(compression: zlibSettings, label: "zlib 6")
benchmarkArticle(compression: zlibFast, label: "zlib 1")
benchmarkSearch(compression: .disabled, label: "plain")
benchmarkSearch(compression: zlibSettings, label: "zlib 6")
benchmarkSearch(compression: zlibFast, label: "zlib 1")

// Pipelined small frames: GET requests decoded from one buffer (the server's hot path).
do {
    var encoder = FrameEncoder()
    var stream = ByteBuffer()
    for index in 0..<1_000 {
        encoder.encode(.get(GetMessage(id: typical.id)), requestID: RequestID(UInt32(index)), into: &stream)
    }
    var decoder = NewswireFrameDecoder()
    let ours =
        measure {
            var input = stream
            while let frame = try! decoder.decode(buffer: &input) { blackHole(try! Request(frame: frame)) }
        } * 1_000
    let json = try! jsonEncoder.encode(["id": typical.id.rawValue])
    let peer = measure { blackHole(try! jsonDecoder.decode([String: String].self, from: json)) }
    rows.append(Row(name: "GET request decode, 1,000 pipelined", ours: ours, peer: peer))
}

// MARK: Report

func shell(_ command: String) -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", command]
    let pipe = Pipe()
    process.standardOutput = pipe
    try? process.run()
    process.waitUntilExit()
    return String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        .trimmingCharacters(in: .whitespacesAndNewlines)
}

func format(_ value: Double) -> String {
    if value >= 1_000_000 { return String(format: "%.2f M", value / 1e6) }
    return value >= 10_000 ? String(format: "%.0f k", value / 1e3) : String(format: "%.2f k", value / 1e3)
}

print("## NewswireProtocol micro-benchmark\n")
print(
    "- machine: \(shell("nproc")) cores, \(shell("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'"))")
print(
    "- \(shell("swift --version 2>/dev/null | head -1")), release build, zlib \(linkedZlibVersion) (level 6 unless noted)"
)
print("- \(corpusNote): \(typical.body.count) characters in \(typical.paragraphs.count) paragraphs")
print("- peer: Foundation JSONEncoder/JSONDecoder on the same value, framed and compressed by the same FrameEncoder/")
print("  NewswireFrameDecoder (same zlib stream and level) in the zlib rows; ratio = Newswire / peer")
print("- load average before the run: \(shell("cut -d' ' -f1-3 /proc/loadavg")) (other jobs share the machine;")
print("  compare the ratio column, measured in the same run, rather than absolute numbers)")
print("- command: benchmarks/protocol/run.sh\n")
print("| operation | Newswire v1 (ops/s) | JSON peer (ops/s) | ratio |")
print("|---|---:|---:|---:|")
for row in rows {
    print(
        "| \(row.name) | \(format(row.ours)) | \(format(row.peer)) | \(String(format: "%.1f×", row.ours / row.peer)) |")
}

print("\nBytes on the wire (frame = 12-byte header + payload; JSON = the model's Codable JSON, unframed; zlib = one")
print("zlib stream, plus the 4-byte length for frames):\n")
print("| data | v1 frame | v1 frame, zlib 6 | v1 frame, zlib 1 | JSON | JSON, zlib 6 |")
print("|---|---:|---:|---:|---:|---:|")
for (name, response, jsonData) in [
    ("typical record (ARTICLE)", Response.article(ArticleMessage(typical)), try! jsonEncoder.encode(typical)),
    ("search page, 20 hits + 2 facets", Response.searchResult(page), try! jsonEncoder.encode(page)),
] {
    let plain = frameBytes(response, compression: .disabled).readableBytes
    let compressed = frameBytes(response, compression: CompressionSettings(algorithm: .zlib, threshold: 0, level: 6))
        .readableBytes
    let fast = frameBytes(response, compression: CompressionSettings(algorithm: .zlib, threshold: 0, level: 1))
        .readableBytes
    let json = [UInt8](jsonData)
    print("| \(name) | \(plain) | \(compressed) | \(fast) | \(json.count) | \(zlibSize(json)) |")
}
