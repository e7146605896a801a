
/// Picks the element that holds the article body, in the spirit of text-density × punctuation-density
/// (Wu et al., the GNE method) with link density and boilerplate class/id words counted against a block.
///
/// Every text block gets a value: prose (punctuated, link-poor text) counts for its length, link lists,
/// boilerplate-marked blocks and copyright lines count against theirs. An element's value is the sum over the
/// blocks it contains, and the best element is the one with the highest value: it gathers the article's
/// paragraphs while excluding the navigation, sidebars and footers around them.
enum BodySelector {
    static func value(of block: HTMLPage.Block) -> Double {
        let l = block.line
        let v = Double(l.visible)
        guard v > 0 else { return 0 }
        if block.boilerplate { return -v }
        let link = Double(block.linkVisible)
        if link / v > 0.5 { return -v }
        let text = v - link
        let punct = Double(l.punctuation)
        if punct == 0 {
            return text >= 60 ? 0.3 * text : -0.5 * text
        }
        // Prose density: Chinese news runs about one punctuation mark per 10–20 characters.
        let density = min(1.0, 0.3 + 10 * punct / text)
        return text * density * (1 - link / v)
    }

    struct Selection {
        /// Index range of blocks inside the chosen element (contiguous in document order).
        var blockRange: Range<Int>
        var element: Int32
    }

    static func select(_ page: HTMLPage) -> Selection? {
        let elements = page.elements
        guard !elements.isEmpty, !page.blocks.isEmpty else { return nil }
        var totals = [Double](repeating: 0, count: elements.count)
        for b in page.blocks {
            let v = value(of: b)
            guard v != 0 else { continue }
            var e = b.owner
            while e >= 0 {
                totals[Int(e)] += v
                e = elements[Int(e)].parent
            }
        }
        var best: Int32 = -1
        var bestValue = 0.0
        for (i, t) in totals.enumerated() where t > 0 {
            if best < 0 || t > bestValue + 1e-6 {
                best = Int32(i)
                bestValue = t
            } else if t >= bestValue - 1e-6, Int32(i) < elements[Int(best)].subtreeEnd {
                best = Int32(i)  // an equally good descendant: prefer the tighter element
            }
        }
        guard best >= 0 else { return nil }
        let end = elements[Int(best)].subtreeEnd
        var lo = -1
        var hi = -1
        for (i, b) in page.blocks.enumerated() where b.owner >= best && b.owner < end {
            if lo < 0 { lo = i }
            hi = i + 1
        }
        guard lo >= 0 else { return nil }
        return Selection(blockRange: lo..<hi, element: best)
    }
}
