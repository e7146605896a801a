// swift-tools-version:6.1
// Store and engine benchmarks (import rate, restart time). A package of its own so the main build and
// `swift test` never compile it; run ./run.sh.
import PackageDescription

let package = Package(
    name: "StoreBenchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [.package(name: "Newswire", path: "../..")],
    targets: [
        .executableTarget(
            name: "store-bench",
            dependencies: [
                .product(name: "NewswireEngine", package: "Newswire"),
                .product(name: "NewswireStore", package: "Newswire"),
                .product(name: "NewswireModel", package: "Newswire"),
                .product(name: "NewswireSearch", package: "Newswire"),
            ]
        )
    ],
    swiftLanguageModes: [.v6]
)
