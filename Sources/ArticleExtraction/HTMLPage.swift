internal import CLibXML2

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An HTML page read through libxml2's HTML parser into what extraction needs: text blocks with their owning
/// element, the element tree's shape, and structured metadata (`<title>`, `<meta>`, JSON-LD, `<time>`, canonical).
///
/// libxml2 state lives only inside ``parse(utf8:)``; everything kept is Swift values, so a page is safe to hand
/// across threads and libxml2 memory never escapes.
struct HTMLPage {
    struct Element {
        var parent: Int32
        /// One past the last descendant's index (elements are numbered in document order).
        var subtreeEnd: Int32
        /// The element's own class/id/role/tag says boilerplate (nav, footer, share, related, comment…).
        var boilerplate: Bool
    }

    struct Block {
        /// The block's text, whitespace collapsed.
        var text: Scalars
        var visible: Int
        var punctuation: Int
        /// Heading level 1…6, 0 for other blocks.
        var heading: Int
        var owner: Int32
        var linkVisible: Int
        var boilerplate: Bool
        /// Marked only by a widget word (share, print, position…) or an inline hidden style, not by a strong one
        /// (nav, footer, comment, related…); the outermost such element around the block, or -1.
        var weakOwner: Int32 = -1
        /// Marked by a strong word or tag, whatever the weak marks say.
        var strongBoilerplate: Bool = false

        /// The block as a classifiable line. Built on demand: only the blocks around the article need one.
        var line: PageLine { PageLine(text, heading: heading) }
    }

    var elements: [Element] = []
    var blocks: [Block] = []
    var title: String?
    /// `<meta>` name/property/itemprop/http-equiv (lowercased) → content, in document order.
    var metas: [(key: String, content: String)] = []
    var jsonLD: [String] = []
    var timeElements: [String] = []
    var canonical: String?
    var hasLangAttribute: String?

    // MARK: Parsing

    /// libxml2 global initialisation and error silencing, done once for the process.
    private static let libxmlReady: Bool = {
        xmlInitParser()
        xmlThrDefSetStructuredErrorFunc(nil, silentStructuredError)
        return true
    }()

    /// Parses UTF-8 HTML. Safe to call from many threads at once: libxml2 is initialised once, each call uses its
    /// own parser context, and errors go to a silent handler (libxml2 keeps error handlers per thread and per
    /// context).
    ///
    /// libxml2's HTML parser drives SAX callbacks straight into the walker: no libxml2 tree is built, so nothing
    /// is allocated for nodes the extractor would only read once and free.
    static func parse(utf8: UnsafeBufferPointer<UInt8>) -> HTMLPage? {
        _ = libxmlReady
        xmlSetStructuredErrorFunc(nil, silentStructuredError)
        guard let base = utf8.baseAddress, utf8.count < Int(Int32.max) else { return nil }
        guard let ctxt = htmlNewParserCtxt() else { return nil }
        defer { htmlFreeParserCtxt(ctxt) }
        guard let sax = ctxt.pointee.sax else { return nil }
        sax.pointee = makeHandler()
        let walker = Walker()
        // Callbacks receive the context (its default userData); the walker rides in the `_private` slot that
        // libxml2 leaves to applications.
        ctxt.pointee._private = Unmanaged.passUnretained(walker).toOpaque()
        let options = Int32(
            HTML_PARSE_RECOVER.rawValue | HTML_PARSE_NOERROR.rawValue | HTML_PARSE_NOWARNING.rawValue
                | HTML_PARSE_NONET.rawValue | HTML_PARSE_IGNORE_ENC.rawValue)
        withExtendedLifetime(walker) {
            // Passing "UTF-8" fixes the encoding: a `<meta charset=gbk>` in already-decoded text cannot switch it.
            // No tree is built (the handler has no tree callbacks), so the returned document is always nil.
            let doc = base.withMemoryRebound(to: CChar.self, capacity: utf8.count) { chars in
                htmlCtxtReadMemory(ctxt, chars, Int32(utf8.count), nil, "UTF-8", options)
            }
            if let doc { xmlFreeDoc(doc) }
        }
        walker.flush()
        walker.page.clearMisnamedWrappers()
        return walker.page
    }

    /// A widget word or a hidden style on an element that holds several paragraphs of prose is a misnamed or
    /// script-revealed wrapper (`js_img_share_area` around the article, a WeChat body shown by a script), not
    /// the widget itself: its blocks lose the mark. Real widgets hold link lists and short labels, not prose.
    mutating func clearMisnamedWrappers() {
        var prose: [Int32: (blocks: Int, visible: Int)] = [:]
        for b in blocks where b.weakOwner >= 0 && b.visible >= 30 && b.punctuation >= 2 && b.linkVisible * 4 < b.visible {
            prose[b.weakOwner, default: (0, 0)].blocks += 1
            prose[b.weakOwner, default: (0, 0)].visible += b.visible
        }
        let cleared = Set(prose.filter { $0.value.blocks >= 2 && $0.value.visible >= 200 }.keys)
        guard !cleared.isEmpty else { return }
        for i in blocks.indices where cleared.contains(blocks[i].weakOwner) {
            blocks[i].boilerplate = blocks[i].strongBoilerplate
        }
    }

    private static func walker(_ ctx: UnsafeMutableRawPointer?) -> Walker? {
        guard let ctx else { return nil }
        let ctxt = ctx.assumingMemoryBound(to: xmlParserCtxt.self)
        guard let walker = ctxt.pointee._private else { return nil }
        return Unmanaged<Walker>.fromOpaque(walker).takeUnretainedValue()
    }

    /// SAX callbacks into ``Walker``; errors go to a silent structured handler.
    private static func makeHandler() -> htmlSAXHandler {
        var h = htmlSAXHandler()
        h.startElement = { ctx, name, attributes in
            guard let name else { return }
            HTMLPage.walker(ctx)?.start(name, attributes)
        }
        h.endElement = { ctx, _ in HTMLPage.walker(ctx)?.end() }
        h.characters = { ctx, ch, length in
            guard let ch, length > 0 else { return }
            HTMLPage.walker(ctx)?.characters(ch, Int(length))
        }
        h.cdataBlock = h.characters
        h.ignorableWhitespace = h.characters
        h.initialized = UInt32(XML_SAX2_MAGIC)
        h.serror = silentStructuredError
        return h
    }
}

private let silentStructuredError: xmlStructuredErrorFunc = { _, _ in }

/// What the walker needs to know about a tag, looked up once per element.
private struct TagTraits: OptionSet {
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

private let tagTraits: [UInt64: TagTraits] = {
    var t: [UInt64: TagTraits] = [:]
    for (name, traits) in tagTraitsByName { t[tagCode(name)] = traits }
    return t
}()

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
    for tag in ["meta", "title", "link", "script", "html", "time"] { t[tag, default: []].insert(.special) }
    for tag in ["meta", "title", "link", "script"] { t[tag, default: []].insert(.skipped) }
    return t
}()

/// Class/id words (or their prefixes, for longer words) that mark page chrome rather than the article.
private let boilerplateExact: Set<String> = [
    "nav", "ad", "ads", "adv", "hot", "tags", "tag", "links", "link", "dh", "fx", "bq", "xgwz", "xgxw", "top10",
    "sns", "rank", "gotop", "totop", "login", "foot", "ft", "copy", "bottom", "topbar", "weibo", "wx", "qr",
    "ewm", "reply", "replies", "pinglun", "pl", "footer", "header-nav", "search", "sitemap", "friend",
    // An author's profile card (`author-bio`: the column's blurb, post count) next to a short article.
    "bio",
]
private let boilerplatePrefixes: [String] = [
    "navbar", "navigation", "nav-", "menu", "footer", "breadcrumb", "crumb", "share", "sharing", "social",
    "related", "relate", "recommend", "comment", "copyright", "sidebar", "aside", "advert", "banner", "toolbar",
    "pager", "pagination", "friendlink", "qrcode", "daohang", "banquan", "fenxiang", "tuijian", "xiangguan",
    "dianji", "widget", "popup", "modal", "cookie", "subscribe", "newsletter", "sitenav", "topnav", "footnav",
    "hotnews", "hotlist", "ranking", "guanggao", "weixin", "wechat", "print", "dayin", "login", "jiathis", "bdshare",
    "bdsharebuttonbox", "sitemap", "youlian", "location", "position", "current",
    // Side columns under other names, profile cards, and report / wallet / tipping widgets: each can outweigh a
    // one-paragraph article on text volume.
    "rightbar", "leftbar", "rbar", "lbar", "avatar", "jubao", "wallet", "dashang", "reward",
]

/// Widget words: they name a control (share, print, QR code, position bar), and a page sometimes puts them on the
/// wrapper of the article itself, so they mark weakly (see `HTMLPage.clearMisnamedWrappers`).
private let weakExact: Set<String> = ["tags", "tag", "hot", "sns", "weibo", "wx", "qr", "ewm", "fx", "login", "search"]
private let weakPrefixes: Set<String> = [
    "share", "sharing", "social", "toolbar", "qrcode", "fenxiang", "widget", "popup", "modal", "weixin", "wechat",
    "print", "dayin", "login", "jiathis", "bdshare", "bdsharebuttonbox", "location", "position", "current",
    "subscribe", "cookie", "dialog",
]

private let boilerplateExactBytes: [[UInt8]] = boilerplateExact.map { Array($0.utf8) }
private let boilerplatePrefixBytes: [[UInt8]] = boilerplatePrefixes.map { Array($0.utf8) }
private let weakExactBytes: [[UInt8]] = weakExact.map { Array($0.utf8) }
private let weakPrefixBytes: [[UInt8]] = weakPrefixes.map { Array($0.utf8) }

/// How strongly a class/id/style marks an element as page chrome.
private enum ChromeMark: Comparable {
    case none, weak, strong
}

/// `has-nav-bar`, `no-sidebar`, `with-comments`: a state modifier on a wrapper, not the thing itself.
private let stateModifiers: [[UInt8]] = ["has", "is", "no", "with", "show", "hide"].map { Array($0.utf8) }

/// The boilerplate words grouped by first letter, weak words first within each group: a class token is compared
/// only with the few words that start like it (every element's class and id go through here).
private let boilerplateWordsByInitial: [[(word: [UInt8], prefix: Bool, mark: ChromeMark)]] = {
    var table = [[(word: [UInt8], prefix: Bool, mark: ChromeMark)]](repeating: [], count: 128)
    let groups: [([[UInt8]], Bool, ChromeMark)] = [
        (weakExactBytes, false, .weak), (weakPrefixBytes, true, .weak),
        (boilerplateExactBytes, false, .strong), (boilerplatePrefixBytes, true, .strong),
    ]
    for (words, prefix, mark) in groups {
        for w in words where !w.isEmpty && w[0] < 128 { table[Int(w[0])].append((w, prefix, mark)) }
    }
    return table
}()

private func boilerplateWordMark(_ token: ArraySlice<UInt8>) -> ChromeMark {
    guard let first = token.first, first < 128 else { return .none }
    for entry in boilerplateWordsByInitial[Int(first)] {
        let w = entry.word
        if entry.prefix {
            if token.count >= w.count && token.prefix(w.count).elementsEqual(w) { return entry.mark }
        } else if w.count == token.count && token.elementsEqual(w) {
            return entry.mark
        }
    }
    return .none
}

/// Splits a class/id value into lowercase ASCII tokens on anything that is not a letter or digit, and on
/// camelCase; reports the strongest boilerplate word among the tokens (`has-nav-bar`-style modifiers excepted).
///
/// `tokens` and `bounds` are scratch space the caller keeps between calls (every class and id comes through here).
private func boilerplateAttribute(
    _ value: UnsafePointer<UInt8>, tokens: inout [UInt8], bounds: inout [Range<Int>]
) -> ChromeMark {
    tokens.removeAll(keepingCapacity: true)
    bounds.removeAll(keepingCapacity: true)
    var start = 0
    var previousLower = false
    var i = 0
    func close() {
        if tokens.count > start { bounds.append(start..<tokens.count) }
        start = tokens.count
    }
    while value[i] != 0 {
        let c = value[i]
        let isUpper = c >= 0x41 && c <= 0x5A
        let isLower = c >= 0x61 && c <= 0x7A
        let isDigit = c >= 0x30 && c <= 0x39
        if isUpper || isLower || isDigit {
            if isUpper && previousLower { close() }
            tokens.append(isUpper ? c | 0x20 : c)
            previousLower = isLower
        } else {
            close()
            previousLower = false
        }
        i += 1
    }
    close()
    var mark = ChromeMark.none
    for (n, r) in bounds.enumerated() {
        if n > 0 {
            let previous = tokens[bounds[n - 1]]
            if stateModifiers.contains(where: { previous.elementsEqual($0) }) { continue }
        }
        mark = max(mark, boilerplateWordMark(tokens[r]))
        if mark == .strong { break }
    }
    return mark
}

/// Turns SAX events into blocks and metadata. A class so the C callbacks can reach it through `userData`; one
/// instance per parse, never shared.
///
/// Its state is `@exclusivity(unchecked)`: the walker is only ever touched by one parser's callbacks on one
/// thread, one callback at a time, and the runtime's access checks on every field cost about 4% of parsing.
private final class Walker {
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
    @exclusivity(unchecked) var buffer = Scalars()
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
            bufferLinkVisible = 0
            bufferMinDepth = stack.count
        }
        guard !buffer.isEmpty else { return }
        let (text, visible, punctuation) = Text.normalizeSpacesCounting(buffer)
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
        let before = buffer.count
        Text.appendUTF8(UnsafeBufferPointer(start: ch, count: length), to: &buffer)
        if preDepth > 0 {
            // Preformatted text keeps its line structure: each line is a block.
            let added = Array(buffer[before...])
            buffer.removeSubrange(before...)
            var first = true
            for line in added.split(separator: "\n", omittingEmptySubsequences: false) {
                if !first { flush() }
                first = false
                buffer.append(contentsOf: line)
            }
        } else if linkDepth > 0 {
            for i in before..<buffer.count where !buffer[i].isSpaceLike { bufferLinkVisible += 1 }
        }
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
        let traits = tagTraits[tagCode(rawName)] ?? []
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
                if let type = Self.string(attributes, "type"), type.lowercased().contains("ld+json") {
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
            HTMLPage.Element(parent: stack.last ?? -1, subtreeEnd: index + 1, boilerplate: mark != .none))
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
