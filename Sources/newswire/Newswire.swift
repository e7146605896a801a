import ArgumentParser

/// The `newswire` command-line tool.
@main
struct Newswire: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "newswire",
        abstract: "Parse news pages offline, and query or load-test a Newswire server.",
        subcommands: [
            ParseCommand.self, IngestCommand.self, GetCommand.self, SearchCommand.self, RelatedCommand.self,
            DeleteCommand.self, StatsCommand.self, PingCommand.self, BenchCommand.self,
        ]
    )
}
