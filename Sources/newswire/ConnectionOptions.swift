import ArgumentParser
import Foundation
import NewswireClient

/// Options every command that talks to a server shares.
struct ConnectionOptions: ParsableArguments {
    @Option(
        help: "Server host, or several as host[:port],host[:port]… (cluster nodes; default: from NEWSWIRE_ADDR=host:port[,…], else 127.0.0.1).")
    var host: String?

    @Option(help: "Server port (default: from NEWSWIRE_ADDR, else 7411).")
    var port: Int?

    @Option(help: "Token for writes or protected reads (default: NEWSWIRE_TOKEN).")
    var token: String?

    @Option(
        name: .customLong("token-file"),
        help: "File whose first line is the token (keeps it out of the process list; default: NEWSWIRE_TOKEN_FILE).")
    var tokenFile: String?

    @Flag(help: "Connect with TLS and verify the server's certificate (default: NEWSWIRE_TLS=1).")
    var tls = false

    @Option(
        name: .customLong("tls-ca"),
        help: "PEM file of CA certificates to trust for the server (implies --tls; default: NEWSWIRE_TLS_CA).")
    var tlsCA: String?

    @Flag(
        inversion: .prefixedNo,
        help: "Offer zlib compression (default: on; `ingest` leaves it off for a loopback server, where it only costs CPU).")
    var compression: Bool?

    /// Whether `--no-compression` was given.
    var noCompression: Bool { compression == false }

    @Flag(help: "Machine output: one JSON document (field names in README).")
    var json = false

    @Option(help: "Seconds to wait for the connection and for each answer.")
    var timeout: Double = 30

    /// How many values follow each connection option (0 for flags). `newswire --host H ping` moves these after
    /// the command name; keep it in step with the options above (a CLI test checks `--help` against it).
    static let optionArity: [String: Int] = [
        "--host": 1, "--port": 1, "--token": 1, "--token-file": 1, "--tls": 0, "--tls-ca": 1, "--compression": 0,
        "--no-compression": 0, "--json": 0, "--timeout": 1,
    ]

    /// The arity of `argument` if it is a connection option (`--port=7411` counts as a flag: its value is inside).
    static func arity(of argument: String) -> Int? {
        if argument.hasPrefix("--"), let equals = argument.firstIndex(of: "=") {
            return optionArity[String(argument[..<equals])] == 1 ? 0 : nil
        }
        return optionArity[argument]
    }

    func validate() throws {
        if let port, !(1...65535).contains(port) { throw ValidationError("--port \(port) is not a TCP port") }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
        if let tlsCA, !FileManager.default.isReadableFile(atPath: tlsCA) {
            throw ValidationError("--tls-ca \(tlsCA): no readable file there")
        }
        if token != nil, tokenFile != nil { throw ValidationError("give --token or --token-file, not both") }
        _ = try address()
    }

    /// The first endpoint.
    func address() throws -> (host: String, port: Int) {
        try endpoints()[0]
    }

    /// The endpoints as messages name them: `host:port`, or `any of host:port, host:port` when there are several.
    func addressLabel() throws -> String {
        let all = try endpoints().map(Self.label(of:))
        return all.count == 1 ? all[0] : "any of " + all.joined(separator: ", ")
    }

    /// One endpoint as messages and `--host` name it: `host:port`, `[v6 address]:port`.
    static func label(of endpoint: (host: String, port: Int)) -> String {
        endpoint.host.contains(":") ? "[\(endpoint.host)]:\(endpoint.port)" : "\(endpoint.host):\(endpoint.port)"
    }

    /// The servers to use, in order: `--host` (one host, or a comma-separated list of `host[:port]`; `--port` is
    /// the port of those without one), else `NEWSWIRE_ADDR` (`host:port[,host:port…]`), else 127.0.0.1:7411.
    /// With several, the client spreads its connections over them and moves requests off a node that fails.
    func endpoints() throws -> [(host: String, port: Int)] {
        let defaultPort = port ?? 7411
        if let host {
            return try Self.parseEndpoints(host, defaultPort: defaultPort, what: "--host")
        }
        if let addr = ProcessInfo.processInfo.environment["NEWSWIRE_ADDR"], !addr.isEmpty {
            let parsed = try Self.parseEndpoints(addr, defaultPort: nil, what: "NEWSWIRE_ADDR")
            // --port overrides the port of a single NEWSWIRE_ADDR, as it always has.
            if let port, parsed.count == 1 { return [(parsed[0].host, port)] }
            return parsed
        }
        return [("127.0.0.1", defaultPort)]
    }

    /// Parses `host[:port][,host[:port]…]`; IPv6 addresses with a port go in brackets (`[::1]:7411`). Without a
    /// `defaultPort`, every item needs its port.
    static func parseEndpoints(_ text: String, defaultPort: Int?, what: String) throws -> [(host: String, port: Int)] {
        let items = text.split(separator: ",", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        return try items.map { item -> (host: String, port: Int) in
            guard !item.isEmpty else { throw ValidationError("\(what)=\(text) has an empty entry") }
            let colons = item.filter { $0 == ":" }.count
            let hasPort = item.hasPrefix("[") ? item.contains("]:") : colons == 1
            guard hasPort, let colon = item.lastIndex(of: ":") else {
                guard let defaultPort else {
                    throw ValidationError("\(what)=\(text) is not host:port[,host:port…]")
                }
                return (item.trimmingCharacters(in: CharacterSet(charactersIn: "[]")), defaultPort)
            }
            guard let port = Int(item[item.index(after: colon)...]), (1...65535).contains(port) else {
                throw ValidationError("\(what): \(item) does not end in a TCP port")
            }
            let host = String(item[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            guard !host.isEmpty else { throw ValidationError("\(what): \(item) has no host") }
            return (host, port)
        }
    }

    /// Whether `host` names this machine's loopback interface (localhost, 127.0.0.0/8, ::1).
    static func isLoopback(_ host: String) -> Bool {
        let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).lowercased()
        return bare == "localhost" || bare == "::1" || bare.hasPrefix("127.")
    }

    /// The token: `--token`, else the first line of `--token-file`, else `NEWSWIRE_TOKEN`, else the first line of
    /// `NEWSWIRE_TOKEN_FILE`; nil when none is given.
    func resolvedToken() throws -> String? {
        let environment = ProcessInfo.processInfo.environment
        func env(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        var token = token ?? env("NEWSWIRE_TOKEN")
        if let path = tokenFile ?? env("NEWSWIRE_TOKEN_FILE") {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8),
                let line = text.split(whereSeparator: \.isNewline).first?.trimmingCharacters(in: .whitespaces),
                !line.isEmpty
            else {
                throw ValidationError("--token-file \(path): cannot read a token from the file's first line")
            }
            token = line
        }
        return token
    }

    /// The load generators speak plain TCP: refuse TLS options rather than load a TLS server without it.
    func refuseTLS(_ command: String) throws {
        let environment = ProcessInfo.processInfo.environment
        if tls || tlsCA != nil || environment["NEWSWIRE_TLS"] == "1" || environment["NEWSWIRE_TLS_CA"].map({ !$0.isEmpty }) == true {
            throw ValidationError(
                "\(command) speaks plain TCP only (--tls, --tls-ca, NEWSWIRE_TLS or NEWSWIRE_TLS_CA was given); "
                    + "load a server listening without TLS")
        }
    }

    /// A client for the flags. `compressingLoopback: false` leaves zlib off for a loopback server unless
    /// `--compression` was given: for bulk transfers on one machine it costs CPU on both ends and saves nothing.
    func makeClient(compressingLoopback: Bool = true) throws -> NewswireClient {
        let endpoints = try endpoints()
        let compress = compression ?? (compressingLoopback || !endpoints.allSatisfy { Self.isLoopback($0.host) })
        let environment = ProcessInfo.processInfo.environment
        func env(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        let token = try resolvedToken()
        let ca = tlsCA ?? env("NEWSWIRE_TLS_CA")
        let useTLS = tls || ca != nil || env("NEWSWIRE_TLS") == "1"
        // Connecting and the handshake get the same patience as an answer: a busy server may take seconds to
        // send WELCOME, and a refused connection fails at once anyway.
        return NewswireClient(
            configuration: .init(
                endpoints: endpoints.map { NewswireClient.Endpoint(host: $0.host, port: $0.port) },
                token: token, compression: compress,
                connectTimeout: .milliseconds(Int(timeout * 1000)), requestTimeout: .milliseconds(Int(timeout * 1000)),
                clientName: "newswire-cli/0.1", tls: useTLS ? .init(trustRootsPath: ca) : nil))
    }
}

/// Exit codes of the remote commands (README "Exit codes").
enum CLIExit {
    /// A server answered with an error (bad query, unauthorised, parse failure…), or some inputs failed.
    static let serverError: Int32 = 1
    /// The requested article does not exist.
    static let notFound: Int32 = 2
    /// The server could not be reached or the connection broke.
    static let connection: Int32 = 3
    // Usage errors exit with 64 (ArgumentParser's EX_USAGE).
}

/// Runs `body` with a client, prints a one-line error on failure and exits with the documented code.
func withClient(
    _ options: ConnectionOptions, compressingLoopback: Bool = true, _ body: (NewswireClient) async throws -> Void
) async throws {
    let client = try options.makeClient(compressingLoopback: compressingLoopback)
    do {
        try await body(client)
        await client.shutdown()
    } catch let error as NewswireClientError {
        await client.shutdown()
        printError(
            "newswire: \(error.code.rawValue): "
                + ConnectionOptions.describe(error, address: try options.addressLabel(), host: try options.address().host))
        throw ExitCode(ConnectionOptions.exitCode(for: error))
    } catch {
        await client.shutdown()
        throw error
    }
}

extension ConnectionOptions {
    /// The documented exit status for a client error (README "Exit codes").
    static func exitCode(for error: NewswireClientError) -> Int32 {
        switch error.code {
        case .notFound: CLIExit.notFound
        case .connectionFailed, .connectionClosed, .timeout: CLIExit.connection
        // Another service on that port (HTTP, Redis…): no Newswire server was reached, none answered with an error.
        case .protocolViolation where error.message.contains("does not answer as a Newswire server"): CLIExit.connection
        default: CLIExit.serverError
        }
    }

    /// The error in the user's terms: connection failures name the address (``addressLabel()``) and what happened
    /// (refused, unknown host, broken, timed out) instead of the socket library's description.
    static func describe(_ error: NewswireClientError, address: String, host: String) -> String {
        let text = error.message.lowercased()
        switch error.code {
        case .connectionFailed where error.serverError != nil:
            return error.message
        case .connectionFailed where text.contains("refused"):
            return "cannot connect to \(address): connection refused (is newswired running there?)"
        case .connectionFailed
        where text.contains("resolve") || text.contains("getaddrinfo") || text.contains("unknown host")
            || text.contains("unknownhost") || text.contains("no address"):
            return "cannot connect to \(address): unknown host \(host)"
        case .connectionFailed where text.contains("timed out") || text.contains("timeout"):
            return "cannot connect to \(address): no answer (timed out; is the address right?)"
        case .connectionFailed where text.contains("still backing off"):
            return "cannot connect to \(address) (is newswired running there?)"
        case .connectionFailed where text.contains("tls") || text.contains("handshake") || text.contains("welcome"):
            return error.message
        case .connectionFailed:
            return "cannot connect to \(address) (is newswired running there?)"
        case .connectionClosed:
            return "the connection to \(address) broke (the server closed it or went away)"
        case .timeout:
            return "no answer from \(address) in time (--timeout)"
        default:
            return error.message
        }
    }
}

/// ANSI styling, only when stdout is a terminal and NO_COLOR is unset.
enum Style {
    static let enabled: Bool = isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil

    static func bold(_ s: String) -> String { enabled ? "\u{1B}[1m\(s)\u{1B}[0m" : s }
    static func dim(_ s: String) -> String { enabled ? "\u{1B}[2m\(s)\u{1B}[0m" : s }
    static func highlight(_ s: String) -> String { enabled ? "\u{1B}[1;33m\(s)\u{1B}[0m" : "[\(s)]" }
}

/// JSON with stable field order and UTF-8 text (no \u escapes).
func encodeJSON(_ value: some Encodable) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}
