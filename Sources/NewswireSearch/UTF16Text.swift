/// UTF-16 → String without the standard library's generic (slow) transcoding path.
enum UTF16Text {
    /// With `lineBreaksAsSpaces`, `\n` and `\r` become spaces (one scalar for one, so offsets stay valid).
    static func string(_ units: UnsafeBufferPointer<UInt16>, lineBreaksAsSpaces: Bool = false) -> String {
        if units.isEmpty { return "" }
        guard #available(macOS 26, iOS 26, watchOS 26, tvOS 26, visionOS 26, *) else {
            return String(unsafeUninitializedCapacity: units.count * 3) { buffer in
                transcode(units, into: buffer.baseAddress!, capacity: buffer.count, lineBreaksAsSpaces: lineBreaksAsSpaces)
                    .count
            }
        }
        // The transcoder writes well-formed UTF-8 by construction (an unpaired surrogate becomes U+FFFD), so the
        // String is made from it without the standard library validating it again: that validation cost as
        // much as the transcoding itself (a third of a hit title's String, half of a snippet's).
        // One byte of slack: a three-byte scalar is written with one four-byte store.
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: units.count * 3 + 1) { buffer in
            let (count, isASCII) = transcode(
                units, into: buffer.baseAddress!, capacity: buffer.count, lineBreaksAsSpaces: lineBreaksAsSpaces)
            let utf8 = unsafe UTF8Span(
                unchecked: UnsafeBufferPointer(rebasing: buffer[..<count]).span, isKnownASCII: isASCII)
            return String(copying: utf8)
        }
    }

    /// How many UTF-8 bytes ``string(_:lineBreaksAsSpaces:)`` makes of `units` (the same with or without line
    /// breaks as spaces: one byte for one).
    static func utf8Count(_ units: UnsafeBufferPointer<UInt16>) -> Int {
        var count = 0
        var afterHighSurrogate = false
        for u in units {
            // A surrogate pair is four bytes: three counted for its high half, one for its low; an unpaired
            // surrogate becomes U+FFFD, three.
            let pairsUp = afterHighSurrogate && u & 0xFC00 == 0xDC00
            count &+= u < 0x80 ? 1 : u < 0x800 ? 2 : pairsUp ? 1 : 3
            afterHighSurrogate = u & 0xFC00 == 0xD800
        }
        return count
    }

    /// Writes the UTF-8 bytes of ``string(_:lineBreaksAsSpaces:)`` at `out` (room for ``utf8Count(_:)`` bytes);
    /// returns how many it wrote.
    static func writeUTF8(
        _ units: UnsafeBufferPointer<UInt16>, to out: UnsafeMutablePointer<UInt8>, lineBreaksAsSpaces: Bool
    ) -> Int {
        // Room for exactly the bytes written: the last three-byte scalar is written byte by byte.
        units.isEmpty ? 0 : transcode(units, into: out, capacity: 0, lineBreaksAsSpaces: lineBreaksAsSpaces).count
    }

    /// Writes `units` as UTF-8 at `out` (room for three bytes per unit, and `capacity` bytes in all when that is
    /// more); returns the byte count and whether every unit was ASCII.
    @inline(__always)
    private static func transcode(
        _ units: UnsafeBufferPointer<UInt16>, into out: UnsafeMutablePointer<UInt8>, capacity: Int,
        lineBreaksAsSpaces: Bool
    ) -> (count: Int, isASCII: Bool) {
        // Raw pointers and the common cases first: stored titles are mostly CJK (three bytes) and ASCII. Offsets
        // cannot overflow (three bytes per unit of a buffer), so they add without overflow checks.
        let input = units.baseAddress!
        var o = 0
        var i = 0
        let n = units.count
        // A three-byte scalar is one four-byte store (its fourth byte overwritten next) while four bytes fit.
        let lastWideStore = capacity &- 4
        while i < n {
            let u = input[i]
            i &+= 1
            if u < 0x80 {
                out[o] = lineBreaksAsSpaces && (u == 0x0A || u == 0x0D) ? 0x20 : UInt8(truncatingIfNeeded: u)
                o &+= 1
                continue
            }
            if u < 0x800 {
                out[o] = UInt8(truncatingIfNeeded: 0xC0 | (u >> 6))
                out[o &+ 1] = UInt8(truncatingIfNeeded: 0x80 | (u & 0x3F))
                o &+= 2
                continue
            }
            if u < 0xD800 || u > 0xDFFF {
                let v = UInt32(u)
                let bytes = (0xE0 | v >> 12) | (0x80 | (v >> 6) & 0x3F) << 8 | (0x80 | v & 0x3F) << 16
                if o <= lastWideStore {
                    UnsafeMutableRawPointer(out + o).storeBytes(of: bytes.littleEndian, as: UInt32.self)
                } else {
                    out[o] = UInt8(truncatingIfNeeded: bytes)
                    out[o &+ 1] = UInt8(truncatingIfNeeded: bytes >> 8)
                    out[o &+ 2] = UInt8(truncatingIfNeeded: bytes >> 16)
                }
                o &+= 3
                continue
            }
            var v: UInt32 = 0xFFFD  // unpaired surrogate (never stored: input came from valid Strings)
            if u <= 0xDBFF, i < n, input[i] >= 0xDC00, input[i] <= 0xDFFF {
                v = 0x10000 + ((UInt32(u) - 0xD800) << 10) + (UInt32(input[i]) - 0xDC00)
                i += 1
            }
            if v < 0x10000 {
                out[o] = UInt8(0xE0 | (v >> 12))
                out[o + 1] = UInt8(0x80 | ((v >> 6) & 0x3F))
                out[o + 2] = UInt8(0x80 | (v & 0x3F))
                o += 3
            } else {
                out[o] = UInt8(0xF0 | (v >> 18))
                out[o + 1] = UInt8(0x80 | ((v >> 12) & 0x3F))
                out[o + 2] = UInt8(0x80 | ((v >> 6) & 0x3F))
                out[o + 3] = UInt8(0x80 | (v & 0x3F))
                o += 4
            }
        }
        return (o, o == n)
    }

    // MARK: String → UTF-16

    /// The number of UTF-16 code units of `string`, counted from its UTF-8 bytes (a unit per scalar's first byte,
    /// two for a four-byte scalar). The UTF-16 view's own count of a native string builds its breadcrumbs index (a
    /// pass and an allocation per string), which showed when segments were built.
    static func utf16Count(of string: String) -> Int {
        string.utf8.withContiguousStorageIfAvailable(utf16Count(utf8:)) ?? string.utf16.count
    }

    @inline(__always)
    private static func utf16Count(utf8 bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var count = 0
        for byte in bytes { count &+= (byte & 0xC0 != 0x80 ? 1 : 0) &+ (byte >= 0xF0 ? 1 : 0) }
        return count
    }

    /// Appends the UTF-16 code units of `string` to `text`, decoded from its UTF-8 storage in one pass (the UTF-16
    /// view counts itself first and then yields a unit at a time). Decoded into scratch memory and appended as one
    /// copy: growing the array by a repeated element first cost more than the decoding.
    static func append(utf16Of string: String, to text: inout [UInt16]) {
        let done: Void? = string.utf8.withContiguousStorageIfAvailable { bytes in
            let count = utf16Count(utf8: bytes)
            guard count > 0 else { return }
            withUnsafeTemporaryAllocation(of: UInt16.self, capacity: count) { out in
                decode(utf8: bytes, into: out.baseAddress!)
                text.append(contentsOf: UnsafeBufferPointer(out))
            }
        }
        if done == nil {
            for unit in string.utf16 { text.append(unit) }
        }
    }

    /// Writes the UTF-16 code units of valid UTF-8 `bytes` at `out` (room for ``utf16Count(utf8:)`` units).
    @inline(__always)
    private static func decode(utf8 bytes: UnsafeBufferPointer<UInt8>, into out: UnsafeMutablePointer<UInt16>) {
        var o = 0
        var i = 0
        while i < bytes.count {
            let scalar = decodeScalar(bytes, at: &i)
            if scalar < 0x10000 {
                out[o] = UInt16(truncatingIfNeeded: scalar)
                o &+= 1
            } else {
                let offset = scalar &- 0x10000
                out[o] = UInt16(truncatingIfNeeded: 0xD800 &+ (offset >> 10))
                out[o &+ 1] = UInt16(truncatingIfNeeded: 0xDC00 &+ (offset & 0x3FF))
                o &+= 2
            }
        }
    }

    /// The scalar value of the UTF-8 sequence at `bytes[i]`, moving `i` past it. For a String's UTF-8, which is
    /// valid: each lead byte is followed by its continuation bytes.
    @inline(__always)
    static func decodeScalar(_ bytes: UnsafeBufferPointer<UInt8>, at i: inout Int) -> UInt32 {
        let b0 = UInt32(bytes[i])
        if b0 < 0x80 {
            i &+= 1
            return b0
        }
        if b0 < 0xE0 {
            defer { i &+= 2 }
            return (b0 & 0x1F) << 6 | UInt32(bytes[i &+ 1] & 0x3F)
        }
        if b0 < 0xF0 {
            defer { i &+= 3 }
            return (b0 & 0x0F) << 12 | UInt32(bytes[i &+ 1] & 0x3F) << 6 | UInt32(bytes[i &+ 2] & 0x3F)
        }
        defer { i &+= 4 }
        return (b0 & 0x07) << 18 | UInt32(bytes[i &+ 1] & 0x3F) << 12 | UInt32(bytes[i &+ 2] & 0x3F) << 6
            | UInt32(bytes[i &+ 3] & 0x3F)
    }
}
