import ArgumentParser
import Logging
import NewswireEngine
import NewswirePostgres

/// The `--store` choice: the embedded SQLite store (default) or a shared PostgreSQL (cluster mode).
enum StoreOption {
    /// SQLite in this directory (nil: `--data-dir`).
    case sqlite(directory: String?)
    /// PostgreSQL at a libpq-style multi-host URL; `--data-dir` then holds only this node's index snapshot.
    case postgres(PostgresStoreURL)

    /// Parses `sqlite:DIR`, `sqlite` or `postgres://…` (password from the URL, PGPASSWORD or the password file).
    init(parsing text: String?) throws {
        guard let text, !text.isEmpty, text != "sqlite" else {
            self = .sqlite(directory: nil)
            return
        }
        if text.hasPrefix("sqlite:") {
            let directory = String(text.dropFirst("sqlite:".count))
            self = .sqlite(directory: directory.isEmpty ? nil : directory)
        } else if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            do {
                self = .postgres(try PostgresStoreURL(parsing: text))
            } catch {
                throw ValidationError("--store: \(error)")
            }
        } else {
            throw ValidationError(
                "--store must be sqlite:DIR or postgres://USER@HOST:PORT[,HOST:PORT…]/DB (the value given is not "
                    + "repeated here, it may hold a password)")
        }
    }

    /// Opens the engine on this store; the data directory holds the SQLite database and/or the index snapshot.
    func openEngine(
        dataDirectory: String, configuration: NewswireEngine.Configuration, logger: Logger
    ) throws -> NewswireEngine {
        switch self {
        case .sqlite(let directory):
            let path = directory ?? dataDirectory
            do {
                return try NewswireEngine.open(dataDirectory: path, configuration: configuration)
            } catch {
                throw ValidationError("cannot open data directory \(path): \(error)")
            }
        case .postgres(let url):
            logger.notice("cluster mode: store on PostgreSQL", metadata: ["newswire_store": "\(url)"])
            do {
                let store = try PostgresArticleStore(url: url, logger: logger)
                return try NewswireEngine.open(store: store, dataDirectory: dataDirectory, configuration: configuration)
            } catch {
                throw ValidationError("cannot open the PostgreSQL store \(url): \(error)")
            }
        }
    }
}
