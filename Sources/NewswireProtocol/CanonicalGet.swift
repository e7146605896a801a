import NIOCore

/// Recognises a GET in its canonical encoding straight from received bytes, for fast paths that answer cached
/// records without decoding a ``Frame`` (PROTOCOL.md §5.3 rule 6, §5.8).
///
/// Canonical means: version 1, no flags (uncompressed, no MORE_TO_FOLLOW), a client request id (top bit clear),
/// and a payload that is exactly field 1 (`0x0A`), a one-byte length, and that many id bytes: `0A len id`. Ids of
/// up to 127 bytes qualify. Anything else is not canonical and must go through the frame decoder; a non-canonical
/// GET is still a valid GET. The id bytes are not checked for UTF-8 here: a fast path only answers ids it finds
/// in its cache, and those are valid UTF-8.
public enum CanonicalGet {
    /// Longest id a canonical GET carries (its length fits one varint byte).
    public static let maxIDLength = 127

    /// Where the id of the canonical GET described by this header is, or nil when it is not one. The payload
    /// (`payloadLength` bytes at `payloadIndex`) must be whole in `buffer`.
    @inlinable
    public static func idRange(
        in buffer: ByteBuffer, version: UInt8, flags: UInt8, opcode: UInt16, requestID: UInt32,
        payloadIndex: Int, payloadLength: Int
    ) -> Range<Int>? {
        guard version == 1, flags == 0, opcode == 0x0003, requestID & 0x8000_0000 == 0,
            payloadLength >= 2, payloadLength <= maxIDLength + 2,
            buffer.getInteger(at: payloadIndex, as: UInt8.self) == 0x0A,
            buffer.getInteger(at: payloadIndex + 1, as: UInt8.self) == UInt8(payloadLength - 2)
        else { return nil }
        return (payloadIndex + 2)..<(payloadIndex + payloadLength)
    }
}
