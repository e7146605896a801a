import NIOCore

/// ERROR (0x8000) payload coding of ``ProtocolError`` (PROTOCOL.md §7). The request id travels in the header.
extension ProtocolError: FieldCoded {
    static var wireName: String { "Error" }

    func encodeFields(into buffer: inout ByteBuffer) {
        buffer.writeVarintField(1, UInt64(code.rawValue))
        buffer.writeBoolField(2, isRetryable)
        buffer.writeStringFieldIfNonEmpty(3, Self.wireMessage(message))
        if let supportedVersions {
            buffer.writeVarintField(4, UInt64(supportedVersions.lowerBound))
            buffer.writeVarintField(5, UInt64(supportedVersions.upperBound))
        }
        if let retryAfterMillis { buffer.writeVarintField(6, UInt64(retryAfterMillis)) }
        if let position { buffer.writeVarintField(7, position) }
    }

    /// PROTOCOL.md §5.17: a message is at most ``Limits/maxErrorMessageBytes`` of UTF-8; a longer one (one that
    /// quotes a huge id or query) is cut at a character boundary and ends with "…", so that an ERROR always fits
    /// the smallest max frame length a client may announce.
    static func wireMessage(_ message: String) -> String {
        let utf8 = message.utf8
        guard utf8.count > Limits.maxErrorMessageBytes else { return message }
        let ellipsis = "…"
        var end = utf8.index(utf8.startIndex, offsetBy: Limits.maxErrorMessageBytes - ellipsis.utf8.count)
        // Back to the start of a character: never a partial UTF-8 sequence.
        while end > utf8.startIndex, UTF8.isContinuation(utf8[end]) { end = utf8.index(before: end) }
        return String(message[..<end]) + ellipsis
    }

    init(reader: inout WireReader) throws(ProtocolError) {
        var code: UInt32?
        var retryable = false
        var message = ""
        var low: UInt32?
        var high: UInt32?
        var retryAfter: UInt32?
        var position: UInt64?
        while let field = try reader.nextField() {
            switch field.number {
            case 1: code = try reader.readUInt32(field.type)
            case 2: retryable = try reader.readBool(field.type)
            case 3: message = try reader.readString(field.type)
            case 4: low = try reader.readUInt32(field.type)
            case 5: high = try reader.readUInt32(field.type)
            case 6: retryAfter = try reader.readUInt32(field.type)
            case 7: position = try reader.readUInt64(field.type)
            default: try reader.skip(field.type)
            }
        }
        guard let code else { throw reader.missing("1 (code)") }
        var versions: ClosedRange<UInt8>?
        if let low, let high {
            guard low <= high, high <= UInt8.max else {
                throw reader.malformed("supported version range \(low)...\(high) is invalid")
            }
            versions = UInt8(low)...UInt8(high)
        }
        self.init(
            code: Code(rawValue: code), message: message, isRetryable: retryable, supportedVersions: versions,
            retryAfterMillis: retryAfter, position: position)
    }
}

/// GOAWAY (0x80FF), sent with ``RequestID/connection``: the server stops accepting requests on this
/// connection (PROTOCOL.md §6.4).
public struct GoAwayMessage: WireMessage, FieldCoded {
    static var wireName: String { "GoAway" }

    /// Why: usually ``ProtocolError/Code/shuttingDown``, or ``ProtocolError/Code/timeout`` for idle connections.
    public var code: ProtocolError.Code
    /// Human-readable reason.
    public var message: String
    /// How long the server keeps the connection open to finish requests already received, in milliseconds.
    public var graceMillis: UInt32

    /// Creates a GOAWAY.
    public init(code: ProtocolError.Code = .shuttingDown, message: String, graceMillis: UInt32 = 0) {
        self.code = code
        self.message = message
        self.graceMillis = graceMillis
    }

    func encodeFields(into buffer: inout ByteBuffer) {
        buffer.writeVarintField(1, UInt64(code.rawValue))
        buffer.writeStringFieldIfNonEmpty(2, message)
        buffer.writeVarintFieldIfNonZero(3, UInt64(graceMillis))
    }

    init(reader: inout WireReader) throws(ProtocolError) {
        var message = GoAwayMessage(code: .shuttingDown, message: "")
        var sawCode = false
        while let field = try reader.nextField() {
            switch field.number {
            case 1:
                message.code = ProtocolError.Code(rawValue: try reader.readUInt32(field.type))
                sawCode = true
            case 2: message.message = try reader.readString(field.type)
            case 3: message.graceMillis = try reader.readUInt32(field.type)
            default: try reader.skip(field.type)
            }
        }
        guard sawCode else { throw reader.missing("1 (code)") }
        self = message
    }

    /// Appends the payload.
    public func encode(into buffer: inout ByteBuffer) { encodeFields(into: &buffer) }
    /// Decodes a payload.
    public init(decoding payload: ByteBuffer) throws(ProtocolError) { try self.init(wirePayload: payload) }
}
