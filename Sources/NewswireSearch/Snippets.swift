import NewswireModel

extension TermPattern {
    /// Index of the last unit of a match starting at `units[index]`, or nil when the pattern does not match there.
    func matchEnd(in units: [AnalyzedUnit], at index: Int) -> Int? {
        let base = units[index].position
        var k = index
        for element in elements {
            let target = base + element.offset
            while k < units.count, units[k].position < target { k += 1 }
            guard k < units.count, units[k].position == target, units[k].cjk == element.cjk,
                units[k].word == element.word
            else { return nil }
        }
        return k
    }

    /// Number of matches in `units` whose first unit lies in `positions`.
    func count(in units: [AnalyzedUnit], positions: Range<Int32>) -> Int {
        guard let first = elements.first else { return 0 }
        var total = 0
        for i in units.indices where positions.contains(units[i].position) {
            guard units[i].cjk == first.cjk, units[i].word == first.word else { continue }
            if let end = matchEnd(in: units, at: i), positions.contains(units[end].position) { total += 1 }
        }
        return total
    }
}

/// Builds the body snippet around the best match, with highlight ranges in Unicode scalar offsets into the
/// snippet (half-open) that land exactly on the matched text.
///
/// Two ways to find the matches, one way to place the window: ``snippet(body:patterns:length:)`` analyses the
/// body with the indexing analyzer (the reference, used by the test oracle); ``snippet(utf16:patterns:scratch:length:)``
/// reads the index's stored UTF-16 text in place, normalising through the same table into reusable buffers with no
/// per-word strings, and falls back to the reference only for text the table cannot normalise one scalar at a time
/// (combining marks, astral characters).
enum SnippetBuilder {
    /// Most occurrences considered when picking the window (bounds work on huge bodies).
    static let maxOccurrences = 256
    /// The shortest body prefix the stored-text path reads first (in UTF-16 code units).
    static let initialPrefix = 64
    /// Code units looked through for a possible start before asking the index whether the body holds any pattern
    /// at all (a look-up per pattern costs about as much as a hundred code units).
    static let scanBeforeAsking = 128

    typealias Occurrence = (range: Range<Int>, pattern: Int)

    // MARK: Reference path

    static func snippet(body: String, patterns: [TermPattern], length: Int) -> (String, [HighlightRange]) {
        let bodyScalars = Array(body.unicodeScalars)
        var occurrences: [Occurrence] = []
        if !patterns.isEmpty {
            let normalized = NormalizedText(scalars: bodyScalars, keepOrigins: true)
            var units: [AnalyzedUnit] = []
            Analyzer.units(of: normalized, basePosition: 0, into: &units)
            // Occurrences as source scalar ranges, tagged with the pattern index, in text order.
            outer: for i in units.indices {
                for (p, pattern) in patterns.enumerated() {
                    guard let first = pattern.elements.first, units[i].cjk == first.cjk, units[i].word == first.word,
                        let end = pattern.matchEnd(in: units, at: i)
                    else { continue }
                    let range = normalized.sourceRange(from: Int(units[i].start), to: Int(units[end].end))
                    occurrences.append((range, p))
                    if occurrences.count >= maxOccurrences { break outer }
                }
            }
        }
        let (window, _, _) = place(
            ScalarText(scalars: bodyScalars), occurrences: occurrences, patternCount: patterns.count, length: length)
        let highlights = highlights(occurrences, in: window)
        var view = String.UnicodeScalarView()
        for s in bodyScalars[window] {
            // Line breaks become spaces (one scalar for one, so offsets stay valid).
            view.append(s == "\n" || s == "\r" ? " " : s)
        }
        return (String(view), highlights)
    }

    // MARK: Stored-text path

    /// The snippet of a body stored as UTF-16 (the index's stored text); same result as the reference path.
    ///
    /// Reads only as much of the body as it must: a prefix first (one and a half snippet lengths), doubling
    /// (each step extends the previous analysis) until the prefix holds a window that shows every pattern and ends
    /// before the prefix does. No later window can
    /// beat that one (it already shows the most patterns possible, and ties go to the earliest), and every
    /// occurrence it highlights ends inside the prefix, where the analysis is the whole body's (only a unit
    /// touching the cut may differ, and occurrences ending there are set aside).
    ///
    /// `sameBody` says that the previous call with `scratch` was for this same body: its analysis is reused.
    ///
    /// `mostDistinctPatterns(span)` is what the index knows: at most how many distinct patterns have occurrences in
    /// this body whose first units lie within `span` positions of each other (``Segment/mostDistinctPatterns(in:terms:span:)``
    /// reads it from the postings' stored positions). A window showing that many already is the best there is,
    /// so a multi-term hit whose terms never meet within one window is not read to its end to prove it. Only
    /// asked for when a prefix does not settle the window on its own, at most once per body.
    ///
    /// `bodyMayHoldPatterns()` is also the index's: false when no pattern can occur in this body (the postings hold
    /// none of their terms in it: a hit matched in its title only). Asked once the first code units hold no
    /// possible start, instead of looking through the rest of the body for one.
    static func snippet(
        utf16 body: UnsafeBufferPointer<UInt16>, patterns: SnippetPatterns, scratch: inout SnippetScratch, length: Int,
        sameBody: Bool = false, mostDistinctPatterns: (_ span: Int) -> Int = { _ in .max },
        bodyMayHoldPatterns: () -> Bool = { true }
    ) -> (String, [HighlightRange]) {
        let patternCount = patterns.patterns.count
        let clampedLength = min(max(length, 1), max(body.count, 1))
        // Nothing before `start` can begin a match: the analysis starts there, and the prefix counts from there.
        // A window starts at or before its anchor, so a prefix one length past an occurrence settles it; `start`
        // is usually the first occurrence itself (it spells the pattern's leading CJK run), and an eighth more
        // covers one a few characters on.
        let scanned = min(body.count, scanBeforeAsking)
        var start = SnippetScratch.firstPossibleStart(in: body, patterns: patterns, to: scanned)
        if start == scanned && start < body.count {
            // Without any pattern in the body, the snippet is the body's first `length` scalars, as the analysis
            // would find (and one code unit per scalar up to there: no surrogate before the window's end).
            let head = UnsafeBufferPointer(rebasing: body[..<min(body.count, clampedLength)])
            if !bodyMayHoldPatterns() && !head.contains(where: { $0 & 0xF800 == 0xD800 }) {
                start = body.count
            } else {
                start = SnippetScratch.firstPossibleStart(in: body, patterns: patterns, from: scanned)
            }
        }
        var limit = min(body.count, start + max(clampedLength + clampedLength / 8 + 1, initialPrefix))
        var resuming = sameBody
        var window: Range<Int>
        var bound: Int? = nil
        while true {
            guard scratch.findOccurrences(in: body, limit: limit, resuming: resuming, from: start, patterns: patterns)
            else {
                return snippet(body: UTF16Text.string(body), patterns: patterns.patterns, length: length)
            }
            resuming = true
            let complete = limit == body.count
            // Where the first occurrence set aside (reaching the cut) starts.
            var firstSetAside = Int.max
            if !complete {
                scratch.found.removeAll { occurrence in
                    guard occurrence.range.upperBound >= limit else { return false }
                    firstSetAside = min(firstSetAside, occurrence.range.lowerBound)
                    return true
                }
            }
            let distinct: Int
            let anchor: Int
            (window, distinct, anchor) = place(
                UTF16BMPText(units: body), occurrences: scratch.found, patternCount: patternCount, length: length)
            if complete { break }
            // Every window anchored at or before `anchor` (the window itself starts at or before it) ends before the
            // cut and before any occurrence set aside starts, so it holds and counts the occurrences it would in the
            // whole body (one set aside inside it would stop its count there), and scores as it would there. A
            // later window wins only by showing more patterns.
            guard anchor + clampedLength < limit && firstSetAside >= anchor + clampedLength else {
                limit = min(body.count, start + (limit - start) * 2)
                continue
            }
            if distinct == patternCount { break }
            // Or when the index shows no window can show more. In a body that normalises one code unit to one
            // scalar, a window's occurrences start within 2 × length positions of each other (each unit takes a
            // scalar and moves the position by at most two).
            if bound == nil {
                bound = SnippetScratch.normalisesOneToOne(body) ? mostDistinctPatterns(2 * clampedLength) : .max
            }
            if let bound, bound <= distinct { break }
            // The analysis so far is kept and extended, so doubling costs no re-reading.
            limit = min(body.count, start + (limit - start) * 2)
        }
        return (
            UTF16Text.string(UnsafeBufferPointer(rebasing: body[window]), lineBreaksAsSpaces: true),
            highlights(scratch.found, in: window)
        )
    }

    // MARK: Window

    /// Picks the window (source scalar offsets).
    ///
    /// The window shows the most distinct patterns (the earliest such place on ties) and starts a little before
    /// its first match, at a clause or sentence boundary when one is near, and never inside a Latin word.
    /// Also returns how many distinct patterns the window shows, and the start of the occurrence it is anchored
    /// at (0 without occurrences).
    static func place<Text: SnippetText>(
        _ text: Text, occurrences: [Occurrence], patternCount: Int, length requested: Int
    ) -> (Range<Int>, Int, Int) {
        let count = text.count
        // Clamped so window arithmetic cannot overflow whatever length a client asks for.
        let length = min(max(requested, 1), max(count, 1))
        var anchor = 0
        var requiredEnd = 0
        var bestScore = 0
        if !occurrences.isEmpty {
            // Slide a window (anchored a little before an occurrence) over the occurrences; the one showing the
            // most distinct patterns wins, the earliest on ties.
            withUnsafeTemporaryAllocation(of: Int.self, capacity: max(patternCount, 1)) { inWindow in
                inWindow.initialize(repeating: 0)
                var distinct = 0
                bestScore = -1
                var tail = 0
                for (head, occurrence) in occurrences.enumerated() {
                    let start = max(0, occurrence.range.lowerBound - length / 5)
                    let end = start + length
                    // Occurrences before the head that no window counted (one too long for its own window stops
                    // the tail) are behind this window: counting them later credited a window with a term it
                    // does not show.
                    if tail < head { tail = head }
                    while tail < occurrences.count, occurrences[tail].range.upperBound <= end {
                        if inWindow[occurrences[tail].pattern] == 0 { distinct += 1 }
                        inWindow[occurrences[tail].pattern] += 1
                        tail += 1
                    }
                    if distinct > bestScore {
                        bestScore = distinct
                        anchor = occurrence.range.lowerBound
                        requiredEnd = occurrence.range.upperBound
                        if head < tail {
                            for k in head..<tail { requiredEnd = max(requiredEnd, occurrences[k].range.upperBound) }
                        }
                    }
                    // The next window starts at a later occurrence: drop this one.
                    if head < tail {
                        inWindow[occurrence.pattern] -= 1
                        if inWindow[occurrence.pattern] == 0 { distinct -= 1 }
                    }
                }
            }
        }
        // A little context before the first match, kept inside the body (sliding back when near the end).
        let proposed = max(0, min(anchor - length / 5, count - length))
        let lowest = max(0, min(proposed, anchor - length / 3), requiredEnd - length)
        let windowStart = clauseStart(text, anchor: anchor, proposed: proposed, lowest: min(lowest, proposed))
        let windowEnd = min(count, windowStart + length)
        return (windowStart..<windowEnd, bestScore, anchor)
    }

    /// The occurrences inside `window`, relative to its start, overlapping ones merged. Occurrences come in text
    /// order (by start), so one pass merges them.
    static func highlights(_ occurrences: [Occurrence], in window: Range<Int>) -> [HighlightRange] {
        var highlights: [HighlightRange] = []
        Self.highlights(occurrences, in: window, into: &highlights)
        return highlights
    }

    /// The same into `highlights` (emptied first, its storage kept).
    static func highlights(_ occurrences: [Occurrence], in window: Range<Int>, into highlights: inout [HighlightRange]) {
        highlights.removeAll(keepingCapacity: true)
        for (range, _) in occurrences where range.lowerBound >= window.lowerBound && range.upperBound <= window.upperBound {
            let start = range.lowerBound - window.lowerBound
            let end = range.upperBound - window.lowerBound
            if let last = highlights.last, start <= last.end {
                highlights[highlights.count - 1].end = max(last.end, end)
            } else {
                highlights.append(HighlightRange(start: start, end: end))
            }
        }
    }

    /// Where the window starts: just after the clause or sentence boundary in `[lowest, anchor]` nearest to
    /// `proposed` (the start of the body counts as one); without one, `proposed` moved off any Latin word it
    /// would cut.
    static func clauseStart<Text: SnippetText>(_ text: Text, anchor: Int, proposed: Int, lowest: Int) -> Int {
        if proposed == 0 { return 0 }
        var best = -1
        var i = min(anchor, text.count)
        while i >= lowest {
            if i == 0 || isClauseEnd(text, before: i) {
                if best < 0 || abs(i - proposed) < abs(best - proposed) { best = i }
                if i <= proposed { break }  // further back only moves away from `proposed`
            }
            i -= 1
        }
        if best >= 0 {
            var s = best
            while s < anchor, isLeadingFiller(text.scalar(at: s)) { s += 1 }
            return s
        }
        var s = proposed
        guard splitsWord(text, at: s) else { return s }
        var back = s
        while back > lowest, splitsWord(text, at: back) { back -= 1 }
        if !splitsWord(text, at: back) { return back }
        while s < anchor, splitsWord(text, at: s) { s += 1 }
        while s < anchor, isLeadingFiller(text.scalar(at: s)) { s += 1 }
        return s
    }

    /// Whether a window starting at offset `i` would cut a Latin word or a number such as `3.5` or `1,000`.
    static func splitsWord<Text: SnippetText>(_ text: Text, at i: Int) -> Bool {
        guard i > 0, i < text.count else { return false }
        let before = text.scalar(at: i - 1)
        let after = text.scalar(at: i)
        if isLatinWord(before) && isLatinWord(after) { return true }
        func isDigit(_ v: UInt32) -> Bool { (0x30...0x39).contains(v) }
        func isNumberPunctuation(_ v: UInt32) -> Bool { v == 0x2E || v == 0x2C || v == 0x3A }
        if isNumberPunctuation(after), isDigit(before), i + 1 < text.count, isDigit(text.scalar(at: i + 1)) {
            return true
        }
        return isNumberPunctuation(before) && isDigit(after) && i >= 2 && isDigit(text.scalar(at: i - 2))
    }

    /// Whether the scalar before offset `i` ends a sentence or clause. ASCII punctuation counts only before a
    /// space or a line break (so `3.5`, `10:30` and `1,000` do not).
    static func isClauseEnd<Text: SnippetText>(_ text: Text, before i: Int) -> Bool {
        let v = text.scalar(at: i - 1)
        switch v {
        case 0x0A, 0x0D,  // line break (paragraphs)
            0x3002, 0xFF61, 0xFF01, 0xFF1F, 0xFF1B, 0xFF0C, 0x3001, 0xFF1A, 0x2026:  // 。｡！？；，、：…
            return true
        case 0x2E, 0x21, 0x3F, 0x3B, 0x2C, 0x3A:  // . ! ? ; , :
            guard i < text.count else { return true }
            let next = text.scalar(at: i)
            return next == 0x20 || next == 0x0A || next == 0x0D || next == 0x09 || next == 0x3000
        default:
            return false
        }
    }

    /// Spaces and closing quotes or brackets that follow a boundary: a snippet does not start with them.
    static func isLeadingFiller(_ v: UInt32) -> Bool {
        switch v {
        case 0x20, 0x09, 0x0A, 0x0D, 0x3000, 0x201D, 0x2019, 0x300D, 0x300F, 0xFF09, 0x29, 0x3011, 0x300B, 0x22,
            0x27:
            return true
        default:
            return false
        }
    }

    /// Letters and digits of alphabetic scripts (a snippet should not cut such a word in two).
    static func isLatinWord(_ v: UInt32) -> Bool {
        switch v {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0xC0...0x24F, 0x370...0x52F, 0xFF10...0xFF19, 0xFF21...0xFF3A,
            0xFF41...0xFF5A:
            return v != 0xD7 && v != 0xF7
        default:
            return false
        }
    }
}

/// Random access to a body's source scalars, whatever its storage.
protocol SnippetText {
    var count: Int { get }
    func scalar(at offset: Int) -> UInt32
}

/// Decoded scalars (the reference path).
struct ScalarText: SnippetText {
    let scalars: [Unicode.Scalar]
    var count: Int { scalars.count }
    @inline(__always) func scalar(at offset: Int) -> UInt32 { scalars[offset].value }
}

/// Stored UTF-16 without surrogates: one code unit per scalar.
struct UTF16BMPText: SnippetText {
    let units: UnsafeBufferPointer<UInt16>
    var count: Int { units.count }
    @inline(__always) func scalar(at offset: Int) -> UInt32 { UInt32(units[offset]) }
}

/// A search's snippet patterns, prepared once per search: word elements as normalised scalar values. A class:
/// every pending snippet of a standing query holds its patterns, and as a struct each one retained four arrays.
final class SnippetPatterns: Sendable {
    let patterns: [TermPattern]
    /// `words[p][e]`: the scalars of pattern `p`'s element `e` when it is a word, else empty.
    let words: [[[UInt32]]]
    /// `firstCJK[p]`: pattern `p`'s first element's CJK scalar, 0 when it is a word, `UInt32.max` when the pattern
    /// is empty: a unit whose `cjk` differs cannot start a match of `p` (one compare rejects most units).
    let firstCJK: [UInt32]
    /// `leadingCJK[p]`: the CJK scalars of pattern `p`'s first elements while they are CJK at consecutive offsets
    /// (`经济` of `经济 发展`, `人民` of `人民 apec`), which a match spells as consecutive normalised scalars.
    let leadingCJK: [[UInt32]]

    init(_ patterns: [TermPattern]) {
        self.patterns = patterns
        words = patterns.map { pattern in pattern.elements.map { $0.word.unicodeScalars.map(\.value) } }
        firstCJK = patterns.map { $0.elements.first?.cjk ?? .max }
        leadingCJK = patterns.map { pattern in
            var run: [UInt32] = []
            for (e, element) in pattern.elements.enumerated() {
                guard element.cjk != 0, element.offset == Int32(e) else { break }
                run.append(element.cjk)
            }
            return run
        }
    }
}
