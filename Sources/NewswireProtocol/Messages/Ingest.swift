import NIOCore
import NewswireModel

/// INGEST (0x0007): raw page bytes to parse (and store unless ``dryRun``); answered by INGEST_RESULT or
/// ERROR PARSE_FAILED (PROTOCOL.md §5.12).
public struct IngestMessage: WireMessage, FieldCoded {
    static var wireName: String { "Ingest" }

    /// The page exactly as fetched (HTML or a plain-text dump; UTF-8, GBK or GB18030).
    public var page: ByteBuffer
    /// The page's URL, when known (helps the id and the source).
    public var url: String?
    /// A charset hint (e.g. `gbk`) when the sender knows better than the page.
    public var charset: String?
    /// Parse and return the record without storing it.
    public var dryRun: Bool

    /// Creates an INGEST.
    public init(page: ByteBuffer, url: String? = nil, charset: String? = nil, dryRun: Bool = false) {
        self.page = page
        self.url = url
        self.charset = charset
        self.dryRun = dryRun
    }

    func encodeFields(into buffer: inout ByteBuffer) {
        buffer.writeBytesField(1, page)
        buffer.writeOptionalStringField(2, url)
        buffer.writeOptionalStringField(3, charset)
        buffer.writeBoolField(4, dryRun)
    }

    init(reader: inout WireReader) throws(ProtocolError) {
        var message = IngestMessage(page: ByteBuffer())
        var sawPage = false
        while let field = try reader.nextField() {
            switch field.number {
            case 1:
                message.page = try reader.readBytes(field.type)
                sawPage = true
            case 2: message.url = try reader.readString(field.type)
            case 3: message.charset = try reader.readString(field.type)
            case 4: message.dryRun = try reader.readBool(field.type)
            default: try reader.skip(field.type)
            }
        }
        guard sawPage else { throw reader.missing("1 (page)") }
        self = message
    }

    /// Appends the payload.
    public func encode(into buffer: inout ByteBuffer) { encodeFields(into: &buffer) }
    /// Decodes a payload.
    public init(decoding payload: ByteBuffer) throws(ProtocolError) { try self.init(wirePayload: payload) }
}

/// What the store did with a record (INGEST_RESULT, PUT_RESULT).
public struct StoreOutcome: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    /// The wire value.
    public var rawValue: UInt8
    /// Wraps a wire value.
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// A new article was stored.
    public static let created = StoreOutcome(rawValue: 0)
    /// An article with the same id was replaced.
    public static let updated = StoreOutcome(rawValue: 1)
    /// An identical article was already stored.
    public static let unchanged = StoreOutcome(rawValue: 2)
    /// Parsed only (INGEST with dry run); nothing stored.
    public static let notStored = StoreOutcome(rawValue: 3)

    /// The spec's name or the value, for logs and error text.
    public var description: String {
        switch self {
        case .created: "created"
        case .updated: "updated"
        case .unchanged: "unchanged"
        case .notStored: "not stored"
        default: "outcome#\(rawValue)"
        }
    }
}

/// INGEST_RESULT (0x8007): the parsed record and what the store did with it (PROTOCOL.md §5.12).
public struct IngestResultMessage: WireMessage, FieldCoded {
    static var wireName: String { "IngestResult" }

    /// The parsed article.
    public var record: ArticleRecord
    /// What the store did.
    public var outcome: StoreOutcome

    /// Creates an INGEST_RESULT.
    public init(record: ArticleRecord, outcome: StoreOutcome) {
        self.record = record
        self.outcome = outcome
    }

    func encodeFields(into buffer: inout ByteBuffer) {
        buffer.writeRecordField(1, record)
        buffer.writeVarintFieldIfNonZero(2, UInt64(outcome.rawValue))
    }

    init(reader: inout WireReader) throws(ProtocolError) {
        var record: ArticleRecord?
        var outcome = StoreOutcome.created
        while let field = try reader.nextField() {
            switch field.number {
            case 1: record = try reader.readRecord(field.type)
            case 2:
                let raw = try reader.readUInt32(field.type)
                guard raw <= UInt8.max else { throw reader.malformed("outcome \(raw) is out of range") }
                outcome = StoreOutcome(rawValue: UInt8(raw))
            default: try reader.skip(field.type)
            }
        }
        guard let record else { throw reader.missing("1 (article)") }
        self.init(record: record, outcome: outcome)
    }

    /// Appends the payload.
    public func encode(into buffer: inout ByteBuffer) { encodeFields(into: &buffer) }
    /// Decodes a payload.
    public init(decoding payload: ByteBuffer) throws(ProtocolError) { try self.init(wirePayload: payload) }
}
