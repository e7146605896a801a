import NIOCore
import NewswireModel

/// GET (0x0003): one article by id; answered by ARTICLE or ERROR NOT_FOUND (PROTOCOL.md §5.8).
public struct GetMessage: WireMessage, FieldCoded {
    static var wireName: String { "Get" }

    /// The article's id.
    public var id: ArticleID
    /// The smallest change-feed position the answer must reflect (PROTOCOL.md §5.18); nil: any.
    public var minPosition: UInt64?

    /// Creates a GET.
    public init(id: ArticleID, minPosition: UInt64? = nil) {
        self.id = id
        self.minPosition = minPosition
    }

    func encodeFields(into buffer: inout ByteBuffer) {
        buffer.writeStringField(1, id.rawValue)
        if let minPosition { buffer.writeVarintField(FeedPosition.field, minPosition) }
    }

    init(reader: inout WireReader) throws(ProtocolError) {
        var id: ArticleID?
        var minPosition: UInt64?
        while let field = try reader.nextField() {
            switch field.number {
            case 1: id = try reader.readArticleID(field.type)
            case FeedPosition.field: minPosition = try reader.readUInt64(field.type)
            default: try reader.skip(field.type)
            }
        }
        guard let id else { throw reader.missing("1 (id)") }
        self.init(id: id, minPosition: minPosition)
    }

    /// Appends the payload.
    public func encode(into buffer: inout ByteBuffer) { encodeFields(into: &buffer) }
    /// Decodes a payload.
    public init(decoding payload: ByteBuffer) throws(ProtocolError) { try self.init(wirePayload: payload) }
}

/// ARTICLE (0x8003): the answer to GET, one record (PROTOCOL.md §5.8).
///
/// Its payload is field 1 wrapping the record, so a server can answer from a cached ``ArticleRecord``
/// with one small header write and a buffer splice.
public struct ArticleMessage: WireMessage, FieldCoded {
    static var wireName: String { "ArticleResponse" }

    /// The record.
    public var record: ArticleRecord

    /// Wraps an encoded record (no re-encoding).
    public init(record: ArticleRecord) { self.record = record }
    /// Encodes an article.
    public init(_ article: Article) { self.record = ArticleRecord(article) }

    func encodeFields(into buffer: inout ByteBuffer) { buffer.writeRecordField(1, record) }

    init(reader: inout WireReader) throws(ProtocolError) {
        var record: ArticleRecord?
        while let field = try reader.nextField() {
            switch field.number {
            case 1: record = try reader.readRecord(field.type)
            default: try reader.skip(field.type)
            }
        }
        guard let record else { throw reader.missing("1 (article)") }
        self.init(record: record)
    }

    /// Appends the payload.
    public func encode(into buffer: inout ByteBuffer) { encodeFields(into: &buffer) }
    /// Decodes a payload.
    public init(decoding payload: ByteBuffer) throws(ProtocolError) { try self.init(wirePayload: payload) }
}

/// GET_MANY (0x0004): articles by id; answered by one or more ARTICLES frames (PROTOCOL.md §5.9).
public struct GetManyMessage: WireMessage, FieldCoded {
    static var wireName: String { "GetMany" }

    /// The ids, at most ``ProtocolLimits/maxBatchCount``.
    public var ids: [ArticleID]
    /// The smallest change-feed position the answer must reflect (PROTOCOL.md §5.18); nil: any.
    public var minPosition: UInt64?

    /// Creates a GET_MANY.
    public init(ids: [ArticleID], minPosition: UInt64? = nil) {
        self.ids = ids
        self.minPosition = minPosition
    }

    func encodeFields(into buffer: inout ByteBuffer) {
        buffer.writeArticleIDs(1, ids)
        if let minPosition { buffer.writeVarintField(FeedPosition.field, minPosition) }
    }

    init(reader: inout WireReader) throws(ProtocolError) {
        let (ids, minPosition) = try reader.readIDListAndPosition()
        self.init(ids: ids, minPosition: minPosition)
    }

    /// Appends the payload.
    public func encode(into buffer: inout ByteBuffer) { encodeFields(into: &buffer) }
    /// Decodes a payload.
    public init(decoding payload: ByteBuffer) throws(ProtocolError) { try self.init(wirePayload: payload) }
}

/// ARTICLES (0x8004): part of the answer to GET_MANY: found records and ids not found, in request order
/// across the stream's frames (PROTOCOL.md §5.9).
public struct ArticlesMessage: WireMessage, FieldCoded {
    static var wireName: String { "Articles" }

    /// Found records.
    public var records: [ArticleRecord]
    /// Requested ids with no article.
    public var missing: [ArticleID]

    /// Creates an ARTICLES frame body.
    public init(records: [ArticleRecord], missing: [ArticleID] = []) {
        self.records = records
        self.missing = missing
    }

    func encodeFields(into buffer: inout ByteBuffer) {
        for record in records { buffer.writeRecordField(1, record) }
        buffer.writeArticleIDs(2, missing)
    }

    init(reader: inout WireReader) throws(ProtocolError) {
        var message = ArticlesMessage(records: [])
        while let field = try reader.nextField() {
            switch field.number {
            case 1: message.records.append(try reader.readRecord(field.type))
            case 2: message.missing.append(try reader.readArticleID(field.type))
            default: try reader.skip(field.type)
            }
        }
        self = message
    }

    /// Appends the payload.
    public func encode(into buffer: inout ByteBuffer) { encodeFields(into: &buffer) }
    /// Decodes a payload.
    public init(decoding payload: ByteBuffer) throws(ProtocolError) { try self.init(wirePayload: payload) }
}
