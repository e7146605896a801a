import NIOCore
import NewswireModel

/// PUT (0x0008): structured records to store, in one batch; answered by PUT_RESULT (PROTOCOL.md §5.13).
///
/// A batch larger than the server's max frame length is split by the client into several PUTs.
public struct PutMessage: WireMessage, FieldCoded {
    static var wireName: String { "Put" }

    /// The records, at most ``ProtocolLimits/maxBatchCount``.
    public var records: [ArticleRecord]

    /// Creates a PUT from encoded records.
    public init(records: [ArticleRecord]) { self.records = records }
    /// Creates a PUT from articles.
    public init(articles: [Article]) { self.records = articles.map(ArticleRecord.init) }

    func encodeFields(into buffer: inout ByteBuffer) {
        for record in records { buffer.writeRecordField(1, record) }
    }

    init(reader: inout WireReader) throws(ProtocolError) {
        var records: [ArticleRecord] = []
        while let field = try reader.nextField() {
            switch field.number {
            case 1:
                records.append(try reader.readRecord(field.type))
                try reader.checkBatch(records.count, "records")
            default: try reader.skip(field.type)
            }
        }
        self.init(records: records)
    }

    /// Appends the payload.
    public func encode(into buffer: inout ByteBuffer) { encodeFields(into: &buffer) }
    /// Decodes a payload.
    public init(decoding payload: ByteBuffer) throws(ProtocolError) { try self.init(wirePayload: payload) }
}

/// A record of a PUT batch that was not stored, and why.
public struct RecordRejection: Sendable, Hashable, FieldCoded {
    static var wireName: String { "RecordRejection" }

    /// Position of the record in the PUT batch (0-based).
    public var index: Int
    /// The record's id, when it had a readable one.
    public var id: ArticleID?
    /// What is wrong with it.
    public var reason: String

    /// Creates a rejection.
    public init(index: Int, id: ArticleID?, reason: String) {
        self.index = index
        self.id = id
        self.reason = reason
    }

    func encodeFields(into buffer: inout ByteBuffer) {
        buffer.writeCountField(1, index)
        buffer.writeOptionalStringField(2, id?.rawValue)
        buffer.writeStringFieldIfNonEmpty(3, reason)
    }

    init(reader: inout WireReader) throws(ProtocolError) {
        var rejection = RecordRejection(index: 0, id: nil, reason: "")
        while let field = try reader.nextField() {
            switch field.number {
            case 1: rejection.index = try reader.readCount(field.type)
            case 2: rejection.id = try reader.readArticleID(field.type)
            case 3: rejection.reason = try reader.readString(field.type)
            default: try reader.skip(field.type)
            }
        }
        self = rejection
    }
}

/// PUT_RESULT (0x8008): per-outcome counts and the rejected records (PROTOCOL.md §5.13).
public struct PutResultMessage: WireMessage, FieldCoded {
    static var wireName: String { "PutResult" }

    /// Records stored as new articles.
    public var created: Int
    /// Records that replaced an article with the same id.
    public var updated: Int
    /// Records identical to what was stored.
    public var unchanged: Int
    /// Records not stored.
    public var rejected: [RecordRejection]
    /// The change-feed position after this write, from a cluster node (PROTOCOL.md §5.18); nil from a single node.
    public var commitPosition: UInt64?

    /// Creates a PUT_RESULT.
    public init(created: Int, updated: Int, unchanged: Int, rejected: [RecordRejection] = []) {
        self.created = created
        self.updated = updated
        self.unchanged = unchanged
        self.rejected = rejected
    }

    func encodeFields(into buffer: inout ByteBuffer) {
        buffer.writeCountField(1, created)
        buffer.writeCountField(2, updated)
        buffer.writeCountField(3, unchanged)
        for rejection in rejected { buffer.writeMessageField(4, rejection) }
        if let commitPosition { buffer.writeVarintField(FeedPosition.field, commitPosition) }
    }

    init(reader: inout WireReader) throws(ProtocolError) {
        var result = PutResultMessage(created: 0, updated: 0, unchanged: 0)
        while let field = try reader.nextField() {
            switch field.number {
            case 1: result.created = try reader.readCount(field.type)
            case 2: result.updated = try reader.readCount(field.type)
            case 3: result.unchanged = try reader.readCount(field.type)
            case 4: result.rejected.append(try reader.readMessage(field.type, as: RecordRejection.self))
            case FeedPosition.field: result.commitPosition = try reader.readUInt64(field.type)
            default: try reader.skip(field.type)
            }
        }
        self = result
    }

    /// Appends the payload.
    public func encode(into buffer: inout ByteBuffer) { encodeFields(into: &buffer) }
    /// Decodes a payload.
    public init(decoding payload: ByteBuffer) throws(ProtocolError) { try self.init(wirePayload: payload) }
}
