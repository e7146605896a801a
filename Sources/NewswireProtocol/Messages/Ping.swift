import NIOCore

/// PING (0x0002) and PONG (0x8002): the server echoes ``payload`` back (PROTOCOL.md §5.7).
public struct PingMessage: WireMessage, FieldCoded {
    static var wireName: String { "Ping" }

    /// Opaque bytes echoed back (e.g. a send timestamp); at most a few bytes in practice.
    public var payload: ByteBuffer

    /// Creates a PING/PONG.
    public init(payload: ByteBuffer = ByteBuffer()) { self.payload = payload }

    func encodeFields(into buffer: inout ByteBuffer) { buffer.writeBytesFieldIfNonEmpty(1, payload) }

    init(reader: inout WireReader) throws(ProtocolError) {
        var payload = ByteBuffer()
        while let field = try reader.nextField() {
            switch field.number {
            case 1: payload = try reader.readBytes(field.type)
            default: try reader.skip(field.type)
            }
        }
        self.init(payload: payload)
    }

    /// Appends the payload.
    public func encode(into buffer: inout ByteBuffer) { encodeFields(into: &buffer) }
    /// Decodes a payload.
    public init(decoding payload: ByteBuffer) throws(ProtocolError) { try self.init(wirePayload: payload) }
}
