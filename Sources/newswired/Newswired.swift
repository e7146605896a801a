import ArgumentParser

/// The Newswire server daemon.
@main
struct Newswired: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "newswired",
        abstract: "Serve Newswire articles and search over the Newswire binary protocol."
    )
}
