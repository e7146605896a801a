import NewswireModel
import NewswireStore

/// The order of ``NewswireEngine/scan(order:after:limit:)``.
public enum RecordOrder: Sendable, Hashable {
    /// By id, ascending (byte-wise UTF-8 order, which is `ArticleID`'s `<`).
    case id
    /// By publication time, oldest first; ties by id ascending. Undated articles come last, by id (PROTOCOL.md
    /// §5.15).
    case published

    var storeOrder: ScanOrder {
        switch self {
        case .id: .id
        case .published: .publishedAscending
        }
    }
}

/// Where a scan stopped: just after one article, in one order. Pass it back unchanged for the next page;
/// ``token`` is its printable form for clients to carry between requests.
public struct RecordCursor: Sendable, Hashable {
    let storeCursor: ScanCursor

    init(_ storeCursor: ScanCursor) { self.storeCursor = storeCursor }

    /// Just after `article` in `order`.
    public init(after article: Article, order: RecordOrder) {
        storeCursor = ScanCursor(
            order: order.storeOrder, id: article.id, publishedKey: ScanCursor.publishedKey(of: article))
    }

    /// In ``RecordOrder/published`` order, just before the first article published at or after `time`.
    public init(publishedFrom time: PublishedTime) {
        storeCursor = ScanCursor(
            order: .publishedAscending, id: ArticleID(""), publishedKey: time.secondsSinceEpoch - 1)
    }

    /// Parses a ``token``; nil when the text is not a cursor of one of ``RecordOrder``'s orders.
    public init?(token: String) {
        guard let parsed = ScanCursor(token: token), parsed.order != .publishedDescending else { return nil }
        storeCursor = parsed
    }

    /// The order the cursor belongs to.
    public var order: RecordOrder { storeCursor.order == .id ? .id : .published }

    /// Printable form, parsed back by ``init(token:)``.
    public var token: String { storeCursor.token }
}

/// One page of ``NewswireEngine/scan(order:after:limit:)``.
public struct RecordPage: Sendable, Hashable {
    /// The articles, in the scan's order.
    public var articles: [Article]
    /// Where the next page starts; nil when the scan reached the end.
    public var next: RecordCursor?

    /// Creates a page.
    public init(articles: [Article], next: RecordCursor?) {
        self.articles = articles
        self.next = next
    }
}
