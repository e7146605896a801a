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
enum SnippetBuilder {
    /// Most occurrences considered when picking the window (bounds work on huge bodies).
    static let maxOccurrences = 256

    static func snippet(body: String, patterns: [TermPattern], length: Int) -> (String, [HighlightRange]) {
        let bodyScalars = Array(body.unicodeScalars)
        // Clamped so window arithmetic cannot overflow whatever length a client asks for.
        let length = min(max(length, 1), max(bodyScalars.count, 1))
        var occurrences: [(range: Range<Int>, pattern: Int)] = []
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
        var windowStart = 0
        if !occurrences.isEmpty {
            // Slide a window (anchored a little before an occurrence) over the occurrences; the one showing the
            // most distinct patterns wins, the earliest on ties.
            var inWindow = [Int](repeating: 0, count: patterns.count)
            var distinct = 0
            var bestScore = -1
            var tail = 0
            for (head, occurrence) in occurrences.enumerated() {
                let start = max(0, occurrence.range.lowerBound - length / 5)
                let end = start + length
                while tail < occurrences.count, occurrences[tail].range.upperBound <= end {
                    if inWindow[occurrences[tail].pattern] == 0 { distinct += 1 }
                    inWindow[occurrences[tail].pattern] += 1
                    tail += 1
                }
                if distinct > bestScore {
                    bestScore = distinct
                    windowStart = start
                }
                // The next window starts at a later occurrence: drop this one.
                if head < tail {
                    inWindow[occurrence.pattern] -= 1
                    if inWindow[occurrence.pattern] == 0 { distinct -= 1 }
                }
            }
        }
        // Keep the window inside the body, sliding back when near the end.
        windowStart = max(0, min(windowStart, bodyScalars.count - length))
        let windowEnd = min(bodyScalars.count, windowStart + length)
        var view = String.UnicodeScalarView()
        for s in bodyScalars[windowStart..<windowEnd] {
            // Line breaks become spaces (one scalar for one, so offsets stay valid).
            view.append(s == "\n" || s == "\r" ? " " : s)
        }
        var ranges = occurrences.map(\.range).filter { $0.lowerBound >= windowStart && $0.upperBound <= windowEnd }
        ranges.sort { $0.lowerBound < $1.lowerBound }
        var highlights: [HighlightRange] = []
        for range in ranges {
            let start = range.lowerBound - windowStart
            let end = range.upperBound - windowStart
            if let last = highlights.last, start <= last.end {
                highlights[highlights.count - 1].end = max(last.end, end)
            } else {
                highlights.append(HighlightRange(start: start, end: end))
            }
        }
        return (String(view), highlights)
    }
}

/// Facet counting over a whole result set.
struct FacetCounter {
    private var counts: [FacetField: [String: Int]] = [:]
    let fields: [FacetField]

    init(fields: [FacetField]) {
        self.fields = Array(Set(fields)).sorted()
        for field in self.fields { counts[field] = [:] }
    }

    var isEmpty: Bool { fields.isEmpty }

    mutating func add(source: String?, publishedAt: PublishedTime?, persons: [String]) {
        for field in fields {
            switch field {
            case .source:
                if let source { counts[field]![source, default: 0] += 1 }
            case .month:
                if let publishedAt { counts[field]![publishedAt.yearMonth, default: 0] += 1 }
            case .person:
                for person in persons { counts[field]![person, default: 0] += 1 }
            }
        }
    }

    /// Facets with at most `limit` values each, most frequent first (ties by value).
    func facets(limit: Int) -> [Facet] {
        fields.map { field in
            let sorted = counts[field]!.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            return Facet(
                field: field, counts: sorted.prefix(max(0, limit)).map { FacetCount(value: $0.key, count: $0.value) })
        }
    }
}

/// Deduplicated participants then reporters, as given (the `person` facet and filter).
func personNames(of article: Article) -> [String] {
    var seen = Set<String>()
    var result: [String] = []
    for name in article.participants + article.reporters where !name.isEmpty && seen.insert(name).inserted {
        result.append(name)
    }
    return result
}

/// Total order for result lists: the requested sort, then newer first, then id.
@inline(__always)
func precedes(
    _ a: (score: Double, time: Int64?, id: ArticleID), _ b: (score: Double, time: Int64?, id: ArticleID),
    sort: SearchSort
) -> Bool {
    switch sort {
    case .relevance:
        if a.score != b.score { return a.score > b.score }
        if a.time != b.time { return (a.time ?? .min) > (b.time ?? .min) }
    case .newest:
        if a.time != b.time { return (a.time ?? .min) > (b.time ?? .min) }
    case .oldest:
        if a.time != b.time { return (a.time ?? .max) < (b.time ?? .max) }
    }
    return a.id < b.id
}
