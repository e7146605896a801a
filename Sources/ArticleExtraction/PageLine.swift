import NewswireModel

/// One line of page text: a line of a plain-text scrape, or a block of an HTML page.
struct PageLine {
    /// The text as written, whitespace collapsed.
    var text: Scalars
    /// Width-folded twin of `text` (same length), for matching.
    var folded: Scalars
    /// Letters and digits only; equal keys mean the same line. Computed on demand: most blocks of a page
    /// (navigation, footers) never need it.
    var key: String { Text.key(text) }
    var visible: Int
    var punctuation: Int
    /// HTML heading level (1…6), 0 for other lines.
    var heading: Int = 0

    init(_ text: Scalars, heading: Int = 0) {
        self.text = text
        folded = Text.folded(text)
        visible = Text.visibleCount(text)
        punctuation = Text.punctuationCount(text)
        self.heading = heading
    }

    /// A line whose counts are already known (an HTML block counts while it collapses its spaces).
    init(_ text: Scalars, visible: Int, punctuation: Int, heading: Int) {
        self.text = text
        folded = Text.folded(text)
        self.visible = visible
        self.punctuation = punctuation
        self.heading = heading
    }

    var string: String { Text.string(text) }

    /// Whether the line carries a sentence end (。！？; …) anywhere.
    var hasSentenceEnd: Bool { folded.contains(where: \.isSentenceEnd) }
    var endsWithSentenceEnd: Bool { folded.last.map { $0.isSentenceEnd || $0 == "." } ?? false }
}
