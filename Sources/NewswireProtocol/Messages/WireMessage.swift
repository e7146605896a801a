import NIOCore
import NewswireModel

/// A message that has a payload encoding (PROTOCOL.md §5): every request and response body.
public protocol WireMessage: Sendable, Hashable {
    /// Appends the message's fields to `buffer`.
    func encode(into buffer: inout ByteBuffer)
    /// Decodes the message from a complete payload, ignoring fields it does not know.
    init(decoding payload: ByteBuffer) throws(ProtocolError)
}

/// Field-level coding of a message, shared by top-level and nested use.
protocol FieldCoded {
    static var wireName: String { get }
    func encodeFields(into buffer: inout ByteBuffer)
    init(reader: inout WireReader) throws(ProtocolError)
}

extension FieldCoded {
    init(wirePayload: ByteBuffer) throws(ProtocolError) {
        var reader = WireReader(wirePayload, message: Self.wireName)
        try self.init(reader: &reader)
    }
}

extension ByteBuffer {
    mutating func writeMessageField(_ field: UInt32, _ value: some FieldCoded) {
        writeMessageField(field) { value.encodeFields(into: &$0) }
    }
}

extension WireReader {
    mutating func readMessage<T: FieldCoded>(_ type: WireType, as: T.Type) throws(ProtocolError) -> T {
        var nested = try readMessage(type, name: T.wireName)
        return try T(reader: &nested)
    }

    func missing(_ what: String) -> ProtocolError {
        let name = outer.isEmpty ? message : "\(outer).\(message)"
        return ProtocolError(code: .malformedMessage, message: "\(name): required field \(what) is missing")
    }
}
