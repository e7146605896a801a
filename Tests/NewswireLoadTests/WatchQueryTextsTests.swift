import Testing

@testable import NewswireLoad

@Suite("Bench watch query texts")
struct WatchQueryTextsTests {
    static let base = (0..<40).map { "q\($0)" }

    @Test("by default pairs come round again: 10,000 texts from 40 queries hold 1,640 distinct ones")
    func pairsRepeat() {
        let texts = WatchQueryTexts.make(from: Self.base, count: 10_000)
        #expect(texts.count == 10_000)
        #expect(Array(texts.prefix(40)) == Self.base)
        #expect(texts[40] == "q0 q1" && texts[79] == "q39 q0" && texts[80] == "q0 q2")
        #expect(texts[1600] == "q0 q0" && texts[1640] == "q0 q1")  // round 40 pairs a query with itself
        #expect(Set(texts).count == 1_640)
        #expect(Set(WatchQueryTexts.make(from: Self.base, count: 1_000)).count == 1_000)
    }

    @Test("distinct: every text a different set of queries, singles, then pairs, then triples")
    func distinctSets() {
        let texts = WatchQueryTexts.make(from: Self.base, count: 10_000, distinct: true)
        #expect(texts.count == 10_000)
        #expect(Array(texts.prefix(40)) == Self.base)
        #expect(texts[40] == "q0 q1" && texts[78] == "q0 q39" && texts[79] == "q1 q2")
        #expect(texts[40 + 780] == "q0 q1 q2")
        let sets = texts.map { Set($0.split(separator: " ")) }
        #expect(Set(sets).count == 10_000)
        #expect(texts.allSatisfy { Set($0.split(separator: " ")).count == $0.split(separator: " ").count })
        // Past every single, pair and triple there is nothing more to give.
        #expect(WatchQueryTexts.make(from: ["a", "b", "c"], count: 100, distinct: true)
            == ["a", "b", "c", "a b", "a c", "b c", "a b c"])
        #expect(WatchQueryTexts.make(from: [], count: 5).isEmpty && WatchQueryTexts.make(from: ["a"], count: 0).isEmpty)
    }
}
