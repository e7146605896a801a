import Foundation

/// BM25 over title and body (BM25F-style: title occurrences and length weighted by ``titleBoost``).
enum Scoring {
    static let k1 = 1.2
    static let b = 0.75
    /// A title occurrence counts as this many body occurrences.
    static let titleBoost = 2.0
    /// Terms used by More-Like-This.
    static let relatedTermCount = 24

    @inline(__always)
    static func idf(documentFrequency df: Int, documentCount n: Int) -> Double {
        let df = Double(max(df, 1))
        return log1p((Double(max(n, 1)) - df + 0.5) / (df + 0.5))
    }

    @inline(__always)
    static func bm25(
        idf: Double, titleFrequency: Int, bodyFrequency: Int, titleLength: Int, bodyLength: Int,
        averageLength: Double
    ) -> Double {
        let tf = Double(titleFrequency) * titleBoost + Double(bodyFrequency)
        let length = Double(titleLength) * titleBoost + Double(bodyLength)
        let norm = k1 * (1 - b + b * length / max(averageLength, 1))
        return idf * tf * (k1 + 1) / (tf + norm)
    }

    /// The document's most distinctive terms (bigrams and words by tf-idf), each with its idf.
    static func distinctiveTerms(
        units: [AnalyzedUnit], documentCount: Int, documentFrequency: (TermPattern) -> Int
    ) -> [(TermPattern, Double)] {
        var frequencies: [TermPattern: Int] = [:]
        for i in units.indices {
            if units[i].isCJK {
                guard i + 1 < units.count, units[i + 1].isCJK, units[i + 1].position == units[i].position + 1 else {
                    continue
                }
                frequencies[TermPattern(units: units[i...(i + 1)]), default: 0] += 1
            } else if units[i].word.unicodeScalars.count > 1 {
                frequencies[TermPattern(units: units[i...i]), default: 0] += 1
            }
        }
        var weighted: [(TermPattern, Double, Double)] = []
        for (pattern, tf) in frequencies {
            let df = documentFrequency(pattern)
            // A term only this document has cannot relate it to anything.
            guard df >= 2 else { continue }
            let idf = idf(documentFrequency: df, documentCount: documentCount)
            weighted.append((pattern, idf, Double(tf) * idf))
        }
        weighted.sort { $0.2 != $1.2 ? $0.2 > $1.2 : $0.0.text < $1.0.text }
        return weighted.prefix(relatedTermCount).map { ($0.0, $0.1) }
    }
}
