import NewswireModel

/// Derives stable ``NewswireModel/ArticleID``s.
///
/// The id is 32 lowercase hex digits: a 128-bit hash built from two independent 64-bit FNV-1a passes, each
/// finished with the SplitMix64 avalanche so nearby inputs spread over the whole range. The algorithm is fixed
/// and implemented here (no platform hasher, which is seeded per process), so an id is the same on every
/// machine, run and version; changing it would re-key every stored article.
public enum ArticleIdentity {
    /// The id of an article: from the canonical URL when known, otherwise from the normalised title,
    /// publication time and body.
    ///
    /// - Parameters:
    ///   - canonicalURL: the page's canonical URL (`<link rel=canonical>`, `og:url`, or where it was fetched).
    ///     Normalised first (see ``normalizedURL(_:)``), so `HTTP://Example.com:80/a#x` and
    ///     `http://example.com/a` give the same id. Prefixed `url:` before hashing.
    ///   - title: the headline; used only without a URL.
    ///   - publishedAt: the publication time; only its instant is used.
    ///   - paragraphs: the body; only letters and digits (width-folded, lowercased) count, so whitespace and
    ///     punctuation differences between two scrapes of the same article do not change the id.
    public static func id(
        canonicalURL: String?, title: String, publishedAt: PublishedTime?, paragraphs: [String]
    ) -> ArticleID {
        if let url = canonicalURL.map(normalizedURL), !url.isEmpty {
            return ArticleID(hex128("url:" + url))
        }
        // Equivalent to hex128("content:" + key(title) + "\u{1}" + seconds + "\u{1}" + key(p1) + key(p2) + …),
        // streamed so a long body is not copied.
        var hasher = StableHasher()
        hasher.add("content:")
        Text.forEachKeyScalar(Text.scalars(title)) { hasher.add($0) }
        hasher.add("\u{1}")
        if let publishedAt { hasher.add(String(publishedAt.secondsSinceEpoch)) }
        hasher.add("\u{1}")
        for var p in paragraphs {
            // Same filter as Text.key, per scalar, read from the UTF-8: ASCII and the common Han block (most of a
            // Chinese body) are decided from their bytes, everything else goes through the full test.
            p.withUTF8 { u in
                let n = u.count
                var i = 0
                while i < n {
                    let b0 = u[i]
                    if b0 < 0x80 {
                        if b0 >= 0x30 && b0 <= 0x39 {
                            hasher.add(byte: b0)
                        } else if b0 | 0x20 >= 0x61 && b0 | 0x20 <= 0x7A {
                            hasher.add(byte: b0 | 0x20)
                        }
                        i += 1
                        continue
                    }
                    // The String's UTF-8 is well formed: the lead byte gives the length.
                    let length = b0 >= 0xF0 ? 4 : b0 >= 0xE0 ? 3 : 2
                    var v = UInt32(b0) & (length == 4 ? 0x07 : length == 3 ? 0x0F : 0x1F)
                    for k in 1..<length { v = v << 6 | UInt32(u[i + k] & 0x3F) }
                    if v >= 0x4E00 && v <= 0x9FFF {
                        for k in 0..<length { hasher.add(byte: u[i + k]) }
                    } else {
                        let f = Unicode.Scalar(v).unsafelyUnwrapped.foldedWidth
                        if f.isASCIIDigit || f.isHan {
                            hasher.add(f)
                        } else if f.isASCIILetter {
                            hasher.add(Unicode.Scalar(f.value | 0x20)!)
                        } else if f.value >= 0x80, !Text.isCommonNonLetter(f), f.properties.isAlphabetic {
                            hasher.add(f)
                        }
                    }
                    i += length
                }
            }
        }
        return ArticleID(hasher.hex)
    }

    /// Lowercases scheme and host, drops the fragment, a default port and surrounding whitespace.
    public static func normalizedURL(_ url: String) -> String {
        var s = Substring(url.trimmingWhitespace())
        if let hash = s.firstIndex(of: "#") { s = s[..<hash] }
        let u = Array(s.unicodeScalars)
        guard let colon = Text.firstIndex(of: Text.scalars("://"), in: u) else { return String(s) }
        let scheme = Text.string(u[..<colon]).lowercased()
        let rest = Substring(Text.string(u[(colon + 3)...]))
        let hostEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        var host = rest[..<hostEnd].lowercased()
        if scheme == "http", host.hasSuffix(":80") { host.removeLast(3) }
        if scheme == "https", host.hasSuffix(":443") { host.removeLast(4) }
        var path = String(rest[hostEnd...])
        if path.isEmpty { path = "/" }
        return scheme + "://" + host + path
    }

    /// 128-bit stable hash of the UTF-8 bytes of `text`, as 32 hex digits.
    public static func hex128(_ text: String) -> String {
        var hasher = StableHasher()
        hasher.add(text)
        return hasher.hex
    }

    /// Two FNV-1a-style 64-bit lanes over UTF-8 bytes, finished with the byte count and SplitMix64.
    struct StableHasher {
        var h1: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a offset basis
        var h2: UInt64 = 0x6c62_272e_07bb_0142  // a second, independent basis
        var count: UInt64 = 0
        static let prime: UInt64 = 0x0000_0100_0000_01b3

        @inline(__always) mutating func add(byte b: UInt8) {
            h1 = (h1 ^ UInt64(b)) &* Self.prime
            h2 = (h2 ^ UInt64(b ^ 0x5c)) &* Self.prime
            h2 = (h2 << 7) | (h2 >> 57)
            count &+= 1
        }

        mutating func add(_ text: String) {
            for b in text.utf8 { add(byte: b) }
        }

        @inline(__always) mutating func add(_ c: Unicode.Scalar) {
            Text.forEachUTF8Byte(c.value) { add(byte: $0) }
        }

        var hex: String {
            ArticleIdentity.hex(ArticleIdentity.mix(h1 ^ count))
                + ArticleIdentity.hex(ArticleIdentity.mix(h2 &+ count &* 0x9e37_79b9_7f4a_7c15))
        }
    }

    /// SplitMix64 finaliser.
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9e37_79b9_7f4a_7c15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    static func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}

extension String {
    func trimmingWhitespace() -> String {
        let s = unicodeScalars
        guard let first = s.firstIndex(where: { !$0.isSpaceLike }) else { return "" }
        let last = s.lastIndex(where: { !$0.isSpaceLike })!
        return String(s[first...last])
    }
}
