/// Buffers reused across the hits of one search (no allocation per hit once warm).
///
/// Normalisation and analysis run in one pass writing through raw pointers into buffers that only grow: an
/// append per scalar (with its capacity and uniqueness checks) cost about a tenth of a search's server CPU.
struct SnippetScratch {
    /// An analysed unit: CJK scalar or 0 for a word, its position, and its normalised range `[start, end)`.
    struct Unit {
        var cjk: UInt32
        var position: Int32
        var start: Int32
        var end: Int32
    }

    /// The raw buffers; one per search, never shared between threads.
    private final class Storage {
        /// Normalised scalars, and the source offset of each.
        var normalized: UnsafeMutablePointer<UInt32>
        var origins: UnsafeMutablePointer<Int32>
        var normalizedCapacity = 0
        var normalizedCount = 0
        var units: UnsafeMutablePointer<Unit>
        var unitCapacity = 0
        var unitCount = 0
        /// Where the last analysis stopped (source offset), and its state before the word open at the cut was
        /// closed: a longer prefix of the same body resumes from there.
        var analysedCount = 0
        /// Where the last analysis started (source offset): a later call may reuse it only from that point on.
        var analysisStart = 0
        var analysis = Analysis()
        var unitsBeforeCut = 0

        init() {
            normalized = .allocate(capacity: 0)
            origins = .allocate(capacity: 0)
            units = .allocate(capacity: 0)
        }

        deinit {
            normalized.deallocate()
            origins.deallocate()
            units.deallocate()
        }

        /// Room for at least `count` normalised scalars (keeping the first `normalizedCount`).
        func reserveNormalized(_ count: Int) {
            guard count > normalizedCapacity else { return }
            let capacity = max(count, normalizedCapacity * 2, 256)
            let newNormalized = UnsafeMutablePointer<UInt32>.allocate(capacity: capacity)
            let newOrigins = UnsafeMutablePointer<Int32>.allocate(capacity: capacity)
            newNormalized.update(from: normalized, count: normalizedCount)
            newOrigins.update(from: origins, count: normalizedCount)
            normalized.deallocate()
            origins.deallocate()
            normalized = newNormalized
            origins = newOrigins
            normalizedCapacity = capacity
        }

        /// Room for at least `count` units (keeping the first `unitCount`).
        func reserveUnits(_ count: Int) {
            guard count > unitCapacity else { return }
            let capacity = max(count, unitCapacity * 2, 256)
            let newUnits = UnsafeMutablePointer<Unit>.allocate(capacity: capacity)
            newUnits.moveInitialize(from: units, count: unitCount)
            units.deallocate()
            units = newUnits
            unitCapacity = capacity
        }
    }

    private let storage = Storage()
    /// What ``findOccurrences(in:limit:resuming:patterns:)`` found; its storage is reused from hit to hit.
    var found: [SnippetBuilder.Occurrence] = []

    init() {}

    /// Sets ``found`` to the occurrences of `patterns` in the first `limit` code units of `body` as the reference
    /// path finds them in that prefix; false when the prefix holds text only Foundation normalises (a combining
    /// mark, or a surrogate pair). With `resuming`, the previous call's analysis of a shorter prefix of the same
    /// body is extended rather than redone (the analysis of a prefix is the analysis of any shorter prefix plus
    /// what follows, but for the word open at the shorter cut, which is re-opened), and that of a longer prefix is
    /// used as it is (with other patterns: only units starting inside the prefix are matched, and an occurrence
    /// reaching the cut is set aside by the caller either way). An analysis that started later than `start` (for
    /// other patterns) is not reused.
    ///
    /// A fresh analysis starts at `start`, which must be at or before the first code unit that could begin an
    /// occurrence (``firstPossibleStart(in:patterns:)``).
    mutating func findOccurrences(
        in body: UnsafeBufferPointer<UInt16>, limit: Int, resuming: Bool, from start: Int = 0, patterns: SnippetPatterns
    ) -> Bool {
        found.removeAll(keepingCapacity: true)
        guard !patterns.patterns.isEmpty else {
            storage.analysedCount = Int.max  // nothing analysed: nothing to resume
            return true
        }
        guard normalizeAndAnalyse(body, limit: limit, resuming: resuming, from: start) else { return false }
        var occurrences = found  // moved out and back, so its storage stays uniquely referenced
        found = []
        match(patterns, sourceCount: limit, from: start, into: &occurrences)
        found = occurrences
        return true
    }

    /// ``Analyzer/units(of:basePosition:into:)`` as state fed one normalised scalar at a time.
    fileprivate struct Analysis {
        var position: Int32 = -1
        var hasPrevious = false
        var previousWasWord = false
        /// `ScalarClass.cjk.rawValue` for none, else the strongest separator since the previous unit.
        var separator = ScalarClass.cjk.rawValue
        /// Normalised offset where the open word started, or -1.
        var wordStart = -1
        var unitCount = 0

        @inline(__always)
        mutating func closeWord(at end: Int, into units: UnsafeMutablePointer<Unit>) {
            if hasPrevious {
                let adjacent =
                    separator == ScalarClass.cjk.rawValue
                    || (separator == ScalarClass.space.rawValue && previousWasWord)
                position += adjacent ? 1 : 2
            } else {
                position += 1
            }
            units[unitCount] = Unit(cjk: 0, position: position, start: Int32(wordStart), end: Int32(end))
            unitCount += 1
            hasPrevious = true
            previousWasWord = true
            separator = ScalarClass.cjk.rawValue
            wordStart = -1
        }

        /// Feeds normalised scalar `n` (value `value`, class `scalarClass`).
        @inline(__always)
        mutating func feed(_ value: UInt32, class scalarClass: UInt8, at n: Int, into units: UnsafeMutablePointer<Unit>) {
            if scalarClass == ScalarClass.word.rawValue {
                if wordStart < 0 { wordStart = n }
                return
            }
            if wordStart >= 0 { closeWord(at: n, into: units) }
            switch scalarClass {
            case ScalarClass.space.rawValue:
                if separator == ScalarClass.cjk.rawValue { separator = ScalarClass.space.rawValue }
            case ScalarClass.hardBreak.rawValue:
                separator = ScalarClass.hardBreak.rawValue
            default:  // CJK
                position += hasPrevious && separator != ScalarClass.cjk.rawValue ? 2 : 1
                units[unitCount] = Unit(cjk: value, position: position, start: Int32(n), end: Int32(n + 1))
                unitCount += 1
                hasPrevious = true
                previousWasWord = false
                separator = ScalarClass.cjk.rawValue
            }
        }
    }

    /// Normalises `body[0..<limit]` through the normaliser's table and analyses it in the same pass (resuming the
    /// previous, shorter prefix's analysis when asked), or returns false when a scalar needs the normaliser's
    /// slow path.
    private func normalizeAndAnalyse(
        _ body: UnsafeBufferPointer<UInt16>, limit: Int, resuming: Bool, from start: Int
    ) -> Bool {
        let storage = self.storage
        var analysis = Analysis()
        var first = min(start, limit)
        // An analysis from an earlier start holds the one from `start` (see firstPossibleStart): it may be reused.
        let reusable = resuming && storage.analysisStart <= first && storage.analysedCount != Int.max
        if reusable && storage.analysedCount > limit { return true }
        if reusable {
            // Drop the unit of the word the previous cut closed early: the word may go on past the cut.
            analysis = storage.analysis
            storage.unitCount = storage.unitsBeforeCut
            first = storage.analysedCount
        } else {
            storage.normalizedCount = 0
            storage.unitCount = 0
            storage.analysisStart = first
        }
        storage.reserveNormalized(storage.normalizedCount + (limit - first))
        storage.reserveUnits(storage.unitCount + (limit - first))
        let finished = Normalizer.withBMPTable { table -> Bool in
            let exceptions = Normalizer.oneToOneExceptionMask
            var normalized = storage.normalized
            var origins = storage.origins
            var units = storage.units
            var capacity = storage.normalizedCapacity
            var n = storage.normalizedCount
            for i in first..<limit {
                let u = body[i]
                if u & 0xF800 == 0xD800 { return false }  // a surrogate: astral text
                let entry = table[Int(u)]
                if entry & exceptions == 0 {
                    let value = entry & 0x1F_FFFF
                    normalized[n] = value
                    origins[n] = Int32(i)
                    analysis.feed(value, class: UInt8(truncatingIfNeeded: entry >> 28) & 3, at: n, into: units)
                    n += 1
                } else {
                    guard let expansion = Normalizer.expansion(of: entry), !expansion.isEmpty else { return false }
                    // An expansion can outgrow the one-per-code-unit room reserved up front.
                    let needed = n + expansion.count + (limit - i - 1)
                    if needed > capacity {
                        storage.normalizedCount = n
                        storage.reserveNormalized(needed)
                        storage.unitCount = analysis.unitCount
                        storage.reserveUnits(needed)
                        normalized = storage.normalized
                        origins = storage.origins
                        units = storage.units
                        capacity = storage.normalizedCapacity
                    }
                    for s in expansion {
                        normalized[n] = s.value
                        origins[n] = Int32(i)
                        analysis.feed(s.value, class: Normalizer.classify(s).rawValue, at: n, into: units)
                        n += 1
                    }
                }
            }
            storage.normalizedCount = n
            storage.analysedCount = limit
            storage.analysis = analysis
            storage.unitsBeforeCut = analysis.unitCount
            if analysis.wordStart >= 0 { analysis.closeWord(at: n, into: units) }
            storage.unitCount = analysis.unitCount
            return true
        }
        if !finished { storage.analysedCount = Int.max }  // nothing to resume
        return finished
    }

    /// The first code unit of `body` where an occurrence of `patterns` could begin, or `body.count` when none can:
    /// the first unit where the normalised text could spell a pattern's leading CJK run (its first elements while
    /// they are CJK at consecutive positions, ``SnippetPatterns/leadingCJK``), or needing more than the table (an
    /// expansion, a combining mark, a surrogate), after which the analysis decides. 0 when a pattern starts with a
    /// word (words need their context).
    ///
    /// Analysing from there gives the same units, relative positions and occurrences as analysing from the start of
    /// the body: a CJK unit is a unit of its own whatever precedes it, and what follows it does not depend on what
    /// came before it. A run's elements at consecutive positions are consecutive normalised scalars (anything
    /// between two CJK units moves the second two positions on), so where the table maps the next code units to
    /// other scalars no occurrence starts. One table load and a compare per code unit, against the analysis's
    /// stores and state per code unit; a false start (the 经 of 经过 for 经济) costs a load or two more, so a hit is
    /// analysed from its first occurrence, not from the first character the query shares with it.
    ///
    /// Only code units in `lower..<upper` are tried as starts (the runs may read past `upper`); `upper` when none is.
    static func firstPossibleStart(
        in body: UnsafeBufferPointer<UInt16>, patterns: SnippetPatterns, from lower: Int = 0, to upper: Int? = nil
    ) -> Int {
        let upper = upper ?? body.count
        let firsts = patterns.firstCJK
        guard !firsts.isEmpty, !firsts.contains(0) else { return min(lower, upper) }
        return Normalizer.withBMPTable { table in
            let exceptions = Normalizer.oneToOneExceptionMask
            let count = body.count
            /// Whether `runs[p]` could be spelled from code unit `i` on, its first scalar matching there.
            func runMayStart(at i: Int, _ run: [UInt32]) -> Bool {
                var k = 1
                while k < run.count {
                    guard i + k < count else { return false }
                    let u = body[i + k]
                    if u & 0xF800 == 0xD800 { return true }
                    let entry = table[Int(u)]
                    if entry & exceptions != 0 { return true }
                    if entry & 0x1F_FFFF != run[k] { return false }
                    k += 1
                }
                return true
            }
            return firsts.withUnsafeBufferPointer { firsts in
                for i in lower..<upper {
                    let u = body[i]
                    if u & 0xF800 == 0xD800 { return i }
                    let entry = table[Int(u)]
                    if entry & exceptions != 0 { return i }
                    let value = entry & 0x1F_FFFF
                    for p in firsts.indices where firsts[p] == value {
                        if runMayStart(at: i, patterns.leadingCJK[p]) { return i }
                    }
                }
                return upper
            }
        }
    }

    /// Whether every code unit of `body` normalises through the table to exactly one scalar (no expansion,
    /// combining mark or surrogate): then a normalised offset is a source offset.
    static func normalisesOneToOne(_ body: UnsafeBufferPointer<UInt16>) -> Bool {
        Normalizer.withBMPTable { table in
            let exceptions = Normalizer.oneToOneExceptionMask
            for u in body {
                if u & 0xF800 == 0xD800 || table[Int(u)] & exceptions != 0 { return false }
            }
            return true
        }
    }

    @inline(__always)
    private func unit(_ k: Int, matches element: TermPattern.Element, word: [UInt32]) -> Bool {
        let unit = storage.units[k]
        guard unit.cjk == element.cjk else { return false }
        if unit.cjk != 0 { return true }
        guard Int(unit.end - unit.start) == word.count else { return false }
        let normalized = storage.normalized
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
        let units = storage.units
        let unitCount = storage.unitCount
        let base = units[index].position
        var k = index
        for (e, element) in elements.enumerated() {
            let target = base + element.offset
            while k < unitCount, units[k].position < target { k += 1 }
            guard k < unitCount, units[k].position == target, unit(k, matches: element, word: words[e]) else {
                return nil
            }
        }
        return k
    }

    private func match(
        _ patterns: SnippetPatterns, sourceCount: Int, from start: Int,
        into occurrences: inout [SnippetBuilder.Occurrence]
    ) {
        // Only units whose source offset lies in `start..<sourceCount` can begin an occurrence: the analysis may be
        // reused from a snippet of the same body that started earlier or read further (other patterns). Source
        // offsets grow with units, so both ends are found by bisection rather than by testing unit after unit.
        let unitBegin = firstUnit(atOrAfter: start)
        let unitEnd = firstUnit(atOrAfter: sourceCount)
        guard unitBegin < unitEnd else { return }
        patterns.firstCJK.withUnsafeBufferPointer { firstCJK in
            match(
                patterns, firstCJK: firstCJK, units: unitBegin..<unitEnd, sourceCount: sourceCount,
                into: &occurrences)
        }
    }

    /// The first analysed unit whose first scalar comes from source offset `offset` or later (`unitCount` if none).
    private func firstUnit(atOrAfter offset: Int) -> Int {
        let units = storage.units
        let origins = storage.origins
        var low = 0
        var high = storage.unitCount
        while low < high {
            let middle = (low + high) / 2
            if Int(origins[Int(units[middle].start)]) >= offset { high = middle } else { low = middle + 1 }
        }
        return low
    }

    private func match(
        _ patterns: SnippetPatterns, firstCJK: UnsafeBufferPointer<UInt32>, units unitRange: Range<Int>,
        sourceCount: Int, into occurrences: inout [SnippetBuilder.Occurrence]
    ) {
        let units = storage.units
        let origins = storage.origins
        let normalizedCount = storage.normalizedCount
        outer: for i in unitRange {
            let cjk = units[i].cjk
            for p in firstCJK.indices where firstCJK[p] == cjk {
                guard cjk != 0 || unit(i, matches: patterns.patterns[p].elements[0], word: patterns.words[p][0]),
                    let end = matchEnd(p, patterns, at: i)
                else { continue }
                // As NormalizedText.sourceRange: from the first unit's source offset to the next normalised
                // scalar's (or the end of the body).
                let from = Int(units[i].start)
                let to = Int(units[end].end)
                let start = Int(origins[from])
                let stop = to < normalizedCount ? Int(origins[to]) : sourceCount
                occurrences.append((start..<max(stop, start + 1), p))
                if occurrences.count >= SnippetBuilder.maxOccurrences { break outer }
            }
        }
    }
}
