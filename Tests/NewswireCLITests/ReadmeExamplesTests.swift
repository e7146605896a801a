import Foundation
import NewswireTestSupport
import Testing

/// README.md is the front door: its CLI examples are run here, read from README.md itself, against a server
/// holding the repository's seeds, so an example that stops being true fails the suite.
@Suite("README's CLI examples hold (subprocess)", .serialized, .timeLimit(.minutes(5)))
struct ReadmeExamplesTests {
    static func readme() throws -> String {
        try String(contentsOfFile: Executables.packageRoot + "/README.md", encoding: .utf8)
    }

    /// The fenced code blocks of README.md, in order.
    static func codeBlocks() throws -> [String] {
        var blocks: [String] = []
        var current: [String]?
        for line in try readme().components(separatedBy: "\n") {
            if line.hasPrefix("```") {
                if let block = current {
                    blocks.append(block.joined(separator: "\n"))
                    current = nil
                } else {
                    current = []
                }
            } else {
                current?.append(line)
            }
        }
        return blocks
    }

    @Test("each `$ newswire parse …` transcript prints exactly what README shows")
    func parseTranscripts() async throws {
        var checked = 0
        for block in try Self.codeBlocks() where block.hasPrefix("$ newswire parse") {
            let lines = block.components(separatedBy: "\n")
            let command = try shellWords(String(lines[0].dropFirst(2)))
            // Transcripts of files that are not in the repository (english.html, image.png) are illustrations.
            guard command.dropFirst(2).allSatisfy({ $0.hasPrefix("-") || FileManager.default.fileExists(atPath: Executables.packageRoot + "/" + $0) }) else { continue }
            let finished = try await newswire(Array(command.dropFirst()))
            #expect(finished.status == 0, "\(lines[0]): \(finished)")
            let expected = lines.dropFirst().joined(separator: "\n")
            if expected.contains("\n  ...\n") {
                // An elided transcript: every line shown is printed, in order.
                let shown = expected.components(separatedBy: "\n").filter { $0 != "  ..." }
                let printed = finished.stdout.components(separatedBy: "\n")
                var cursor = printed.startIndex
                for line in shown {
                    guard let found = printed[cursor...].firstIndex(of: line) else {
                        Issue.record("\(lines[0]): README shows \(line) but the command does not print it")
                        break
                    }
                    cursor = found + 1
                }
            } else {
                #expect(finished.stdout == expected + "\n", "\(lines[0])")
            }
            checked += 1
        }
        #expect(checked >= 2)
    }

    @Test("the quick start's search prints what README shows (timing aside), and its get works")
    func quickStart() async throws {
        let server = try await cliServer()
        defer { Task { try? await server.stop() } }
        let block = try #require(try Self.codeBlocks().first { $0.hasPrefix("swift run newswire search") })
        let lines = block.components(separatedBy: "\n")
        let search = try shellWords(String(lines[0].dropFirst("swift run newswire ".count)))
        let expected = lines.dropFirst().prefix { $0.hasPrefix("#") }.map { $0 == "#" ? "" : String($0.dropFirst(2)) }
        let finished = try await newswire(search, port: server.port)
        #expect(finished.status == 0, "\(finished)")
        // README shortens long lines with a trailing "…": those must start the printed line.
        let printed = normalizedTiming(finished.stdout).components(separatedBy: "\n").dropLast()
        let shown = expected.map(normalizedTiming)
        #expect(printed.count == shown.count, "\(finished.stdout)")
        for (line, readme) in zip(printed, shown) {
            if readme.hasSuffix("…") {
                #expect(line.hasPrefix(readme.dropLast()), "README shows \(readme), the CLI printed \(line)")
            } else {
                #expect(line == readme)
            }
        }
        let getLine = try #require(lines.first { $0.hasPrefix("swift run newswire get") })
        let get = try await newswire(try shellWords(String(getLine.dropFirst("swift run newswire ".count))), port: server.port)
        #expect(get.status == 0, "\(get)")
        #expect(get.stdout.contains(#""title":"新疆党政代表团赴四川省学习考察""#))
        try await server.stop()
    }

    @Test("the CLI section's query examples run (ingest examples need files README does not ship)")
    func cliSectionExamples() async throws {
        let server = try await cliServer()
        defer { Task { try? await server.stop() } }
        let block = try #require(try Self.codeBlocks().first { $0.contains("newswire search 新疆 --sort date") })
        var ran = 0
        for line in block.components(separatedBy: "\n") {
            var command = line.components(separatedBy: " #").first!.trimmingCharacters(in: .whitespaces)
            command = command.components(separatedBy: " | ").first!  // `| jq …`: newswire's part
            if let range = command.range(of: #"^NEWSWIRE_ADDR=\S+ "#, options: .regularExpression) {
                command.removeSubrange(range)
            }
            guard command.hasPrefix("newswire "), !command.contains("ingest") else { continue }
            let words = try shellWords(String(command.dropFirst("newswire ".count)))
            let finished = try await newswire(words, port: server.port)
            #expect(finished.status == 0, "\(line): \(finished)")
            if words.contains("--json") {
                #expect((try? JSONSerialization.jsonObject(with: Data(finished.stdout.utf8))) != nil, "\(line)")
            }
            ran += 1
        }
        #expect(ran >= 3)
    }

    @Test("the query-language table's curly-quote phrase example finds the seed article")
    func curlyQuoteExample() async throws {
        let server = try await cliServer()
        defer { Task { try? await server.stop() } }
        let row = try #require(try Self.readme().components(separatedBy: "\n").first { $0.contains("also work as quotes") })
        let start = try #require(row.firstIndex(of: "“"))
        let end = try #require(row[start...].firstIndex(of: "”"))
        let phrase = String(row[start...end])
        let finished = try await newswire(["search", phrase, "--json"], port: server.port)
        #expect(try searchJSON(finished).total >= 1, "README's \(phrase) finds nothing in the seeds")
        try await server.stop()
    }
}

/// `(0.40 ms)` → `(… ms)`: the one part of a search transcript that changes from run to run.
func normalizedTiming(_ text: String) -> String {
    text.replacingOccurrences(of: #"\(\d+\.\d+ ms\)"#, with: "(… ms)", options: .regularExpression)
}

/// Splits a command line as sh does for the README's examples: whitespace, '…' and "…" quoting.
func shellWords(_ line: String) throws -> [String] {
    var words: [String] = []
    var current = ""
    var inWord = false
    var quote: Character?
    for character in line {
        if let open = quote {
            if character == open { quote = nil } else { current.append(character) }
        } else if character == "'" || character == "\"" {
            quote = character
            inWord = true
        } else if character == " " || character == "\t" {
            if inWord { words.append(current) }
            current = ""
            inWord = false
        } else {
            current.append(character)
            inWord = true
        }
    }
    try #require(quote == nil, "unbalanced quotes in \(line)")
    if inWord { words.append(current) }
    return words
}
