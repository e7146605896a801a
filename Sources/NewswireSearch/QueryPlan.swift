/// A term as looked up in a segment.
enum TermRef: Sendable, Hashable {
    case cjk(UInt64)
    case word(String)
}

/// How a text pattern is answered from postings.
enum PatternPlan: Sendable {
    /// One term; document-level postings answer it (a word, a CJK character, or a 2-character CJK run).
    case single(TermRef)
    /// Positional terms at fixed relative offsets (bigrams covering every CJK run, words).
    case positional([(term: TermRef, offset: Int32)])
    /// A phrase with a lone CJK character next to other units: postings narrow the candidates (every term must
    /// occur in the document) and the stored text confirms the phrase.
    case verifyText(prefilter: [TermRef])

    /// Decomposes a pattern. A CJK run of length n >= 2 is covered by bigrams at offsets 0, 2, 4, … (plus n-2
    /// when n is odd): consecutive positions of two CJK units imply nothing separates them, so covering
    /// bigrams at the right offsets are equivalent to the run occurring as a substring.
    init(_ pattern: TermPattern) {
        let elements = pattern.elements
        if elements.count == 1 {
            let e = elements[0]
            self = .single(e.cjk != 0 ? .cjk(TermKey.unigram(e.cjk)) : .word(e.word))
            return
        }
        if elements.count == 2, elements[0].cjk != 0, elements[1].cjk != 0, elements[1].offset == 1 {
            self = .single(.cjk(TermKey.bigram(elements[0].cjk, elements[1].cjk)))
            return
        }
        var components: [(term: TermRef, offset: Int32)] = []
        var lone: [TermRef] = []
        var i = 0
        while i < elements.count {
            if elements[i].cjk == 0 {
                components.append((.word(elements[i].word), elements[i].offset))
                i += 1
                continue
            }
            var j = i + 1
            while j < elements.count, elements[j].cjk != 0, elements[j].offset == elements[j - 1].offset + 1 { j += 1 }
            let length = j - i
            if length == 1 {
                lone.append(.cjk(TermKey.unigram(elements[i].cjk)))
            } else {
                var starts = Array(stride(from: 0, to: length - 1, by: 2))
                if length % 2 == 1 { starts.append(length - 2) }
                for s in starts {
                    let a = elements[i + s]
                    let b = elements[i + s + 1]
                    components.append((.cjk(TermKey.bigram(a.cjk, b.cjk)), a.offset))
                }
            }
            i = j
        }
        if lone.isEmpty {
            self = .positional(components)
        } else {
            self = .verifyText(prefilter: components.map(\.term) + lone)
        }
    }

    /// Every term the plan reads.
    var terms: [TermRef] {
        switch self {
        case .single(let t): return [t]
        case .positional(let components): return components.map(\.term)
        case .verifyText(let prefilter): return prefilter
        }
    }
}

extension Segment {
    func term(_ ref: TermRef) -> Int? {
        switch ref {
        case .cjk(let key): return term(cjk: key)
        case .word(let word): return term(word: word)
        }
    }

    func documentFrequency(_ ref: TermRef) -> Int {
        term(ref).map { documentFrequency(term: $0) } ?? 0
    }
}
