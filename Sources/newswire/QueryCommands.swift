import ArgumentParser
import ArticleExtraction
import Foundation
import NewswireClient

/// `newswire ping`
struct PingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ping", abstract: "Check that a server answers.")

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        try await withClient(connection) { client in
            let rtt = try await client.ping()
            let micros = Int(rtt.components.seconds * 1_000_000 + rtt.components.attoseconds / 1_000_000_000_000)
            if connection.json {
                printOut(#"{"ok":true,"roundTripMicros":\#(micros)}"#)
            } else {
                let (host, port) = try connection.address()
                printOut("pong from \(host):\(port) in \(String(format: "%.2f", Double(micros) / 1000)) ms")
            }
        }
    }
}

/// `newswire get ID...`
struct GetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get", abstract: "Print articles by id (the same JSON as `parse --json` with --json).")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var articles: ArticleIDArguments

    func run() async throws {
        try await withClient(connection) { client in
            let articleIDs = articles.ids
            let articles: [Article]
            let missing: [ArticleID]
            if articleIDs.count == 1 {
                articles = [try await client.article(id: articleIDs[0])]
                missing = []
            } else {
                (articles, missing) = try await client.articles(ids: articleIDs)
            }
            for article in articles {
                printOut(connection.json ? ArticleJSON.encode(article) : ArticleSummary.render(article))
            }
            for id in missing { printError("newswire: NOT_FOUND: no article with id \(id)") }
            if !missing.isEmpty { throw ExitCode(CLIExit.notFound) }
        }
    }
}

/// A readable rendering of an article for terminals.
enum ArticleSummary {
    static func render(_ article: Article) -> String {
        var lines = [Style.bold(article.title)]
        for subtitle in article.subtitles { lines.append("  " + subtitle) }
        var meta: [String] = ["id " + article.id.rawValue]
        if let at = article.publishedAt { meta.append(at.iso8601) }
        if let source = article.source { meta.append(source) }
        if !article.reporters.isEmpty { meta.append("记者 " + article.reporters.joined(separator: " ")) }
        if let duplicate = article.duplicateOf { meta.append("duplicate of " + duplicate.rawValue) }
        lines.append(Style.dim(meta.joined(separator: " · ")))
        if let url = article.url { lines.append(Style.dim(url)) }
        if !article.participants.isEmpty {
            lines.append(Style.dim("participants: " + article.participants.joined(separator: "、")))
        }
        lines.append("")
        lines += article.paragraphs
        lines.append("")
        return lines.joined(separator: "\n")
    }
}

/// `newswire search QUERY`
struct SearchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search", abstract: "Full-text search; no query (or '') lists every article.",
        discussion: """
            The query language (README "Query language"):
              新疆                      the term, in the title or the body (1- and 2-character terms work)
              北京大学                  3+ CJK characters without spaces are one exact phrase
              北京 大学                 both terms, anywhere (terms are ANDed)
              "hong kong"  “人民 共和”  a quoted phrase: the words next to each other
              新疆 OR 四川              either one (OR in capitals; binds tighter than AND)
              -上海  -"税政改革"        exclude (a query needs at least one positive term)
              title:经济  source:新华社  person:张三
              after:2024-04-01 before:2024-05-01   published at/after, strictly before (dates are China time)
              (nothing, or '')          every article: browse with --sort date, --source, --after, --facets
            A query word that starts with '-' is an exclusion; the words may also follow '--', as in \
            `newswire search -- -上海 新疆`. Unknown options are errors, not query words.
            """)

    /// Largest page (PROTOCOL.md §9: hits in one SEARCH page).
    static let maxLimit = 10_000

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The query, e.g. '疆电入川', '\"西部大开发\" source:天山网-新疆日报', 'title:四川 -成都'; none lists every article.")
    var query: [String] = []

    @Option(help: "Hits to return (0...10000; 0 prints only the count).")
    var limit: Int = 10

    @Option(help: "Hits to skip (0 or more).")
    var offset: Int = 0

    @Option(help: "Only articles published on or after this date (YYYY-MM-DD or RFC 3339).")
    var after: String?

    @Option(help: "Only articles published before this date (YYYY-MM-DD or RFC 3339).")
    var before: String?

    @Option(help: "Only articles from exactly this source (repeatable).")
    var source: [String] = []

    @Option(help: "relevance, date (newest first) or oldest.")
    var sort: String = "relevance"

    @Flag(help: "Count results by source, month and person.")
    var facets = false

    func validate() throws {
        guard (0...Self.maxLimit).contains(limit) else {
            throw ValidationError("--limit \(limit) is outside 0...\(Self.maxLimit)")
        }
        guard offset >= 0 else { throw ValidationError("--offset \(offset) is negative: give 0 or more") }
        guard Self.sortOrder(sort) != nil else { throw ValidationError("--sort must be relevance, date or oldest") }
        for (name, value) in [("--after", after), ("--before", before)] {
            if let value, PublishedTime(iso8601: value) == nil {
                throw ValidationError("\(name) \(value) is not a date (YYYY-MM-DD or RFC 3339)")
            }
        }
    }

    /// Options of `search` that take a value (the rest of its options are flags).
    static let valueOptions: Set<String> = ["--limit", "--offset", "--after", "--before", "--source", "--sort"]

    /// `search`'s arguments with the query words after `--` (see ``CommandLineArguments``): a word is a query
    /// word unless it looks like an option (`--limit`, `-l`), or is the value of one.
    static func separatingQuery(_ arguments: [String], valueOptions: Set<String> = valueOptions) -> [String] {
        var options: [String] = []
        var words: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--" {
                words += arguments[(index + 1)...]
                break
            }
            if CommandLineArguments.isOption(argument) {
                options.append(argument)
                let takesValue = valueOptions.contains(argument) || ConnectionOptions.arity(of: argument) == 1
                if takesValue, index + 1 < arguments.count {
                    options.append(arguments[index + 1])
                    index += 1
                }
            } else {
                words.append(argument)
            }
            index += 1
        }
        return words.isEmpty ? options : options + ["--"] + words
    }

    static func sortOrder(_ text: String) -> SearchSort? {
        switch text.lowercased() {
        case "relevance": .relevance
        case "date", "newest": .newest
        case "oldest": .oldest
        default: nil
        }
    }

    func run() async throws {
        let request = SearchRequest(
            text: query.joined(separator: " "), sources: source,
            publishedFrom: after.flatMap { PublishedTime(iso8601: $0) },
            publishedBefore: before.flatMap { PublishedTime(iso8601: $0) }, sort: Self.sortOrder(sort) ?? .relevance,
            offset: offset, limit: limit, facets: facets ? FacetField.allCases : [])
        try await withClient(connection) { client in
            let page = try await client.search(request)
            if connection.json {
                printOut(try encodeJSON(SearchJSON(page)))
            } else {
                render(page, sort: request.sort)
            }
        }
    }

    private func render(_ page: SearchPage, sort: SearchSort) {
        let shownTo = offset + page.hits.count
        printOut(
            Style.dim(
                "\(page.total) result\(page.total == 1 ? "" : "s")"
                    + (page.hits.isEmpty ? "" : ", showing \(offset + 1)–\(shownTo)")
                    + " (\(String(format: "%.2f", Double(page.tookMicros) / 1000)) ms)"))
        for (rank, hit) in page.hits.enumerated() {
            printOut("")
            printOut("\(offset + rank + 1). " + Style.bold(hit.title))
            var meta = [hit.id.rawValue]
            if let at = hit.publishedAt { meta.append(at.iso8601) }
            if let source = hit.source { meta.append(source) }
            // Hits sorted by date carry no score (PROTOCOL.md §5.6).
            if sort == .relevance { meta.append(String(format: "score %.3f", hit.score)) }
            printOut("   " + Style.dim(meta.joined(separator: " · ")))
            if !hit.snippet.isEmpty { printOut("   " + Self.highlighted(hit.snippet, hit.highlights)) }
        }
        for facet in page.facets where !facet.counts.isEmpty {
            printOut("")
            printOut(Style.bold("by \(facet.field)"))
            for count in facet.counts { printOut("  \(count.count)\t\(count.value)") }
        }
    }

    /// The snippet with each highlight range (Unicode scalar offsets) marked.
    static func highlighted(_ snippet: String, _ ranges: [HighlightRange]) -> String {
        let scalars = Array(snippet.unicodeScalars)
        var out = ""
        var position = 0
        for range in ranges.sorted(by: { $0.start < $1.start }) {
            let start = max(position, min(range.start, scalars.count))
            let end = max(start, min(range.end, scalars.count))
            out.unicodeScalars.append(contentsOf: scalars[position..<start])
            var match = ""
            match.unicodeScalars.append(contentsOf: scalars[start..<end])
            out += Style.highlight(match)
            position = end
        }
        out.unicodeScalars.append(contentsOf: scalars[position...])
        return out.replacingOccurrences(of: "\n", with: " ")
    }
}

/// `search --json` output: stable field names, documented in README.
struct SearchJSON: Encodable {
    struct Hit: Encodable {
        var id: String
        var title: String
        var source: String?
        var publishedAt: String?
        var score: Double
        var snippet: String
        var highlights: [[Int]]

        func encode(to encoder: any Encoder) throws {
            enum Keys: String, CodingKey { case id, title, source, publishedAt, score, snippet, highlights }
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(id, forKey: .id)
            try c.encode(title, forKey: .title)
            try c.encode(source, forKey: .source)
            try c.encode(publishedAt, forKey: .publishedAt)
            try c.encode(score, forKey: .score)
            try c.encode(snippet, forKey: .snippet)
            try c.encode(highlights, forKey: .highlights)
        }
    }

    struct Count: Encodable {
        var value: String
        var count: Int
    }

    var total: Int
    var hits: [Hit]
    var facets: [String: [Count]]
    var tookMicros: Int

    init(_ page: SearchPage) {
        total = page.total
        tookMicros = page.tookMicros
        hits = page.hits.map {
            Hit(
                id: $0.id.rawValue, title: $0.title, source: $0.source, publishedAt: $0.publishedAt?.iso8601,
                score: $0.score, snippet: $0.snippet, highlights: $0.highlights.map { [$0.start, $0.end] })
        }
        var facets: [String: [Count]] = [:]
        for facet in page.facets {
            facets["\(facet.field)"] = facet.counts.map { Count(value: $0.value, count: $0.count) }
        }
        self.facets = facets
    }
}

/// `newswire related ID`
struct RelatedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "related", abstract: "Articles related to one article (相关文章).")

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "Article id.")
    var id: String

    @Option(help: "How many (1...1000).")
    var limit: Int = 10

    func validate() throws {
        guard (1...1000).contains(limit) else { throw ValidationError("--limit must be within 1...1000") }
    }

    func run() async throws {
        try await withClient(connection) { client in
            let hits = try await client.related(to: ArticleID(id), limit: limit)
            if connection.json {
                printOut(try encodeJSON(SearchJSON(SearchPage(total: hits.count, hits: hits)).hits))
                return
            }
            if hits.isEmpty { printOut(Style.dim("no related articles")) }
            for (rank, hit) in hits.enumerated() {
                var meta = [hit.id.rawValue]
                if let at = hit.publishedAt { meta.append(at.iso8601) }
                meta.append(String(format: "score %.3f", hit.score))
                printOut("\(rank + 1). \(Style.bold(hit.title))  \(Style.dim(meta.joined(separator: " · ")))")
            }
        }
    }
}

/// `newswire delete ID...`
struct DeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete", abstract: "Delete articles by id (needs the write token).")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var articles: ArticleIDArguments

    func run() async throws {
        try await withClient(connection) { client in
            let result = try await client.delete(ids: articles.ids)
            if connection.json {
                struct Output: Encodable {
                    var deleted: Int
                    var missing: [String]
                }
                printOut(try encodeJSON(Output(deleted: result.deleted, missing: result.missing.map(\.rawValue))))
            } else {
                printOut("deleted \(result.deleted)")
            }
            for id in result.missing { printError("newswire: NOT_FOUND: no article with id \(id)") }
            if !result.missing.isEmpty { throw ExitCode(CLIExit.notFound) }
        }
    }
}

/// `newswire stats`
struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats", abstract: "Server counters.",
        discussion: """
            With --every, samples them again and again over one connection (like vmstat): with --json one object \
            per line, each with "time" (seconds since the Unix epoch) beside the counters; otherwise a block per \
            sample after a line with the time. Until --count samples were printed, or Ctrl-C. With several \
            endpoints (cluster nodes), each sample asks every node in turn and names it ("node").
            """)

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Sample the counters every SECONDS (0.001 or more) over one connection, until --count or Ctrl-C.")
    var every: Double?

    @Option(help: "With --every: stop after this many samples (1 or more).")
    var count: Int?

    func validate() throws {
        if let every, !(every >= 0.001 && every <= 86_400) {
            throw ValidationError("--every must be between 0.001 and 86400 seconds")
        }
        if let count {
            guard every != nil else { throw ValidationError("--count needs --every") }
            guard count >= 1 else { throw ValidationError("--count must be 1 or more") }
        }
    }

    func run() async throws {
        if try connection.endpoints().count > 1 { return try await runPerNode() }
        try await withClient(connection) { client in
            try await sample { first, time in
                try print(try await client.stats(), node: nil, time: time, first: first)
            }
        }
    }

    /// Once, or with --every again and again on a fixed schedule (not a sleep after each answer, so samples stay
    /// `every` apart however long STATS takes); `body` gets whether it is the first and the time to print.
    private func sample(_ body: (_ first: Bool, _ time: Double?) async throws -> Void) async throws {
        guard let every else { return try await body(true, nil) }
        let clock = ContinuousClock()
        let period = Duration.nanoseconds(Int64((every * 1e9).rounded()))
        var next = clock.now
        var printed = 0
        while count.map({ printed < $0 }) ?? true {
            try await body(printed == 0, Date().timeIntervalSince1970)
            printed += 1
            next = next.advanced(by: period)
            if next < clock.now { next = clock.now }  // a stalled server is not caught up with a burst of samples
            if count.map({ printed < $0 }) ?? true { try await Task.sleep(until: next, clock: clock) }
        }
    }

    /// Several endpoints (cluster nodes): every sample asks each node in turn, each printed with `node`, so one
    /// command shows every node's position and lag side by side. A node that fails is said on stderr; the others
    /// are printed; exit 3 (or the server's error) once done when any failed.
    private func runPerNode() async throws {
        var nodes: [(label: String, host: String, client: NewswireClient)] = []
        for endpoint in try connection.endpoints() {
            var single = connection
            single.host = ConnectionOptions.label(of: endpoint)
            single.port = nil
            nodes.append((ConnectionOptions.label(of: endpoint), endpoint.host, try single.makeClient()))
        }
        var failure: NewswireClientError?
        do {
            try await sample { first, time in
                for (offset, node) in nodes.enumerated() {
                    do {
                        try print(
                            try await node.client.stats(), node: node.label, time: time, first: first && offset == 0)
                    } catch let error as NewswireClientError {
                        failure = failure ?? error
                        printError(
                            "newswire: \(error.code.rawValue): "
                                + ConnectionOptions.describe(error, address: node.label, host: node.host))
                    }
                }
            }
        } catch {
            for node in nodes { await node.client.shutdown() }
            throw error
        }
        for node in nodes { await node.client.shutdown() }
        if let failure { throw ExitCode(ConnectionOptions.exitCode(for: failure)) }
    }

    private func print(_ stats: NewswireClient.Stats, node: String?, time: Double?, first: Bool) throws {
        if connection.json {
            var object: [String: StatJSON] = [:]
            for entry in stats.entries { object[entry.name] = StatJSON(entry.value) }
            if let time { object["time"] = StatJSON(.double((time * 1e3).rounded() / 1e3)) }
            if let node { object["node"] = StatJSON(.text(node)) }
            printOut(try encodeJSON(object))
            return
        }
        if !first { printOut("") }
        if let time { printOut("time  \(String(format: "%.3f", time))") }
        if let node { printOut("node  \(node)") }
        let width = stats.entries.map(\.name.count).max() ?? 0
        for entry in stats.entries {
            let name = entry.name.padding(toLength: width, withPad: " ", startingAt: 0)
            printOut("\(name)  \(StatJSON(entry.value).text)")
        }
    }
}

/// A STATS value as JSON (number or string).
struct StatJSON: Encodable {
    let value: NewswireClient.Stats.Value
    init(_ value: NewswireClient.Stats.Value) { self.value = value }

    var text: String {
        switch value {
        case .integer(let v): String(v)
        case .double(let v): String(format: "%.3f", v)
        case .text(let v): v
        }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch value {
        case .integer(let v): try c.encode(v)
        case .double(let v): try c.encode(v)
        case .text(let v): try c.encode(v)
        }
    }
}

/// One or more article ids as positional arguments.
struct ArticleIDArguments: ParsableArguments {
    @Argument(help: "Article ids.")
    var values: [String]

    var ids: [ArticleID] { values.map { ArticleID($0) } }

    func validate() throws {
        guard !values.isEmpty else { throw ValidationError("give at least one article id") }
    }
}
