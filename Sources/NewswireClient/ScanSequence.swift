import NIOCore
import NewswireModel
import NewswireProtocol

/// The results of a scan, fetched one SCAN batch at a time as you iterate.
public struct ScanSequence<Element: Sendable>: AsyncSequence, Sendable {
    let client: NewswireClient
    let message: ScanMessage
    let extract: @Sendable (NewswireClient, [ArticleRecord], [ArticleID]) throws -> [Element]

    /// Iterates the scan, requesting the next batch when the current one is used up.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let client: NewswireClient
        var message: ScanMessage
        let extract: @Sendable (NewswireClient, [ArticleRecord], [ArticleID]) throws -> [Element]
        var buffered: [Element] = []
        var position = 0
        var finished = false

        /// The next element, or nil after the last batch.
        public mutating func next() async throws -> Element? {
            while position == buffered.count {
                guard !finished else { return nil }
                let (records, ids, next) = try await client.scanBatch(message)
                buffered = try extract(client, records, ids)
                position = 0
                if next.readableBytes == 0 { finished = true }
                message.cursor = next
            }
            defer { position += 1 }
            return buffered[position]
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(client: client, message: message, extract: extract)
    }
}

/// The articles of a scan, fetched in batches as you iterate.
public typealias ArticleScan = ScanSequence<Article>

/// The ids of a scan, fetched in batches as you iterate.
public typealias ArticleIDScan = ScanSequence<ArticleID>
