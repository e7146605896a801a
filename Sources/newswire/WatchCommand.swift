import ArgumentParser
import Dispatch
import Foundation
import NewswireClient
import NewswireModel

/// `newswire watch QUERY`
struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch", abstract: "Print new articles matching a query as they are stored, like tail -f.",
        discussion: """
            The query is in the search query language (see `newswire search --help`). Each matching article \
            prints as it is committed: new, updated, deleted (every deletion is printed: the server cannot match \
            an article that is gone), changed (replayed from the store's feed after --since or --from-start), or \
            unmatched (an article printed earlier was updated and no longer matches; with --json every such event \
            is printed, also for ids this run never printed). \
            The watch survives dropped connections and server restarts by itself. Ctrl-C stops it and prints the \
            position to resume from with --since.
            """)

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The query, e.g. '疆电入川' or 'title:四川 -成都'; none matches every article.")
    var query: [String] = []

    @Option(help: "Resume after this position (printed by an earlier watch: SEQUENCE@STORE).")
    var since: String?

    @Flag(help: "Start from the beginning of the store's change feed.")
    var fromStart = false

    @Option(help: "Only articles from exactly this source (repeatable).")
    var source: [String] = []

    @Flag(help: "With --json: include the whole article in each event.")
    var article = false

    /// Options of `watch` that take a value.
    static let valueOptions: Set<String> = ["--since", "--source"]

    func validate() throws {
        if since != nil, fromStart { throw ValidationError("give --since or --from-start, not both") }
        if let since, NewswireClient.WatchPosition(since) == nil {
            throw ValidationError("--since \(since) is not a position (SEQUENCE@STORE, as a watch prints it)")
        }
    }

    func run() async throws {
        let start: NewswireClient.WatchStart =
            if let since, let position = NewswireClient.WatchPosition(since) {
                .after(position)
            } else if fromStart {
                .beginning
            } else {
                .now
            }
        let options = NewswireClient.WatchOptions(sources: source, includeArticle: article && connection.json)
        let text = query.joined(separator: " ")
        let json = connection.json
        try await withClient(connection) { client in
            // Set when stdout's reader leaves: by a write that finds it gone, or by `onReaderGone` while idle.
            let readerGone = ReaderGone()
            Output.onStdoutReaderGone { readerGone.set() }
            let watching = Task { () throws -> NewswireClient.WatchPosition? in
                var events = client.watch(text, from: start, options: options).makeAsyncIterator()
                // Why nothing arrives while the watch waits to resume or to start (a server at its watch limit
                // refuses it): said when the reason changes, and again every 10 s while it lasts.
                let said = RetryNotice()
                events.onRetry = { error, wait in
                    guard let line = said.line(for: error, wait: wait) else { return }
                    printError(line)
                }
                // Ids shown so far: after a resume the server reports every replayed article that does not match
                // as unmatched, and a reader only needs those it saw.
                var shown: Set<ArticleID> = []
                // Where to resume: the last event written out (or skipped), not one whose write found the reader
                // gone.
                var handled = events.position
                while let event = try await events.next() {
                    if json {
                        printOut(try Self.json(event))
                    } else {
                        switch event.kind {
                        case .unmatched, .deleted:
                            if event.kind == .unmatched, shown.remove(event.hit.id) == nil { break }
                            shown.remove(event.hit.id)
                            printOut(Self.render(event))
                        default:
                            shown.insert(event.hit.id)
                            printOut(Self.render(event))
                        }
                    }
                    if readerGone.isSet { return handled }
                    handled = events.position
                }
                return events.position
            }
            // Ctrl-C (or SIGTERM) ends the watch; the position it reached is printed to resume from.
            let signals = [SIGINT, SIGTERM].map { SignalHandler(signal: $0) { watching.cancel() } }
            defer { for handler in signals { handler.cancel() } }
            // A reader that leaves (`… | head -1`) ends the watch now, as `tail -f` does, not at the next event.
            Self.onReaderGone(readerGone) { watching.cancel() }
            let position = try await watching.value
            let why = readerGone.isSet ? " (its reader went away)" : ""
            if let position {
                printError("newswire: watch stopped\(why); resume with --since \(position)")
            } else {
                printError("newswire: watch stopped before it started\(why)")
            }
            if readerGone.isSet { Output.readerWentAway() }
        }
        throw ExitCode(130)
    }

    /// What `newswire watch` last said about a retry, so a refusal repeated every second is said every 10 s.
    final class RetryNotice: @unchecked Sendable {
        private let lock = NSLock()
        private var last: (reason: String, at: ContinuousClock.Instant)?

        func line(for error: NewswireClientError, wait: Duration) -> String? {
            let reason = "\(error.code.rawValue): \(error.message)"
            let now = ContinuousClock.now
            return lock.withLock {
                if let last, last.reason == reason, now - last.at < .seconds(10) { return nil }
                last = (reason, now)
                return "newswire: \(reason); retrying in \(String(format: "%.1f", wait.seconds)) s"
            }
        }
    }

    /// Set once, from the thread that saw stdout's reader go away.
    final class ReaderGone: @unchecked Sendable {
        private let lock = NSLock()
        private var value = false
        var isSet: Bool { lock.withLock { value } }
        func set() { lock.withLock { value = true } }
    }

    /// When stdout is a pipe or a socket, sets `flag` and calls `gone` once its reader has closed it (poll reports
    /// POLLERR or POLLHUP on the writing end), from a thread of its own that sleeps in `poll` until then.
    static func onReaderGone(_ flag: ReaderGone, _ gone: @escaping @Sendable () -> Void) {
        var status = stat()
        guard fstat(STDOUT_FILENO, &status) == 0 else { return }
        let kind = status.st_mode & S_IFMT
        guard kind == S_IFIFO || kind == S_IFSOCK else { return }
        Thread.detachNewThread {
            var descriptor = pollfd(fd: STDOUT_FILENO, events: 0, revents: 0)
            while true {
                let ready = poll(&descriptor, 1, -1)
                if ready > 0, descriptor.revents & Int16(POLLERR | POLLHUP) != 0 {
                    flag.set()
                    gone()
                    return
                }
                if ready < 0, errno != EINTR { return }
            }
        }
    }

    static func render(_ event: NewswireClient.WatchEvent) -> String {
        let hit = event.hit
        var meta = [hit.id.rawValue]
        if let at = hit.publishedAt { meta.append(at.iso8601) }
        if let source = hit.source { meta.append(source) }
        var lines = [Style.dim("\(event.position.sequence) \(event.kind.rawValue)") + " " + Style.bold(hit.title)]
        if event.kind == .deleted { lines[0] = Style.dim("\(event.position.sequence) deleted") + " " + hit.id.rawValue }
        if event.kind == .unmatched { lines[0] += Style.dim(" (no longer matches)") }
        if event.kind != .deleted { lines.append("   " + Style.dim(meta.joined(separator: " · "))) }
        if !hit.snippet.isEmpty { lines.append("   " + SearchCommand.highlighted(hit.snippet, hit.highlights)) }
        return lines.joined(separator: "\n")
    }

    /// One event as one line of JSON (README "Live queries").
    struct EventJSON: Encodable {
        var position: String
        var sequence: UInt64
        var kind: String
        var hit: SearchJSON.Hit
        var article: Article?

        func encode(to encoder: any Encoder) throws {
            enum Keys: String, CodingKey { case position, sequence, kind, id, title, source, publishedAt, snippet, highlights, article }
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(position, forKey: .position)
            try c.encode(sequence, forKey: .sequence)
            try c.encode(kind, forKey: .kind)
            try c.encode(hit.id, forKey: .id)
            try c.encode(hit.title, forKey: .title)
            try c.encode(hit.source, forKey: .source)
            try c.encode(hit.publishedAt, forKey: .publishedAt)
            try c.encode(hit.snippet, forKey: .snippet)
            try c.encode(hit.highlights, forKey: .highlights)
            if let article { try c.encode(article, forKey: .article) }
        }
    }

    static func json(_ event: NewswireClient.WatchEvent) throws -> String {
        let hit = event.hit
        return try encodeJSON(
            EventJSON(
                position: event.position.description, sequence: event.position.sequence, kind: event.kind.rawValue,
                hit: SearchJSON.Hit(
                    id: hit.id.rawValue, title: hit.title, source: hit.source, publishedAt: hit.publishedAt?.iso8601,
                    score: 0, snippet: hit.snippet, highlights: hit.highlights.map { [$0.start, $0.end] }),
                article: event.article))
    }
}
