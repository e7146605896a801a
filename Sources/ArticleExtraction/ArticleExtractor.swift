import NewswireModel

/// Turns the bytes of a scraped news page — raw HTML or a plain-text dump, UTF-8 or GBK/GB18030 — into an
/// ``NewswireModel/Article``.
///
/// A value type with no shared mutable state: one extractor can be used from any number of threads at once.
///
/// ```swift
/// let extractor = ArticleExtractor()
/// let article = try extractor.extract(bytes, url: "https://example.com/a.html")
/// ```
public struct ArticleExtractor: Sendable {
    /// Extraction settings.
    public struct Configuration: Sendable, Hashable {
        /// UTC offset for page times written without a zone, in seconds. Default: China Standard Time (+08:00,
        /// Asia/Shanghai), the zone of nearly every page Newswire ingests.
        public var defaultUTCOffsetSeconds: Int32
        /// Largest input accepted, in bytes. Default 32 MiB: far above any real article page (the largest in our
        /// samples is under 1 MiB) while bounding memory and time per request.
        public var maximumInputBytes: Int

        /// The default maximum input size: 32 MiB.
        public static let defaultMaximumInputBytes = 32 << 20

        /// Creates a configuration.
        public init(
            defaultUTCOffsetSeconds: Int32 = PublishedTime.chinaStandardOffset,
            maximumInputBytes: Int = Configuration.defaultMaximumInputBytes
        ) {
            self.defaultUTCOffsetSeconds = defaultUTCOffsetSeconds
            self.maximumInputBytes = maximumInputBytes
        }
    }

    /// The settings this extractor uses.
    public var configuration: Configuration

    /// Creates an extractor.
    public init(configuration: Configuration = .init()) {
        self.configuration = configuration
    }

    /// Extracts the article from a page.
    ///
    /// - Parameters:
    ///   - bytes: the page as fetched or scraped.
    ///   - url: where the page came from, if known; a `<link rel=canonical>` or `og:url` in the page wins.
    ///   - charsetHint: a charset from outside the page (an HTTP `Content-Type`), which outranks the page's own
    ///     declaration. A byte-order mark outranks both.
    /// - Throws: ``ExtractionError`` with code `.tooLarge`, `.empty`, `.binary`, `.undecodable` or `.noArticle`.
    public func extract(
        _ bytes: some Collection<UInt8>, url: String? = nil, charsetHint: String? = nil
    ) throws(ExtractionError) -> Article {
        let result: Result<Article, ExtractionError>? = bytes.withContiguousStorageIfAvailable { buffer in
            Result { () throws(ExtractionError) -> Article in
                try extract(buffer: buffer, url: url, charsetHint: charsetHint)
            }
        }
        if let result { return try result.get() }
        let copy = Array(bytes)
        return try copy.withUnsafeBufferPointer { (buffer) throws(ExtractionError) -> Article in
            try extract(buffer: buffer, url: url, charsetHint: charsetHint)
        }
    }

    private func extract(
        buffer: UnsafeBufferPointer<UInt8>, url: String?, charsetHint: String?
    ) throws(ExtractionError) -> Article {
        if buffer.count > configuration.maximumInputBytes {
            throw ExtractionError(
                .tooLarge,
                "input is \(buffer.count) bytes, over the \(configuration.maximumInputBytes)-byte limit; "
                    + "a news page is far smaller, so check this is the right file")
        }
        if buffer.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 || $0 == 0x0C }) {
            throw ExtractionError(
                .empty,
                buffer.isEmpty
                    ? "input is empty (0 bytes); check that the page was saved or downloaded completely"
                    : "input holds only whitespace; check that the page was saved or downloaded completely")
        }
        if let kind = PageDecoding.binaryKind(buffer) {
            throw ExtractionError(
                .binary, "input is \(kind), not a text or HTML page; pass the page's HTML or a plain-text scrape")
        }
        let decoded = try PageDecoding.decode(buffer, charsetHint: charsetHint)
        return try decoded.withUTF8(input: buffer) { (utf8) throws(ExtractionError) -> Article in
            if Self.isBlank(utf8) {
                throw ExtractionError(
                    .empty, "input holds only whitespace; check that the page was saved or downloaded completely")
            }
            if Self.looksLikeHTML(utf8) {
                return try extractHTML(utf8, url: url)
            }
            return try extractPlainText(String(decoding: utf8, as: UTF8.self), url: url)
        }
    }

    /// Whether UTF-8 text is only whitespace (no-break and ideographic spaces included).
    static func isBlank(_ utf8: UnsafeBufferPointer<UInt8>) -> Bool {
        var nonASCII = false
        for b in utf8 {
            if b >= 0x80 {
                nonASCII = true
            } else if !(b == 0x20 || (b >= 0x09 && b <= 0x0D)) {
                return false
            }
        }
        return !nonASCII || String(decoding: utf8, as: UTF8.self).unicodeScalars.allSatisfy(\.isSpaceLike)
    }

    /// Markup near the start: a doctype or one of the tags every page has.
    static func looksLikeHTML(_ utf8: UnsafeBufferPointer<UInt8>) -> Bool {
        // Nearly every page starts with `<` (a doctype, `<html>`, a comment): decide on the first byte.
        if let first = utf8.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }) {
            if first == UInt8(ascii: "<") { return true }
        }
        let head = UnsafeBufferPointer(rebasing: utf8.prefix(4096))
        let tags: [[UInt8]] = ["<html", "<!doctype html", "<body", "<head", "<meta", "<div", "<p>", "<table", "<title"]
            .map { Array($0.utf8) }
        var i = 0
        while i < head.count {
            if head[i] == UInt8(ascii: "<") {
                for t in tags where i + t.count <= head.count {
                    var match = true
                    for k in 1..<t.count where head[i + k] | 0x20 != t[k] && head[i + k] != t[k] {
                        match = false
                        break
                    }
                    if match { return true }
                }
            }
            i += 1
        }
        return false
    }

    // MARK: Plain text

    private func extractPlainText(_ text: String, url: String?) throws(ExtractionError) -> Article {
        var lines: [PageLine] = []
        for raw in text.unicodeScalars.split(whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "\u{2028}" }) {
            let normalized = Text.normalizeSpaces(Array(raw))
            if !normalized.isEmpty { lines.append(PageLine(normalized)) }
        }
        let assembled = ArticleAssembler.assemble(lines, titleHint: nil)
        return try finish(assembled, structured: nil, url: url, languageHint: nil)
    }

    // MARK: HTML

    private func extractHTML(_ utf8: UnsafeBufferPointer<UInt8>, url: String?) throws(ExtractionError) -> Article {
        guard let page = HTMLPage.parse(utf8: utf8) else {
            throw ExtractionError(
                .noArticle, "libxml2 could not build a document from this HTML; is the file truncated?")
        }
        let structured = StructuredMetadata(page: page)
        let title = Self.chooseTitle(page: page, structured: structured)
        guard let selection = BodySelector.select(page, descriptions: structured.descriptions) else {
            throw ExtractionError(
                .noArticle,
                "no recognisable article: the page has no block of prose outside navigation and boilerplate "
                    + "(is it an index, search or login page?)")
        }
        func usable(_ b: HTMLPage.Block) -> Bool {
            (!b.boilerplate || selection.ignoredBoilerplate)
                && (b.inDataTable || !(b.linkVisible * 2 > b.visible && b.punctuation < 3))
        }
        let lines = LabelledFields.mergingLabelCells(
            Self.linesJoiningTableRows(page.blocks[selection.blockRange].filter(usable), page: page))
        let lo = selection.blockRange.lowerBound
        let hi = selection.blockRange.upperBound
        // Metadata around the body may sit in a widget-marked bar (`[责任编辑：刘斌]` in a share box): only
        // strongly marked chrome (navigation, footers, comments) is left out.
        let before = LabelledFields.mergingLabelCells(
            page.blocks[max(0, lo - 40)..<lo].filter { !$0.strongBoilerplate }.map(\.line)
        ).reversed()
        let after = LabelledFields.mergingLabelCells(
            page.blocks[hi..<min(page.blocks.count, hi + 15)].filter { !$0.strongBoilerplate }.map(\.line))
        var assembled = ArticleAssembler.assemble(lines, titleHint: title, before: Array(before), after: after)
        if assembled.metadata.dates.isEmpty {
            // Last resort: the first date anywhere on the page, labelled ones first.
            let all = page.blocks.flatMap { DateScanner.scan($0.text) }
            if let d = all.first(where: \.labelled) ?? all.first {
                assembled.metadata.addDate(d, rank: ArticleAssembler.DateRank.anywhere)
            }
        }
        return try finish(
            assembled, structured: structured, url: structured.url ?? url, languageHint: page.hasLangAttribute,
            siteOwner: Self.siteOwner(page))
    }

    /// The person a personal site belongs to: the holder its footer's copyright notice names
    /// (`Copyright © 张三`) when the same name is, alone, a heading at the top of the page: the site's title (a
    /// blog's header). Organisations, registered sites (an ICP number in the notice) and notices naming no one
    /// (`All Rights Reserved`) give nil.
    static func siteOwner(_ page: HTMLPage) -> String? {
        for block in page.blocks.suffix(12) {
            guard block.visible <= 80, let holder = copyrightHolder(block.text) else { continue }
            let name = Text.string(holder)
            let notice = Text.string(block.text)
            guard !looksLikeOrganisation(name), !notice.containsBytes("ICP"), !notice.containsBytes("备案") else {
                return nil
            }
            let header = page.blocks.prefix(20)
            return header.contains(where: { $0.heading > 0 && Text.trimmed($0.text[...]) == holder }) ? name : nil
        }
        return nil
    }

    /// The name after `Copyright ©`, `Copyright` or `©` (years skipped), when it is one token that reads as a
    /// personal name or handle: letters and digits only, no spaces or dots.
    static func copyrightHolder(_ text: Scalars) -> Scalars? {
        // Most footer blocks have neither: rejected before anything is copied.
        guard text.contains(where: { $0 == "©" || $0 == "p" || $0 == "P" }) else { return nil }
        let f = text.map { $0.isASCIILetter ? Unicode.Scalar($0.value | 0x20)! : $0 }
        var at: Int?
        if let c = Text.firstIndex(of: Text.scalars("copyright"), in: f) { at = c + 9 }
        if let sign = f.firstIndex(where: { $0 == "©" }), at == nil || sign >= at! { at = sign + 1 }
        guard var i = at else { return nil }
        while i < f.count, f[i] == " " || f[i] == "©" || f[i] == "(" || f[i] == ")" || f[i] == "c" && i + 1 < f.count && f[i + 1] == ")" {
            i += 1
        }
        while i < f.count, f[i].isASCIIDigit || f[i] == "-" || f[i] == "," || f[i] == " " { i += 1 }
        var end = i
        while end < f.count, !f[end].isSpaceLike { end += 1 }
        let name = Array(text[i..<end])
        guard name.count >= 2, name.count <= 20, People.isBylineName(name), !People.isRoleWord(name),
            name.allSatisfy({ $0.isHan || $0.isASCIILetter || $0.isASCIIDigit })
        else { return nil }
        return name
    }

    /// The blocks as lines, a data table's row as one line (its cells joined by a tab), as a reader reads it:
    /// a repeated cell (`示例唱片` on two rows) is then no repeated paragraph.
    static func linesJoiningTableRows(_ blocks: [HTMLPage.Block], page: HTMLPage) -> [PageLine] {
        var out: [PageLine] = []
        out.reserveCapacity(blocks.count)
        var row: Int32 = -1
        var rowText = Scalars()
        func closeRow() {
            if !rowText.isEmpty { out.append(PageLine(rowText)) }
            rowText.removeAll()
            row = -1
        }
        for b in blocks {
            let r = b.inDataTable ? page.tableRow(of: b.owner) : -1
            if r >= 0, r == row {
                // A tab, as in a table's plain-text form: a row of short cells is no menu of words.
                rowText.append("\t")
                rowText += b.text
                continue
            }
            closeRow()
            if r >= 0 {
                row = r
                rowText = b.text
            } else {
                out.append(b.line)
            }
        }
        closeRow()
        return out
    }

    /// The headline: an `<h1>`/`<h2>` that the `<title>` contains, else the structured headline, else the
    /// cleaned `<title>`, else the first `<h1>`.
    static func chooseTitle(page: HTMLPage, structured: StructuredMetadata) -> String? {
        let rawTitle = page.title.map { Text.normalizeSpaces(Text.scalars($0)) } ?? []
        let titleKey = Text.key(rawTitle)
        let headings = page.blocks.filter { $0.heading >= 1 && $0.heading <= 3 && !$0.boilerplate }.map(\.line)
        if !titleKey.isEmpty {
            let titleScalars = Text.keyScalars(rawTitle)
            for h in headings {
                // A heading whose key scalars are not in the title's cannot be in it as Characters either: only
                // the few that are get the (costlier) String test.
                let scalars = Text.keyScalars(h.text)
                guard scalars.count >= 4, Text.firstIndex(of: scalars, in: titleScalars, from: 0) != nil else { continue }
                let key = h.key
                if key.count >= 4 && titleKey.contains(key) { return h.string }
            }
        }
        if let headline = structured.headline, !headline.isEmpty {
            let cleaned = StructuredMetadata.cleanTitle(headline)
            if !cleaned.isEmpty { return cleaned }
        }
        if !rawTitle.isEmpty {
            let cleaned = StructuredMetadata.cleanTitle(Text.string(rawTitle))
            // A `<title>` of a word or two (`显示`, `1`) is a placeholder when the page has a real heading.
            let placeholder = Text.visibleCount(Text.scalars(cleaned)) < 4 && headings.contains { $0.visible >= 4 }
            if !cleaned.isEmpty && !placeholder { return cleaned }
        }
        if let h = headings.first(where: { $0.heading <= 2 && $0.visible >= 4 }) { return h.string }
        return headings.first(where: { $0.heading == 1 })?.string
    }

    // MARK: Assembly

    private func finish(
        _ assembled: AssembledArticle, structured: StructuredMetadata?, url: String?, languageHint: String?,
        siteOwner: String? = nil
    ) throws(ExtractionError) -> Article {
        let paragraphs = assembled.paragraphs
        // Only whether the body reaches 10 characters matters: stop counting there.
        var bodyLength = 0
        for p in paragraphs where bodyLength < 10 {
            for _ in p.unicodeScalars.prefix(10 - bodyLength) { bodyLength += 1 }
        }
        guard !paragraphs.isEmpty, bodyLength >= 10 else {
            throw ExtractionError(
                .noArticle,
                "no recognisable article: found \(paragraphs.count) body paragraph(s) with \(bodyLength) characters "
                    + "(expected a headline and at least a sentence of body text)")
        }
        let meta = assembled.metadata
        let offset = configuration.defaultUTCOffsetSeconds

        // Publication time.
        var candidates = meta.dates
        if let s = structured {
            if let d = s.published { candidates.append((ArticleAssembler.DateRank.structured, d)) }
            if let d = s.timeElement { candidates.append((ArticleAssembler.DateRank.timeElement, d)) }
            if let d = s.modified { candidates.append((ArticleAssembler.DateRank.modified, d)) }
        }
        var chosen: DateMatch?
        if let best = candidates.enumerated().min(by: { ($0.element.rank, $0.offset) < ($1.element.rank, $1.offset) }) {
            chosen = best.element.match
            if !best.element.match.hasTime,
                let timed = candidates.first(where: {
                    $0.match.hasTime && $0.match.year == best.element.match.year
                        && $0.match.month == best.element.match.month && $0.match.day == best.element.match.day
                })
            {
                chosen = timed.match
            }
            // A metadata time a few minutes off the time the page shows under its headline, on the same day, is
            // the content system's; readers and citations go by the visible one.
            if best.element.rank == ArticleAssembler.DateRank.structured, let c = chosen, c.hasTime,
                let shown = candidates.first(where: {
                    $0.rank <= ArticleAssembler.DateRank.unlabelledHeader && $0.rank != ArticleAssembler.DateRank.structured
                        && $0.match.hasTime
                        && $0.match.year == c.year && $0.match.month == c.month && $0.match.day == c.day
                }), c.offset == nil || c.offset == offset
            {
                let minutes = { (m: DateMatch) in (m.hour ?? 0) * 60 + (m.minute ?? 0) }
                if abs(minutes(shown.match) - minutes(c)) <= 15 { chosen = shown.match }
            }
        }
        let publishedAt = chosen?.publishedTime(defaultOffset: offset)

        // People.
        var reporters = meta.labelledAuthors.filter { !Self.looksLikeOrganisation($0) }
        if reporters.isEmpty, let s = structured { reporters = s.authors }
        if reporters.isEmpty { reporters = meta.bylineReporters }
        if reporters.isEmpty { reporters = meta.trailingAuthors }
        if reporters.isEmpty, let a = structured?.metaAuthor {
            // A Latin-script author meta is one name or a publisher (`Example News Group`), not one name a word:
            // split it on list separators only.
            let names =
                a.unicodeScalars.allSatisfy(\.isASCII)
                ? a.split(whereSeparator: { ",;|/".contains($0) }).map { String($0).trimmingWhitespace() }.filter {
                    People.isBylineName(Text.scalars($0)) && !People.isRoleWord(Text.scalars($0))
                }
                : People.splitByline(Text.scalars(a))
            if names.count <= 4, !names.contains(where: { Self.looksLikeOrganisation($0) }) { reporters = names }
        }
        let editors = Self.unique(meta.editors)
        // When the editor is the only person the page credits, the editor is who stands behind the text. An author
        // meta naming only editors is the content system filling in the responsible editor: no other credit.
        let metaNamesOnlyEditors =
            !reporters.isEmpty && reporters.allSatisfy(editors.contains) && meta.labelledAuthors.isEmpty
            && structured?.authors.isEmpty != false && meta.bylineReporters.isEmpty && meta.trailingAuthors.isEmpty
        if reporters.isEmpty || metaNamesOnlyEditors { reporters = editors.filter { !Self.looksLikeOrganisation($0) } }
        reporters = Self.unique(reporters.filter { !Self.looksLikeOrganisation($0) })
        // An official document that credits no person is authored by the body that issued it.
        if reporters.isEmpty { reporters = Self.unique(meta.issuers) }
        // A personal site (a blog) that credits no one is written by its owner.
        if reporters.isEmpty, let siteOwner { reporters = [siteOwner] }
        let excluded = Set(reporters + editors)
        let participants = Self.unique(meta.participants).filter { !excluded.contains($0) }

        let source = meta.sources.first ?? structured?.publisher ?? meta.datelineSource
        let title = assembled.title ?? ""
        var language = Text.language(of: paragraphs, title: title)
        if language == nil, let hint = languageHint?.split(separator: "-").first { language = hint.lowercased() }
        let id = ArticleIdentity.id(canonicalURL: url, title: title, publishedAt: publishedAt, paragraphs: paragraphs)
        return Article(
            id: id, url: url, title: title, subtitles: assembled.subtitles, publishedAt: publishedAt, source: source,
            reporters: reporters, editors: editors, participants: participants, paragraphs: paragraphs,
            clicks: meta.clicks, language: language)
    }

    static func looksLikeOrganisation(_ name: String) -> Bool {
        for word: StaticString in ["网", "报", "社", "站", "台", "中心", "政府", "委员会", "办公室", ".com", ".cn", "www", "@"]
        where name.containsBytes(word) {
            return true
        }
        // A department (`医技药剂党支部`, `宣传科`): longer than a personal name and ending in a unit word.
        let scalars = Array(name.unicodeScalars)
        if scalars.count >= 4, scalars.allSatisfy(\.isHan),
            ["部", "局", "处", "院", "厅", "所", "会", "科", "组", "队", "馆", "校", "司", "团"].contains(
                String(scalars[scalars.count - 1]))
        {
            return true
        }
        return false
    }

    static func unique(_ names: [String]) -> [String] {
        var seen = Set<String>()
        return names.filter { !$0.isEmpty && seen.insert($0).inserted }
    }
}
