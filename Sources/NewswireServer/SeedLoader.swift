import ArticleExtraction
import Foundation
import Logging
import NewswireEngine
import NewswireModel

/// Ingests the pages in a seeds directory, so a fresh server answers queries out of the box.
public enum SeedLoader {
    /// What loading seeds did.
    public struct Summary: Sendable, Hashable {
        /// Pages parsed and stored.
        public var ingested: Int
        /// Pages that could not be parsed (each logged with its reason).
        public var failed: Int
    }

    /// Parses every regular file under `directory` (sorted, recursively) and stores the articles.
    /// A page that fails to parse is logged and skipped; a store failure throws.
    public static func load(
        directory: String, into engine: NewswireEngine, extractor: ArticleExtractor, logger: Logger
    ) throws -> Summary {
        let root = URL(fileURLWithPath: directory)
        guard let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey])
        else {
            throw ServerError(message: "seeds directory \(directory) cannot be read; pass --seeds DIR or --no-seeds")
        }
        var files: [URL] = []
        for case let url as URL in enumerator {
            let values = try? url.resourceValues(forKeys: [.isRegularFileKey])
            if values?.isRegularFile == true, !url.lastPathComponent.hasPrefix(".") { files.append(url) }
        }
        files.sort { $0.path < $1.path }
        var articles: [Article] = []
        var failed = 0
        for file in files {
            do {
                let bytes = try [UInt8](Data(contentsOf: file))
                articles.append(try extractor.extract(bytes))
            } catch {
                failed += 1
                logger.warning("seed page skipped", metadata: ["newswire_file": "\(file.path)", "newswire_error": "\(error)"])
            }
        }
        _ = try engine.put(articles)
        return Summary(ingested: articles.count, failed: failed)
    }
}
