import Foundation
import Logging
import NIOCore
import NIOPosix
import NewswireModel
import NewswireStore
import NewswireTestSupport
import PostgresNIO
import Testing

@testable import NewswirePostgres

/// A store call must never wait forever on a connection: that is what stalled a node's writes after a primary
/// was killed and a standby promoted (a statement issued on a connection the dead primary had just closed is
/// never answered by PostgresNIO).
@Suite(
    "PostgreSQL connections",
    .enabled(if: TemporaryPostgres.isAvailable, "skipped: \(TemporaryPostgres.unavailableReason ?? "")"))
struct PostgresConnectionTests {
    static let logger = Logger(label: "newswire.test.postgres")

    /// A store on a fresh database of the shared server, with the server and the database's name (the caller
    /// closes the store).
    static func freshStore(_ name: String = #function) throws -> (
        server: TemporaryPostgres, database: String, store: PostgresArticleStore
    ) {
        let url = try SharedTestPostgres.freshDatabaseURL(name)
        return (try SharedTestPostgres.get(), String(url.split(separator: "/").last!), try PostgresArticleStore(url: url))
    }

    static func connect(_ server: TemporaryPostgres) throws -> PostgresConnection {
        let url = try PostgresStoreURL(parsing: server.url())
        return try PostgresConnection.connectWithKeepalive(
            to: url.hosts[0], url: url, connectTimeout: .seconds(30), id: 1,
            on: MultiThreadedEventLoopGroup.singleton.next(), logger: logger)
    }

    @Test(
        "a database that does not exist is CANNOT_OPEN at once, saying so, not retried until the failover timeout",
        .timeLimit(.minutes(2)))
    func missingDatabaseIsRefusedAtOnce() async throws {
        let server = try SharedTestPostgres.get()
        let url = try PostgresStoreURL(parsing: server.url(database: "newswire_no_such_database"))
        let error = try await runBlocking {
            #expect(throws: StoreError.self) {
                // An hour: only the refusal itself can end this within the test.
                try PostgresArticleStore(url: url, configuration: .init(failoverTimeout: .seconds(3_600)), logger: Self.logger)
            }
        }
        #expect(error?.code == .cannotOpen)
        #expect(error?.message.contains("the database does not exist") == true, "\(String(describing: error))")
    }

    @Test("a statement on a connection that was closed under it fails as a lost connection")
    func statementOnClosedConnection() async throws {
        try await runBlocking {
            let connection = try Self.connect(try SharedTestPostgres.get())
            try connection.close().wait()
            let store = StoreConnection(connection: connection, queryTimeout: .seconds(600), logger: Self.logger)
            #expect(throws: PostgresConnectionLost.self) { try store.query("SELECT 1") }
            do {
                try store.query("SELECT 1")
            } catch {
                #expect(PostgresConnectionPool.isConnectionLoss(error))
            }
        }
    }

    @Test("PostgreSQL's disk_full (SQLSTATE 53100) is the store's FULL error; another refusal is not")
    func diskFullIsFull() async throws {
        try await runBlocking {
            let connection = try Self.connect(try SharedTestPostgres.get())
            defer { _ = try? connection.close().wait() }
            let store = StoreConnection(connection: connection, queryTimeout: .seconds(60), logger: Self.logger)
            // The error PostgreSQL sends when it cannot extend a table's file, raised by the server itself.
            do {
                _ = try store.query(
                    "DO $$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full'; END $$"
                )
                Issue.record("the statement raised nothing")
            } catch {
                #expect(!PostgresConnectionPool.isConnectionLoss(error))
                let mapped = PostgresConnectionPool.storeError(error) as? StoreError
                #expect(mapped?.code == .full)
                #expect(mapped?.message.contains("53100") == true, "\(String(describing: mapped))")
            }
            do {
                _ = try store.query("SELECT 1 / 0")
                Issue.record("division by zero raised nothing")
            } catch {
                #expect((PostgresConnectionPool.storeError(error) as? StoreError)?.code == .cannotOpen)
            }
        }
    }

    @Test("a statement with no answer within the query timeout closes its connection and fails as a lost connection")
    func statementTimeout() async throws {
        try await runBlocking {
            let connection = try Self.connect(try SharedTestPostgres.get())
            defer { _ = try? connection.close().wait() }
            let store = StoreConnection(connection: connection, queryTimeout: .milliseconds(200), logger: Self.logger)
            // pg_sleep(600) outlives any test run: only the timeout can end this call.
            #expect(throws: PostgresConnectionLost.self) { try store.query("SELECT pg_sleep(600)") }
            try connection.closeFuture.wait()
            #expect(connection.isClosed)
        }
    }

    @Test("store connections send TCP keepalive probes, so an idle connection to a vanished host is noticed")
    func keepalive() async throws {
        try await runBlocking {
            let url = try PostgresStoreURL(parsing: try SharedTestPostgres.get().url())
            let channel = try PostgresConnection.openChannel(
                to: url.hosts[0], connectTimeout: .seconds(30), on: MultiThreadedEventLoopGroup.singleton.next())
            defer { _ = try? channel.close().wait() }
            #expect(try channel.getOption(.socketOption(.so_keepalive)).wait() != 0)
            let idle = try channel.getOption(.tcpOption(NIOBSDSocket.Option(rawValue: TCP_KEEPIDLE))).wait()
            #expect(idle == PostgresConnection.keepaliveIdleSeconds)
        }
    }

    /// The interleaving that stalled a writer during failover, forced: the backend holding the write lock is
    /// terminated while the write is being decided, so the write's next statement (and its unlock) meet a
    /// connection the server closed. The call must rerun on a new connection and commit, not wait forever.
    @Test("a write whose connection is cut inside its transaction is rerun on a new connection and commits")
    func connectionCutInsideTransaction() async throws {
        try await runBlocking {
            let (server, database, store) = try Self.freshStore()
            defer { try? store.close() }
            let article = sampleArticle("cut-1", title: "written after the cut")
            var preparations = 0
            let write = try store.serializedUpsert(after: 0) { _ in
                preparations += 1
                if preparations == 1 {
                    // The advisory write lock's holder is this very write's backend.
                    let key = PostgresArticleStore.writeLockKey
                    let terminated = try server.psql(
                        """
                        SELECT pg_terminate_backend(l.pid, 60000) FROM pg_locks l
                        JOIN pg_database d ON d.oid = l.database
                        WHERE l.locktype = 'advisory' AND l.granted AND d.datname = '\(database)'
                          AND l.classid = \(key >> 32) AND l.objid = \(key & 0xFFFF_FFFF)
                        """)
                    #expect(terminated == "t", "the lock holder's backend was terminated")
                }
                return [ArticleWrite(article)]
            }
            #expect(preparations == 2, "the write ran again on a new connection")
            #expect(write.outcomes == [.inserted])
            #expect(try store.article(article.id) == article)
            #expect(try store.latestSequence == write.sequence)
        }
    }

    /// The write lock is a session lock held across the two round trips of a write; a write that fails between
    /// them must release it, or every later write of every node would wait on it.
    @Test("a write that fails under the write lock releases it, and the next writer commits")
    func failedWriteReleasesLock() async throws {
        try await runBlocking {
            let server = try SharedTestPostgres.get()
            let url = try SharedTestPostgres.freshDatabaseURL()
            let database = String(url.split(separator: "/").last!)
            let first = try PostgresArticleStore(url: url)
            let second = try PostgresArticleStore(url: url)
            defer {
                try? first.close()
                try? second.close()
            }
            struct Refused: Error {}
            #expect(throws: (any Error).self) {
                _ = try first.serializedUpsert(after: 0, expecting: [ArticleID("lock-1")]) { _ in throw Refused() }
            }
            #expect(throws: (any Error).self) {
                _ = try first.serializedUpsert(after: 0) { _ in [ArticleWrite(sampleArticle("", title: "no id"))] }
            }
            let key = PostgresArticleStore.writeLockKey
            let holders = try server.psql(
                """
                SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
                WHERE l.locktype = 'advisory' AND d.datname = '\(database)'
                  AND l.classid = \(key >> 32) AND l.objid = \(key & 0xFFFF_FFFF)
                """)
            // Required: with the lock leaked, the writes below would wait on it until the failover timeout.
            try #require(holders == "0", "no session holds or waits for the write lock")
            let article = sampleArticle("lock-1", title: "written after a failed write")
            #expect(try second.upsert([article]) == [.inserted])
            #expect(try first.upsert([article]) == [.unchanged])
            #expect(try first.latestSequence == 1)
        }
    }

    /// A news article's record (a few KB of text lz4 hardly shrinks) is stored in the table's own pages: cut into
    /// the TOAST table, each row cost the primary more inserts inside every write and each feed reader a lookup.
    @Test("a 4 KB record is stored inline in the article table, not moved out of line to its TOAST table")
    func recordsStayInline() async throws {
        try await runBlocking {
            let (server, database, store) = try Self.freshStore()
            defer { try? store.close() }
            // 1,300 CJK characters from a fixed pseudo-random sequence: about 3.9 KB of UTF-8 that lz4 cannot
            // bring under the 2 KB at which PostgreSQL moves a row's values out of line by default.
            var state: UInt32 = 12_345
            let body = String(
                (0..<1_300).map { _ -> Character in
                    state = state &* 1_103_515_245 &+ 12_345
                    return Character(Unicode.Scalar(0x4E00 + (state >> 8) % 0x5000)!)
                })
            #expect(try store.upsert([sampleArticle("inline-1", body: [body])]) == [.inserted])
            let sizes = try server.psql(
                """
                SELECT octet_length(a.json) > 3900, pg_relation_size(c.reltoastrelid)
                FROM newswire_article a, pg_class c WHERE c.relname = 'newswire_article'
                """, database: database)
            #expect(sizes == "t|0", "a record over 3,900 bytes, and nothing in the TOAST table")
        }
    }

    /// The lost wake-up a follower had at the end of every burst of writes: a notification that arrives while the
    /// follower reads the feed (not waiting) must still end its next wait, since it announces a position above
    /// the one the follower has applied.
    @Test("a change notification that arrived before the wait ends the wait for that position at once")
    func notificationBeforeWait() async throws {
        try await withWriterAndListeningFollower { writer, follower in
            _ = try writer.upsert([sampleArticle("notified-1")])
            let position = try writer.latestSequence
            try waitUntil("the notification reaches the follower", timeout: 120) {
                follower.notifiedSequence >= position
            }
            // Nothing will wake this wait but the notification that already came; an hour stands for "never".
            follower.waitForChanges(after: position - 1, timeout: .seconds(3_600))
            #expect(follower.notifiedSequence == position)
        }
    }

    /// The feed lag in STATS is the age of the oldest change a node has not applied: when the notification of its
    /// commit arrived. Applied positions are forgotten; a later commit keeps its own arrival time.
    @Test("the commit time of the oldest unapplied change is its notification's arrival, and none once applied")
    func commitTimeOfFirstUnappliedChange() async throws {
        try await withWriterAndListeningFollower { writer, follower in
            let beforeFirst = ContinuousClock.now
            _ = try writer.upsert([sampleArticle("lag-1"), sampleArticle("lag-2")])
            let first = try writer.latestSequence
            try waitUntil("the first notification arrives", timeout: 120) { follower.notifiedSequence >= first }
            let firstArrival = try #require(follower.commitTime(ofFirstChangeAfter: 0))
            #expect(firstArrival >= beforeFirst)
            #expect(follower.commitTime(ofFirstChangeAfter: 1) == firstArrival, "position 1 of 2 is the same commit")
            _ = try writer.upsert([sampleArticle("lag-3")])
            let second = try writer.latestSequence
            try waitUntil("the second notification arrives", timeout: 120) { follower.notifiedSequence >= second }
            #expect(follower.commitTime(ofFirstChangeAfter: 0) == firstArrival)
            let secondArrival = try #require(follower.commitTime(ofFirstChangeAfter: first))
            #expect(secondArrival >= firstArrival)
            #expect(follower.commitTime(ofFirstChangeAfter: second) == nil)
            #expect(follower.commitTime(ofFirstChangeAfter: 0) == nil, "applied positions were forgotten")
        }
    }

    /// A writer and a follower on one fresh database, the follower's change listener connected.
    private func withWriterAndListeningFollower(
        _ body: (PostgresArticleStore, PostgresArticleStore) throws -> Void
    ) async throws {
        try await runBlocking {
            let url = try SharedTestPostgres.freshDatabaseURL()
            let writer = try PostgresArticleStore(url: url)
            let follower = try PostgresArticleStore(url: url)
            defer {
                try? writer.close()
                try? follower.close()
            }
            try waitUntil("the follower's listener connects", timeout: 120) {
                follower.waitForChanges(after: 0, timeout: .milliseconds(1))  // (re)connects it when needed
                return follower.isListening
            }
            try body(writer, follower)
        }
    }
}
