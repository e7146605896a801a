import NewswireModel

/// Metadata gathered while classifying lines; the extractor merges it with structured page metadata.
struct GatheredMetadata {
    /// Dates with the rank of where they were found (lower is better) and their order.
    var dates: [(rank: Int, match: DateMatch)] = []
    var sources: [String] = []
    var labelledAuthors: [String] = []
    var bylineReporters: [String] = []
    /// Authors credited after the body (`作者：…` below the story, `（记者 X）` at its end).
    var trailingAuthors: [String] = []
    var editors: [String] = []
    /// Issuing bodies of an official document (`发文机关`).
    var issuers: [String] = []
    var clicks: Int?
    var sawClicksLabel = false
    var participants: [String] = []
    var datelineSource: String?

    mutating func addDate(_ m: DateMatch, rank: Int) {
        // An event's date range is not when the article was published, unless a label says so.
        if m.startsRange && !m.labelled { return }
        dates.append((rank, m))
    }
}

/// The classified article: what the plain-text path produces and what the HTML path produces from the chosen
/// content block's lines.
struct AssembledArticle {
    var title: String?
    var subtitles: [String] = []
    var paragraphs: [String] = []
    var metadata = GatheredMetadata()
}
