internal import CLibXML2

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An HTML page read through libxml2's HTML parser into what extraction needs: text blocks with their owning
/// element, the element tree's shape, and structured metadata (`<title>`, `<meta>`, JSON-LD, `<time>`, canonical).
///
/// The libxml2 document lives only inside ``parse(utf8:)``; everything kept is Swift values, so a page is safe to
/// hand across threads and libxml2 memory never escapes.
struct HTMLPage {
    struct Element {
        var parent: Int32
        /// One past the last descendant's index (elements are numbered in document order).
        var subtreeEnd: Int32
        /// The element's own class/id/role/tag says boilerplate (nav, footer, share, related, comment…).
        var boilerplate: Bool
    }

    struct Block {
        var line: PageLine
        var owner: Int32
        var linkVisible: Int
        var boilerplate: Bool
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
    /// own parser context, and error reporting is silenced per thread (libxml2 keeps error handlers thread-local).
    static func parse(utf8: [UInt8]) -> HTMLPage? {
        _ = libxmlReady
        xmlSetStructuredErrorFunc(nil, silentStructuredError)
        let options = Int32(HTML_PARSE_RECOVER.rawValue | HTML_PARSE_NOERROR.rawValue | HTML_PARSE_NOWARNING.rawValue
            | HTML_PARSE_NONET.rawValue | HTML_PARSE_COMPACT.rawValue | HTML_PARSE_NOBLANKS.rawValue)
        guard let ctxt = htmlNewParserCtxt() else { return nil }
        defer { htmlFreeParserCtxt(ctxt) }
        let doc: htmlDocPtr? = utf8.withUnsafeBufferPointer { buf in
            buf.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buf.count) { chars in
                htmlCtxtReadMemory(ctxt, chars, Int32(buf.count), nil, "UTF-8", options)
            }
        }
        guard let doc else { return nil }
        defer { xmlFreeDoc(doc) }
        var page = HTMLPage()
        var walker = Walker(page: page)
        if let root = xmlDocGetRootElement(doc) { walker.walk(root) }
        walker.flush()
        page = walker.page
        return page
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

private let tagTraits: [String: TagTraits] = {
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
    return t
}()

/// Class/id words (or their prefixes, for longer words) that mark page chrome rather than the article.
private let boilerplateExact: Set<String> = [
    "nav", "ad", "ads", "adv", "hot", "tags", "tag", "links", "link", "dh", "fx", "bq", "xgwz", "xgxw", "top10",
    "sns", "rank", "gotop", "totop", "login", "foot", "ft", "copy", "bottom", "topbar", "weibo", "wx", "qr",
    "ewm", "reply", "replies", "pinglun", "pl", "footer", "header-nav", "search", "sitemap", "friend",
]
private let boilerplatePrefixes: [String] = [
    "navbar", "navigation", "nav-", "menu", "footer", "breadcrumb", "crumb", "share", "sharing", "social",
    "related", "relate", "recommend", "comment", "copyright", "sidebar", "aside", "advert", "banner", "toolbar",
    "pager", "pagination", "friendlink", "qrcode", "daohang", "banquan", "fenxiang", "tuijian", "xiangguan",
    "dianji", "widget", "popup", "modal", "cookie", "subscribe", "newsletter", "sitenav", "topnav", "footnav",
    "hotnews", "hotlist", "ranking", "guanggao", "weixin", "wechat", "print", "dayin", "login", "jiathis", "bdshare",
    "bdsharebuttonbox", "sitemap", "youlian", "location", "position", "current",
]

private func isBoilerplateWord(_ token: String) -> Bool {
    if boilerplateExact.contains(token) { return true }
    for p in boilerplatePrefixes where token.hasPrefix(p) { return true }
    return false
}

/// Splits a class/id value into lowercase tokens on anything that is not a letter or digit, and on camelCase.
private func boilerplateAttribute(_ value: String) -> Bool {
    var token = ""
    var previousToken = ""
    var previousLower = false
    var found = false
    func flush() {
        // `has-nav-bar`, `no-sidebar`, `with-comments`: a state modifier on a wrapper, not the thing itself.
        let modifier = previousToken == "has" || previousToken == "is" || previousToken == "no"
            || previousToken == "with" || previousToken == "show" || previousToken == "hide"
        if !token.isEmpty, !modifier, isBoilerplateWord(token) { found = true }
        if !token.isEmpty { previousToken = token }
        token = ""
    }
    for c in value.unicodeScalars {
        if c.isASCIILetter || c.isASCIIDigit {
            let isUpper = c.value >= 0x41 && c.value <= 0x5A
            if isUpper && previousLower { flush() }
            token.unicodeScalars.append(isUpper ? Unicode.Scalar(c.value | 0x20)! : c)
            previousLower = !isUpper
        } else {
            flush()
            previousLower = false
        }
    }
    flush()
    // Whole value too, for compound names like `nav-bar` that are boilerplate together.
    return found
}

private struct Walker {
    var page: HTMLPage
    /// Open elements (indices into page.elements).
    var stack: [Int32] = []
    var boilerplateDepth = 0
    var linkDepth = 0
    var preDepth = 0
    var headingLevel = 0
    var buffer = Scalars()
    var bufferLinkVisible = 0
    var bufferMinDepth = Int.max

    init(page: HTMLPage) { self.page = page }

    mutating func flush() {
        defer {
            buffer.removeAll(keepingCapacity: true)
            bufferLinkVisible = 0
            bufferMinDepth = stack.count
        }
        guard !buffer.isEmpty else { return }
        let text = Text.normalizeSpaces(buffer)
        guard !text.isEmpty else { return }
        let ownerDepth = min(bufferMinDepth, stack.count)
        let owner = ownerDepth > 0 ? stack[ownerDepth - 1] : 0
        let line = PageLine(text, heading: headingLevel)
        page.blocks.append(
            HTMLPage.Block(
                line: line, owner: owner, linkVisible: min(bufferLinkVisible, line.visible),
                boilerplate: boilerplateDepth > 0))
    }

    mutating func appendText(_ content: UnsafePointer<xmlChar>) {
        if buffer.isEmpty { bufferMinDepth = stack.count }
        let before = buffer.count
        Text.appendUTF8CString(content, to: &buffer)
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

    static func name(_ node: xmlNodePtr) -> String {
        guard let n = node.pointee.name else { return "" }
        return String(cString: n)
    }

    /// The value of attribute `wanted` (lowercase ASCII; the HTML parser lowercases attribute names).
    static func attribute(_ node: xmlNodePtr, _ wanted: StaticString) -> String? {
        var attr = node.pointee.properties
        while let a = attr {
            if let n = a.pointee.name, strcmp(UnsafeRawPointer(n).assumingMemoryBound(to: CChar.self),
                UnsafeRawPointer(wanted.utf8Start).assumingMemoryBound(to: CChar.self)) == 0
            {
                var out = ""
                var child = a.pointee.children
                while let c = child {
                    if let content = c.pointee.content { out += String(cString: content) }
                    child = c.pointee.next
                }
                return out
            }
            attr = a.pointee.next
        }
        return nil
    }

    static func textContent(_ node: xmlNodePtr) -> String {
        var out = ""
        var child = node.pointee.children
        while let c = child {
            if c.pointee.type == XML_TEXT_NODE || c.pointee.type == XML_CDATA_SECTION_NODE,
                let content = c.pointee.content
            {
                out += String(cString: content)
            } else if c.pointee.type == XML_ELEMENT_NODE {
                out += textContent(c)
            }
            child = c.pointee.next
        }
        return out
    }

    /// Handles entering `node`; returns whether to descend into its children.
    mutating func enter(_ node: xmlNodePtr) -> Bool {
        switch node.pointee.type {
        case XML_TEXT_NODE, XML_CDATA_SECTION_NODE:
            if let content = node.pointee.content { appendText(content) }
            return false
        case XML_ELEMENT_NODE:
            break
        default:
            return false
        }
        let tag = Self.name(node)
        let traits = tagTraits[tag] ?? []
        if traits.contains(.special) {
            switch tag {
            case "meta":
                if let content = Self.attribute(node, "content") {
                    for keyAttr: StaticString in ["property", "name", "itemprop", "http-equiv"] {
                        if let key = Self.attribute(node, keyAttr), !key.isEmpty {
                            page.metas.append((key.lowercased(), content))
                            break
                        }
                    }
                }
                return false
            case "title":
                if page.title == nil { page.title = Self.textContent(node) }
                return false
            case "link":
                if page.canonical == nil, let rel = Self.attribute(node, "rel"), rel.lowercased() == "canonical",
                    let href = Self.attribute(node, "href")
                {
                    page.canonical = href
                }
                return false
            case "script":
                if let type = Self.attribute(node, "type"), type.lowercased().contains("ld+json") {
                    page.jsonLD.append(Self.textContent(node))
                }
                return false
            case "html":
                if let lang = Self.attribute(node, "lang"), !lang.isEmpty { page.hasLangAttribute = lang }
            case "time":
                if let dt = Self.attribute(node, "datetime") { page.timeElements.append(dt) }
            default:
                break
            }
        }
        if traits.contains(.skipped) { return false }
        let hasAttributes = node.pointee.properties != nil
        if hasAttributes, let style = Self.attribute(node, "style") {
            let compact = style.lowercased().filter { $0 != " " }
            if compact.contains("display:none") || compact.contains("visibility:hidden") { return false }
        }
        if traits.contains(.block) { flush() }
        var boilerplate = traits.contains(.chrome)
        if !boilerplate && !traits.contains(.wrapper) && hasAttributes {
            for attr: StaticString in ["class", "id"] {
                if let v = Self.attribute(node, attr), boilerplateAttribute(v) {
                    boilerplate = true
                    break
                }
            }
            if let role = Self.attribute(node, "role")?.lowercased(),
                role == "navigation" || role == "contentinfo" || role == "complementary" || role == "banner"
            {
                boilerplate = true
            }
        }
        let index = Int32(page.elements.count)
        page.elements.append(
            HTMLPage.Element(parent: stack.last ?? -1, subtreeEnd: index + 1, boilerplate: boilerplate))
        stack.append(index)
        frames.append(Frame(node: UnsafeMutableRawPointer(node), traits: traits, boilerplate: boilerplate))
        if boilerplate { boilerplateDepth += 1 }
        if traits.contains(.link) { linkDepth += 1 }
        if traits.contains(.preformatted) { preDepth += 1 }
        if traits.headingLevel > 0 { headingLevel = traits.headingLevel }
        return true
    }

    /// An element being walked, with what `enter` learned about it.
    struct Frame {
        var node: UnsafeMutableRawPointer
        var traits: TagTraits
        var boilerplate: Bool
    }

    var frames: [Frame] = []

    /// Handles leaving `node`; only elements that `enter` pushed are popped.
    mutating func leave(_ node: xmlNodePtr) {
        guard let frame = frames.last, frame.node == UnsafeMutableRawPointer(node), let top = stack.last else { return }
        if frame.traits.contains(.block) { flush() }
        page.elements[Int(top)].subtreeEnd = Int32(page.elements.count)
        if frame.boilerplate { boilerplateDepth -= 1 }
        if frame.traits.contains(.link) { linkDepth -= 1 }
        if frame.traits.contains(.preformatted) { preDepth -= 1 }
        if frame.traits.headingLevel > 0 { headingLevel = 0 }
        stack.removeLast()
        frames.removeLast()
        if bufferMinDepth > stack.count { bufferMinDepth = stack.count }
    }

    mutating func walk(_ root: xmlNodePtr) {
        var current: xmlNodePtr? = root
        while let node = current {
            let descend = enter(node)
            if descend, let child = node.pointee.children {
                current = child
                continue
            }
            var n = node
            while true {
                leave(n)
                if n == root {
                    current = nil
                    break
                }
                if let next = n.pointee.next {
                    current = next
                    break
                }
                guard let parent = n.pointee.parent else {
                    current = nil
                    break
                }
                n = parent
            }
        }
    }

}
