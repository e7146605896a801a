import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One PostgreSQL server shared by every test of the process (each test takes its own database), started on first
/// use and killed when the process exits.
public enum SharedTestPostgres {
    nonisolated(unsafe) private static var pidToKill: pid_t = 0
    nonisolated(unsafe) private static var directoryToRemove: String?

    private static let server: Result<TemporaryPostgres, TemporaryPostgresError> = {
        do {
            let server = try TemporaryPostgres()
            pidToKill = server.pid
            directoryToRemove = server.directory
            atexit {
                if SharedTestPostgres.pidToKill > 0 { kill(SharedTestPostgres.pidToKill, SIGKILL) }
                if let directory = SharedTestPostgres.directoryToRemove {
                    try? FileManager.default.removeItem(atPath: directory)
                }
            }
            return .success(server)
        } catch let error as TemporaryPostgresError {
            return .failure(error)
        } catch {
            return .failure(TemporaryPostgresError("\(error)"))
        }
    }()

    /// The shared server (started on first use).
    public static func get() throws -> TemporaryPostgres { try server.get() }

    /// A URL of a fresh, empty database on the shared server.
    public static func freshDatabaseURL(_ name: String = #function) throws -> String {
        let server = try get()
        return server.url(database: try server.createDatabase(name))
    }
}
