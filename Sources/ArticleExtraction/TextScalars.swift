// Character classes and small text utilities shared by the plain-text and HTML paths.
//
// The extractor works on arrays of Unicode scalars rather than `String` indices: scanning is linear, indices are
// plain integers, and full-width forms can be folded to half-width one-for-one so that a match position in the
// folded copy is also a position in the text as written.

typealias Scalars = [Unicode.Scalar]

extension String {
    /// Whether the fixed ASCII or UTF-8 word `needle` occurs in the string, compared byte by byte. The standard
    /// library's `contains(_:)` compares Characters through a generic searcher, which cost about 3% of a parse
    /// for meta keys, script types and names; for the words looked for here the two agree.
    func containsBytes(_ needle: StaticString) -> Bool {
        let n = needle.utf8CodeUnitCount
        guard n > 0 else { return true }
        let word = needle.utf8Start
        var text = self
        return text.withUTF8 { h in
            guard h.count >= n, let base = h.baseAddress else { return false }
            let first = word[0]
            var i = 0
            while i <= h.count - n {
                if base[i] == first {
                    var k = 1
                    while k < n && base[i + k] == word[k] { k += 1 }
                    if k == n { return true }
                }
                i += 1
            }
            return false
        }
    }
}

extension Unicode.Scalar {
    /// CJK unified ideographs (BMP blocks and the supplementary planes).
    @inline(__always) var isHan: Bool {
        let v = value
        return (0x4E00...0x9FFF).contains(v) || (0x3400...0x4DBF).contains(v) || (0xF900...0xFAFF).contains(v)
            || (0x20000...0x3134F).contains(v)
    }

    /// Whitespace as it occurs in scraped pages, including no-break, ideographic and zero-width spaces.
    @inline(__always) var isSpaceLike: Bool {
        switch value {
        case 0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0xA0, 0x3000, 0x200B, 0x200C, 0x200D, 0xFEFF, 0x2028, 0x2029,
            0x1680, 0x2000...0x200A, 0x202F, 0x205F:
            return true
        default: return false
        }
    }

    @inline(__always) var isASCIIDigit: Bool { value >= 0x30 && value <= 0x39 }
    @inline(__always) var asciiDigitValue: Int { Int(value) - 0x30 }
    @inline(__always) var isASCIILetter: Bool { (value | 0x20) >= 0x61 && (value | 0x20) <= 0x7A }

    /// Letters of any script (used to tell prose from symbols).
    @inline(__always) var isLetterLike: Bool {
        if value < 0x80 { return isASCIILetter }
        return isHan || properties.isAlphabetic
    }

    /// Half-width twin of a full-width form (`：` → `:`, `（` → `(`, `１` → `1`); the scalar itself otherwise.
    @inline(__always) var foldedWidth: Unicode.Scalar {
        let v = value
        if v >= 0xFF01 && v <= 0xFF5E { return Unicode.Scalar(v - 0xFEE0)! }
        if v == 0x3000 { return " " }
        return self
    }

    /// Sentence-level punctuation, Chinese and Latin: the signal for prose in text-density scoring.
    @inline(__always) var isProsePunctuation: Bool {
        switch value {
        case 0x3002, 0xFF0C, 0x3001, 0xFF1B, 0xFF1A, 0xFF01, 0xFF1F, 0x201C, 0x201D, 0x2018, 0x2019, 0x300A,
            0x300B, 0xFF08, 0xFF09, 0x2026, 0x2014:
            return true  // 。，、；：！？“”‘’《》（）…—
        case 0x2C, 0x2E, 0x3B, 0x21, 0x3F, 0x22:
            return true  // , . ; ! ? "
        default: return false
        }
    }

    /// Punctuation that ends a sentence (full- and half-width).
    @inline(__always) var isSentenceEnd: Bool {
        switch value {
        case 0x3002, 0xFF01, 0xFF1F, 0x21, 0x3F, 0xFF1B, 0x3B: return true  // 。！？!?；;
        default: return false
        }
    }
}

enum Text {
    /// Collapses whitespace runs (including no-break and ideographic spaces) to one ASCII space and trims the
    /// ends. Everything else is kept as written; a space between names in a list is a separator worth keeping.
    static func normalizeSpaces(_ input: Scalars) -> Scalars {
        var out = Scalars()
        out.reserveCapacity(input.count)
        var pendingSpace = false
        for s in input {
            if s.isSpaceLike {
                pendingSpace = !out.isEmpty
                continue
            }
            if pendingSpace {
                pendingSpace = false
                out.append(" ")
            }
            out.append(s)
        }
        return out
    }

    /// ``normalizeSpaces(_:)`` with the result's ``visibleCount(_:)`` and ``punctuationCount(_:)``, in one pass.
    static func normalizeSpacesCounting(_ input: Scalars) -> (text: Scalars, visible: Int, punctuation: Int) {
        var collapser = SpaceCollapser()
        let text = Scalars(unsafeUninitializedCapacity: input.count) { out, count in
            for s in input { collapser.add(s, to: out.baseAddress.unsafelyUnwrapped, at: &count) }
        }
        return collapser.finish(text)
    }

    /// ``normalizeSpacesCounting(_:)`` of UTF-8 text, decoded in the same pass, written straight into the result
    /// (n bytes never make more than n scalars, spaces included). Sequences other than ASCII and well-formed
    /// two- and three-byte ones (rare: four-byte characters, invalid bytes) send the text through the scalar path.
    static func normalizeSpacesCounting(utf8: UnsafeBufferPointer<UInt8>) -> (text: Scalars, visible: Int, punctuation: Int) {
        guard let p = utf8.baseAddress else { return ([], 0, 0) }
        let n = utf8.count
        var collapser = SpaceCollapser()
        var needsScalarPath = false
        let text = Scalars(unsafeUninitializedCapacity: n) { out, count in
            let o = out.baseAddress.unsafelyUnwrapped
            var i = 0
            while i < n {
                let b0 = p[i]
                let s: Unicode.Scalar
                if b0 < 0x80 {
                    s = Unicode.Scalar(b0)
                    i += 1
                } else if b0 >= 0xC2 && b0 <= 0xDF && i + 1 < n && p[i + 1] & 0xC0 == 0x80 {
                    s = Unicode.Scalar(UInt32(b0 & 0x1F) << 6 | UInt32(p[i + 1] & 0x3F)).unsafelyUnwrapped
                    i += 2
                } else if b0 >= 0xE1 && b0 <= 0xEF && b0 != 0xED && i + 2 < n && p[i + 1] & 0xC0 == 0x80
                    && p[i + 2] & 0xC0 == 0x80
                {
                    let v = UInt32(b0 & 0x0F) << 12 | UInt32(p[i + 1] & 0x3F) << 6 | UInt32(p[i + 2] & 0x3F)
                    s = Unicode.Scalar(v).unsafelyUnwrapped
                    i += 3
                } else {
                    needsScalarPath = true
                    break
                }
                collapser.add(s, to: o, at: &count)
            }
        }
        if needsScalarPath {
            var scalars = Scalars()
            appendUTF8(utf8, to: &scalars)
            return normalizeSpacesCounting(scalars)
        }
        return collapser.finish(text)
    }

    /// Collapses whitespace as ``normalizeSpaces(_:)`` does while counting visible scalars and prose
    /// punctuation, one scalar at a time, into a buffer at least as long as the input.
    struct SpaceCollapser {
        var pendingSpace = false
        var spaces = 0
        var punctuation = 0
        /// The last scalar written was `.` or `,`: it counts only if a space or the end follows.
        var dotOrCommaOpen = false

        @inline(__always) mutating func add(_ s: Unicode.Scalar, to out: UnsafeMutablePointer<Unicode.Scalar>, at o: inout Int) {
            // Han ideographs and ASCII letters and digits, most of the text, are neither spaces nor punctuation.
            let v = s.value
            let plain = (v >= 0x4E00 && v <= 0x9FFF) || (v | 0x20 >= 0x61 && v | 0x20 <= 0x7A) || (v >= 0x30 && v <= 0x39)
            if !plain && s.isSpaceLike {
                pendingSpace = o > 0
                return
            }
            if pendingSpace {
                pendingSpace = false
                (out + o).initialize(to: " ")
                o += 1
                spaces += 1
                if dotOrCommaOpen {
                    punctuation += 1
                    dotOrCommaOpen = false
                }
            }
            dotOrCommaOpen = false
            if !plain && s.isProsePunctuation {
                if s == "." || s == "," { dotOrCommaOpen = true } else { punctuation += 1 }
            }
            (out + o).initialize(to: s)
            o += 1
        }

        func finish(_ text: Scalars) -> (text: Scalars, visible: Int, punctuation: Int) {
            (text, text.count - spaces, punctuation + (dotOrCommaOpen ? 1 : 0))
        }
    }

    /// Non-space scalars in UTF-8 text.
    static func visibleCount(utf8: UnsafeBufferPointer<UInt8>) -> Int {
        var n = 0
        forEachScalar(utf8) { if !$0.isSpaceLike { n += 1 } }
        return n
    }

    @inline(__always) static func isWideScalar(_ s: Unicode.Scalar) -> Bool {
        s.isHan || (s.value >= 0x3000 && s.value <= 0x303F) || (s.value >= 0xFF00 && s.value <= 0xFFEF)
    }

    /// Full-width forms folded to half-width, one scalar for one, so positions carry over.
    static func folded(_ s: Scalars) -> Scalars { s.map(\.foldedWidth) }

    /// A comparison key: letters and digits only, width-folded and lowercased. Used to recognise repeated lines
    /// and the title wherever punctuation or spacing differs.
    static func key(_ s: Scalars) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(s.count * 3)
        forEachKeyScalar(s) { appendUTF8($0, to: &bytes) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The scalars of ``key(_:)``.
    static func keyScalars(_ s: Scalars) -> Scalars {
        var out = Scalars()
        out.reserveCapacity(s.count)
        forEachKeyScalar(s) { out.append($0) }
        return out
    }

    /// The scalars of ``key(_:)``, streamed (no allocation).
    @inline(__always) static func forEachKeyScalar(_ s: Scalars, _ body: (Unicode.Scalar) -> Void) {
        for c in s {
            let f = c.foldedWidth
            if f.isASCIIDigit || f.isHan {
                body(f)
            } else if f.isASCIILetter {
                body(Unicode.Scalar(f.value | 0x20)!)
            } else if f.value >= 0x80, !isCommonNonLetter(f), f.properties.isAlphabetic {
                body(f)
            }
        }
    }

    /// CJK and general punctuation, symbols and spaces: not letters, decided without a Unicode property lookup.
    @inline(__always) static func isCommonNonLetter(_ c: Unicode.Scalar) -> Bool {
        let v = c.value
        return (0x2000...0x206F).contains(v) || (0x3000...0x303F).contains(v) || (0xFF00...0xFF20).contains(v)
            || (0xFF3B...0xFF40).contains(v) || (0xFF5B...0xFF65).contains(v) || v == 0xA0 || v == 0xB7
            || (0x2190...0x27BF).contains(v) || v == 0xFEFF
    }

    /// The UTF-8 bytes of scalar value `v`, one call of `emit` per byte (inlined: no closure is left at run time).
    @inline(__always) static func forEachUTF8Byte(_ v: UInt32, _ emit: (UInt8) -> Void) {
        if v < 0x80 {
            emit(UInt8(v))
        } else if v < 0x800 {
            emit(UInt8(0xC0 | (v >> 6)))
            emit(UInt8(0x80 | (v & 0x3F)))
        } else if v < 0x10000 {
            emit(UInt8(0xE0 | (v >> 12)))
            emit(UInt8(0x80 | ((v >> 6) & 0x3F)))
            emit(UInt8(0x80 | (v & 0x3F)))
        } else {
            emit(UInt8(0xF0 | (v >> 18)))
            emit(UInt8(0x80 | ((v >> 12) & 0x3F)))
            emit(UInt8(0x80 | ((v >> 6) & 0x3F)))
            emit(UInt8(0x80 | (v & 0x3F)))
        }
    }

    @inline(__always) static func appendUTF8(_ c: Unicode.Scalar, to bytes: inout [UInt8]) {
        forEachUTF8Byte(c.value) { bytes.append($0) }
    }

    static func string(_ s: some Sequence<Unicode.Scalar>) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(s.underestimatedCount * 3)
        for c in s { appendUTF8(c, to: &bytes) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// ``string(_:)`` of a collection, encoded straight into the String's storage (no byte array in between).
    static func string(_ s: some Collection<Unicode.Scalar>) -> String {
        let count = s.count
        if count == 0 { return "" }
        return String(unsafeUninitializedCapacity: count * 4) { out in
            var o = 0
            for c in s {
                forEachUTF8Byte(c.value) { byte in
                    out[o] = byte
                    o += 1
                }
            }
            return o
        }
    }

    /// Appends the scalars of UTF-8 bytes to `out`, without a String in between. Invalid sequences become U+FFFD.
    static func appendUTF8(_ bytes: UnsafeBufferPointer<UInt8>, to out: inout Scalars) {
        forEachScalar(bytes) { out.append($0) }
    }

    /// Calls `body` with each scalar of UTF-8 bytes. Invalid sequences become U+FFFD.
    ///
    /// ASCII and well-formed two- and three-byte sequences (nearly all Chinese text) are decoded inline; at the
    /// first other byte the rest goes through the standard library's decoder, which starts there on a scalar
    /// boundary and so decodes exactly as it would have from the beginning.
    @inline(__always) static func forEachScalar(_ bytes: UnsafeBufferPointer<UInt8>, _ body: (Unicode.Scalar) -> Void) {
        guard let p = bytes.baseAddress else { return }
        let n = bytes.count
        var i = 0
        while i < n {
            let b0 = p[i]
            if b0 < 0x80 {
                body(Unicode.Scalar(b0))
                i += 1
            } else if b0 >= 0xC2 && b0 <= 0xDF && i + 1 < n && p[i + 1] & 0xC0 == 0x80 {
                body(Unicode.Scalar(UInt32(b0 & 0x1F) << 6 | UInt32(p[i + 1] & 0x3F)).unsafelyUnwrapped)
                i += 2
            } else if b0 >= 0xE1 && b0 <= 0xEF && b0 != 0xED && i + 2 < n && p[i + 1] & 0xC0 == 0x80
                && p[i + 2] & 0xC0 == 0x80
            {
                // E0 and ED have narrower second-byte ranges (overlongs, surrogates): left to the slow path.
                let v = UInt32(b0 & 0x0F) << 12 | UInt32(p[i + 1] & 0x3F) << 6 | UInt32(p[i + 2] & 0x3F)
                body(Unicode.Scalar(v).unsafelyUnwrapped)
                i += 3
            } else {
                var rest = Scalars()
                appendUTF8Checked(UnsafeBufferPointer(rebasing: bytes[i...]), to: &rest)
                for s in rest { body(s) }
                return
            }
        }
    }

    private static func appendUTF8Checked(_ bytes: UnsafeBufferPointer<UInt8>, to out: inout Scalars) {
        var it = bytes.makeIterator()
        var decoder = UTF8()
        loop: while true {
            switch decoder.decode(&it) {
            case .scalarValue(let v): out.append(v)
            case .emptyInput: break loop
            case .error: out.append("\u{FFFD}")
            }
        }
    }

    static func scalars(_ s: String) -> Scalars { Array(s.unicodeScalars) }

    /// Number of non-space scalars.
    static func visibleCount(_ s: Scalars) -> Int {
        var n = 0
        for c in s where !c.isSpaceLike { n += 1 }
        return n
    }

    /// Prose punctuation marks; an ASCII `.` or `,` counts only before a space or the end, so URLs and numbers
    /// (`www.example.cn`, `4.66`, `1,234`) do not look like prose.
    static func punctuationCount(_ s: Scalars) -> Int {
        var n = 0
        for (i, c) in s.enumerated() where c.isProsePunctuation {
            if c == "." || c == "," {
                if i + 1 < s.count, !s[i + 1].isSpaceLike { continue }
            }
            n += 1
        }
        return n
    }

    /// Whether `s` at `i` starts with `word` (both width-folded by the caller).
    @inline(__always) static func hasPrefix(_ s: Scalars, _ word: Scalars, at i: Int) -> Bool {
        guard i >= 0, i + word.count <= s.count else { return false }
        for j in 0..<word.count where s[i + j] != word[j] { return false }
        return true
    }

    static func firstIndex(of word: Scalars, in s: Scalars, from start: Int = 0) -> Int? {
        guard !word.isEmpty, s.count >= word.count else { return nil }
        var i = max(0, start)
        while i + word.count <= s.count {
            if s[i] == word[0] && hasPrefix(s, word, at: i) { return i }
            i += 1
        }
        return nil
    }

    static func contains(_ s: Scalars, _ word: Scalars) -> Bool { firstIndex(of: word, in: s) != nil }

    static func trimmed(_ s: ArraySlice<Unicode.Scalar>, extra: (Unicode.Scalar) -> Bool = { _ in false }) -> Scalars {
        var lo = s.startIndex
        var hi = s.endIndex
        while lo < hi, s[lo].isSpaceLike || extra(s[lo]) { lo += 1 }
        while hi > lo, s[hi - 1].isSpaceLike || extra(s[hi - 1]) { hi -= 1 }
        return Array(s[lo..<hi])
    }

    /// Share of Han characters among letters: the language signal.
    static func language(of paragraphs: [String], title: String) -> String? {
        var han = 0
        var latin = 0
        var kana = 0
        var hangul = 0
        var other = 0
        var budget = 4000  // a sample decides the language; long articles need not be read whole
        func count(_ s: String) {
            for c in s.unicodeScalars {
                budget -= 1
                if budget < 0 { return }
                let v = c.value
                if c.isHan {
                    han += 1
                } else if c.isASCIILetter {
                    latin += 1
                } else if (0x3040...0x30FF).contains(v) {
                    kana += 1
                } else if (0xAC00...0xD7AF).contains(v) {
                    hangul += 1
                } else if v >= 0x80, !isCommonNonLetter(c), c.properties.isAlphabetic {
                    other += 1
                }
            }
        }
        count(title)
        for p in paragraphs where budget > 0 { count(p) }
        let total = han + latin + kana + hangul + other
        guard total > 0 else { return nil }
        if kana * 10 > total { return "ja" }
        if hangul * 4 > total { return "ko" }
        // Latin words are ~5 letters per word against one Han character per word: weight accordingly.
        if han * 5 >= latin { return han > 0 ? "zh" : nil }
        if latin > other { return "en" }
        return nil
    }
}
