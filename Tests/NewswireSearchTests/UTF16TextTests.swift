import NewswireModel
import Testing

@testable import NewswireSearch

/// Stored text (UTF-16) back to Strings: titles of hits and snippet text come through this path.
@Suite struct UTF16TextTests {
    @Test func everyEncodingLengthRoundTrips() {
        let alphabet: [Character] = ["a", "Z", "0", " ", "é", "ß", "Ж", "中", "国", "，", "\u{3000}", "😀", "𠀀", "\u{301}", "\n"]
        var rng = SplitMix64(seed: 3)
        for length in 0..<200 {
            let text = String((0..<length).map { _ in alphabet.randomElement(using: &rng)! })
            let units = Array(text.utf16)
            #expect(units.withUnsafeBufferPointer { UTF16Text.string($0) } == text)
        }
    }

    @Test func unpairedSurrogatesBecomeReplacementCharacters() {
        let units: [UInt16] = [0x41, 0xD800, 0x42, 0xDC00, 0xD83D, 0xDE00, 0xD83D]
        #expect(units.withUnsafeBufferPointer { UTF16Text.string($0) } == "A\u{FFFD}B\u{FFFD}😀\u{FFFD}")
    }
}
