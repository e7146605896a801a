/// The standing queries of `newswire bench watch`, made from a file of queries.
public enum WatchQueryTexts {
    /// `count` query texts: `base` in order, then pairs of its queries (`A B`: both terms, as alerts are).
    ///
    /// By default pair `k` of round `r` is `base[k]` with `base[(k + r) % n]`, so the pairs come round again after
    /// `n` rounds (and round `n` pairs each query with itself): with 40 queries, 10,000 texts hold 1,640 distinct
    /// ones, as many users follow the same topics. With `distinct`, every text is a different set of queries: the
    /// queries, then each unordered pair, then each unordered triple, in order of the base's indexes (`count` at
    /// most `n + n(n-1)/2 + n(n-1)(n-2)/6`; fewer texts come back beyond that).
    public static func make(from base: [String], count: Int, distinct: Bool = false) -> [String] {
        guard !base.isEmpty, count > 0 else { return [] }
        let n = base.count
        guard distinct else {
            return (0..<count).map { index in
                let round = index / n
                let a = base[index % n]
                return round == 0 ? a : "\(a) \(base[(index % n + round) % n])"
            }
        }
        var texts = Array(base.prefix(count))
        for i in 0..<n where texts.count < count {
            for j in (i + 1)..<max(i + 1, n) where texts.count < count { texts.append("\(base[i]) \(base[j])") }
        }
        for i in 0..<n where texts.count < count {
            for j in (i + 1)..<max(i + 1, n) where texts.count < count {
                for k in (j + 1)..<max(j + 1, n) where texts.count < count {
                    texts.append("\(base[i]) \(base[j]) \(base[k])")
                }
            }
        }
        return texts
    }
}
