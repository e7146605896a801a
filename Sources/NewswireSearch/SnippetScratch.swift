/// Buffers reused across the hits of one search (no allocation per hit once warm).
struct SnippetScratch {
    /// An analysed unit: CJK scalar or 0 for a word, its position, and its normalised range `[start, end)`.
    struct Unit {
        var cjk: UInt32
        var position: Int32
        var start: Int32
        var end: Int32
    }

    private var normalized: [UInt32] = []
    private var classes: [UInt8] = []
    /// Source offset of each normalised scalar.
    private var origins: [Int32] = []
    private var units: [Unit] = []

    init() {}

    /// The occurrences of `patterns` in `body` as the reference path finds them, or nil when the body holds
    /// text only Foundation normalises (a combining mark, or a surrogate pair).
    mutating func occurrences(
        in body: UnsafeBufferPointer<UInt16>, patterns: SnippetPatterns
    ) -> [SnippetBuilder.Occurrence]? {
        guard !patterns.patterns.isEmpty else { return [] }
        guard normalize(body) else { return nil }
        analyse()
        return match(patterns, sourceCount: body.count)
    }

    /// The normaliser's fast path for every scalar, or false when one needs its slow path. Works on local
    /// arrays (moved out of `self` and back): appending through `self` inside the table closure paid an
    /// exclusivity check per scalar.
    private mutating func normalize(_ body: UnsafeBufferPointer<UInt16>) -> Bool {
        var normalized = self.normalized
        var classes = self.classes
        var origins = self.origins
        self.normalized = []
        self.classes = []
        self.origins = []
        normalized.removeAll(keepingCapacity: true)
        classes.removeAll(keepingCapacity: true)
        origins.removeAll(keepingCapacity: true)
        normalized.reserveCapacity(body.count)
        classes.reserveCapacity(body.count)
        origins.reserveCapacity(body.count)
        let complete = Normalizer.withBMPTable { table in
            let exceptions = Normalizer.oneToOneExceptionMask
            for i in body.indices {
                let u = body[i]
                if u & 0xF800 == 0xD800 { return false }  // a surrogate: astral text
                let entry = table[Int(u)]
                if entry & exceptions != 0 {
                    guard let expansion = Normalizer.expansion(of: entry), !expansion.isEmpty else { return false }
                    for s in expansion {
                        normalized.append(s.value)
                        classes.append(Normalizer.classify(s).rawValue)
                        origins.append(Int32(i))
                    }
                } else {
                    normalized.append(entry & 0x1F_FFFF)
                    classes.append(UInt8((entry >> 28) & 3))
                    origins.append(Int32(i))
                }
            }
            return true
        }
        self.normalized = normalized
        self.classes = classes
        self.origins = origins
        return complete
    }

    /// ``Analyzer/units(of:basePosition:into:)`` over the normalised buffers, without a string per word.
    private mutating func analyse() {
        var units = self.units
        self.units = []
        units.removeAll(keepingCapacity: true)
        var position: Int32 = -1
        var hasPrevious = false
        var previousWasWord = false
        let none = ScalarClass.cjk.rawValue
        var separator = none  // else the strongest separator since the previous unit
        normalized.withUnsafeBufferPointer { normalized in
            classes.withUnsafeBufferPointer { classes in
                let n = normalized.count
                var i = 0
                while i < n {
                    switch classes[i] {
                    case ScalarClass.space.rawValue:
                        if separator == none { separator = ScalarClass.space.rawValue }
                        i += 1
                    case ScalarClass.hardBreak.rawValue:
                        separator = ScalarClass.hardBreak.rawValue
                        i += 1
                    case ScalarClass.cjk.rawValue:
                        position += hasPrevious && separator != none ? 2 : 1
                        units.append(Unit(cjk: normalized[i], position: position, start: Int32(i), end: Int32(i + 1)))
                        hasPrevious = true
                        previousWasWord = false
                        separator = none
                        i += 1
                    default:
                        var j = i + 1
                        while j < n, classes[j] == ScalarClass.word.rawValue { j += 1 }
                        if hasPrevious {
                            let adjacent =
                                separator == none || (separator == ScalarClass.space.rawValue && previousWasWord)
                            position += adjacent ? 1 : 2
                        } else {
                            position += 1
                        }
                        units.append(Unit(cjk: 0, position: position, start: Int32(i), end: Int32(j)))
                        hasPrevious = true
                        previousWasWord = true
                        separator = none
                        i = j
                    }
                }
            }
        }
        self.units = units
    }

    @inline(__always)
    private func unit(_ k: Int, matches element: TermPattern.Element, word: [UInt32]) -> Bool {
        let unit = units[k]
        guard unit.cjk == element.cjk else { return false }
        if unit.cjk != 0 { return true }
        guard Int(unit.end - unit.start) == word.count else { return false }
        var i = Int(unit.start)
        for w in word {
            if normalized[i] != w { return false }
            i += 1
        }
        return true
    }

    /// ``TermPattern/matchEnd(in:at:)`` over these units.
    private func matchEnd(_ p: Int, _ patterns: SnippetPatterns, at index: Int) -> Int? {
        let elements = patterns.patterns[p].elements
        let words = patterns.words[p]
        let base = units[index].position
        var k = index
        for (e, element) in elements.enumerated() {
            let target = base + element.offset
            while k < units.count, units[k].position < target { k += 1 }
            guard k < units.count, units[k].position == target, unit(k, matches: element, word: words[e]) else {
                return nil
            }
        }
        return k
    }

    private func match(_ patterns: SnippetPatterns, sourceCount: Int) -> [SnippetBuilder.Occurrence] {
        var occurrences: [SnippetBuilder.Occurrence] = []
        outer: for i in units.indices {
            for p in patterns.patterns.indices {
                guard let first = patterns.patterns[p].elements.first,
                    unit(i, matches: first, word: patterns.words[p][0]), let end = matchEnd(p, patterns, at: i)
                else { continue }
                // As NormalizedText.sourceRange: from the first unit's source offset to the next normalised
                // scalar's (or the end of the body).
                let from = Int(units[i].start)
                let to = Int(units[end].end)
                let start = Int(origins[from])
                let stop = to < origins.count ? Int(origins[to]) : sourceCount
                occurrences.append((start..<max(stop, start + 1), p))
                if occurrences.count >= SnippetBuilder.maxOccurrences { break outer }
            }
        }
        return occurrences
    }
}
