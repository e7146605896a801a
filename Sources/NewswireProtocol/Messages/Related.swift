import NIOCore
import NewswireModel

/// RELATED (0x0006): articles most similar to one article; answered by RELATED_RESULT, a ``SearchPage``
/// (PROTOCOL.md §5.11).
public struct RelatedMessage: WireMessage, FieldCoded {
    static var wireName: String { "Related" }

    /// The article to find relatives of.
    public var id: ArticleID
    /// Maximum number of hits (0: the server's default).
    public var limit: Int

    /// Creates a RELATED.
    public init(id: ArticleID, limit: Int = 10) {
        self.id = id
        self.limit = limit
    }

    func encodeFields(into buffer: inout ByteBuffer) {
        buffer.writeStringField(1, id.rawValue)
        buffer.writeCountField(2, limit)
    }

    init(reader: inout WireReader) throws(ProtocolError) {
        var id: ArticleID?
        var limit = 0
        while let field = try reader.nextField() {
            switch field.number {
            case 1: id = try reader.readArticleID(field.type)
            case 2: limit = try reader.readCount(field.type)
            default: try reader.skip(field.type)
            }
        }
        guard let id else { throw reader.missing("1 (id)") }
        self.init(id: id, limit: limit)
    }

    /// Appends the payload.
    public func encode(into buffer: inout ByteBuffer) { encodeFields(into: &buffer) }
    /// Decodes a payload.
    public init(decoding payload: ByteBuffer) throws(ProtocolError) { try self.init(wirePayload: payload) }
}
