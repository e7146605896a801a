// The NewswireTestFixtures module: helpers every test target may use without building NIO or the server
// (paths, temporary directories, articles, blocking tests, a throwaway PostgreSQL, the crash harness).

import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Locations of the repository and of the shared data next to it, for tests.
public enum TestPaths {
    /// The package root, found from a source file path inside it (pass `#filePath`).
    ///
    /// Walks up from `filePath` to the first directory holding `Package.swift`.
    public static func packageRoot(from filePath: String = #filePath) -> String {
        var parts = filePath.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        while parts.count > 1 {
            parts.removeLast()
            let dir = parts.joined(separator: "/")
            if fileExists(dir + "/Package.swift") { return dir }
        }
        return "."
    }

    /// `../shared` relative to the package root: seeds, corpus and extraction-dev live there.
    public static func shared(from filePath: String = #filePath) -> String {
        packageRoot(from: filePath) + "/../shared"
    }

    /// Whether a regular file or directory exists at `path`.
    public static func fileExists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }
}
