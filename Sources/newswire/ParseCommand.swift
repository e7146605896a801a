import ArgumentParser
import ArticleExtraction
import Foundation
import NewswireModel

/// `newswire parse`: extract articles from page files offline, without a server.
struct ParseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parse",
        abstract: "Extract the article from scraped news pages (HTML or plain text, UTF-8 or GBK) offline.",
        discussion: """
            Prints a readable summary per file, or with --json one JSON object per file (JSON Lines for several). \
            A file that cannot be parsed (empty, binary, undecodable, no article, over the size limit) gets one line \
            on stderr naming the file and the reason; the other files still parse, and the exit status is 1.
            """
    )

    @Flag(name: .long, help: "Print JSON (one object per file) instead of a summary.")
    var json = false

    @Option(
        name: .long,
        help: "Zone for page times written without one: an IANA name (Asia/Shanghai), UTC, or an offset (+08:00).")
    var timezone: String = "Asia/Shanghai"

    @Option(name: .long, help: "Largest file accepted, in bytes.")
    var maxBytes: Int = ArticleExtractor.Configuration.defaultMaximumInputBytes

    @Option(name: .long, help: "Files parsed at once (default: the number of processors). Output keeps argument order.")
    var jobs: Int?

    @Argument(help: "Page files to parse; - reads standard input.")
    var files: [String]

    func validate() throws {
        guard Self.utcOffset(timezone) != nil else {
            throw ValidationError("unknown time zone '\(timezone)': use an IANA name, UTC, or an offset like +08:00")
        }
        guard maxBytes > 0 else { throw ValidationError("--max-bytes must be positive") }
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
        guard !files.isEmpty else { throw ValidationError("give at least one FILE (or - for stdin)") }
    }

    func run() throws {
        let configuration = ArticleExtractor.Configuration(
            defaultUTCOffsetSeconds: Self.utcOffset(timezone) ?? PublishedTime.chinaStandardOffset,
            maximumInputBytes: maxBytes)
        let runner = PageParseRunner(
            extractor: ArticleExtractor(configuration: configuration), format: json ? .json : .summary, jobs: jobs)
        let status = runner.run(
            paths: files,
            output: { Output.line($0) },
            errors: { Output.errorLine($0) })
        if status != 0 { throw ExitCode(status) }
    }

    /// Splits a `parse` command line into what ArgumentParser gets (every option, and the first FILE) and the other
    /// FILE operands, in order. ArgumentParser copies a repeating argument's array for each value it appends, so
    /// its time grows with the square of the file count: 1,000 files cost about 30 ms of CPU, 10,000 seconds.
    /// Options (anything starting with `-` but `-` itself, before `--`) and option values stay where they are, so
    /// ArgumentParser reports every usage error as before.
    static func splittingFiles(_ arguments: [String]) -> (parserArguments: [String], moreFiles: [String]) {
        guard arguments.first == "parse" else { return (arguments, []) }
        var parserArguments = ["parse"]
        var moreFiles: [String] = []
        var sawFile = false
        var afterTerminator = false
        var index = 1
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if !afterTerminator && argument == "--" {
                afterTerminator = true
            } else if !afterTerminator && optionsWithValue.contains(argument) {
                parserArguments.append(argument)
                if index < arguments.count {
                    parserArguments.append(arguments[index])
                    index += 1
                }
                continue
            } else if !afterTerminator && argument.hasPrefix("-") && argument != "-" {
                // A flag, `--option=value`, or an unknown option ArgumentParser will name.
            } else if sawFile {
                moreFiles.append(argument)
                continue
            } else {
                sawFile = true
            }
            parserArguments.append(argument)
        }
        return (parserArguments, moreFiles)
    }

    /// The options of `parse` that take a value as the next argument.
    static let optionsWithValue: Set<String> = ["--timezone", "--max-bytes", "--jobs"]

    /// Seconds east of UTC for `+08:00`, `-0500`, `UTC`, `Z` or an IANA zone name (its current offset).
    static func utcOffset(_ text: String) -> Int32? {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t.uppercased() == "UTC" || t.uppercased() == "Z" || t.uppercased() == "GMT" { return 0 }
        if let sign = t.first, sign == "+" || sign == "-" {
            let digits = t.dropFirst().filter { $0 != ":" }
            guard digits.count == 2 || digits.count == 4, let v = Int(digits) else { return nil }
            let hours = digits.count == 2 ? v : v / 100
            let minutes = digits.count == 2 ? 0 : v % 100
            guard hours <= 14, minutes < 60 else { return nil }
            return Int32((hours * 3600 + minutes * 60) * (sign == "-" ? -1 : 1))
        }
        guard let zone = TimeZone(identifier: t) else { return nil }
        return Int32(zone.secondsFromGMT())
    }
}
