import NewswireModel
import NewswireStore

/// A test store that wraps another and forwards every call it does not override: a test double states only what
/// it changes (a count, a held or failed commit) instead of repeating the whole `ArticleStore` surface.
protocol ForwardingArticleStore: ArticleStore {
    associatedtype Base: ArticleStore
    var base: Base { get }
}

extension ForwardingArticleStore {
    func upsert(_ articles: [Article]) throws -> [UpsertOutcome] { try base.upsert(articles) }
    func delete(_ id: ArticleID) throws -> Bool { try base.delete(id) }
    func delete(_ ids: [ArticleID]) throws -> [Bool] { try base.delete(ids) }
    func article(_ id: ArticleID) throws -> Article? { try base.article(id) }
    func articles(_ ids: [ArticleID]) throws -> [Article?] { try base.articles(ids) }
    func encodedArticles(_ ids: [ArticleID]) throws -> [[UInt8]?] { try base.encodedArticles(ids) }
    func scan(order: ScanOrder, after cursor: ScanCursor?, limit: Int) throws -> ScanPage {
        try base.scan(order: order, after: cursor, limit: limit)
    }
    func changes(since sequence: UInt64, limit: Int) throws -> [StoreChange] {
        try base.changes(since: sequence, limit: limit)
    }
    var latestSequence: UInt64 { get throws { try base.latestSequence } }
    var storeIdentifier: String { base.storeIdentifier }
    func count() throws -> Int { try base.count() }
    func close() throws { try base.close() }
}
