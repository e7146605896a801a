import NIOCore
import NewswireModel

/// The order a SCAN walks the store in.
public struct ScanOrder: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    /// The wire value.
    public var rawValue: UInt8
    /// Wraps a wire value.
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// Oldest publication time first (ties by id); undated articles last.
    public static let byDate = ScanOrder(rawValue: 0)
    /// Ascending id.
    public static let byID = ScanOrder(rawValue: 1)

    /// The spec's name or the value, for logs and error text.
    public var description: String {
        switch self {
        case .byDate: "by date"
        case .byID: "by id"
        default: "order#\(rawValue)"
        }
    }
}

/// SCAN (0x000A): walk the store; answered by a stream of SCAN_BATCH frames (PROTOCOL.md §5.18).
public struct ScanMessage: WireMessage, FieldCoded {
    static var wireName: String { "Scan" }

    /// Walk order.
    public var order: ScanOrder
    /// Resume after this point: the `nextCursor` of an earlier scan's final frame (empty: from the start).
    public var cursor: ByteBuffer
    /// Only articles published at or after this instant.
    public var publishedFrom: PublishedTime?
    /// Only articles published before this instant.
    public var publishedBefore: PublishedTime?
    /// Stop after this many articles (0: no limit); the final frame then carries a cursor to resume.
    public var limit: Int
    /// Send ids only, not records.
    public var idsOnly: Bool

    /// Creates a SCAN.
    public init(
        order: ScanOrder = .byDate, cursor: ByteBuffer = ByteBuffer(), publishedFrom: PublishedTime? = nil,
        publishedBefore: PublishedTime? = nil, limit: Int = 0, idsOnly: Bool = false
    ) {
        self.order = order
        self.cursor = cursor
        self.publishedFrom = publishedFrom
        self.publishedBefore = publishedBefore
        self.limit = limit
        self.idsOnly = idsOnly
    }

    func encodeFields(into buffer: inout ByteBuffer) {
        buffer.writeVarintFieldIfNonZero(1, UInt64(order.rawValue))
        buffer.writeBytesFieldIfNonEmpty(2, cursor)
        if let publishedFrom { buffer.writeMessageField(3, publishedFrom) }
        if let publishedBefore { buffer.writeMessageField(4, publishedBefore) }
        buffer.writeCountField(5, limit)
        buffer.writeBoolField(6, idsOnly)
    }

    init(reader: inout WireReader) throws(ProtocolError) {
        var scan = ScanMessage()
        while let field = try reader.nextField() {
            switch field.number {
            case 1:
                let raw = try reader.readUInt64(field.type)
                guard raw <= 1 else { throw reader.malformed("unknown scan order \(raw) (0 by date, 1 by id)") }
                scan.order = ScanOrder(rawValue: UInt8(raw))
            case 2: scan.cursor = try reader.readBytes(field.type)
            case 3: scan.publishedFrom = try reader.readMessage(field.type, as: PublishedTime.self)
            case 4: scan.publishedBefore = try reader.readMessage(field.type, as: PublishedTime.self)
            case 5: scan.limit = try reader.readCount(field.type)
            case 6: scan.idsOnly = try reader.readBool(field.type)
            default: try reader.skip(field.type)
            }
        }
        self = scan
    }

    /// Appends the payload.
    public func encode(into buffer: inout ByteBuffer) { encodeFields(into: &buffer) }
    /// Decodes a payload.
    public init(decoding payload: ByteBuffer) throws(ProtocolError) { try self.init(wirePayload: payload) }
}

/// SCAN_BATCH (0x800A): one frame of a scan's stream (PROTOCOL.md §5.18).
public struct ScanBatchMessage: WireMessage, FieldCoded {
    static var wireName: String { "ScanBatch" }

    /// Records, in scan order (empty when the scan asked for ids only).
    public var records: [ArticleRecord]
    /// Ids, in scan order (ids-only scans).
    public var ids: [ArticleID]
    /// Final frame only: where to resume when the scan stopped at its limit; empty when the walk finished.
    public var nextCursor: ByteBuffer

    /// Creates a SCAN_BATCH.
    public init(records: [ArticleRecord] = [], ids: [ArticleID] = [], nextCursor: ByteBuffer = ByteBuffer()) {
        self.records = records
        self.ids = ids
        self.nextCursor = nextCursor
    }

    func encodeFields(into buffer: inout ByteBuffer) {
        for record in records { buffer.writeRecordField(1, record) }
        buffer.writeArticleIDs(2, ids)
        buffer.writeBytesFieldIfNonEmpty(3, nextCursor)
    }

    init(reader: inout WireReader) throws(ProtocolError) {
        var batch = ScanBatchMessage()
        while let field = try reader.nextField() {
            switch field.number {
            case 1: batch.records.append(try reader.readRecord(field.type))
            case 2: batch.ids.append(try reader.readArticleID(field.type))
            case 3: batch.nextCursor = try reader.readBytes(field.type)
            default: try reader.skip(field.type)
            }
        }
        self = batch
    }

    /// Appends the payload.
    public func encode(into buffer: inout ByteBuffer) { encodeFields(into: &buffer) }
    /// Decodes a payload.
    public init(decoding payload: ByteBuffer) throws(ProtocolError) { try self.init(wirePayload: payload) }
}
