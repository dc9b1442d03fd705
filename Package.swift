// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "modelsurgery",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "modelsurgery", targets: ["modelsurgery"]),
        .library(name: "ModelSurgery", targets: ["Graph", "Formats", "Surgery", "Scoring"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .target(name: "Graph"),
        // copy_file_range, which Swift's Glibc module does not expose.
        .target(name: "CFileCopy"),
        // Element-wise kernels built for AVX-512 / AVX2 / SSE2 and chosen at load time (target_clones).
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O2"], .when(configuration: .debug))]),
        .target(name: "Formats", dependencies: ["Graph", "CFileCopy"]),
        .target(name: "Surgery", dependencies: ["Graph", "Formats", "Scoring"]),
        // OpenBLAS through pkg-config on Linux (Debian: libopenblas-dev); Accelerate on macOS.
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .target(
            name: "Scoring",
            dependencies: ["Graph", "CKernels", .target(name: "CBLAS", condition: .when(platforms: [.linux]))],
            // Kernels hand unsafe buffer pointers to concurrentPerform workers over disjoint ranges, which
            // Swift 6's Sendable checking cannot express; the module keeps Swift 5 mode for that.
            // The engine's loops are optimized in debug builds too, so the parity tests run in seconds.
            swiftSettings: [.swiftLanguageMode(.v5), .unsafeFlags(["-O"], .when(configuration: .debug))]
        ),
        .executableTarget(
            name: "modelsurgery",
            dependencies: [
                "Graph", "Formats", "Surgery", "Scoring",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/CLI"
        ),
        .testTarget(name: "FormatsTests", dependencies: ["Formats", "Graph"]),
        .testTarget(name: "SurgeryTests", dependencies: ["Surgery", "Formats", "Graph"]),
        .testTarget(name: "ScoringTests", dependencies: ["Scoring", "Formats", "Graph", "Surgery"]),
    ]
)
