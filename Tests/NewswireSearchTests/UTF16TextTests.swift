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

    /// A snippet is written straight into a payload after its length: the count and the bytes written must be the
    /// String's, for every encoding length, line breaks (as spaces) and unpaired or doubled surrogates.
    @Test func utf8CountAndBytesAreTheStrings() {
        let alphabet: [Character] = ["a", "\n", "\r", "é", "中", "，", "😀", "𠀀", "\u{301}"]
        var rng = SplitMix64(seed: 5)
        var cases: [[UInt16]] = [
            [], [0xD800], [0xDC00], [0xD800, 0xD800, 0xDC00], [0xDC00, 0xD800], [0xD83D, 0xDE00, 0xDE00],
            [0x41, 0xD800, 0x42, 0xDC00, 0xD83D, 0xDE00, 0xD83D],
        ]
        for length in 0..<120 {
            cases.append(Array(String((0..<length).map { _ in alphabet.randomElement(using: &rng)! }).utf16))
        }
        for units in cases {
            units.withUnsafeBufferPointer { buffer in
                let expected = Array(UTF16Text.string(buffer, lineBreaksAsSpaces: true).utf8)
                #expect(UTF16Text.utf8Count(buffer) == expected.count, "\(units)")
                var written = [UInt8](repeating: 0, count: expected.count + 1)
                let count = written.withUnsafeMutableBufferPointer {
                    UTF16Text.writeUTF8(buffer, to: $0.baseAddress!, lineBreaksAsSpaces: true)
                }
                #expect(count == expected.count && Array(written.prefix(count)) == expected, "\(units)")
            }
        }
    }

    /// Segments store their text as UTF-16 decoded from each String's UTF-8: the units and their count must be the
    /// String's UTF-16 view's, for every encoding length, small and large strings, appended after earlier text.
    @Test func utf16OfStringsIsTheirUTF16View() {
        let alphabet: [Character] = ["a", "\n", "é", "ß", "Ж", "中", "，", "\u{3000}", "😀", "𠀀", "\u{301}", "\u{FFFF}"]
        var rng = SplitMix64(seed: 9)
        var text: [UInt16] = [0x41]
        var expected: [UInt16] = [0x41]
        for length in [0, 1, 2, 5, 15, 16, 17, 40, 300, 2_000] + (0..<60).map({ $0 }) {
            let string = String((0..<length).map { _ in alphabet.randomElement(using: &rng)! })
            #expect(UTF16Text.utf16Count(of: string) == string.utf16.count, "\(string)")
            UTF16Text.append(utf16Of: string, to: &text)
            expected += Array(string.utf16)
        }
        #expect(text == expected)
    }

    /// The normaliser decodes each text's scalars from its UTF-8: they must be the String's scalars.
    @Test func scalarsOfStringsAreTheirUnicodeScalars() {
        let alphabet: [Character] = ["a", "\n", "é", "ß", "Ж", "中", "，", "\u{3000}", "😀", "𠀀", "\u{301}", "\u{FFFF}", "\u{10FFFF}"]
        var rng = SplitMix64(seed: 13)
        for length in [0, 1, 2, 5, 15, 16, 17, 40, 300, 2_000] + (0..<60).map({ $0 }) {
            let string = String((0..<length).map { _ in alphabet.randomElement(using: &rng)! })
            #expect(NormalizedText.scalars(of: string) == Array(string.unicodeScalars), "\(string)")
        }
    }
}
