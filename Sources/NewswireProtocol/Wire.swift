import NIOCore

/// How a payload field's value is laid out (PROTOCOL.md §5.1). The numbering is protobuf's, so a `.proto`
/// description of the messages (PROTOCOL.md appendix A) decodes Newswire payloads with stock tooling.
enum WireType: UInt8, Sendable {
    /// LEB128 varint: integers, booleans, enums.
    case varint = 0
    /// 8 bytes little-endian: doubles.
    case fixed64 = 1
    /// Varint length, then that many bytes: strings, bytes, nested messages, packed integers.
    case lengthDelimited = 2
    /// 4 bytes little-endian (not used by v1 messages; skippable so later versions may use it).
    case fixed32 = 5
}

/// Encoded size of an unsigned LEB128 varint.
func varintSize(_ value: UInt64) -> Int {
    // 1 + floor(bits / 7): (63 - lzcnt) / 7 + 1 for value > 0.
    value == 0 ? 1 : (63 - value.leadingZeroBitCount) / 7 + 1
}

/// Stores `value` as an unsigned LEB128 varint at `base + offset` (room for ``varintSize(_:)`` bytes); returns the
/// offset after it.
@inline(__always)
func storeVarint(_ value: UInt64, at base: UnsafeMutableRawPointer, offset: Int) -> Int {
    var v = value
    var o = offset
    while v >= 0x80 {
        base.storeBytes(of: UInt8(truncatingIfNeeded: v) | 0x80, toByteOffset: o, as: UInt8.self)
        v >>= 7
        o += 1
    }
    base.storeBytes(of: UInt8(truncatingIfNeeded: v), toByteOffset: o, as: UInt8.self)
    return o + 1
}

/// ZigZag mapping of a signed integer so small magnitudes stay short (protobuf `sint64`).
func zigZag(_ value: Int64) -> UInt64 { UInt64(bitPattern: (value << 1) ^ (value >> 63)) }

/// Inverse of ``zigZag(_:)``.
func unZigZag(_ value: UInt64) -> Int64 { Int64(bitPattern: (value >> 1) ^ (0 &- (value & 1))) }

// MARK: - Writing

extension ByteBuffer {
    /// Appends `value` as an unsigned LEB128 varint (PROTOCOL.md §5.2).
    mutating func writeVarint(_ value: UInt64) {
        // One access to the buffer's storage per varint: written a byte at a time, each byte paid the storage's
        // uniqueness and exclusivity checks (a quarter of encoding a search result, whose hits are mostly tags
        // and lengths around a few strings).
        writeWithUnsafeMutableBytes(minimumWritableBytes: varintSize(value)) { bytes in
            storeVarint(value, at: bytes.baseAddress!, offset: 0)
        }
    }

    mutating func writeTag(_ field: UInt32, _ type: WireType) {
        writeVarint(UInt64(field) << 3 | UInt64(type.rawValue))
    }

    /// A varint field, always written (use for fields whose zero value must be explicit on the wire).
    mutating func writeVarintField(_ field: UInt32, _ value: UInt64) {
        writeTag(field, .varint)
        writeVarint(value)
    }

    /// A varint field, omitted when zero (the wire default, PROTOCOL.md §5.3).
    mutating func writeVarintFieldIfNonZero(_ field: UInt32, _ value: UInt64) {
        if value != 0 { writeVarintField(field, value) }
    }

    /// A non-negative Swift `Int` as a varint field, omitted when zero; negative values are sent as zero.
    mutating func writeCountField(_ field: UInt32, _ value: Int) {
        writeVarintFieldIfNonZero(field, UInt64(Swift.max(0, value)))
    }

    mutating func writeBoolField(_ field: UInt32, _ value: Bool) {
        if value { writeVarintField(field, 1) }
    }

    mutating func writeSignedField(_ field: UInt32, _ value: Int64) {
        writeVarintFieldIfNonZero(field, zigZag(value))
    }

    mutating func writeDoubleField(_ field: UInt32, _ value: Double) {
        // Positive zero is the wire default; -0.0 has a non-zero bit pattern and is kept.
        let bits = value.bitPattern
        guard bits != 0 else { return }
        writeTag(field, .fixed64)
        writeInteger(bits, endianness: .little)
    }

    /// A string field, always written (even when empty).
    mutating func writeStringField(_ field: UInt32, _ value: String) {
        writeTag(field, .lengthDelimited)
        writeVarint(UInt64(value.utf8.count))
        writeString(value)
    }

    /// A string field, omitted when nil; an empty string is written (so `""` and nil stay distinct).
    mutating func writeOptionalStringField(_ field: UInt32, _ value: String?) {
        if let value { writeStringField(field, value) }
    }

    /// A string field, omitted when empty.
    mutating func writeStringFieldIfNonEmpty(_ field: UInt32, _ value: String) {
        if !value.isEmpty { writeStringField(field, value) }
    }

    /// A repeated string field: one tagged entry per element, in order.
    mutating func writeRepeatedStringField(_ field: UInt32, _ values: [String]) {
        for value in values { writeStringField(field, value) }
    }

    /// A bytes field, omitted when empty.
    mutating func writeBytesFieldIfNonEmpty(_ field: UInt32, _ value: ByteBuffer) {
        guard value.readableBytes > 0 else { return }
        writeBytesField(field, value)
    }

    /// A bytes field, always written.
    mutating func writeBytesField(_ field: UInt32, _ value: ByteBuffer) {
        writeTag(field, .lengthDelimited)
        writeVarint(UInt64(value.readableBytes))
        writeImmutableBuffer(value)
    }

    /// A packed repeated varint field (one length-delimited entry), omitted when empty.
    mutating func writePackedVarintField(_ field: UInt32, _ values: some Collection<UInt64>) {
        guard !values.isEmpty else { return }
        var length = 0
        for value in values { length += varintSize(value) }
        writeTag(field, .lengthDelimited)
        writeVarint(UInt64(length))
        for value in values { writeVarint(value) }
    }

    /// A nested message field: `body` writes the message; its length prefix is fixed up afterwards.
    ///
    /// One byte is reserved for the length; longer bodies are shifted right with one `memmove`, which keeps
    /// the encoding canonical (shortest varint) without computing sizes twice.
    mutating func writeMessageField(_ field: UInt32, _ body: (inout ByteBuffer) -> Void) {
        writeTag(field, .lengthDelimited)
        let lengthIndex = writerIndex
        writeInteger(UInt8(0))
        let start = writerIndex
        body(&self)
        let length = writerIndex - start
        let size = varintSize(UInt64(length))
        if size > 1 {
            writeRepeatingByte(0, count: size - 1)
            // Cannot fail: both ranges are inside the written bytes.
            _ = try? copyBytes(at: start, to: start + size - 1, length: length)
        }
        var v = UInt64(length)
        var index = lengthIndex
        while v >= 0x80 {
            setInteger(UInt8(truncatingIfNeeded: v) | 0x80, at: index)
            v >>= 7
            index += 1
        }
        setInteger(UInt8(truncatingIfNeeded: v), at: index)
    }
}

// MARK: - Reading

/// A field header read from a payload: its number and wire type.
struct WireField: Sendable {
    var number: UInt32
    var type: WireType
}

/// Reads the tagged fields of one message (PROTOCOL.md §5). Every failure names the message and field.
struct WireReader {
    var buffer: ByteBuffer
    /// The message being decoded, for error text (e.g. `Article`). Names are string literals, so keeping them
    /// costs no allocation; the full path is only built when an error is thrown.
    let message: String
    /// The enclosing message's name, or empty at the top level.
    var outer: String = ""
    /// The field being decoded, for error text.
    var field: UInt32 = 0

    init(_ buffer: ByteBuffer, message: String) {
        self.buffer = buffer
        self.message = message
    }

    /// Throws LIMIT_EXCEEDED once a repeated field holds more than ``ProtocolLimits/maxBatchCount`` entries, so
    /// a request naming 10^6 ids is refused after 10,001 instead of being decoded whole (PROTOCOL.md §9).
    func checkBatch(_ count: Int, _ what: String) throws(ProtocolError) {
        guard count <= ProtocolLimits.maxBatchCount else {
            throw ProtocolError(
                code: .limitExceeded,
                message: "more than \(ProtocolLimits.maxBatchCount) \(what) in one \(message); the limit is "
                    + "\(ProtocolLimits.maxBatchCount): split it")
        }
    }

    func malformed(_ what: String) -> ProtocolError {
        let name = outer.isEmpty ? message : "\(outer).\(message)"
        let place = field == 0 ? name : "\(name) field \(field)"
        return ProtocolError(code: .malformedMessage, message: "\(place): \(what)")
    }

    /// The next field header, or nil at the end of the message.
    mutating func nextField() throws(ProtocolError) -> WireField? {
        // At the end no field is being read: checks made after the loop (a version range, a required field) must
        // not be blamed on whichever field came last.
        field = 0
        guard buffer.readableBytes > 0 else { return nil }
        let tag = try readVarint()
        let number = tag >> 3
        guard number >= 1, number <= 0x1FFF_FFFF else {
            throw malformed("field number \(number) is out of range 1...536870911")
        }
        field = UInt32(number)
        guard let type = WireType(rawValue: UInt8(tag & 7)) else {
            throw malformed("unsupported wire type \(tag & 7) (v1 uses 0, 1, 2 and 5)")
        }
        return WireField(number: UInt32(number), type: type)
    }

    /// Reads an unsigned LEB128 varint of at most 10 bytes.
    mutating func readVarint() throws(ProtocolError) -> UInt64 {
        var result: UInt64 = 0
        var consumed = 0  // > 0: success; -1: too long; 0: truncated
        buffer.withUnsafeReadableBytes { bytes in
            var shift: UInt64 = 0
            var i = 0
            while i < bytes.count {
                let byte = bytes[i]
                if i == 9, byte > 1 {
                    consumed = -1
                    return
                }
                result |= UInt64(byte & 0x7F) << shift
                i += 1
                if byte & 0x80 == 0 {
                    consumed = i
                    return
                }
                shift += 7
                if i == 10 {
                    consumed = -1
                    return
                }
            }
        }
        guard consumed > 0 else {
            throw malformed(consumed < 0 ? "varint longer than 10 bytes or above 2^64-1" : "truncated varint")
        }
        buffer.moveReaderIndex(forwardBy: consumed)
        return result
    }

    mutating func expect(_ actual: WireType, _ expected: WireType) throws(ProtocolError) {
        guard actual == expected else {
            throw malformed("wire type \(actual.rawValue) where \(expected.rawValue) was expected")
        }
    }

    mutating func readUInt64(_ type: WireType) throws(ProtocolError) -> UInt64 {
        try expect(type, .varint)
        return try readVarint()
    }

    mutating func readUInt32(_ type: WireType) throws(ProtocolError) -> UInt32 {
        let value = try readUInt64(type)
        guard value <= UInt32.max else { throw malformed("value \(value) does not fit in 32 bits") }
        return UInt32(value)
    }

    /// A `uint` count, offset or limit as a Swift `Int`: read unsigned, and saturated at `Int.max` (PROTOCOL.md
    /// §5.1: values of 2^63 and above keep their meaning — beyond any limit — rather than being malformed).
    mutating func readCount(_ type: WireType) throws(ProtocolError) -> Int {
        Int(clamping: try readUInt64(type))
    }

    mutating func readBool(_ type: WireType) throws(ProtocolError) -> Bool {
        let value = try readUInt64(type)
        guard value <= 1 else { throw malformed("boolean must be 0 or 1, got \(value)") }
        return value == 1
    }

    mutating func readSigned(_ type: WireType) throws(ProtocolError) -> Int64 {
        unZigZag(try readUInt64(type))
    }

    mutating func readDouble(_ type: WireType) throws(ProtocolError) -> Double {
        try expect(type, .fixed64)
        guard let bits = buffer.readInteger(endianness: .little, as: UInt64.self) else {
            throw malformed("truncated 8-byte double")
        }
        return Double(bitPattern: bits)
    }

    mutating func readLength() throws(ProtocolError) -> Int {
        let length = try readVarint()
        guard length <= UInt64(buffer.readableBytes) else {
            throw malformed("length \(length) runs past the end of the message (\(buffer.readableBytes) bytes left)")
        }
        return Int(length)
    }

    /// A length-delimited value as a slice of the payload (no copy).
    mutating func readBytes(_ type: WireType) throws(ProtocolError) -> ByteBuffer {
        try expect(type, .lengthDelimited)
        let length = try readLength()
        return buffer.readSlice(length: length)!
    }

    /// A length-delimited UTF-8 string, validated (invalid UTF-8 is an error, never repaired).
    mutating func readString(_ type: WireType) throws(ProtocolError) -> String {
        try expect(type, .lengthDelimited)
        let length = try readLength()
        let string: String? = buffer.withUnsafeReadableBytes { raw in
            let bytes = UnsafeBufferPointer(
                start: raw.baseAddress?.assumingMemoryBound(to: UInt8.self), count: length)
            // Validated once, then copied: `String(validating:as:)` goes through the standard library's generic
            // validation entry, whose type-metadata lookups cost as much as the validation itself per string.
            guard let utf8 = try? UTF8Span(validating: bytes.span) else { return nil }
            return String(copying: utf8)
        }
        guard let string else { throw malformed("string of \(length) bytes is not valid UTF-8") }
        buffer.moveReaderIndex(forwardBy: length)
        return string
    }

    /// A nested message, as a reader over its bytes.
    mutating func readMessage(_ type: WireType, name: String) throws(ProtocolError) -> WireReader {
        let slice = try readBytes(type)
        var nested = WireReader(slice, message: name)
        nested.outer = message
        return nested
    }

    /// Packed varints, or a single unpacked one (both encodings are accepted, as protobuf parsers do).
    mutating func readPackedVarints(_ type: WireType, into values: inout [UInt64]) throws(ProtocolError) {
        if type == .varint {
            values.append(try readVarint())
            return
        }
        var packed = WireReader(try readBytes(type), message: message)
        packed.outer = outer
        packed.field = field
        while packed.buffer.readableBytes > 0 { values.append(try packed.readVarint()) }
    }

    /// Skips a field this decoder does not know (PROTOCOL.md §5.3: unknown fields are ignored).
    mutating func skip(_ type: WireType) throws(ProtocolError) {
        switch type {
        case .varint: _ = try readVarint()
        case .fixed64, .fixed32:
            let size = type == .fixed64 ? 8 : 4
            guard buffer.readableBytes >= size else { throw malformed("truncated \(size)-byte value") }
            buffer.moveReaderIndex(forwardBy: size)
        case .lengthDelimited:
            let length = try readLength()
            buffer.moveReaderIndex(forwardBy: length)
        }
    }
}
