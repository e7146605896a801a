/// UTF-16 → String without the standard library's generic (slow) transcoding path.
enum UTF16Text {
    /// With `lineBreaksAsSpaces`, `\n` and `\r` become spaces (one scalar for one, so offsets stay valid).
    static func string(_ units: UnsafeBufferPointer<UInt16>, lineBreaksAsSpaces: Bool = false) -> String {
        if units.isEmpty { return "" }
        return String(unsafeUninitializedCapacity: units.count * 3) { out in
            var o = 0
            var i = 0
            let n = units.count
            while i < n {
                var v = UInt32(units[i])
                i += 1
                if v >= 0xD800 && v <= 0xDBFF, i < n, units[i] >= 0xDC00, units[i] <= 0xDFFF {
                    v = 0x10000 + ((v - 0xD800) << 10) + (UInt32(units[i]) - 0xDC00)
                    i += 1
                } else if v >= 0xD800 && v <= 0xDFFF {
                    v = 0xFFFD  // unpaired surrogate (never stored: input came from valid Strings)
                }
                if v < 0x80 {
                    out[o] = lineBreaksAsSpaces && (v == 0x0A || v == 0x0D) ? 0x20 : UInt8(v)
                    o += 1
                } else if v < 0x800 {
                    out[o] = UInt8(0xC0 | (v >> 6))
                    out[o + 1] = UInt8(0x80 | (v & 0x3F))
                    o += 2
                } else if v < 0x10000 {
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
            return o
        }
    }
}
