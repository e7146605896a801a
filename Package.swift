// swift-tools-version:6.1
import PackageDescription

// Layering (see README "Modules"): Model <- Extraction/Search/Store (no NIO) <- Protocol (NIOCore + zlib/libdeflate only)
// <- Server / Client (never import each other) <- Load <- executables.
let package = Package(
    name: "Newswire",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "NewswireModel", targets: ["NewswireModel"]),
        .library(name: "ArticleExtraction", targets: ["ArticleExtraction"]),
        .library(name: "NewswireSearch", targets: ["NewswireSearch"]),
        .library(name: "NewswireStore", targets: ["NewswireStore"]),
        .library(name: "NewswireEngine", targets: ["NewswireEngine"]),
        .library(name: "NewswireProtocol", targets: ["NewswireProtocol"]),
        .library(name: "NewswireServer", targets: ["NewswireServer"]),
        .library(name: "NewswireClient", targets: ["NewswireClient"]),
        .executable(name: "newswired", targets: ["newswired"]),
        .executable(name: "newswire", targets: ["newswire"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        // Optional TLS for the server and client (SECURITY.md).
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        // The Prometheus backend for swift-metrics, served by `newswired --metrics`.
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // Cluster mode's store (docs/CLUSTER.md).
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        // MARK: System libraries
        .systemLibrary(
            name: "CLibXML2",
            pkgConfig: "libxml-2.0",
            providers: [.apt(["libxml2-dev"]), .brew(["libxml2"])]
        ),
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // Whole-buffer deflate into zlib streams, for answers compressed once on a worker (search results).
        .systemLibrary(
            name: "CLibDeflate",
            pkgConfig: "libdeflate",
            providers: [.apt(["libdeflate-dev"]), .brew(["libdeflate"])]
        ),

        // MARK: Libraries
        .target(name: "NewswireModel"),
        .target(
            name: "ArticleExtraction",
            dependencies: ["NewswireModel", "CLibXML2"]
        ),
        .target(name: "NewswireSearch", dependencies: ["NewswireModel"]),
        .target(
            name: "NewswireStore",
            dependencies: ["NewswireModel", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        // Store + index kept in step, near-duplicate detection, index snapshots. Not in ARCHITECTURE.md's
        // drawing: it keeps the server thin and lets benchmarks and crash tests run the engine without NIO.
        // A swift-service-lifecycle `Service` (no NIO: the lifecycle package needs only swift-log and
        // swift-async-algorithms).
        .target(
            name: "NewswireEngine",
            dependencies: [
                "NewswireModel", "NewswireSearch", "NewswireStore",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // ArticleStore on PostgreSQL for cluster mode: the one store target allowed to import NIO.
        .target(
            name: "NewswirePostgres",
            dependencies: [
                "NewswireModel", "NewswireStore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "NewswireProtocol",
            dependencies: ["NewswireModel", "CZlib", "CLibDeflate", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .target(
            name: "NewswireServer",
            dependencies: [
                // NewswireSearch only for live queries' standing-query matcher (WatchHub); records and search go
                // through the engine's own types.
                "NewswireModel", "NewswireProtocol", "NewswireEngine", "NewswireSearch", "ArticleExtraction",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .target(
            name: "NewswireClient",
            dependencies: [
                "NewswireModel", "NewswireProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .target(
            name: "NewswireLoad",
            dependencies: [
                "NewswireClient", "NewswireProtocol",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                // Its own lean channel handler sends pre-encoded frames, so the load generator is not the bottleneck.
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // `newswired --metrics`: swift-metrics' Prometheus backend and a minimal HTTP/1.1 `GET /metrics` responder.
        .target(
            name: "NewswireMetrics",
            dependencies: [
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // Test helpers that need no NIO: paths, temporary directories, blocking tests, a throwaway PostgreSQL
        // cluster (processes only), the crash harness. The library tests use only these.
        .target(name: "NewswireTestFixtures", dependencies: ["NewswireModel"]),
        // On top of the fixtures (re-exported): a test server on port 0, stores of every kind, and the raw peer
        // (RawConnection) the server, hardening and live-query tests play the client with.
        .target(
            name: "NewswireTestSupport",
            dependencies: [
                "NewswireTestFixtures", "NewswireModel", "NewswireStore", "NewswireEngine", "NewswireServer",
                "NewswirePostgres", "NewswireProtocol",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // MARK: Executables
        .executableTarget(
            name: "newswired",
            dependencies: [
                "NewswireServer", "NewswireEngine", "NewswirePostgres", "ArticleExtraction", "NewswireMetrics", "NewswireModel",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Search benchmark driver (benchmarks/search/run.py): build time, RSS, latency, snapshot load.
        .executableTarget(name: "newswire-search-bench", dependencies: ["NewswireSearch", "NewswireModel", "NewswireLoad"]),
        .executableTarget(
            name: "newswire",
            dependencies: [
                "NewswireModel", "ArticleExtraction", "NewswireClient", "NewswireLoad",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            // Release builds link the Swift runtime and Foundation statically on Linux: a `newswire parse` process
            // starts in about half the CPU time (no dynamic loading, symbol binding and relocation of ~20 shared
            // libraries). The compile flag makes Foundation's imports autolink its static dependencies.
            swiftSettings: [.unsafeFlags(["-static-stdlib"], .when(platforms: [.linux], configuration: .release))],
            linkerSettings: [.unsafeFlags(["-static-stdlib"], .when(platforms: [.linux], configuration: .release))]
        ),

        // Test helper: writes through the store or engine and acknowledges each durable write on stdout, so the
        // kill -9 tests (Tests/NewswireStoreTests, Tests/NewswireEngineTests) can SIGKILL it mid-stream.
        .executableTarget(
            name: "newswire-crasher",
            dependencies: ["NewswireModel", "NewswireStore", "NewswireEngine", "NewswirePostgres"]),

        // Drives the crash-safety and soak scripts (benchmarks/crash, benchmarks/soak) over the protocol.
        .executableTarget(
            name: "newswire-hardening",
            dependencies: ["NewswireModel", "NewswireClient"]),

        // The DocC getting-started code, compiled with the package (GettingStarted.md shows it verbatim).
        .executableTarget(name: "ClientQuickStart", dependencies: ["NewswireClient"], path: "Examples/ClientQuickStart"),

        // MARK: Tests
        // The library tests build no NIO: they use NewswireTestFixtures, not NewswireTestSupport.
        .testTarget(name: "NewswireModelTests", dependencies: ["NewswireModel", "NewswireTestFixtures"]),
        .testTarget(
            name: "ArticleExtractionTests",
            dependencies: ["ArticleExtraction", "NewswireTestFixtures"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(name: "NewswireSearchTests", dependencies: ["NewswireSearch"]),
        .testTarget(name: "NewswireStoreTests", dependencies: ["NewswireStore", "NewswireTestFixtures"]),
        // The store conformance suite on every store (SQLite and PostgreSQL) and PostgreSQL's change feed.
        .testTarget(
            name: "NewswirePostgresTests",
            dependencies: [
                "NewswireStore", "NewswirePostgres", "NewswireModel", "NewswireTestSupport",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "NewswireEngineTests", dependencies: ["NewswireEngine", "NewswirePostgres", "NewswireTestSupport"]),
        .testTarget(
            name: "NewswireProtocolTests",
            dependencies: [
                "NewswireProtocol", "NewswireModel", "NewswireTestFixtures",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ]
        ),
        // The server over real loopback sockets, played by a raw peer written from the spec (its connection
        // rules, the pipeline fast path, memory bounds, frame limits).
        .testTarget(
            name: "NewswireServerTests",
            dependencies: [
                "NewswireServer", "NewswireEngine", "NewswireProtocol", "NewswireModel", "NewswireStore",
                "NewswireSearch", "NewswireTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "NewswireClientTests",
            dependencies: [
                "NewswireClient", "NewswireProtocol", "NewswireModel", "NewswireTestSupport", "NewswireServer",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "NewswireLoadTests",
            dependencies: [
                "NewswireLoad", "NewswireServer", "NewswireEngine", "NewswireProtocol", "NewswireModel",
                "NewswireTestSupport",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "NewswireServer", "NewswireClient", "NewswireEngine", "NewswireTestSupport", "ArticleExtraction",
                "NewswirePostgres",
                "NewswireModel", "NewswireProtocol",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // The built `newswire` and `newswired` run as subprocesses, as a user runs them: exit codes, stderr lines,
        // pipes, signals, the README's examples and the metrics endpoint. `swift build` builds them first.
        .testTarget(
            name: "NewswireCLITests",
            dependencies: [
                "NewswireModel", "NewswireTestSupport", "NewswireServer", "NewswireEngine", "ArticleExtraction",
                "NewswireClient", "NewswireMetrics",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // Bad input over real sockets, auth rate limiting and TLS (SECURITY.md).
        .testTarget(
            name: "HardeningTests",
            dependencies: [
                "NewswireServer", "NewswireClient", "NewswireEngine", "NewswireProtocol", "NewswireTestSupport",
                "ArticleExtraction",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
