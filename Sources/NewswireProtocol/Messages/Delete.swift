import NIOCore
import NewswireModel

/// DELETE (0x0009): remove articles by id; answered by DELETE_RESULT (PROTOCOL.md §5.14).
public struct DeleteMessage: WireMessage, FieldCoded {
    static var wireName: String { "Delete" }

    /// The ids, at most ``ProtocolLimits/maxBatchCount``.
    public var ids: [ArticleID]

    /// Creates a DELETE.
    public init(ids: [ArticleID]) { self.ids = ids }

    func encodeFields(into buffer: inout ByteBuffer) {
        buffer.writeArticleIDs(1, ids)
    }

    init(reader: inout WireReader) throws(ProtocolError) {
        self.init(ids: try reader.readIDList())
    }

    /// Appends the payload.
    public func encode(into buffer: inout ByteBuffer) { encodeFields(into: &buffer) }
    /// Decodes a payload.
    public init(decoding payload: ByteBuffer) throws(ProtocolError) { try self.init(wirePayload: payload) }
}

/// DELETE_RESULT (0x8009): how many were deleted and which ids were not there (PROTOCOL.md §5.14).
public struct DeleteResultMessage: WireMessage, FieldCoded {
    static var wireName: String { "DeleteResult" }

    /// Articles removed.
    public var deleted: Int
    /// Requested ids that had no article.
    public var missing: [ArticleID]
    /// The change-feed position after this write, from a cluster node (PROTOCOL.md §5.18); nil from a single node.
    public var commitPosition: UInt64?

    /// Creates a DELETE_RESULT.
    public init(deleted: Int, missing: [ArticleID] = []) {
        self.deleted = deleted
        self.missing = missing
    }

    func encodeFields(into buffer: inout ByteBuffer) {
        buffer.writeCountField(1, deleted)
        buffer.writeArticleIDs(2, missing)
        if let commitPosition { buffer.writeVarintField(FeedPosition.field, commitPosition) }
    }

    init(reader: inout WireReader) throws(ProtocolError) {
        var result = DeleteResultMessage(deleted: 0)
        while let field = try reader.nextField() {
            switch field.number {
            case 1: result.deleted = try reader.readCount(field.type)
            case 2: result.missing.append(try reader.readArticleID(field.type))
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
