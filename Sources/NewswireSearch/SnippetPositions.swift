/// Where the index can say a snippet pattern occurs: the stored positions of one of its plan's terms, shifted by
/// that term's offset in the pattern (every occurrence of the pattern starts at one of them), or nowhere it can
/// tell (a lone CJK character, whose postings keep no positions, or a pattern checked against the text).
enum SnippetTerm {
    case positions(TermRef, offset: Int32)
    case unknown

    /// The term a text condition's plan reads positions from, when it has one.
    init(kind: Executor.TextKind, terms: [TermRef], offsets: [Int32]) {
        switch kind {
        case .single where terms.count == 1: self = .positions(terms[0], offset: 0)
        case .positional where !terms.isEmpty && offsets.count == terms.count:
            self = .positions(terms[0], offset: offsets[0])
        default: self = .unknown
        }
    }
}

extension Segment {
    /// Whether any pattern of `terms` may occur in `doc`'s body: false only when the postings hold none of their
    /// terms in it.
    func bodyMayHoldAny(of terms: [SnippetTerm], doc: Int) -> Bool {
        postings.withUnsafeBufferPointer { buffer in
            for snippetTerm in terms {
                guard case .positions(let ref, _) = snippetTerm else { return true }
                if bodyCursor(of: ref, doc: doc, base: buffer.baseAddress!) != nil { return true }
            }
            return false
        }
    }

    /// `ref`'s postings positioned at `doc`, when this segment has the term and `doc` holds it in its body.
    private func bodyCursor(of ref: TermRef, doc: Int, base: UnsafePointer<UInt8>) -> PostingCursor? {
        guard let t = term(ref) else { return nil }
        var cursor = PostingCursor(
            base: base, start: termStart[t], end: termStart[t + 1], positional: isPositional(term: t))
        guard cursor.seek(Int32(doc)), cursor.bodyTF > 0 else { return nil }
        return cursor
    }

    /// At most how many distinct patterns of `terms` occur in `doc`'s body starting within `span` positions of
    /// one another, from the postings alone: each pattern with positions counts where its term's body positions
    /// fall (a superset of its occurrences' starts); a pattern without them counts wherever its term occurs in
    /// the body, or everywhere when it has no term to look up. An upper bound, never an undercount.
    func mostDistinctPatterns(in doc: Int, terms: [SnippetTerm], span: Int) -> Int {
        var anywhere = 0
        var starts: [(position: Int32, pattern: Int)] = []
        let bodyBase = bodyBases[doc]
        postings.withUnsafeBufferPointer { buffer in
            for (p, snippetTerm) in terms.enumerated() {
                guard case .positions(let ref, let offset) = snippetTerm else {
                    anywhere += 1
                    continue
                }
                // A term this segment lacks, or a document without it in the body: the pattern is not there.
                guard let cursor = bodyCursor(of: ref, doc: doc, base: buffer.baseAddress!) else { continue }
                guard cursor.positional else {
                    anywhere += 1
                    continue
                }
                var positions = cursor.positionIterator
                while positions.value != .max {
                    if positions.value >= bodyBase { starts.append((positions.value - offset, p)) }
                    positions.advance()
                }
            }
        }
        return anywhere + mostDistinctPatternsWithin(span: span, starts: &starts, patternCount: terms.count)
    }
}

/// The most distinct patterns whose `starts` (position, pattern number below `patternCount`, in any order; sorted
/// here) lie within `span` positions of one another: a sliding window over the starts in position order.
func mostDistinctPatternsWithin(span: Int, starts: inout [(position: Int32, pattern: Int)], patternCount: Int) -> Int {
    guard !starts.isEmpty else { return 0 }
    starts.sort { $0.position < $1.position }
    var inWindow = [Int](repeating: 0, count: patternCount)
    var distinct = 0
    var most = 0
    var tail = 0
    for head in starts.indices {
        if inWindow[starts[head].pattern] == 0 { distinct += 1 }
        inWindow[starts[head].pattern] += 1
        while Int(starts[head].position) - Int(starts[tail].position) > span {
            inWindow[starts[tail].pattern] -= 1
            if inWindow[starts[tail].pattern] == 0 { distinct -= 1 }
            tail += 1
        }
        most = max(most, distinct)
    }
    return most
}
