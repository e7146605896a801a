#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The page without the markup the extractor never reads, for libxml2 to parse: the bodies of `<script>` and
/// `<style>` elements (JSON-LD kept), comments, and the attributes ``Walker`` never looks at (`href` on links,
/// `src`, `onclick`, `data-*`…).
///
/// Why: these are about two thirds of a news page's bytes, and libxml2's HTML parser reads every one of them a
/// character at a time, allocating for each attribute. Every element stays, in the same order with the same
/// text, so libxml2 builds the same blocks from the smaller page.
///
/// The scan follows libxml2 2.9's HTML tokenizer where it matters: a start tag is `<` and an ASCII letter; an
/// attribute name starts with a letter, `_`, `:` or `.`, and anything else is skipped up to a blank or the tag's
/// end; a value is quoted only right after `=`, and an unquoted one runs to a blank or `>`; an end tag or a
/// processing instruction runs to the first `>`; `<!--` ends at the first `-->` after it; raw text ends at `</`
/// and the element's name in any case; `<script …/>` is empty. Where parsers differ (comments closed early, NUL
/// bytes, a tag or quote never closed) the page is parsed whole.
enum UnreadMarkup {
    /// The page without unread markup, or nil when there is nothing to remove (or the scan gives up): parse the
    /// page as it is then.
    static func removed(from page: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        guard let base = page.baseAddress, !page.isEmpty else { return nil }
        let n = page.count
        if memchr(base, 0, n) != nil { return nil }
        var out: [UInt8] = []
        var copiedUpTo = 0
        /// Copies the page up to `end`, then skips to `resume`.
        func cut(_ end: Int, resume: Int) {
            if out.isEmpty { out.reserveCapacity(n) }
            out.append(contentsOf: UnsafeBufferPointer(start: base + copiedUpTo, count: end - copiedUpTo))
            copiedUpTo = resume
        }
        /// Kept attributes of the current start tag (byte ranges), reused.
        var kept: [Range<Int>] = []
        var i = 0
        while i < n {
            guard let lt = memchr(base + i, Int32(UInt8(ascii: "<")), n - i) else { break }
            i = base.distance(to: lt.assumingMemoryBound(to: UInt8.self))
            guard i + 1 < n else { break }
            let next = base[i + 1]
            if next == UInt8(ascii: "!") {
                if i + 3 < n, base[i + 2] == UInt8(ascii: "-"), base[i + 3] == UInt8(ascii: "-") {
                    // Comments closed early (`<!-->`, `<!--->`, `--!>`) are read differently by different parsers.
                    guard let end = find(base, n, from: i + 4, "-->"), base[i + 4] != UInt8(ascii: ">"),
                        !(base[i + 4] == UInt8(ascii: "-") && base[i + 5] == UInt8(ascii: ">")),
                        find(base, end + 3, from: i + 4, "--!>") == nil
                    else { return nil }
                    cut(i, resume: end + 3)
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
            // A start tag: its name, then attributes up to `>` or `/>`.
            var j = i + 1
            while j < n, isNameByte(base[j]) { j += 1 }
            let nameEnd = j
            let tag = TagName(base + i + 1, nameEnd - i - 1)
            var isJSONLD = false
            var selfClosing = false
            var closed = false
            var dropped = false
            kept.removeAll(keepingCapacity: true)
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
                    // Not an attribute: libxml2 skips it up to a blank or the tag's end.
                    while j < n, !isBlank(base[j]), base[j] != UInt8(ascii: ">"),
                        !(base[j] == UInt8(ascii: "/") && j + 1 < n && base[j + 1] == UInt8(ascii: ">"))
                    {
                        j += 1
                    }
                    dropped = true
                    continue
                }
                let attributeStart = j
                while j < n, isNameByte(base[j]) { j += 1 }
                let read = isRead(base + attributeStart, j - attributeStart, on: tag)
                var attributeEnd = j
                var valueStart = j
                var valueEnd = j
                var k = j
                while k < n, isBlank(base[k]) { k += 1 }
                if k < n, base[k] == UInt8(ascii: "=") {
                    j = k + 1
                    while j < n, isBlank(base[j]) { j += 1 }
                    guard j < n else { break }
                    let quote = base[j]
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
                    attributeEnd = j
                }
                if read {
                    kept.append(attributeStart..<attributeEnd)
                    if tag == .script, !isJSONLD {
                        isJSONLD = find(base, valueEnd, from: valueStart, "ld+json", ignoringCase: true) != nil
                    }
                } else {
                    dropped = true
                }
            }
            guard closed else { return nil }
            if dropped {
                // The tag again with the attributes the walker reads, each as written.
                cut(nameEnd, resume: j)
                for range in kept {
                    out.append(0x20)
                    out.append(contentsOf: UnsafeBufferPointer(start: base + range.lowerBound, count: range.count))
                }
                if selfClosing { out.append(UInt8(ascii: "/")) }
                out.append(UInt8(ascii: ">"))
            }
            i = j
            guard tag == .script || tag == .style, !selfClosing else { continue }
            // Raw text up to `</script` / `</style`, in any case.
            let closing: StaticString = tag == .script ? "</script" : "</style"
            guard let end = find(base, n, from: i, closing, ignoringCase: true) else { break }
            if !isJSONLD && end > i { cut(i, resume: end) }
            i = end + closing.utf8CodeUnitCount
        }
        guard copiedUpTo > 0 || !out.isEmpty else { return nil }
        out.append(contentsOf: UnsafeBufferPointer(start: base + copiedUpTo, count: n - copiedUpTo))
        return out
    }

    /// The start tags whose handling depends on their name here.
    enum TagName: Equatable {
        case script, style, link, other

        init(_ name: UnsafePointer<UInt8>, _ length: Int) {
            switch length {
            case 6 where UnreadMarkup.matches(name, "script"): self = .script
            case 5 where UnreadMarkup.matches(name, "style"): self = .style
            case 4 where UnreadMarkup.matches(name, "link"): self = .link
            default: self = .other
            }
        }
    }

    /// Whether ``Walker`` reads the attribute (`href` only on `<link>`, for the canonical URL).
    @inline(__always) static func isRead(_ name: UnsafePointer<UInt8>, _ length: Int, on tag: TagName) -> Bool {
        switch length {
        case 2: return matches(name, "id")
        case 4:
            return matches(name, "role") || matches(name, "name") || matches(name, "type") || matches(name, "lang")
                || (tag == .link && matches(name, "href"))
        case 3: return matches(name, "rel")
        case 5: return matches(name, "class") || matches(name, "style")
        case 7: return matches(name, "content")
        case 8: return matches(name, "property") || matches(name, "itemprop") || matches(name, "datetime")
        case 10: return matches(name, "http-equiv")
        default: return false
        }
    }

    /// Whether the bytes at `p` spell `word` (lowercase), ASCII case ignored.
    @inline(__always) static func matches(_ p: UnsafePointer<UInt8>, _ word: StaticString) -> Bool {
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

    /// Bytes of a name as libxml2 reads one.
    @inline(__always) private static func isNameByte(_ c: UInt8) -> Bool {
        isASCIILetter(c) || (c >= 0x30 && c <= 0x39) || c == UInt8(ascii: ":") || c == UInt8(ascii: "-")
            || c == UInt8(ascii: "_") || c == UInt8(ascii: ".")
    }

    @inline(__always) private static func isBlank(_ c: UInt8) -> Bool {
        c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D
    }
}
