#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The page without the bodies of its `<script>` and `<style>` elements, for libxml2 to parse.
///
/// Why: the extractor never reads scripts or style sheets (JSON-LD aside), yet they are about a third of a news
/// page's bytes, and libxml2's HTML parser reads their raw text one character at a time (a sixth of all
/// extraction time on real pages). Dropping the text between `<script …>` and `</script` leaves every element
/// and every other byte where it was, so libxml2 builds the same blocks.
///
/// The scan follows libxml2 2.9's HTML tokenizer where it matters: a start tag is `<` and an ASCII letter; its
/// attribute values are quoted only right after `=`; `<!--` ends at the first `-->` after it; raw text ends at
/// `</` and the element's name in any case; `<script …/>` is empty. Wherever the scan could disagree with the
/// parser it keeps the bytes: the `<!` and `<?` constructs are copied as they are, a page with a NUL byte or a
/// tag the scan cannot finish is parsed whole, and a JSON-LD script keeps its text.
enum RawTextBodies {
    /// The page with script and style bodies removed, or nil when there is nothing to remove (or the scan gives
    /// up): parse the page as it is then.
    static func stripped(_ page: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        guard let base = page.baseAddress, !page.isEmpty else { return nil }
        let n = page.count
        if memchr(base, 0, n) != nil { return nil }
        var out: [UInt8] = []
        var copiedUpTo = 0
        var i = 0
        while i < n {
            guard let lt = memchr(base + i, Int32(UInt8(ascii: "<")), n - i) else { break }
            i = base.distance(to: lt.assumingMemoryBound(to: UInt8.self))
            guard i + 1 < n else { break }
            let next = base[i + 1]
            if next == UInt8(ascii: "!") {
                if i + 3 < n, base[i + 2] == UInt8(ascii: "-"), base[i + 3] == UInt8(ascii: "-") {
                    // Comments closed early (`<!-->`, `--!>`) are read differently by different parsers.
                    guard let end = find(base, n, from: i + 4, "-->"), i + 4 >= n || base[i + 4] != UInt8(ascii: ">"),
                        find(base, end + 3, from: i + 4, "--!>") == nil,
                        !(base[i + 4] == UInt8(ascii: "-") && base[i + 5] == UInt8(ascii: ">"))
                    else { return nil }
                    i = end + 3
                } else {
                    i += 2
                }
                continue
            }
            if next == UInt8(ascii: "?") || next == UInt8(ascii: "/") {
                // A processing instruction or an end tag with a name runs to the first `>`, quotes or not.
                if i + 2 < n, isNameStart(base[i + 2]) || (next == UInt8(ascii: "?") && base[i + 2] >= 0x80) {
                    guard let gt = memchr(base + i + 2, Int32(UInt8(ascii: ">")), n - i - 2) else { return nil }
                    i = base.distance(to: gt.assumingMemoryBound(to: UInt8.self)) + 1
                } else {
                    i += 2
                }
                continue
            }
            guard isASCIILetter(next) else {
                i += 1
                continue
            }
            // A start tag: its name, then attributes up to `>` or `/>`; a value is quoted only right after `=`,
            // and an attribute that is no name is skipped up to a blank or the tag's end.
            var j = i + 1
            while j < n, isNameByte(base[j]) { j += 1 }
            let raw = rawTextElement(base + i + 1, j - i - 1)
            var isJSONLD = false
            var selfClosing = false
            var closed = false
            while j < n {
                while j < n, isBlank(base[j]) { j += 1 }
                guard j < n else { break }
                let c = base[j]
                if c == UInt8(ascii: ">") {
                    closed = true
                    j += 1
                    break
                }
                if c == UInt8(ascii: "/"), j + 1 < n, base[j + 1] == UInt8(ascii: ">") {
                    closed = true
                    selfClosing = true
                    j += 2
                    break
                }
                guard isNameStart(c) else {
                    while j < n, !isBlank(base[j]), base[j] != UInt8(ascii: ">"),
                        !(base[j] == UInt8(ascii: "/") && j + 1 < n && base[j + 1] == UInt8(ascii: ">"))
                    {
                        j += 1
                    }
                    continue
                }
                while j < n, isNameByte(base[j]) { j += 1 }
                while j < n, isBlank(base[j]) { j += 1 }
                guard j < n, base[j] == UInt8(ascii: "=") else { continue }
                j += 1
                while j < n, isBlank(base[j]) { j += 1 }
                guard j < n else { break }
                let quote = base[j]
                let valueStart: Int
                let valueEnd: Int
                if quote == UInt8(ascii: "\"") || quote == UInt8(ascii: "'") {
                    guard let q = memchr(base + j + 1, Int32(quote), n - j - 1) else { return nil }
                    valueStart = j + 1
                    valueEnd = base.distance(to: q.assumingMemoryBound(to: UInt8.self))
                    j = valueEnd + 1
                } else {
                    valueStart = j
                    while j < n, !isBlank(base[j]), base[j] != UInt8(ascii: ">") { j += 1 }
                    valueEnd = j
                }
                if raw == .script, !isJSONLD {
                    isJSONLD = find(base, valueEnd, from: valueStart, "ld+json", ignoringCase: true) != nil
                }
            }
            guard closed else { return nil }
            i = j
            guard let raw, !selfClosing else { continue }
            // Raw text up to `</script` / `</style`, in any case.
            let closing: StaticString = raw == .script ? "</script" : "</style"
            guard let end = find(base, n, from: i, closing, ignoringCase: true) else { break }
            if !isJSONLD && end > i {
                if out.isEmpty { out.reserveCapacity(n) }
                out.append(contentsOf: UnsafeBufferPointer(start: base + copiedUpTo, count: i - copiedUpTo))
                copiedUpTo = end
            }
            i = end + closing.utf8CodeUnitCount
        }
        guard copiedUpTo > 0 else { return nil }
        out.append(contentsOf: UnsafeBufferPointer(start: base + copiedUpTo, count: n - copiedUpTo))
        return out
    }

    enum RawTextElement { case script, style }

    /// `script` or `style` (any case), the elements libxml2 reads as raw text.
    @inline(__always) private static func rawTextElement(_ name: UnsafePointer<UInt8>, _ length: Int)
        -> RawTextElement?
    {
        if length == 6, name[0] | 0x20 == UInt8(ascii: "s"), matches(name, "script") { return .script }
        if length == 5, name[0] | 0x20 == UInt8(ascii: "s"), matches(name, "style") { return .style }
        return nil
    }

    @inline(__always) private static func matches(_ p: UnsafePointer<UInt8>, _ word: StaticString) -> Bool {
        let w = word.utf8Start
        for k in 0..<word.utf8CodeUnitCount where p[k] | 0x20 != w[k] { return false }
        return true
    }

    /// The first position at or after `from` (and before `end`) where `word` starts; `ignoringCase` folds ASCII
    /// letters (`word` is lowercase).
    private static func find(
        _ base: UnsafePointer<UInt8>, _ end: Int, from: Int, _ word: StaticString, ignoringCase: Bool = false
    ) -> Int? {
        let w = word.utf8Start
        let count = word.utf8CodeUnitCount
        var i = from
        let scanFirst = ignoringCase && isASCIILetter(w[0])
        while i + count <= end {
            if scanFirst {
                if base[i] | 0x20 != w[0] {
                    i += 1
                    continue
                }
            } else {
                guard let hit = memchr(base + i, Int32(w[0]), end - count + 1 - i) else { return nil }
                i = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            }
            var k = 1
            while k < count {
                let c = base[i + k]
                let folded = ignoringCase && c >= 0x41 && c <= 0x5A ? c | 0x20 : c
                if folded != w[k] { break }
                k += 1
            }
            if k == count { return i }
            i += 1
        }
        return nil
    }

    @inline(__always) private static func isASCIILetter(_ c: UInt8) -> Bool { c | 0x20 >= 0x61 && c | 0x20 <= 0x7A }

    /// The first byte of a name as libxml2 reads one.
    @inline(__always) private static func isNameStart(_ c: UInt8) -> Bool {
        isASCIILetter(c) || c == UInt8(ascii: "_") || c == UInt8(ascii: ":") || c == UInt8(ascii: ".")
    }

    /// Bytes of a tag name as libxml2 reads one.
    @inline(__always) private static func isNameByte(_ c: UInt8) -> Bool {
        isASCIILetter(c) || (c >= 0x30 && c <= 0x39) || c == UInt8(ascii: ":") || c == UInt8(ascii: "-")
            || c == UInt8(ascii: "_") || c == UInt8(ascii: ".")
    }

    @inline(__always) private static func isBlank(_ c: UInt8) -> Bool {
        c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D
    }
}
