import NIOCore

/// A named server statistic (PROTOCOL.md §5.16).
public struct StatEntry: Sendable, Hashable, FieldCoded {
    static var wireName: String { "Stat" }

    /// A statistic's value.
    public enum Value: Sendable, Hashable {
        /// A count or other integer.
        case integer(Int64)
        /// A measurement (seconds, ratios…).
        case double(Double)
        /// Text (version strings, paths…).
        case text(String)
    }

    /// Dotted name, e.g. `requests.get.ok`, `articles.count`, `bytes.out.compressed`.
    public var name: String
    /// The value.
    public var value: Value

    /// Creates an entry.
    public init(name: String, value: Value) {
        self.name = name
        self.value = value
    }

    func encodeFields(into buffer: inout ByteBuffer) {
        buffer.writeStringField(1, name)
        switch value {
        case .integer(let int): buffer.writeVarintField(2, zigZag(int))
        case .double(let double):
            buffer.writeTag(3, .fixed64)
            buffer.writeInteger(double.bitPattern, endianness: .little)
        case .text(let text): buffer.writeStringField(4, text)
        }
    }

    init(reader: inout WireReader) throws(ProtocolError) {
        var name: String?
        var value = Value.integer(0)
        while let field = try reader.nextField() {
            switch field.number {
            case 1: name = try reader.readString(field.type)
            case 2: value = .integer(try reader.readSigned(field.type))
            case 3: value = .double(try reader.readDouble(field.type))
            case 4: value = .text(try reader.readString(field.type))
            default: try reader.skip(field.type)
            }
        }
        guard let name else { throw reader.missing("1 (name)") }
        self.init(name: name, value: value)
    }
}

/// STATS_RESULT (0x800B): the server's statistics, in a stable order (PROTOCOL.md §5.16).
public struct StatsMessage: WireMessage, FieldCoded {
    static var wireName: String { "StatsResult" }

    /// The entries.
    public var entries: [StatEntry]

    /// Creates a STATS_RESULT.
    public init(entries: [StatEntry]) { self.entries = entries }

    /// The value of the entry with this name, if present.
    public subscript(name: String) -> StatEntry.Value? { entries.first { $0.name == name }?.value }

    func encodeFields(into buffer: inout ByteBuffer) {
        for entry in entries { buffer.writeMessageField(1, entry) }
    }

    init(reader: inout WireReader) throws(ProtocolError) {
        var entries: [StatEntry] = []
        while let field = try reader.nextField() {
            switch field.number {
            case 1: entries.append(try reader.readMessage(field.type, as: StatEntry.self))
            default: try reader.skip(field.type)
            }
        }
        self.init(entries: entries)
    }

    /// Appends the payload.
    public func encode(into buffer: inout ByteBuffer) { encodeFields(into: &buffer) }
    /// Decodes a payload.
    public init(decoding payload: ByteBuffer) throws(ProtocolError) { try self.init(wirePayload: payload) }
}
