#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Turns page bytes into text: rejects binary input, then picks the charset in the documented order
/// (BOM, declared charset, strict UTF-8, GB18030) and decodes.
enum PageDecoding {
    /// The charset a page was decoded with.
    enum Charset: String, Sendable {
        case utf8 = "UTF-8"
        case utf16LE = "UTF-16LE"
        case utf16BE = "UTF-16BE"
        case gb18030 = "GB18030"
        case other
    }

    /// Share of undecodable bytes tolerated in a lenient decode before the page counts as undecodable:
    /// real GBK pages occasionally carry a stray byte, random bytes fail far more often.
    static let maximumInvalidByteRatio = 0.01

    /// A page's text as valid UTF-8: the input's own bytes when they already are (no copy), else converted ones.
    struct Decoded {
        /// Converted UTF-8, or nil when the text is the input from ``inputOffset`` on.
        var converted: [UInt8]?
        var inputOffset = 0
        var charset: String

        static func input(from offset: Int) -> Decoded { Decoded(converted: nil, inputOffset: offset, charset: "UTF-8") }

        /// Calls `body` with the text's UTF-8 bytes; `input` is the buffer given to ``PageDecoding/decode(_:charsetHint:)``.
        func withUTF8<R, E: Error>(
            input: UnsafeBufferPointer<UInt8>, _ body: (UnsafeBufferPointer<UInt8>) throws(E) -> R
        ) throws(E) -> R {
            if let converted { return try converted.withUnsafeBufferPointer(body) }
            return try body(UnsafeBufferPointer(rebasing: input[inputOffset...]))
        }
    }

    /// Signatures of common binary formats, checked before anything else.
    private static let binarySignatures: [(String, [UInt8])] = [
        ("a PNG image", [0x89, 0x50, 0x4E, 0x47]), ("a JPEG image", [0xFF, 0xD8, 0xFF]),
        ("a GIF image", [0x47, 0x49, 0x46, 0x38]), ("a ZIP archive", [0x50, 0x4B, 0x03, 0x04]),
        ("a ZIP archive", [0x50, 0x4B, 0x05, 0x06]), ("a gzip archive", [0x1F, 0x8B]),
        ("a PDF document", [0x25, 0x50, 0x44, 0x46, 0x2D]), ("a 7-Zip archive", [0x37, 0x7A, 0xBC, 0xAF]),
        ("a RAR archive", [0x52, 0x61, 0x72, 0x21]), ("an ELF executable", [0x7F, 0x45, 0x4C, 0x46]),
        ("a bzip2 archive", [0x42, 0x5A, 0x68]), ("an xz archive", [0xFD, 0x37, 0x7A, 0x58, 0x5A]),
        ("a WebP/RIFF file", [0x52, 0x49, 0x46, 0x46]), ("a Zstandard archive", [0x28, 0xB5, 0x2F, 0xFD]),
    ]

    /// C0 controls that text carries (bit per byte value): NUL (counted apart), tab, LF, FF, CR, ESC.
    private static let textControls: UInt32 = 1 << 0 | 1 << 0x09 | 1 << 0x0A | 1 << 0x0C | 1 << 0x0D | 1 << 0x1B

    /// Returns a description of the binary format when `bytes` are not text.
    static func binaryKind(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        if bytes.count >= 2, bytes[0] == 0xFF && bytes[1] == 0xFE || bytes[0] == 0xFE && bytes[1] == 0xFF {
            return nil  // UTF-16 BOM: text with NULs
        }
        for (name, magic) in binarySignatures where bytes.count >= magic.count {
            if zip(bytes.prefix(magic.count), magic).allSatisfy({ $0 == $1 }) { return name }
        }
        // Text has essentially no NULs or C0 controls other than tab/CR/LF/FF/ESC.
        let sample = UnsafeBufferPointer(rebasing: bytes.prefix(65_536))
        // NULs, and C0 controls other than tab, LF, FF, CR and ESC. Eight bytes at a time: a word without a byte
        // below 0x20 (most of a page) is skipped with a few operations; in the others only those bytes are looked at.
        var nuls = 0
        var otherControls = 0
        @inline(__always) func count(_ b: UInt8) {
            nuls &+= b == 0 ? 1 : 0
            let allowed = (Self.textControls >> UInt32(b & 0x1F)) & 1
            otherControls &+= b < 0x20 && allowed == 0 ? 1 : 0
        }
        var i = 0
        if let base = sample.baseAddress {
            let raw = UnsafeRawPointer(base)
            while i + 8 <= sample.count {
                let x = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                // High bit of each byte set exactly when the byte is 0x20 or more (no carry crosses bytes).
                let atLeastSpace = (((x & 0x7F7F_7F7F_7F7F_7F7F) &+ 0x6060_6060_6060_6060) | x) & 0x8080_8080_8080_8080
                var below = ~atLeastSpace & 0x8080_8080_8080_8080
                while below != 0 {
                    count(base[i + below.trailingZeroBitCount >> 3])
                    below &= below &- 1
                }
                i += 8
            }
        }
        while i < sample.count {
            count(sample[i])
            i += 1
        }
        let controls = otherControls
        if nuls > 0 && nuls * 100 >= sample.count {
            return "binary data (\(nuls) NUL bytes in the first \(sample.count))"
        }
        if (nuls + controls) * 20 >= sample.count && sample.count >= 16 {
            return "binary data (\(nuls + controls) control bytes in the first \(sample.count))"
        }
        return nil
    }

    /// The charset a page declares in `<meta charset>`, `<meta http-equiv content="...charset=">` or
    /// `<?xml encoding=>`, lowercased; only the first 8 KiB are searched, as browsers do (1 KiB there).
    static func declaredCharset(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        let limit = min(bytes.count, 8192)
        let needles: [[UInt8]] = [Array("charset".utf8), Array("encoding".utf8)]
        var i = 0
        while i < limit {
            let b = bytes[i] | 0x20
            if b == 0x63 || b == 0x65 {  // c / e
                for needle in needles where i + needle.count < limit {
                    var ok = true
                    for k in 0..<needle.count where bytes[i + k] | 0x20 != needle[k] {
                        ok = false
                        break
                    }
                    if !ok { continue }
                    if needle.count == 8 {
                        // `encoding=` only inside an XML declaration at the start.
                        if i > 200 { continue }
                    }
                    var j = i + needle.count
                    while j < limit, bytes[j] == 0x20 || bytes[j] == 0x09 { j += 1 }
                    guard j < limit, bytes[j] == 0x3D else { continue }  // =
                    j += 1
                    while j < limit, bytes[j] == 0x20 || bytes[j] == 0x22 || bytes[j] == 0x27 { j += 1 }
                    var name: [UInt8] = []
                    while j < limit, name.count < 40 {
                        let c = bytes[j]
                        let isNameByte =
                            (c >= 0x30 && c <= 0x39) || (c | 0x20 >= 0x61 && c | 0x20 <= 0x7A)
                            || c == 0x2D || c == 0x5F || c == 0x2E || c == 0x3A
                        guard isNameByte else { break }
                        name.append(c >= 0x41 && c <= 0x5A ? c | 0x20 : c)
                        j += 1
                    }
                    if !name.isEmpty { return String(decoding: name, as: UTF8.self) }
                }
            }
            i += 1
        }
        return nil
    }

    static let gbFamily: Set<String> = [
        "gb2312", "gbk", "gb18030", "x-gbk", "gb_2312-80", "csgb2312", "euc-cn", "cp936", "windows-936", "gb_2312",
        "x-euc-cn", "chinese", "iso-ir-58", "csiso58gb231280", "ms936",
    ]
    static let utf8Names: Set<String> = ["utf-8", "utf8", "unicode-1-1-utf-8", "x-unicode20utf8"]

    /// Decodes page bytes; `charsetHint` (e.g. an HTTP `Content-Type` charset) outranks the page's declaration.
    static func decode(
        _ bytes: UnsafeBufferPointer<UInt8>, charsetHint: String?
    ) throws(ExtractionError) -> Decoded {
        // 1. Byte-order marks.
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF {
            return try decodeUTF8Lenient(bytes, from: 3)
        }
        if bytes.count >= 2, bytes[0] == 0xFF, bytes[1] == 0xFE {
            return try decodeIconv(UnsafeBufferPointer(rebasing: bytes[2...]), from: "UTF-16LE")
        }
        if bytes.count >= 2, bytes[0] == 0xFE, bytes[1] == 0xFF {
            return try decodeIconv(UnsafeBufferPointer(rebasing: bytes[2...]), from: "UTF-16BE")
        }
        let strictUTF8 = isValidUTF8(bytes)
        // 2. The declared charset (or the caller's hint).
        if let declared = (charsetHint?.lowercased()).flatMap({ $0.isEmpty ? nil : $0 }) ?? declaredCharset(bytes) {
            if utf8Names.contains(declared) || declared == "us-ascii" || declared == "ascii" {
                if strictUTF8 { return .input(from: 0) }
                // Mislabelled (a page claiming UTF-8 that is not is usually GBK), or UTF-8 with a damaged byte.
                return try decodeUTF8OrGB18030(bytes)
            }
            if gbFamily.contains(declared) {
                // Valid multi-byte UTF-8 is practically never GBK by accident, while pages that declare gb2312
                // yet were re-saved as UTF-8 do occur; trust the bytes.
                if strictUTF8, Self.hasNonASCII(bytes) { return .input(from: 0) }
                return try decodeIconv(bytes, from: "GB18030")
            }
            if let other = try? decodeIconv(bytes, from: declared.uppercased()) {
                if strictUTF8, Self.hasNonASCII(bytes) { return .input(from: 0) }
                return other
            }
            // Unknown declaration: fall through to detection.
        }
        // 3. Strict UTF-8, 4. GB18030 (GBK and GB2312 are subsets), or UTF-8 with a damaged byte.
        if strictUTF8 { return .input(from: 0) }
        return try decodeUTF8OrGB18030(bytes)
    }

    /// Bytes that are not valid UTF-8, read as whichever of UTF-8 and GB18030 finds fewer invalid bytes in them
    /// (UTF-8 on a tie): a GBK page read as UTF-8 fails on nearly every Chinese character, while a UTF-8 page with
    /// a stray byte read as GB18030 decodes to other characters and fails wherever a character's bytes meet
    /// markup — yet on mostly-ASCII HTML often under the 1% that would refuse it.
    static func decodeUTF8OrGB18030(_ bytes: UnsafeBufferPointer<UInt8>) throws(ExtractionError) -> Decoded {
        let (gb, gbInvalid) = try convertIconv(bytes, from: "GB18030")
        if invalidUTF8Sequences(in: bytes, upTo: gbInvalid + 1) <= gbInvalid,
            let utf8 = try? decodeUTF8Lenient(bytes, from: 0)
        {
            return utf8
        }
        try checkInvalid(gbInvalid, of: bytes.count, charset: "GB18030")
        return gb
    }

    /// Invalid UTF-8 sequences in `bytes` (each maximal bad subpart once, as U+FFFD replaces them), counting
    /// no further than `limit`.
    static func invalidUTF8Sequences(in bytes: UnsafeBufferPointer<UInt8>, upTo limit: Int) -> Int {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        var invalid = 0
        while invalid < limit {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: return invalid
            case .error: invalid += 1
            }
        }
        return invalid
    }

    /// Whether the bytes hold a multi-byte character (valid UTF-8: any byte of 0x80 or above).
    static func hasNonASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        bytes.contains { $0 >= 0x80 }
    }

    /// Whether `bytes` are entirely valid UTF-8, checked in place (no String is built).
    ///
    /// Most of a page is ASCII markup: it is skipped eight bytes at a time, and only the runs of non-ASCII bytes go
    /// to the standard library's validator. An ASCII byte never occurs inside a multi-byte sequence, so the runs
    /// are valid one by one exactly when the whole is.
    static func isValidUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        let count = bytes.count
        let highBits: UInt64 = 0x8080_8080_8080_8080
        var i = 0
        while i < count {
            while i + 8 <= count, UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self) & highBits == 0 { i += 8 }
            while i < count, base[i] < 0x80 { i += 1 }
            if i == count { break }
            var end = i + 1
            while end + 8 <= count, UnsafeRawPointer(base + end).loadUnaligned(as: UInt64.self) & highBits == highBits {
                end += 8
            }
            while end < count, base[end] >= 0x80 { end += 1 }
            if !isValidUTF8Run(UnsafeBufferPointer(start: base + i, count: end - i)) { return false }
            i = end
        }
        return true
    }

    /// The well-formed byte sequences of the Unicode standard (table 3-7): no overlong forms, surrogates, values
    /// past U+10FFFF, stray continuation bytes or truncated sequences. Checked by hand: the standard library's
    /// `String(validating:)` builds a String for each run, and a Chinese page has thousands of runs.
    private static func isValidUTF8Run(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        let n = b.count
        var i = 0
        while i < n {
            let c = b[i]
            if c < 0x80 {
                i += 1
            } else if c < 0xC2 {
                return false
            } else if c < 0xE0 {
                guard i + 1 < n, b[i + 1] & 0xC0 == 0x80 else { return false }
                i += 2
            } else if c < 0xF0 {
                guard i + 2 < n else { return false }
                let second = b[i + 1]
                let low: UInt8 = c == 0xE0 ? 0xA0 : 0x80
                let high: UInt8 = c == 0xED ? 0x9F : 0xBF
                guard second >= low, second <= high, b[i + 2] & 0xC0 == 0x80 else { return false }
                i += 3
            } else if c < 0xF5 {
                guard i + 3 < n else { return false }
                let second = b[i + 1]
                let low: UInt8 = c == 0xF0 ? 0x90 : 0x80
                let high: UInt8 = c == 0xF4 ? 0x8F : 0xBF
                guard second >= low, second <= high, b[i + 2] & 0xC0 == 0x80, b[i + 3] & 0xC0 == 0x80 else {
                    return false
                }
                i += 4
            } else {
                return false
            }
        }
        return true
    }

    /// The input from `offset` on as UTF-8, invalid sequences replaced, unless there are too many of them.
    static func decodeUTF8Lenient(_ input: UnsafeBufferPointer<UInt8>, from offset: Int) throws(ExtractionError)
        -> Decoded
    {
        let bytes = UnsafeBufferPointer(rebasing: input[offset...])
        if isValidUTF8(bytes) { return .input(from: offset) }
        let text = String(decoding: bytes, as: UTF8.self)
        var replaced = 0
        for s in text.unicodeScalars where s == "\u{FFFD}" { replaced += 1 }
        if Double(replaced) > Double(bytes.count) * maximumInvalidByteRatio {
            throw ExtractionError(
                .undecodable,
                "bytes are not valid UTF-8 (\(replaced) invalid sequences in \(bytes.count) bytes); "
                    + "re-save the page as UTF-8 or pass its charset")
        }
        return Decoded(converted: Array(text.utf8), charset: "UTF-8")
    }

    /// Decodes with iconv, replacing each invalid byte with U+FFFD; fails when more than
    /// ``maximumInvalidByteRatio`` of the bytes are invalid.
    static func decodeIconv(
        _ bytes: UnsafeBufferPointer<UInt8>, from charset: String
    ) throws(ExtractionError) -> Decoded {
        let (decoded, invalid) = try convertIconv(bytes, from: charset)
        try checkInvalid(invalid, of: bytes.count, charset: charset)
        return decoded
    }

    /// Refuses a decode in which more than ``maximumInvalidByteRatio`` of the bytes were invalid.
    static func checkInvalid(_ invalid: Int, of count: Int, charset: String) throws(ExtractionError) {
        if Double(invalid) > max(2, Double(count) * maximumInvalidByteRatio) {
            throw ExtractionError(
                .undecodable,
                "decodes in no supported charset (not UTF-8; as \(charset) \(invalid) of \(count) "
                    + "bytes are invalid); re-save the page as UTF-8 or GBK")
        }
    }

    /// Converts with iconv, replacing each invalid byte with U+FFFD; returns the text and how many bytes were
    /// invalid.
    static func convertIconv(
        _ bytes: UnsafeBufferPointer<UInt8>, from charset: String
    ) throws(ExtractionError) -> (Decoded, invalid: Int) {
        let cd = iconv_open("UTF-8", charset)
        if cd == iconv_t(bitPattern: -1) {
            throw ExtractionError(
                .undecodable, "unsupported charset \(charset); re-save the page as UTF-8")
        }
        defer { iconv_close(cd) }
        var output = [UInt8](repeating: 0, count: bytes.count * 2 + 16)
        var produced = 0
        var invalid = 0
        var inPtr = UnsafeMutablePointer(mutating: bytes.baseAddress)
        var inLeft = bytes.count
        while inLeft > 0 {
            if output.count - produced < 16 { output.append(contentsOf: repeatElement(0, count: output.count)) }
            let (result, err): (Int, Int32) = output.withUnsafeMutableBufferPointer { out in
                var outPtr: UnsafeMutablePointer<CChar>? = UnsafeMutableRawPointer(out.baseAddress! + produced)
                    .assumingMemoryBound(to: CChar.self)
                var outLeft = out.count - produced
                var inRaw: UnsafeMutablePointer<CChar>? = UnsafeMutableRawPointer(inPtr)?
                    .assumingMemoryBound(to: CChar.self)
                let before = outLeft
                let r = iconv(cd, &inRaw, &inLeft, &outPtr, &outLeft)
                let e = r == -1 ? errno : 0
                produced += before - outLeft
                inPtr = UnsafeMutableRawPointer(inRaw)?.assumingMemoryBound(to: UInt8.self)
                return (r, e)
            }
            if result != -1 { break }
            switch err {
            case E2BIG:
                output.append(contentsOf: repeatElement(0, count: output.count))
            case EILSEQ, EINVAL:
                // Skip one bad byte, write U+FFFD.
                invalid += 1
                inPtr = inPtr.map { $0 + 1 }
                inLeft -= 1
                if output.count - produced < 3 { output.append(contentsOf: repeatElement(0, count: 64)) }
                output[produced] = 0xEF
                output[produced + 1] = 0xBF
                output[produced + 2] = 0xBD
                produced += 3
            default:
                throw ExtractionError(.undecodable, "iconv failed (errno \(err)) decoding \(charset)")
            }
        }
        output.removeLast(output.count - produced)
        // iconv writes valid UTF-8; checked in place all the same, as libxml2 must never see anything else.
        if !output.withUnsafeBufferPointer(isValidUTF8) { output = Array(String(decoding: output, as: UTF8.self).utf8) }
        return (Decoded(converted: output, charset: charset), invalid)
    }
}
