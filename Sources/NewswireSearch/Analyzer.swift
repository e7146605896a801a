import Foundation
import NewswireModel

/// One indexing unit: a CJK character or a word, with its position.
///
/// Positions: consecutive units get consecutive positions unless something separates them. Any separator
/// between two units adds a gap of one position (so no phrase spans it), except plain spaces between two
/// words ("hong kong"), which keep words adjacent. CJK bigrams are the pairs of CJK units at consecutive
/// positions, so they exist only inside one unbroken CJK run.
struct AnalyzedUnit: Sendable, Hashable {
    /// The CJK scalar value, or 0 for a word.
    var cjk: UInt32
    /// The word (normalised, lowercased), or empty for a CJK unit.
    var word: String
    /// Position within the document (title first, body after a field gap).
    var position: Int32
    /// Range in the normalised text: `[start, end)`.
    var start: Int32
    var end: Int32

    var isCJK: Bool { cjk != 0 }
}

/// The one analyzer used for indexing, querying and highlighting.
enum Analyzer {
    /// Gap between the last title position and the first body position: larger than any gap a phrase can
    /// contain, so no phrase matches across the field boundary.
    static let fieldGap: Int32 = 16

    /// Appends the units of `text` to `out`, the first at `basePosition`; returns the last position used
    /// (or `basePosition - 1` when the text has no units).
    ///
    /// With `joiningSpacedCJK`, plain spaces between two CJK units keep them adjacent, as they do between two
    /// words. Only quoted query phrases use it: Chinese is written without spaces, so a space a user types
    /// between CJK characters of a phrase (`“疆电 入川”`) separates words in their head, not in the text.
    @discardableResult
    static func units(
        of text: NormalizedText, basePosition: Int32, into out: inout [AnalyzedUnit], joiningSpacedCJK: Bool = false
    ) -> Int32 {
        var position = basePosition - 1
        var hasPrevious = false
        var previousWasWord = false
        var separator: ScalarClass? = nil  // strongest separator seen since the previous unit
        let scalars = text.scalars
        let classes = text.classes
        let n = scalars.count
        var i = 0
        while i < n {
            switch classes[i] {
            case .space:
                if separator == nil { separator = .space }
                i += 1
            case .hardBreak:
                separator = .hardBreak
                i += 1
            case .cjk:
                if hasPrevious {
                    let adjacent =
                        separator == nil || (joiningSpacedCJK && separator == .space && !previousWasWord)
                    position += adjacent ? 1 : 2
                } else {
                    position += 1
                }
                out.append(
                    AnalyzedUnit(
                        cjk: scalars[i].value, word: "", position: position, start: Int32(i), end: Int32(i + 1)))
                hasPrevious = true
                previousWasWord = false
                separator = nil
                i += 1
            case .word:
                var j = i + 1
                while j < n, classes[j] == .word { j += 1 }
                if hasPrevious {
                    let adjacent = separator == nil || (separator == .space && previousWasWord)
                    position += adjacent ? 1 : 2
                } else {
                    position += 1
                }
                var view = String.UnicodeScalarView()
                view.append(contentsOf: scalars[i..<j])
                out.append(
                    AnalyzedUnit(cjk: 0, word: String(view), position: position, start: Int32(i), end: Int32(j)))
                hasPrevious = true
                previousWasWord = true
                separator = nil
                i = j
            }
        }
        return position
    }

    /// Units of a title and body analysed as one document; returns the units and the first body position.
    static func document(title: String, body: String) -> (units: [AnalyzedUnit], bodyBase: Int32) {
        var units: [AnalyzedUnit] = []
        let last = Analyzer.units(of: NormalizedText(title, keepOrigins: false), basePosition: 0, into: &units)
        let bodyBase = last + 1 + fieldGap
        Analyzer.units(of: NormalizedText(body, keepOrigins: false), basePosition: bodyBase, into: &units)
        return (units, bodyBase)
    }
}

/// An article's title and body as the index analysed them (its units, title first, and where the body starts):
/// what a segment build computes anyway, kept for a live-query matcher so that it need not analyse the same text
/// again (``StandingQueryMatcher/match(_:analyses:snippets:)``). It holds the text it was made from, and is used
/// only for an article with exactly that title and body.
public final class ArticleAnalysis: Sendable {
    let title: String
    let body: String
    let units: [AnalyzedUnit]
    let bodyBase: Int32

    init(title: String, body: String, units: [AnalyzedUnit], bodyBase: Int32) {
        self.title = title
        self.body = body
        self.units = units
        self.bodyBase = bodyBase
    }

    /// Whether this is the analysis of `article`'s text.
    func isAnalysis(of article: Article) -> Bool { isAnalysis(title: article.title, paragraphs: article.paragraphs) }

    /// Whether this is the analysis of `title` and of `paragraphs` as ``Article/body`` joins them. The body is
    /// compared paragraph by paragraph in place: joining them first copied every article's body once more for
    /// a live-query batch. Byte equality, stricter than `==` (canonical equivalence): an analysis it turns down
    /// is only made again.
    func isAnalysis(title: String, paragraphs: [String]) -> Bool {
        guard title == self.title else { return false }
        let inPlace = body.utf8.withContiguousStorageIfAvailable { whole -> Bool? in
            var offset = 0
            for (k, paragraph) in paragraphs.enumerated() {
                if k > 0 {
                    guard offset < whole.count, whole[offset] == 0x0A else { return false }
                    offset += 1
                }
                let same = paragraph.utf8.withContiguousStorageIfAvailable { part -> Bool in
                    offset + part.count <= whole.count
                        && (part.isEmpty || memcmp(whole.baseAddress! + offset, part.baseAddress!, part.count) == 0)
                }
                guard let same else { return nil }
                guard same else { return false }
                offset += paragraph.utf8.count
            }
            return offset == whole.count
        }
        if let inPlace = inPlace ?? nil { return inPlace }
        return paragraphs.joined(separator: "\n") == body  // a string without contiguous UTF-8 (bridged)
    }
}

/// A searchable term: one or more units at fixed relative positions (a word, a CJK run, or a quoted phrase).
struct TermPattern: Sendable, Hashable {
    struct Element: Sendable, Hashable {
        /// CJK scalar value or 0.
        var cjk: UInt32
        /// Word, or empty.
        var word: String
        /// Position relative to the first element.
        var offset: Int32
    }

    var elements: [Element]

    init(elements: [Element]) { self.elements = elements }

    /// Builds a pattern from analysed units (positions made relative to the first).
    init(units: ArraySlice<AnalyzedUnit>) {
        let base = units.first?.position ?? 0
        elements = units.map { Element(cjk: $0.cjk, word: $0.word, offset: $0.position - base) }
    }

    /// Span in positions (last offset + 1).
    var span: Int32 { (elements.last?.offset ?? -1) + 1 }

    /// Readable form for errors and debugging.
    var text: String {
        var result = ""
        var previous: Int32 = -1
        for element in elements {
            if previous >= 0 && element.offset > previous + 1 { result += " " }
            if previous >= 0 && element.cjk == 0 && element.offset == previous + 1, result.last?.isLetter == true {
                result += " "
            }
            if element.cjk != 0 {
                result.unicodeScalars.append(Unicode.Scalar(element.cjk)!)
            } else {
                result += element.word
            }
            previous = element.offset
        }
        return result
    }
}
