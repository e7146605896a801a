import NIOCore
import NewswireModel

/// Where a WATCH starts reading the change feed (PROTOCOL.md §5.19).
public struct WatchStart: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    /// The wire value.
    public var rawValue: UInt8
    /// Wraps a wire value.
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// Only changes committed after the watch is registered.
    public static let now = WatchStart(rawValue: 0)
    /// Every change after the request's `position` (a position from an earlier event), then live.
    public static let afterPosition = WatchStart(rawValue: 1)
    /// The whole change feed from its beginning, then live.
    public static let beginning = WatchStart(rawValue: 2)

    /// The spec's name, for logs and error text.
    public var description: String {
        switch self {
        case .now: "now"
        case .afterPosition: "after position"
        case .beginning: "beginning"
        default: "start#\(rawValue)"
        }
    }
}

/// WATCH (0x000D): a standing query; answered by a stream of WATCH_EVENT frames that ends only with an ERROR
/// (PROTOCOL.md §5.19).
public struct WatchMessage: WireMessage, FieldCoded {
    static var wireName: String { "Watch" }

    /// The query, in the SEARCH query language.
    public var text: String
    /// Only articles from one of these sources; empty means any.
    public var sources: [String]
    /// Only articles published at or after this instant.
    public var publishedFrom: PublishedTime?
    /// Only articles published before this instant.
    public var publishedBefore: PublishedTime?
    /// Where to start.
    public var start: WatchStart
    /// With ``WatchStart/afterPosition``: resume after this feed position.
    public var position: UInt64
    /// The store the position belongs to (the `store` of the stream's STARTED event); checked when present.
    public var store: String?
    /// Send the full article with new and updated events.
    public var includeArticle: Bool
    /// Compute snippets with highlights in each hit.
    public var includeSnippets: Bool
    /// Approximate snippet length (0: server default).
    public var snippetLength: Int
    /// Events the server may hold for this watch before cutting it off as a slow consumer (0: server default).
    public var bufferEvents: Int
    /// Also send ``WatchEventKind/unmatched`` events: an article the query matched was updated and no longer
    /// matches (field 12, a compatible extension).
    public var reportUnmatched: Bool

    /// Creates a WATCH.
    public init(
        text: String, sources: [String] = [], publishedFrom: PublishedTime? = nil,
        publishedBefore: PublishedTime? = nil, start: WatchStart = .now, position: UInt64 = 0, store: String? = nil,
        includeArticle: Bool = false, includeSnippets: Bool = false, snippetLength: Int = 0, bufferEvents: Int = 0,
        reportUnmatched: Bool = false
    ) {
        self.text = text
        self.sources = sources
        self.publishedFrom = publishedFrom
        self.publishedBefore = publishedBefore
        self.start = start
        self.position = position
        self.store = store
        self.includeArticle = includeArticle
        self.includeSnippets = includeSnippets
        self.snippetLength = snippetLength
        self.bufferEvents = bufferEvents
        self.reportUnmatched = reportUnmatched
    }

    func encodeFields(into buffer: inout ByteBuffer) {
        buffer.writeStringFieldIfNonEmpty(1, text)
        buffer.writeRepeatedStringField(2, sources)
        if let publishedFrom { buffer.writeMessageField(3, publishedFrom) }
        if let publishedBefore { buffer.writeMessageField(4, publishedBefore) }
        buffer.writeVarintFieldIfNonZero(5, UInt64(start.rawValue))
        buffer.writeVarintFieldIfNonZero(6, position)
        buffer.writeOptionalStringField(7, store)
        buffer.writeBoolField(8, includeArticle)
        buffer.writeBoolField(9, includeSnippets)
        buffer.writeCountField(10, snippetLength)
        buffer.writeCountField(11, bufferEvents)
        buffer.writeBoolField(12, reportUnmatched)
    }

    init(reader: inout WireReader) throws(ProtocolError) {
        var watch = WatchMessage(text: "")
        while let field = try reader.nextField() {
            switch field.number {
            case 1: watch.text = try reader.readString(field.type)
            case 2: watch.sources.append(try reader.readString(field.type))
            case 3: watch.publishedFrom = try reader.readMessage(field.type, as: PublishedTime.self)
            case 4: watch.publishedBefore = try reader.readMessage(field.type, as: PublishedTime.self)
            case 5:
                let raw = try reader.readUInt64(field.type)
                guard raw <= 2 else {
                    throw reader.malformed("unknown watch start \(raw) (0 now, 1 after position, 2 beginning)")
                }
                watch.start = WatchStart(rawValue: UInt8(raw))
            case 6: watch.position = try reader.readUInt64(field.type)
            case 7: watch.store = try reader.readString(field.type)
            case 8: watch.includeArticle = try reader.readBool(field.type)
            case 9: watch.includeSnippets = try reader.readBool(field.type)
            case 10: watch.snippetLength = try reader.readCount(field.type)
            case 11: watch.bufferEvents = try reader.readCount(field.type)
            case 12: watch.reportUnmatched = try reader.readBool(field.type)
            default: try reader.skip(field.type)
            }
        }
        self = watch
    }

    /// Appends the payload.
    public func encode(into buffer: inout ByteBuffer) { encodeFields(into: &buffer) }
    /// Decodes a payload.
    public init(decoding payload: ByteBuffer) throws(ProtocolError) { try self.init(wirePayload: payload) }
}

/// What a WATCH_EVENT reports (PROTOCOL.md §5.19).
public struct WatchEventKind: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    /// The wire value.
    public var rawValue: UInt8
    /// Wraps a wire value (unknown values are kept).
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// A new article that matches.
    public static let new = WatchEventKind(rawValue: 0)
    /// A new version of an existing article; the new version matches.
    public static let updated = WatchEventKind(rawValue: 1)
    /// An article was deleted (sent to every watch: nothing is left to match).
    public static let deleted = WatchEventKind(rawValue: 2)
    /// Replayed from the compacted change feed: the article's latest version, created or updated after the start
    /// position (the feed no longer says which).
    public static let changed = WatchEventKind(rawValue: 3)
    /// The first frame of every WATCH stream: the watch is registered; carries the store and the position it
    /// starts after. No hit.
    public static let started = WatchEventKind(rawValue: 4)
    /// An article the query matched was updated and its new version no longer matches (sent only when the
    /// WATCH set `report_unmatched`). The hit describes the new version, without snippet. Where the server
    /// cannot tell whether the previous version matched (a replay), it sends this for every article that no
    /// longer matches: drop ids you never saw.
    public static let unmatched = WatchEventKind(rawValue: 5)

    /// The spec's name, for logs and JSON.
    public var description: String {
        switch self {
        case .new: "new"
        case .updated: "updated"
        case .deleted: "deleted"
        case .changed: "changed"
        case .started: "started"
        case .unmatched: "unmatched"
        default: "kind#\(rawValue)"
        }
    }
}

/// WATCH_EVENT (0x800D): one frame of a WATCH stream, always with more-to-follow (PROTOCOL.md §5.19).
public struct WatchEventMessage: WireMessage, FieldCoded {
    static var wireName: String { "WatchEvent" }

    /// The feed position of the change (for ``WatchEventKind/started``: the position the stream starts after).
    public var position: UInt64
    /// What happened.
    public var kind: WatchEventKind
    /// The article as SEARCH returns it (score 0); for deletions only the id. Absent in STARTED.
    public var hit: SearchHit?
    /// The article, when the WATCH asked for it (new, updated and changed events).
    public var record: ArticleRecord?
    /// STARTED only: the identifier of the store whose positions the stream carries.
    public var store: String?

    /// Creates an event.
    public init(
        position: UInt64, kind: WatchEventKind, hit: SearchHit? = nil, record: ArticleRecord? = nil,
        store: String? = nil
    ) {
        self.position = position
        self.kind = kind
        self.hit = hit
        self.record = record
        self.store = store
    }

    func encodeFields(into buffer: inout ByteBuffer) {
        buffer.writeVarintFieldIfNonZero(1, position)
        buffer.writeVarintFieldIfNonZero(2, UInt64(kind.rawValue))
        if let hit { buffer.writeMessageField(3, hit) }
        if let record { buffer.writeRecordField(4, record) }
        buffer.writeOptionalStringField(5, store)
    }

    init(reader: inout WireReader) throws(ProtocolError) {
        var event = WatchEventMessage(position: 0, kind: .new)
        while let field = try reader.nextField() {
            switch field.number {
            case 1: event.position = try reader.readUInt64(field.type)
            case 2:
                // Unknown kinds are kept (a newer server may add some); receivers skip events they do not know.
                event.kind = WatchEventKind(rawValue: UInt8(clamping: try reader.readUInt64(field.type)))
            case 3: event.hit = try reader.readMessage(field.type, as: SearchHit.self)
            case 4: event.record = try reader.readRecord(field.type)
            case 5: event.store = try reader.readString(field.type)
            default: try reader.skip(field.type)
            }
        }
        self = event
    }

    /// Appends the payload.
    public func encode(into buffer: inout ByteBuffer) { encodeFields(into: &buffer) }
    /// Decodes a payload.
    public init(decoding payload: ByteBuffer) throws(ProtocolError) { try self.init(wirePayload: payload) }
}

/// A hit's fields before its snippet (id, title, source, publishedAt, score), encoded once for every event of one
/// change: a live-query server writes tens of thousands of events a second that differ only in their snippets.
public struct EncodedHitHead: Sendable {
    let bytes: ByteBuffer

    /// Encodes `hit`'s head (its snippet and highlights are not read).
    public init(_ hit: SearchHit) {
        var bytes = ByteBuffer()
        hit.encodeHeadFields(into: &bytes)
        self.bytes = bytes
    }
}

extension WatchEventMessage {
    /// Appends, byte for byte, the payload of `WatchEventMessage(position:kind:hit:)` whose hit is `head`'s with a
    /// snippet of `snippetUTF8Count` bytes and `highlights`, without making the message or the snippet's String:
    /// `writeSnippet` writes the snippet's UTF-8 into the room it is given. Sizes are computed first, so the whole
    /// payload is one write (encoded field by field, a hit with a snippet longer than 127 bytes was shifted to fit
    /// its length prefix).
    public static func encode(
        position: UInt64, kind: WatchEventKind, head: EncodedHitHead, snippetUTF8Count: Int,
        writeSnippet: (UnsafeMutableRawBufferPointer) -> Void, highlights: [HighlightRange],
        into buffer: inout ByteBuffer
    ) {
        let snippetLength = max(0, snippetUTF8Count)
        var highlightsLength = 0
        for range in highlights {
            highlightsLength += varintSize(UInt64(max(0, range.start))) + varintSize(UInt64(max(0, range.end)))
        }
        let snippetField = snippetLength == 0 ? 0 : 1 + varintSize(UInt64(snippetLength)) + snippetLength
        let highlightsField = highlights.isEmpty ? 0 : 1 + varintSize(UInt64(highlightsLength)) + highlightsLength
        let headLength = head.bytes.readableBytes
        let hitLength = headLength + snippetField + highlightsField
        let kindValue = UInt64(kind.rawValue)
        let total = (position == 0 ? 0 : 1 + varintSize(position)) + (kindValue == 0 ? 0 : 1 + varintSize(kindValue))
            + 1 + varintSize(UInt64(hitLength)) + hitLength
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: total) { out in
            let base = out.baseAddress!
            var o = 0
            // Tags as encodeFields writes them: field 1 and 2 varints, 3 (the hit), 6 and 7 length-delimited.
            if position != 0 {
                base.storeBytes(of: 1 << 3, toByteOffset: o, as: UInt8.self)
                o = storeVarint(position, at: base, offset: o + 1)
            }
            if kindValue != 0 {
                base.storeBytes(of: 2 << 3, toByteOffset: o, as: UInt8.self)
                o = storeVarint(kindValue, at: base, offset: o + 1)
            }
            base.storeBytes(of: 3 << 3 | 2, toByteOffset: o, as: UInt8.self)
            o = storeVarint(UInt64(hitLength), at: base, offset: o + 1)
            head.bytes.withUnsafeReadableBytes { headBytes in
                if headLength > 0 { (base + o).copyMemory(from: headBytes.baseAddress!, byteCount: headLength) }
            }
            o += headLength
            if snippetLength > 0 {
                base.storeBytes(of: 6 << 3 | 2, toByteOffset: o, as: UInt8.self)
                o = storeVarint(UInt64(snippetLength), at: base, offset: o + 1)
                writeSnippet(UnsafeMutableRawBufferPointer(rebasing: out[o..<(o + snippetLength)]))
                o += snippetLength
            }
            if !highlights.isEmpty {
                base.storeBytes(of: 7 << 3 | 2, toByteOffset: o, as: UInt8.self)
                o = storeVarint(UInt64(highlightsLength), at: base, offset: o + 1)
                for range in highlights {
                    o = storeVarint(UInt64(max(0, range.start)), at: base, offset: o)
                    o = storeVarint(UInt64(max(0, range.end)), at: base, offset: o)
                }
            }
            assert(o == total, "the sizes computed match what is written")
            return total
        }
    }
}

/// The part of a WATCH_EVENT a consumer needs to route or count it (position, kind, the hit's id), read without
/// decoding the rest: a load generator that receives tens of thousands of events a second measures the server,
/// not its own string decoding.
public struct WatchEventSummary: Sendable, Hashable {
    /// The change's position.
    public var position: UInt64
    /// What happened.
    public var kind: WatchEventKind
    /// The hit's id, nil when the event has no hit (STARTED).
    public var id: ArticleID?

    /// Reads a WATCH_EVENT payload's position, kind and hit id; fails as ``WatchEventMessage/init(decoding:)``
    /// does on a malformed payload, but skips the other fields unread (their strings are not validated).
    public init(decoding payload: ByteBuffer) throws(ProtocolError) {
        var reader = WireReader(payload, message: WatchEventMessage.wireName)
        var summary = WatchEventSummary(position: 0, kind: .new, id: nil)
        while let field = try reader.nextField() {
            switch field.number {
            case 1: summary.position = try reader.readUInt64(field.type)
            case 2: summary.kind = WatchEventKind(rawValue: UInt8(clamping: try reader.readUInt64(field.type)))
            case 3:
                var hit = try reader.readMessage(field.type, name: SearchHit.wireName)
                while let hitField = try hit.nextField() {
                    if hitField.number == 1 {
                        summary.id = ArticleID(try hit.readString(hitField.type))
                    } else {
                        try hit.skip(hitField.type)
                    }
                }
            default: try reader.skip(field.type)
            }
        }
        self = summary
    }

    /// A summary with these fields.
    public init(position: UInt64, kind: WatchEventKind, id: ArticleID?) {
        self.position = position
        self.kind = kind
        self.id = id
    }
}
