import NewswireClient

// Connect to a local newswired (started with `swift run newswired`).
let client = NewswireClient(configuration: .init(host: "127.0.0.1", port: 7411))

do {
    // Search: terms are ANDed; an unquoted CJK run of 3+ characters is a phrase.
    let page = try await client.search(SearchRequest(text: "疆电入川", limit: 5, facets: [.source]))
    print("\(page.total) hits in \(page.tookMicros) µs")
    for hit in page.hits {
        print(hit.id, hit.publishedAt?.iso8601 ?? "-", hit.title)
    }

    // Fetch one whole record.
    if let first = page.hits.first {
        let article = try await client.article(id: first.id)
        print(article.paragraphs.first ?? "")
    }
} catch let error as NewswireClientError where error.code == .connectionFailed {
    print("is newswired running? \(error.message)")
} catch {
    print("failed: \(error)")
}

await client.shutdown()
