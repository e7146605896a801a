internal import CLibXML2

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What the walker needs to know about a tag, looked up once per element.
struct TagTraits: OptionSet {
    let rawValue: UInt16
    /// Content is never article text (script, style, form controls, media…).
    static let skipped = TagTraits(rawValue: 1 << 0)
    /// Starts a new text block.
    static let block = TagTraits(rawValue: 1 << 1)
    static let link = TagTraits(rawValue: 1 << 2)
    static let preformatted = TagTraits(rawValue: 1 << 3)
    /// nav/footer/aside: boilerplate by definition.
    static let chrome = TagTraits(rawValue: 1 << 4)
    /// html/body/main/article: layout classes on these say nothing about their content.
    static let wrapper = TagTraits(rawValue: 1 << 5)
    /// Needs special handling in `enter` (meta, title, link, script, html, time).
    static let special = TagTraits(rawValue: 1 << 6)
    /// td/th, tr, table: what `HTMLPage.markDataTables` needs to find data tables.
    static let tableCell = TagTraits(rawValue: 1 << 7)
    static let tableRow = TagTraits(rawValue: 1 << 11)
    static let table = TagTraits(rawValue: 1 << 12)

    /// Heading level 1…6 in bits 8–10.
    var headingLevel: Int { Int(rawValue >> 8) & 7 }
    static func heading(_ level: Int) -> TagTraits { TagTraits(rawValue: UInt16(level) << 8) }
}

/// A tag name packed into an integer (first 7 bytes and the length): hashing it is far cheaper than hashing a
/// String, and the walker looks up every element.
@inline(__always) private func tagCode(_ name: UnsafePointer<UInt8>) -> UInt64 {
    var code: UInt64 = 0
    var i = 0
    while name[i] != 0 {
        if i < 7 { code |= UInt64(name[i] | 0x20) << (8 * UInt64(i)) }
        i += 1
    }
    return code | UInt64(min(i, 255)) << 56
}

private func tagCode(_ name: String) -> UInt64 {
    var bytes = Array(name.utf8)
    bytes.append(0)
    return bytes.withUnsafeBufferPointer { tagCode($0.baseAddress!) }
}

/// Tag code → traits, open addressing in a power-of-two table: one multiply and usually one comparison per
/// element (a Dictionary lookup hashes the code with SipHash first).
private struct TagTraitsTable {
    private static let bits = 8
    private var codes = [UInt64](repeating: 0, count: 1 << bits)
    private var traits = [TagTraits](repeating: [], count: 1 << bits)

    init(_ byName: [String: TagTraits]) {
        precondition(byName.count < (1 << Self.bits) / 2)
        for (name, t) in byName {
            let code = tagCode(name)
            var slot = Self.slot(code)
            while codes[slot] != 0 { slot = (slot + 1) & ((1 << Self.bits) - 1) }
            codes[slot] = code
            traits[slot] = t
        }
    }

    @inline(__always) private static func slot(_ code: UInt64) -> Int {
        Int(truncatingIfNeeded: (code &* 0x9e37_79b9_7f4a_7c15) >> UInt64(64 - bits))
    }

    /// The traits of a tag, empty for a tag not in the table.
    @inline(__always) func traits(of code: UInt64) -> TagTraits {
        var slot = Self.slot(code)
        while true {
            let c = codes[slot]
            if c == code { return traits[slot] }
            if c == 0 { return [] }
            slot = (slot + 1) & ((1 << Self.bits) - 1)
        }
    }
}

private let tagTraits = TagTraitsTable(tagTraitsByName)

private let tagTraitsByName: [String: TagTraits] = {
    var t: [String: TagTraits] = [:]
    for tag in [
        "style", "noscript", "iframe", "object", "embed", "select", "option", "button", "input", "textarea", "svg",
        "canvas", "template", "map", "applet", "audio", "video", "frameset",
    ] {
        t[tag, default: []].insert(.skipped)
    }
    for tag in [
        "p", "div", "br", "li", "ul", "ol", "tr", "td", "th", "table", "tbody", "thead", "tfoot", "section", "article",
        "blockquote", "pre", "dd", "dt", "dl", "center", "form", "hr", "header", "footer", "nav", "aside", "main",
        "figure", "figcaption", "address", "fieldset", "legend", "caption", "body", "html", "img",
    ] {
        t[tag, default: []].insert(.block)
    }
    for level in 1...6 { t["h\(level)", default: []].formUnion([.block, .heading(level)]) }
    t["a", default: []].insert(.link)
    t["pre", default: []].insert(.preformatted)
    for tag in ["nav", "footer", "aside"] { t[tag, default: []].insert(.chrome) }
    for tag in ["html", "body", "main", "article"] { t[tag, default: []].insert(.wrapper) }
    for tag in ["td", "th"] { t[tag, default: []].insert(.tableCell) }
    t["tr", default: []].insert(.tableRow)
    t["table", default: []].insert(.table)
    for tag in ["meta", "title", "link", "script", "html", "time"] { t[tag, default: []].insert(.special) }
    for tag in ["meta", "title", "link", "script"] { t[tag, default: []].insert(.skipped) }
    return t
}()

/// Turns SAX events into blocks and metadata. A class so the C callbacks can reach it through `userData`; one
/// instance per parse, never shared.
///
/// Its state is `@exclusivity(unchecked)`: the walker is only ever touched by one parser's callbacks on one
/// thread, one callback at a time, and the runtime's access checks on every field cost about 4% of parsing.
final class Walker {
    @exclusivity(unchecked) var page = HTMLPage()
    /// Open elements (indices into page.elements).
    @exclusivity(unchecked) var stack: [Int32] = []
    /// What `start` learned about each open element.
    @exclusivity(unchecked) var frames: [(traits: TagTraits, mark: ChromeMark)] = []
    @exclusivity(unchecked) var boilerplateDepth = 0
    @exclusivity(unchecked) var strongDepth = 0
    /// The outermost open weakly marked element, or -1.
    @exclusivity(unchecked) var weakOwner: Int32 = -1
    @exclusivity(unchecked) var linkDepth = 0
    @exclusivity(unchecked) var preDepth = 0
    @exclusivity(unchecked) var headingLevel = 0
    /// The current block's text as libxml2 gave it (UTF-8), decoded once when the block ends.
    @exclusivity(unchecked) var buffer: [UInt8] = []
    /// The buffer holds a byte other than ASCII whitespace. Most blocks between tags are indentation only: they
    /// end as no block, so they skip decoding (and its allocation) at `flush`.
    @exclusivity(unchecked) var bufferHasNonBlank = false
    @exclusivity(unchecked) var bufferLinkVisible = 0
    @exclusivity(unchecked) var bufferMinDepth = Int.max
    /// Inside an element whose content is skipped (script, style, hidden…): its nesting depth.
    @exclusivity(unchecked) var skipDepth = 0
    /// Where skipped content is collected, if anywhere (`<title>`, JSON-LD).
    enum Capture { case none, title, jsonLD }
    @exclusivity(unchecked) var capture = Capture.none
    @exclusivity(unchecked) var captured: [UInt8] = []
    /// Reused by `boilerplateAttribute` for each class and id value.
    @exclusivity(unchecked) var scratchTokens: [UInt8] = []
    @exclusivity(unchecked) var scratchBounds: [Range<Int>] = []

    init() {}

    func flush() {
        defer {
            buffer.removeAll(keepingCapacity: true)
            bufferHasNonBlank = false
            bufferLinkVisible = 0
            bufferMinDepth = stack.count
        }
        // ASCII whitespace alone collapses to nothing, as `normalizeSpacesCounting` would find.
        guard bufferHasNonBlank else { return }
        // Whitespace at either end collapses away: the indentation around a block's text is not decoded.
        let (text, visible, punctuation) = buffer.withUnsafeBufferPointer {
            Text.normalizeSpacesCounting(utf8: Self.trimmingASCIIBlanks($0))
        }
        guard !text.isEmpty else { return }
        let ownerDepth = min(bufferMinDepth, stack.count)
        let owner = ownerDepth > 0 ? stack[ownerDepth - 1] : 0
        page.blocks.append(
            HTMLPage.Block(
                text: text, visible: visible, punctuation: punctuation, heading: headingLevel,
                owner: owner, linkVisible: min(bufferLinkVisible, visible), boilerplate: boilerplateDepth > 0,
                weakOwner: weakOwner, strongBoilerplate: strongDepth > 0))
    }

    func characters(_ ch: UnsafePointer<xmlChar>, _ length: Int) {
        if skipDepth > 0 {
            if capture != .none { captured.append(contentsOf: UnsafeBufferPointer(start: ch, count: length)) }
            return
        }
        if buffer.isEmpty { bufferMinDepth = stack.count }
        let chunk = UnsafeBufferPointer(start: ch, count: length)
        if preDepth > 0 {
            // Preformatted text keeps its line structure: each line is a block.
            var first = true
            for line in chunk.split(separator: 0x0A, omittingEmptySubsequences: false) {
                if !first { flush() }
                first = false
                buffer.append(contentsOf: line)
                if !bufferHasNonBlank { bufferHasNonBlank = Self.hasNonBlank(UnsafeBufferPointer(rebasing: line)) }
            }
        } else {
            buffer.append(contentsOf: chunk)
            if !bufferHasNonBlank { bufferHasNonBlank = Self.hasNonBlank(chunk) }
            if linkDepth > 0 { bufferLinkVisible += Text.visibleCount(utf8: chunk) }
        }
    }

    /// Whether the bytes hold anything but ASCII whitespace (space, tab, line feed, vertical tab, form feed,
    /// carriage return).
    @inline(__always) static func hasNonBlank(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        for b in bytes where b != 0x20 && (b < 0x09 || b > 0x0D) { return true }
        return false
    }

    /// The bytes without ASCII whitespace at either end.
    @inline(__always) static func trimmingASCIIBlanks(_ bytes: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        var start = 0
        var end = bytes.count
        while start < end, bytes[start] == 0x20 || (bytes[start] >= 0x09 && bytes[start] <= 0x0D) { start += 1 }
        while end > start, bytes[end - 1] == 0x20 || (bytes[end - 1] >= 0x09 && bytes[end - 1] <= 0x0D) { end -= 1 }
        return UnsafeBufferPointer(rebasing: bytes[start..<end])
    }

    /// The value of attribute `wanted` (lowercase ASCII; the HTML parser lowercases attribute names).
    static func attribute(
        _ attributes: UnsafeMutablePointer<UnsafePointer<xmlChar>?>?, _ wanted: StaticString
    ) -> UnsafePointer<xmlChar>? {
        guard var p = attributes else { return nil }
        while let name = p.pointee {
            let value = (p + 1).pointee
            if strcmp(
                UnsafeRawPointer(name).assumingMemoryBound(to: CChar.self),
                UnsafeRawPointer(wanted.utf8Start).assumingMemoryBound(to: CChar.self)) == 0
            {
                return value
            }
            p += 2
        }
        return nil
    }

    static func string(_ attributes: UnsafeMutablePointer<UnsafePointer<xmlChar>?>?, _ wanted: StaticString)
        -> String?
    {
        attribute(attributes, wanted).map { String(cString: $0) }
    }

    func start(_ rawName: UnsafePointer<xmlChar>, _ attributes: UnsafeMutablePointer<UnsafePointer<xmlChar>?>?) {
        if skipDepth > 0 {
            skipDepth += 1
            return
        }
        let traits = tagTraits.traits(of: tagCode(rawName))
        if traits.contains(.special) {
            switch String(cString: rawName) {
            case "meta":
                if let content = Self.string(attributes, "content") {
                    for keyAttr: StaticString in ["property", "name", "itemprop", "http-equiv"] {
                        if let key = Self.string(attributes, keyAttr), !key.isEmpty {
                            page.metas.append((key.lowercased(), content))
                            break
                        }
                    }
                }
            case "title":
                if page.title == nil { beginCapture(.title) }
            case "link":
                if page.canonical == nil, let rel = Self.string(attributes, "rel"), rel.lowercased() == "canonical",
                    let href = Self.string(attributes, "href")
                {
                    page.canonical = href
                }
            case "script":
                if let type = Self.string(attributes, "type"), type.lowercased().containsBytes("ld+json") {
                    beginCapture(.jsonLD)
                }
            case "html":
                if let lang = Self.string(attributes, "lang"), !lang.isEmpty { page.hasLangAttribute = lang }
            case "time":
                if let dt = Self.string(attributes, "datetime") { page.timeElements.append(dt) }
            default:
                break
            }
        }
        if traits.contains(.skipped) || skipDepth > 0 {
            skipDepth = max(skipDepth, 1)
            return
        }
        if traits.contains(.block) { flush() }
        var mark: ChromeMark = traits.contains(.chrome) ? .strong : .none
        // One pass over the attributes for the four this function reads (a scan per name cost more).
        var classValue: UnsafePointer<xmlChar>?
        var idValue: UnsafePointer<xmlChar>?
        var roleValue: UnsafePointer<xmlChar>?
        var styleValue: UnsafePointer<xmlChar>?
        if var p = attributes {
            while let name = p.pointee {
                let value = (p + 1).pointee
                switch (name[0], name[1]) {
                case (UInt8(ascii: "c"), UInt8(ascii: "l")) where Self.isName(name, "class"): classValue = value
                case (UInt8(ascii: "i"), UInt8(ascii: "d")) where name[2] == 0: idValue = value
                case (UInt8(ascii: "r"), UInt8(ascii: "o")) where Self.isName(name, "role"): roleValue = value
                case (UInt8(ascii: "s"), UInt8(ascii: "t")) where Self.isName(name, "style"): styleValue = value
                default: break
                }
                p += 2
            }
        }
        if mark != .strong && !traits.contains(.wrapper) {
            for v in [classValue, idValue] {
                if let v { mark = max(mark, boilerplateAttribute(v, tokens: &scratchTokens, bounds: &scratchBounds)) }
                if mark == .strong { break }
            }
            if let r = roleValue, let role = Optional(String(cString: r).lowercased()),
                role == "navigation" || role == "contentinfo" || role == "complementary" || role == "banner"
            {
                mark = .strong
            }
        }
        // Hidden content (a dialog, a template, or an article body a script reveals later) counts against a
        // block like a widget word, rather than vanishing: see `HTMLPage.clearMisnamedWrappers`.
        if mark == .none, let style = styleValue, Self.hidesContent(style) { mark = .weak }
        let index = Int32(page.elements.count)
        page.elements.append(
            HTMLPage.Element(
                parent: stack.last ?? -1, subtreeEnd: index + 1, boilerplate: mark != .none,
                tablePart: traits.contains(.table)
                    ? .table : traits.contains(.tableRow) ? .row : traits.contains(.tableCell) ? .cell : .none))
        stack.append(index)
        frames.append((traits, mark))
        if mark != .none { boilerplateDepth += 1 }
        if mark == .strong { strongDepth += 1 }
        if mark == .weak && weakOwner < 0 { weakOwner = index }
        if traits.contains(.link) { linkDepth += 1 }
        if traits.contains(.preformatted) { preDepth += 1 }
        if traits.headingLevel > 0 { headingLevel = traits.headingLevel }
    }

    /// Whether the NUL-terminated attribute name equals `wanted`.
    @inline(__always) static func isName(_ name: UnsafePointer<xmlChar>, _ wanted: StaticString) -> Bool {
        strcmp(
            UnsafeRawPointer(name).assumingMemoryBound(to: CChar.self),
            UnsafeRawPointer(wanted.utf8Start).assumingMemoryBound(to: CChar.self)) == 0
    }

    /// `display:none` or `visibility:hidden` in an inline style.
    ///
    /// Scanned in place, bytes lowercased and spaces skipped: nearly every element of some pages has a style, and
    /// building a String per attribute cost a tenth of all parsing time.
    static func hidesContent(_ style: UnsafePointer<xmlChar>) -> Bool {
        var i = 0
        while style[i] != 0 {
            let c = style[i] | 0x20
            if c == UInt8(ascii: "d") || c == UInt8(ascii: "v") {
                if matchesCompact(style, at: i, displayNone) || matchesCompact(style, at: i, visibilityHidden) {
                    return true
                }
            }
            i += 1
        }
        return false
    }

    private static let displayNone = Array("display:none".utf8)
    private static let visibilityHidden = Array("visibility:hidden".utf8)

    /// Whether `pattern` (lowercase, no spaces) starts at `start` of the C string, ignoring case and whitespace.
    @inline(__always) private static func matchesCompact(
        _ s: UnsafePointer<xmlChar>, at start: Int, _ pattern: [UInt8]
    ) -> Bool {
        var i = start
        var k = 0
        while k < pattern.count {
            let c = s[i]
            if c == 0 { return false }
            if c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D {
                i += 1
                continue
            }
            let lower = c >= 0x41 && c <= 0x5A ? c | 0x20 : c
            if lower != pattern[k] { return false }
            i += 1
            k += 1
        }
        return true
    }

    private func beginCapture(_ target: Capture) {
        capture = target
        captured.removeAll(keepingCapacity: true)
        skipDepth = 1
    }

    func end() {
        if skipDepth > 0 {
            skipDepth -= 1
            if skipDepth == 0, capture != .none {
                let text = String(decoding: captured, as: UTF8.self)
                switch capture {
                case .title: page.title = text
                case .jsonLD: page.jsonLD.append(text)
                case .none: break
                }
                capture = .none
            }
            return
        }
        guard let frame = frames.last, let top = stack.last else { return }
        if frame.traits.contains(.block) { flush() }
        page.elements[Int(top)].subtreeEnd = Int32(page.elements.count)
        if frame.mark != .none { boilerplateDepth -= 1 }
        if frame.mark == .strong { strongDepth -= 1 }
        if weakOwner == top { weakOwner = -1 }
        if frame.traits.contains(.link) { linkDepth -= 1 }
        if frame.traits.contains(.preformatted) { preDepth -= 1 }
        if frame.traits.headingLevel > 0 { headingLevel = 0 }
        stack.removeLast()
        frames.removeLast()
        if bufferMinDepth > stack.count { bufferMinDepth = stack.count }
    }
}
