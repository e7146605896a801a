import Foundation
import NewswireModel

/// The serialized form the store keeps for each article: compact UTF-8 JSON of ``Article`` with sorted keys.
///
/// Sorted keys make the encoding deterministic, so an unchanged record is detected by comparing bytes, and the
/// bytes can be served as-is. Absent optionals are written as `null` (see `Article.encode(to:)`).
public enum ArticleCodec {
    /// Encodes `article`.
    public static func encode(_ article: Article) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(article))
    }

    /// Decodes bytes written by ``encode(_:)``.
    public static func decode(_ bytes: some Collection<UInt8>) throws -> Article {
        try JSONDecoder().decode(Article.self, from: Data(bytes))
    }

    /// Decodes `data`, reporting failure as a ``StoreError`` naming `id`.
    static func decodeStored(_ data: Data, id: String) throws -> Article {
        do {
            return try JSONDecoder().decode(Article.self, from: data)
        } catch {
            throw StoreError(
                .corruptRecord,
                "stored record for id \(id) is not a valid Article (\(error)); the database is damaged — "
                    + "restore it from a backup or re-import the source")
        }
    }
}
