// libFuzzer target for the page parser (ArticleExtraction): charset sniffing, libxml2 HTML parsing, plain-text
// scrapes, metadata, dates, bylines and body selection (see fuzz/run-pages.sh).
//
// Input byte 0 picks a charset hint (none, utf-8, gbk, gb18030, or a bogus name) and a URL (none or one); the
// rest is the page. The extractor must either return an article or throw ExtractionError: any crash, sanitizer
// report, hang (-timeout) or failed precondition is a bug. Every article returned must survive its own JSON
// rendering, and extraction must be deterministic.
import ArticleExtraction
import NewswireModel

let extractor = ArticleExtractor(configuration: .init(maximumInputBytes: 1 << 20))
let hints: [String?] = [nil, "utf-8", "gbk", "gb18030", "x-no-such-charset", nil, nil, nil]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let selector = Int(bytes[0])
    let hint = hints[selector & 7]
    let url: String? = selector & 8 == 0 ? nil : "http://www.example.gov.cn/xwzx/2024/0101/c1001-1.html"
    let page = bytes[1...]
    do {
        let article = try extractor.extract(page, url: url, charsetHint: hint)
        let json = ArticleJSON.encode(article)
        precondition(!json.isEmpty, "empty JSON for an extracted article")
        if page.count <= 4096 {  // determinism on small inputs only, to keep the exec rate up
            let again = try extractor.extract(page, url: url, charsetHint: hint)
            precondition(again == article, "extraction is not deterministic")
        }
    } catch {
        // ExtractionError is the documented outcome for pages without an article.
    }
    return 0
}
