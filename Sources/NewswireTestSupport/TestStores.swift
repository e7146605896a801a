import Foundation
import NewswireModel
import NewswirePostgres
import NewswireStore
import NewswireTestFixtures

/// The store implementations the shared conformance tests run against.
public enum StoreKind: String, Sendable, CaseIterable, CustomStringConvertible {
    /// ``NewswireStore/SQLiteArticleStore`` in a temp directory.
    case sqlite
    /// ``NewswirePostgres/PostgresArticleStore`` on a fresh database of the shared test server.
    case postgres

    /// The kinds that can run here: PostgreSQL only when its binaries are installed.
    public static var available: [StoreKind] { TemporaryPostgres.isAvailable ? [.sqlite, .postgres] : [.sqlite] }

    public var description: String { rawValue }
}

/// A store under test that can be closed and opened again on the same data.
public final class StoreUnderTest {
    /// The kind.
    public let kind: StoreKind
    /// The open store.
    public private(set) var store: any ArticleStore
    private let directory: TemporaryDirectory?
    private let url: String?

    /// Opens a fresh, empty store of `kind`.
    public init(_ kind: StoreKind, name: String = #function) throws {
        self.kind = kind
        switch kind {
        case .sqlite:
            directory = TemporaryDirectory(name)
            url = nil
        case .postgres:
            directory = nil
            url = try SharedTestPostgres.freshDatabaseURL(name)
        }
        store = try Self.open(kind, directory: directory, url: url)
    }

    private static func open(_ kind: StoreKind, directory: TemporaryDirectory?, url: String?) throws
        -> any ArticleStore
    {
        switch kind {
        case .sqlite: try SQLiteArticleStore(directory: directory!.path)
        case .postgres: try PostgresArticleStore(url: url!)
        }
    }

    /// Another handle on the same data (a second process or node).
    public func openAnother() throws -> any ArticleStore { try Self.open(kind, directory: directory, url: url) }

    /// The PostgreSQL URL, for a postgres store.
    public var postgresURL: String? { url }

    /// Closes the store and opens it again.
    public func reopen() throws {
        try store.close()
        store = try Self.open(kind, directory: directory, url: url)
    }

    deinit { try? store.close() }
}
