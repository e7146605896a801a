import ArgumentParser
import Foundation
import NewswireModel

/// The `newswire` command-line tool.
struct Newswire: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "newswire",
        abstract: "Parse news pages offline, and query or load-test a Newswire server.",
        discussion: """
            Connection options (--host, --port, --token, --tls, --timeout, …) may come before or after the \
            command: `newswire --host H --port P ping` and `newswire ping --host H --port P` are the same.
            """,
        version: "newswire \(NewswireVersion.current)",
        subcommands: [
            ParseCommand.self, IngestCommand.self, GetCommand.self, SearchCommand.self, RelatedCommand.self,
            DeleteCommand.self, StatsCommand.self, PingCommand.self, WatchCommand.self, BenchCommand.self,
        ]
    )
}

/// Entry point: arguments are normalised (``CommandLineArguments``) before ArgumentParser sees them, and usage
/// errors exit 64 with ArgumentParser's message (which suggests the closest option for a mistyped one).
@main
enum NewswireMain {
    static func main() async {
        let arguments = CommandLineArguments.normalized(
            Array(CommandLine.arguments.dropFirst()), subcommands: Newswire.configuration.subcommands)
        // All FILE operands of `parse` but the first bypass ArgumentParser (see `ParseCommand.splittingFiles`).
        let (parserArguments, moreFiles) = ParseCommand.splittingFiles(arguments)
        do {
            var command = try Newswire.parseAsRoot(parserArguments)
            if !moreFiles.isEmpty, var parse = command as? ParseCommand {
                parse.files += moreFiles
                command = parse
            }
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            Newswire.exit(withError: error)
        }
    }
}

/// Rewrites the command line into the shape ArgumentParser parses, without changing its meaning.
enum CommandLineArguments {
    /// - Connection options given before the subcommand (`newswire --host H ping`, as redis-cli and psql users
    ///   type them) move after it.
    /// - A negative number after an option that takes a value is joined to it (`--offset -1` → `--offset=-1`), so
    ///   the command can say what is wrong with the value instead of "missing value".
    /// - For `search`, words starting with `-` that are not options (`-上海`, `-"税政改革"`: query exclusions) stay
    ///   query text: the query words are passed after `--`, in their order.
    static func normalized(_ arguments: [String], subcommands: [any ParsableCommand.Type]) -> [String] {
        let names = Set(subcommands.map { $0._commandName })
        var leading: [String] = []
        var index = 0
        while index < arguments.count, let arity = ConnectionOptions.arity(of: arguments[index]) {
            leading.append(arguments[index])
            if arity == 1, index + 1 < arguments.count {
                leading.append(arguments[index + 1])
                index += 1
            }
            index += 1
        }
        var arguments = arguments
        if !leading.isEmpty, index < arguments.count, names.contains(arguments[index]) {
            arguments = [arguments[index]] + leading + arguments[(index + 1)...]
        }
        arguments = joiningNegativeValues(arguments)
        if arguments.first == "search" { arguments = ["search"] + SearchCommand.separatingQuery(Array(arguments.dropFirst())) }
        if arguments.first == "watch" {
            arguments = ["watch"] + SearchCommand.separatingQuery(Array(arguments.dropFirst()), valueOptions: WatchCommand.valueOptions)
        }
        return arguments
    }

    /// `--offset -1` → `--offset=-1` for every option that takes a value.
    static func joiningNegativeValues(_ arguments: [String]) -> [String] {
        var result: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--" {
                result += arguments[index...]
                break
            }
            if index + 1 < arguments.count, valueOptions.contains(argument), isNegativeNumber(arguments[index + 1]) {
                result.append(argument + "=" + arguments[index + 1])
                index += 2
            } else {
                result.append(argument)
                index += 1
            }
        }
        return result
    }

    static func isNegativeNumber(_ text: String) -> Bool {
        text.hasPrefix("-") && text.count > 1 && Double(text.dropFirst()) != nil
    }

    /// Options of any command that take a number (a negative one is a bad value, not a missing one).
    static let valueOptions: Set<String> = [
        "--limit", "--offset", "--port", "--timeout", "--concurrency", "--jobs", "--max-bytes", "-c", "--connections",
        "-p", "--pipeline", "-n", "--requests", "-r", "--rate", "--search-limit", "--related-limit", "--max-ids",
        "--threads",
    ]

    /// Whether `argument` looks like an option: `-x` or `--word` in ASCII letters. `-上海` and `-"税政"` do not.
    static func isOption(_ argument: String) -> Bool {
        guard argument.hasPrefix("-"), argument.count > 1 else { return false }
        let rest = argument.unicodeScalars.dropFirst()
        guard let first = rest.first else { return false }
        if first == "-" { return rest.count > 1 && rest.dropFirst().first.map(isASCIILetter) == true }
        return isASCIILetter(first)
    }

    private static func isASCIILetter(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar)
    }
}
