/// Term keys: a CJK unigram is its scalar value; a bigram sets bit 42 and packs both scalars (21 bits each).
enum TermKey {
    @inline(__always) static func unigram(_ a: UInt32) -> UInt64 { UInt64(a) }
    @inline(__always) static func bigram(_ a: UInt32, _ b: UInt32) -> UInt64 {
        1 << 42 | UInt64(a) << 21 | UInt64(b)
    }
    @inline(__always) static func isPositional(_ key: UInt64) -> Bool { key >= 1 << 42 }

    /// The 32-bit form of a key whose characters are all in the BMP (nearly every key): a unigram stays its
    /// scalar (< 0x10000), a bigram becomes `a << 16 | b` (>= 0x3007_0000, since CJK scalars start at U+3007).
    /// Order-preserving among compact keys.
    @inline(__always) static func compact(_ key: UInt64) -> UInt32? {
        if key < 1 << 42 { return key < 0x10000 ? UInt32(key) : nil }
        let a = (key >> 21) & 0x1F_FFFF
        let b = key & 0x1F_FFFF
        return a < 0x10000 && b < 0x10000 ? UInt32(a << 16 | b) : nil
    }
}
