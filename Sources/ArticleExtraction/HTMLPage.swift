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
        var tablePart: TablePart = .none
    }

    enum TablePart: UInt8 {
        case none, table, row, cell
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
        /// A cell of a data table (see ``HTMLPage/markDataTables()``).
        var inDataTable: Bool = false

        /// The block as a classifiable line. Built on demand: only the blocks around the article need one.
        var line: PageLine { PageLine(text, visible: visible, punctuation: punctuation, heading: heading) }
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
        // Script and style bodies, comments and most attributes are two thirds of a page and never read: libxml2
        // parses the page without them.
        if let stripped = UnreadMarkup.removed(from: utf8) {
            return stripped.withUnsafeBufferPointer { parse(wholePage: $0) }
        }
        return parse(wholePage: utf8)
    }

    /// ``parse(utf8:)`` on every byte of the page.
    static func parse(wholePage utf8: UnsafeBufferPointer<UInt8>) -> HTMLPage? {
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
                | HTML_PARSE_NONET.rawValue | HTML_PARSE_IGNORE_ENC.rawValue | HTML_PARSE_NOIMPLIED.rawValue)
        // HTML_PARSE_NOIMPLIED: no `<html>`/`<body>` is invented for a tag that lacks them, which spares libxml2
        // five name comparisons per start tag. Text outside any element is still wrapped in an implied `<p>`, and
        // html/body are wrappers whose attributes the walker ignores (output unchanged on every real page and
        // fragment tried).
        _ = htmlCtxtUseOptions(ctxt, options)
        // One copy of the page into libxml2's input buffer and no encoder: naming "UTF-8" (as
        // `htmlCtxtReadMemory(…, "UTF-8", …)` does) makes libxml2 copy the page once more through a UTF-8-to-UTF-8
        // converter. (A static buffer over the caller's bytes would save the other copy, but libxml2 2.9 misreads
        // multi-byte text from one as Latin-1.) HTML_PARSE_IGNORE_ENC keeps a `<meta charset=gbk>` in
        // already-decoded text from switching the encoding.
        let input = base.withMemoryRebound(to: CChar.self, capacity: utf8.count) { chars in
            xmlParserInputBufferCreateMem(chars, Int32(utf8.count), XML_CHAR_ENCODING_NONE)
        }
        guard let input else { return nil }
        guard let stream = xmlNewIOInputStream(ctxt, input, XML_CHAR_ENCODING_NONE) else {
            xmlFreeParserInputBuffer(input)
            return nil
        }
        _ = inputPush(ctxt, stream)
        // The input is UTF-8 (without this, the first non-ASCII byte makes libxml2 guess, and fall back to
        // Latin-1); a named encoding also stops libxml2 guessing one from the first bytes (NULs read as UTF-16).
        ctxt.pointee.charset = Int32(XML_CHAR_ENCODING_UTF8.rawValue)
        ctxt.pointee.encoding = UnsafePointer(xmlStrdup("UTF-8"))
        withExtendedLifetime(walker) {
            // No tree is built (the handler has no tree callbacks), so the document is always nil.
            _ = htmlParseDocument(ctxt)
            if let doc = ctxt.pointee.myDoc {
                xmlFreeDoc(doc)
                ctxt.pointee.myDoc = nil
            }
        }
        walker.flush()
        walker.page.clearMisnamedWrappers()
        walker.page.markDataTables()
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

    /// A data table (an encyclopedia's discography, a notice's figures): three or more rows, six or more cells of
    /// short text, less than 60% of it linked, and no table inside it. Its cells are short, unpunctuated or
    /// linked, so each alone scores like chrome; marked, they neither cut the article nor get cut from its end.
    /// Layout tables (one holding the page, cells of whole columns, tables nested in tables) and calendars (cells
    /// of a day number) are not data tables.
    /// The `<tr>` an element sits in (itself or a near ancestor, inside the same table), or -1.
    func tableRow(of element: Int32) -> Int32 {
        var e = element
        var steps = 0
        while e >= 0, steps < 6 {
            switch elements[Int(e)].tablePart {
            case .row: return e
            case .table: return -1
            default: break
            }
            e = elements[Int(e)].parent
            steps += 1
        }
        return -1
    }

    mutating func markDataTables() {
        var tables: [Int] = []
        for (i, e) in elements.enumerated() where e.tablePart == .table && !e.boilerplate { tables.append(i) }
        guard !tables.isEmpty, !blocks.isEmpty else { return }
        for t in tables {
            let end = Int(elements[t].subtreeEnd)
            var rows = 0
            var cells = 0
            var nested = false
            for j in (t + 1)..<end {
                switch elements[j].tablePart {
                case .table: nested = true
                case .row: rows += 1
                case .cell: cells += 1
                case .none: break
                }
                if nested { break }
            }
            guard !nested, rows >= 3, cells >= 6 else { continue }
            // Blocks are in document order: the table's are one contiguous stretch.
            guard let first = blocks.firstIndex(where: { Int($0.owner) >= t && Int($0.owner) < end }) else { continue }
            var last = first
            while last + 1 < blocks.count, Int(blocks[last + 1].owner) >= t, Int(blocks[last + 1].owner) < end {
                last += 1
            }
            let stretch = blocks[first...last]
            let visible = stretch.reduce(0) { $0 + $1.visible }
            let links = stretch.reduce(0) { $0 + $1.linkVisible }
            guard visible >= 40, visible >= cells * 4, links * 5 < visible * 3, stretch.allSatisfy({ $0.visible <= 80 })
            else { continue }
            for k in first...last where !blocks[k].boilerplate { blocks[k].inDataTable = true }
        }
    }

    /// The walker riding in the parser context, unretained: it outlives the parse, and a retain and release
    /// per callback cost more than the walker's own work on many elements.
    @inline(__always) private static func walker(_ ctx: UnsafeMutableRawPointer?) -> Unmanaged<Walker>? {
        guard let ctx else { return nil }
        let ctxt = ctx.assumingMemoryBound(to: xmlParserCtxt.self)
        guard let walker = ctxt.pointee._private else { return nil }
        return Unmanaged<Walker>.fromOpaque(walker)
    }

    /// SAX callbacks into ``Walker``; errors go to a silent structured handler.
    private static func makeHandler() -> htmlSAXHandler {
        var h = htmlSAXHandler()
        h.startElement = { ctx, name, attributes in
            guard let name else { return }
            HTMLPage.walker(ctx)?._withUnsafeGuaranteedRef { $0.start(name, attributes) }
        }
        h.endElement = { ctx, _ in HTMLPage.walker(ctx)?._withUnsafeGuaranteedRef { $0.end() } }
        h.characters = { ctx, ch, length in
            guard let ch, length > 0 else { return }
            HTMLPage.walker(ctx)?._withUnsafeGuaranteedRef { $0.characters(ch, Int(length)) }
        }
        h.cdataBlock = h.characters
        h.ignorableWhitespace = h.characters
        h.initialized = UInt32(XML_SAX2_MAGIC)
        h.serror = silentStructuredError
        return h
    }
}

private let silentStructuredError: xmlStructuredErrorFunc = { _, _ in }
