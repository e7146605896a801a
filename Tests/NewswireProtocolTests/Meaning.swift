import Foundation
import NIOCore
import NewswireModel
import NewswireProtocol

/// A language-neutral JSON description of a decoded message: what the vectors' `meaning` fields hold.
///
/// Model values use their Codable JSON (the same shape the CLI prints); byte fields are lowercase hex;
/// protocol enums are spelled by their spec names.
enum Meaning {
    static func hex(_ buffer: ByteBuffer) -> String {
        buffer.readableBytesView.map { String(format: "%02x", $0) }.joined()
    }

    static func json(_ value: some Encodable) -> Any {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try! encoder.encode(value)
        return try! JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
    }

    static func article(_ record: ArticleRecord) throws -> Any { json(try record.decode()) }

    /// Feed positions (§5.18) appear in a meaning only when the message carries one.
    static func withPosition(_ meaning: [String: Any], _ key: String, _ position: UInt64?) -> [String: Any] {
        var meaning = meaning
        if let position { meaning[key] = position }
        return meaning
    }

    static func describe(_ request: Request) throws -> [String: Any] {
        switch request {
        case .hello(let m):
            var d: [String: Any] = [
                "minVersion": Int(m.versions.lowerBound), "maxVersion": Int(m.versions.upperBound),
                "clientName": m.clientName, "compressions": m.compressions.map(\.description),
                "maxFrameLength": Int(m.maxFrameLength),
            ]
            d["token"] = m.token ?? NSNull()
            return d
        case .ping(let m): return ["payload": hex(m.payload)]
        case .get(let m): return withPosition(["id": m.id.rawValue], "minPosition", m.minPosition)
        case .getMany(let m): return withPosition(["ids": m.ids.map(\.rawValue)], "minPosition", m.minPosition)
        case .search(let m): return json(m) as! [String: Any]
        case .related(let m): return ["id": m.id.rawValue, "limit": m.limit]
        case .ingest(let m):
            return [
                "page": hex(m.page), "url": m.url ?? NSNull(), "charset": m.charset ?? NSNull(), "dryRun": m.dryRun,
            ]
        case .put(let m): return ["articles": try m.records.map(article)]
        case .delete(let m): return ["ids": m.ids.map(\.rawValue)]
        case .scan(let m):
            return [
                "order": m.order.description, "cursor": hex(m.cursor),
                "publishedFrom": m.publishedFrom.map { $0.iso8601 } ?? NSNull(),
                "publishedBefore": m.publishedBefore.map { $0.iso8601 } ?? NSNull(), "limit": m.limit,
                "idsOnly": m.idsOnly,
            ]
        case .stats, .cancel: return [:]
        case .watch(let m):
            return [
                "text": m.text, "sources": m.sources,
                "publishedFrom": m.publishedFrom.map { $0.iso8601 } ?? NSNull(),
                "publishedBefore": m.publishedBefore.map { $0.iso8601 } ?? NSNull(), "start": m.start.description,
                "position": Int(m.position), "store": m.store ?? NSNull(), "includeArticle": m.includeArticle,
                "includeSnippets": m.includeSnippets, "snippetLength": m.snippetLength,
                "bufferEvents": m.bufferEvents, "reportUnmatched": m.reportUnmatched,
            ]
        }
    }

    static func describe(_ response: Response) throws -> [String: Any] {
        switch response {
        case .welcome(let m):
            return [
                "version": Int(m.version), "serverName": m.serverName, "compression": m.compression.description,
                "compressionThreshold": Int(m.compressionThreshold), "maxFrameLength": Int(m.maxFrameLength),
                "maxDecompressedLength": Int(m.maxDecompressedLength), "maxInFlight": Int(m.maxInFlight),
            ]
        case .pong(let m): return ["payload": hex(m.payload)]
        case .article(let m): return ["article": try article(m.record)]
        case .articles(let m): return ["articles": try m.records.map(article), "missing": m.missing.map(\.rawValue)]
        case .searchResult(let page), .relatedResult(let page): return json(page) as! [String: Any]
        case .ingestResult(let m): return ["article": try article(m.record), "outcome": m.outcome.description]
        case .putResult(let m):
            let d: [String: Any] = [
                "created": m.created, "updated": m.updated, "unchanged": m.unchanged,
                "rejected": m.rejected.map {
                    ["index": $0.index, "id": $0.id?.rawValue ?? NSNull(), "reason": $0.reason] as [String: Any]
                },
            ]
            return withPosition(d, "commitPosition", m.commitPosition)
        case .deleteResult(let m):
            return withPosition(
                ["deleted": m.deleted, "missing": m.missing.map(\.rawValue)], "commitPosition", m.commitPosition)
        case .scanBatch(let m):
            return [
                "articles": try m.records.map(article), "ids": m.ids.map(\.rawValue), "nextCursor": hex(m.nextCursor),
            ]
        case .stats(let m):
            return [
                "entries": m.entries.map { entry -> [String: Any] in
                    switch entry.value {
                    case .integer(let v): ["name": entry.name, "integer": v]
                    case .double(let v): ["name": entry.name, "double": v]
                    case .text(let v): ["name": entry.name, "text": v]
                    }
                }
            ]
        case .error(let e):
            var d: [String: Any] = [
                "code": Int(e.code.rawValue), "codeName": e.code.name, "retryable": e.isRetryable,
                "message": e.message,
            ]
            if let v = e.supportedVersions {
                d["supportedVersions"] = [Int(v.lowerBound), Int(v.upperBound)]
            }
            if let r = e.retryAfterMillis { d["retryAfterMillis"] = Int(r) }
            if let p = e.position { d["position"] = Int(p) }
            return d
        case .watchEvent(let m):
            return [
                "position": Int(m.position), "kind": m.kind.description,
                "hit": m.hit.map { json($0) } ?? NSNull(), "article": try m.record.map(article) ?? NSNull(),
                "store": m.store ?? NSNull(),
            ]
        case .goAway(let m):
            return [
                "code": Int(m.code.rawValue), "codeName": m.code.name, "message": m.message,
                "graceMillis": Int(m.graceMillis),
            ]
        }
    }
}
