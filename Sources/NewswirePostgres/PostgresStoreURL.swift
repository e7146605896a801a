import Foundation
import NewswireStore

/// Where a ``PostgresArticleStore`` connects: a libpq-style multi-host URL.
///
/// `postgres://USER@HOST1:5432,HOST2:5432/DB` (also `postgresql://`). Hosts are tried in order; the one that is
/// not in recovery (`pg_is_in_recovery()` false) is the write target, so a promoted standby is found by listing
/// it. The password comes from the URL (`USER:PASSWORD@`, discouraged), else `PGPASSWORD`, else the password file
/// (`PGPASSFILE`, default `~/.pgpass`, libpq's format). It is never part of ``description``.
public struct PostgresStoreURL: Sendable, Hashable, CustomStringConvertible {
    /// One host of the list.
    public struct Host: Sendable, Hashable {
        /// Host name or address.
        public var name: String
        /// TCP port.
        public var port: Int

        /// Creates a host entry.
        public init(name: String, port: Int = 5432) {
            self.name = name
            self.port = port
        }
    }

    /// The hosts, in the order they are tried.
    public var hosts: [Host]
    /// The user name.
    public var username: String
    /// The database name.
    public var database: String
    /// The password (never printed), when one was found.
    public var password: String?

    /// Creates a location directly.
    public init(hosts: [Host], username: String, database: String, password: String? = nil) {
        self.hosts = hosts
        self.username = username
        self.database = database
        self.password = password
    }

    /// Parses `text`, taking the password from the URL, `environment["PGPASSWORD"]` or the password file.
    ///
    /// Throws ``NewswireStore/StoreError`` (``NewswireStore/StoreError/Code/invalidArgument``) naming what is wrong (the password is never repeated in a message).
    public init(parsing text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        var rest = Substring(text)
        var matchedScheme = false
        for scheme in ["postgres://", "postgresql://"] where rest.hasPrefix(scheme) {
            rest = rest.dropFirst(scheme.count)
            matchedScheme = true
            break
        }
        guard matchedScheme else {
            throw StoreError(
                .invalidArgument, "store URL must start with postgres:// (for example postgres://newswire@127.0.0.1:5432/newswire)")
        }
        if let query = rest.firstIndex(of: "?") { rest = rest[..<query] }
        var userPart: Substring = ""
        if let at = rest.lastIndex(of: "@") {
            userPart = rest[..<at]
            rest = rest[rest.index(after: at)...]
        }
        var urlPassword: String?
        if let colon = userPart.firstIndex(of: ":") {
            urlPassword = String(userPart[userPart.index(after: colon)...]).removingPercentEncoding
            userPart = userPart[..<colon]
        }
        let hostPart: Substring
        let databasePart: Substring
        if let slash = rest.firstIndex(of: "/") {
            hostPart = rest[..<slash]
            databasePart = rest[rest.index(after: slash)...]
        } else {
            hostPart = rest
            databasePart = ""
        }
        var hosts: [Host] = []
        for entry in hostPart.split(separator: ",", omittingEmptySubsequences: false) {
            guard !entry.isEmpty else { throw StoreError(.invalidArgument, "store URL has an empty host in its host list") }
            if let colon = entry.lastIndex(of: ":") {
                let portText = entry[entry.index(after: colon)...]
                guard let port = Int(portText), (1...65_535).contains(port) else {
                    throw StoreError(.invalidArgument, "store URL host \(entry) has an invalid port '\(portText)'")
                }
                hosts.append(Host(name: String(entry[..<colon]), port: port))
            } else {
                hosts.append(Host(name: String(entry)))
            }
        }
        guard !hosts.isEmpty else { throw StoreError(.invalidArgument, "store URL names no host") }
        let username = String(userPart).removingPercentEncoding ?? String(userPart)
        let user = username.isEmpty ? (environment["PGUSER"] ?? "postgres") : username
        let database = databasePart.isEmpty ? user : (String(databasePart).removingPercentEncoding ?? "")
        self.init(hosts: hosts, username: user, database: database)
        password =
            urlPassword ?? environment["PGPASSWORD"]
            ?? Self.passwordFromFile(environment: environment, hosts: hosts, database: database, user: user)
    }

    /// The first matching line of the password file (`host:port:database:user:password`, `*` matches anything).
    static func passwordFromFile(environment: [String: String], hosts: [Host], database: String, user: String)
        -> String?
    {
        let path =
            environment["PGPASSFILE"]
            ?? environment["HOME"].map { ($0 as NSString).appendingPathComponent(".pgpass") }
        guard let path, let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(whereSeparator: \.isNewline) where !line.hasPrefix("#") {
            let fields = line.split(separator: ":", maxSplits: 4, omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 5 else { continue }
            func matches(_ field: String, _ value: String) -> Bool { field == "*" || field == value }
            let hostMatches = hosts.contains { matches(fields[0], $0.name) && matches(fields[1], String($0.port)) }
            if hostMatches, matches(fields[2], database), matches(fields[3], user) { return fields[4] }
        }
        return nil
    }

    /// The URL without its password: safe to log.
    public var description: String {
        let hostList = hosts.map { "\($0.name):\($0.port)" }.joined(separator: ",")
        return "postgres://\(username)@\(hostList)/\(database)"
    }
}
