/// Picks the element that holds the article body, in the spirit of text-density × punctuation-density
/// (Wu et al., the GNE method) with link density and boilerplate class/id words counted against a block.
///
/// Every text block gets a value: prose (punctuated, link-poor text) counts for its length, link lists,
/// boilerplate-marked blocks and short unpunctuated chrome count against theirs. The body is the run of
/// consecutive blocks with the highest total: it gathers the article's paragraphs while excluding the
/// navigation, sidebars and footers around them.
enum BodySelector {
    static func value(of block: HTMLPage.Block, ignoringBoilerplate: Bool = false) -> Double {
        let v = Double(block.visible)
        guard v > 0 else { return 0 }
        if block.boilerplate && !ignoringBoilerplate { return -v }
        // A data table's short or linked cells are neutral: the table joins prose on both sides of it.
        if block.inDataTable { return max(0, proseValue(of: block)) }
        return proseValue(of: block)
    }

    private static func proseValue(of block: HTMLPage.Block) -> Double {
        let v = Double(block.visible)
        let link = Double(block.linkVisible)
        if link / v > 0.5 { return -v }
        let text = v - link
        let punct = Double(block.punctuation)
        if punct == 0 {
            return text >= 60 ? 0.3 * text : -0.5 * text
        }
        // Prose density: Chinese news runs about one punctuation mark per 10–20 characters.
        let density = min(1.0, 0.3 + 10 * punct / text)
        return text * density * (1 - link / v)
    }

    struct Selection {
        /// Index range of the chosen blocks (contiguous in document order).
        var blockRange: Range<Int>
        /// Boilerplate marks were ignored to find any prose at all.
        var ignoredBoilerplate: Bool
    }

    /// The best run of blocks; when class/id words mark every prose block as boilerplate (a page whose wrappers
    /// are misleadingly named), selection falls back to ignoring them rather than finding nothing.
    static func select(_ page: HTMLPage, descriptions: [String] = []) -> Selection? {
        let anchor = openingUnderHeadline(page, descriptions: descriptions)
        return select(page, ignoringBoilerplate: false, anchor: anchor)
            ?? select(page, ignoringBoilerplate: true, anchor: nil)
    }

    /// The article's opening block when two of the page's own hints agree on it: it is among the first prose
    /// blocks under the `<h1>`, and the page's description (meta or JSON-LD) starts with the same words. A short
    /// article then wins over a longer run elsewhere (a box of recommended abstracts, a feed), which text volume
    /// alone would pick. A site-wide description that matches a blurb in the footer is not under the headline.
    static func openingUnderHeadline(_ page: HTMLPage, descriptions: [String]) -> Int? {
        let prefixLength = 16
        let hints = descriptions.map { Array(Text.key(Text.scalars($0)).unicodeScalars.prefix(prefixLength)) }
            .filter { $0.count == prefixLength }
        guard !hints.isEmpty, let h1 = page.blocks.firstIndex(where: { $0.heading == 1 && !$0.boilerplate })
        else { return nil }
        var prose = 0
        for i in (h1 + 1)..<min(page.blocks.count, h1 + 12) {
            let b = page.blocks[i]
            guard !b.boilerplate, b.visible >= 20, b.punctuation >= 1, b.linkVisible * 2 < b.visible else { continue }
            let key = Array(Text.key(b.text).unicodeScalars.prefix(prefixLength))
            if hints.contains(key) { return i }
            prose += 1
            if prose >= 3 { break }
        }
        return nil
    }

    /// A block that is only a time stamp (`10:01`, `05-06 10:01`, `2024-05-06 10:01:33`): the lead of a live
    /// feed's item.
    static func isTimeStamp(_ b: HTMLPage.Block) -> Bool {
        guard b.visible >= 4, b.visible <= 19, b.linkVisible == 0 else { return false }
        var digits = 0
        var colon = false
        for c in b.text {
            if c.isASCIIDigit {
                digits += 1
            } else if c == ":" {
                colon = true
            } else if !(c == "-" || c == "/" || c == " " || c == "." || c.isSpaceLike) {
                return false
            }
        }
        return colon && digits >= 3
    }

    /// A feed of teasers after the article (linked headline, unlinked abstract, maybe an age line; repeated) passes
    /// the link-density test, since the abstracts are not links: the repetition of that small structure is the
    /// signal. From the first of three or more item leads (a headline link, or a live feed's time stamp) that each
    /// lead a short item up to the end of the run, the blocks are a feed, not the article; so is a short caption
    /// right above the feed (`7×24小时快讯`).
    static func withoutTrailingTeasers(_ page: HTMLPage, _ range: Range<Int>) -> Range<Int> {
        func isHeadlineLink(_ b: HTMLPage.Block) -> Bool {
            (b.visible >= 6 && b.linkVisible * 2 > b.visible) || isTimeStamp(b)
        }
        guard let firstProse = range.first(where: { !isHeadlineLink(page.blocks[$0]) && page.blocks[$0].punctuation > 0 })
        else { return range }
        var links: [Int] = []
        for i in (firstProse + 1)..<range.upperBound where isHeadlineLink(page.blocks[i]) { links.append(i) }
        guard links.count >= 3 else { return range }
        // Walk back from the end: the feed is the longest suffix of links whose items are all short.
        var feedStart: Int?
        var itemEnd = range.upperBound
        for link in links.reversed() {
            let item = (link + 1)..<itemEnd
            let short = item.count <= 3 && item.allSatisfy { page.blocks[$0].visible <= 160 }
            guard short else { break }
            feedStart = link
            itemEnd = link
        }
        guard var start = feedStart, links.filter({ $0 >= start }).count >= 3, start > firstProse else { return range }
        if isTimeStamp(page.blocks[start]), start - 1 > firstProse {
            let caption = page.blocks[start - 1]
            if caption.visible <= 16, caption.punctuation == 0 || caption.heading > 0 { start -= 1 }
        }
        return range.lowerBound..<start
    }

    /// The maximum-sum run of consecutive blocks in document order (Kadane's algorithm).
    ///
    /// Why a run and not a DOM element: on tag soup (unclosed `<p>`, tables nesting the whole page) the element
    /// that contains the article's paragraphs often contains the navigation too, while in document order the
    /// paragraphs are always adjacent, separated at most by a short subheading.
    private static func select(_ page: HTMLPage, ignoringBoilerplate: Bool, anchor: Int?) -> Selection? {
        var bestSum = 0.0
        var bestRange = 0..<0
        var sum = 0.0
        var start = 0
        for (i, b) in page.blocks.enumerated() {
            let v = value(of: b, ignoringBoilerplate: ignoringBoilerplate)
            if sum <= 0 {
                sum = v
                start = i
            } else {
                sum += v
            }
            if sum > bestSum {
                bestSum = sum
                bestRange = start..<(i + 1)
            }
        }
        guard bestSum > 0, !bestRange.isEmpty else { return nil }
        if let anchor, !bestRange.contains(anchor) {
            // The best run that starts at the hinted opening and stops short of the run it replaces.
            var sum = 0.0
            var anchoredSum = 0.0
            var anchoredEnd = anchor
            let limit = bestRange.lowerBound > anchor ? bestRange.lowerBound : page.blocks.count
            for i in anchor..<limit {
                sum += value(of: page.blocks[i], ignoringBoilerplate: ignoringBoilerplate)
                if sum > anchoredSum {
                    anchoredSum = sum
                    anchoredEnd = i + 1
                }
            }
            if anchoredSum > 0 { bestRange = anchor..<anchoredEnd }
        }
        bestRange = withoutTrailingTeasers(page, bestRange)
        // Data tables that end the article (with the short captions between them) are part of it.
        var tablesEnd = bestRange.upperBound
        var k = tablesEnd
        while k < page.blocks.count {
            let b = page.blocks[k]
            if b.inDataTable {
                k += 1
                tablesEnd = k
            } else if !b.boilerplate, b.linkVisible * 2 < b.visible, b.visible <= 30, b.punctuation <= 1, k - tablesEnd < 2 {
                k += 1
            } else {
                break
            }
        }
        if tablesEnd > bestRange.upperBound { bestRange = bestRange.lowerBound..<tablesEnd }
        // Short unpunctuated lines score below zero: a closing signature (issuing office, date), or the lines of a
        // poem, a name list or a code sample that ends the article. Keep them while they sit in the same container
        // as the last paragraph (a page's chrome lives in containers of its own).
        var end = bestRange.upperBound
        let lastOwner = page.blocks[end - 1].owner
        let container = lastOwner >= 0 ? page.elements[Int(lastOwner)].parent : -1
        while end < page.blocks.count, end - bestRange.upperBound < 40 {
            let b = page.blocks[end]
            let sameContainer =
                b.owner == lastOwner || (b.owner >= 0 && page.elements[Int(b.owner)].parent == container)
            guard sameContainer, !b.boilerplate, b.linkVisible == 0, b.visible <= 40 else { break }
            end += 1
        }
        return Selection(blockRange: bestRange.lowerBound..<end, ignoredBoilerplate: ignoringBoilerplate)
    }
}
