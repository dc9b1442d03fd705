// swift-tools-version:6.0
import PackageDescription

// Data flows one way: file → Formats → Graph (the common model) → Engine → Scoring → Surgery → Formats → file.
// Graph ← Tensors ← {Formats, Engine} ← Scoring; Surgery needs only Graph and Tensors; the CLI joins them.
let package = Package(
    name: "modelsurgery",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "modelsurgery", targets: ["modelsurgery"]),
        .library(name: "ModelSurgery", targets: ["Graph", "Tensors", "Formats", "Engine", "Scoring", "Surgery"]),
        // The readers' fuzz entry points, for the libFuzzer targets of Fuzz/ (`make fuzz`).
        .library(name: "FuzzEntry", targets: ["FuzzEntry"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // ONNX's protobuf messages (Sources/Formats/ONNX/onnx.pb.swift, generated once by `make onnx-proto`).
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // The common model: metadata, global tensors, ordered blocks with tensors by role; no format, no arithmetic.
        .target(name: "Graph"),
        // Element decoding and encoding (ggml quantizations, F16/BF16/Q8_0) and tensor payloads; no model knowledge.
        .target(name: "Tensors", dependencies: ["Graph", "CKernels"]),
        // copy_file_range, which Swift's Glibc module does not expose.
        .target(name: "CFileCopy"),
        // One folder per format (reader and writer together) and the pieces they share in Common/.
        .target(
            name: "Formats",
            dependencies: ["Graph", "Tensors", "CFileCopy", .product(name: "SwiftProtobuf", package: "swift-protobuf")]
        ),
        // Element-wise, small-product and Q4_0-decoding kernels built for AVX-512 / AVX2 / SSE2 and chosen at
        // load time (target_clones).
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O2"], .when(configuration: .debug))]),
        // OpenBLAS through pkg-config on Linux (Debian: libopenblas-dev); Accelerate on macOS.
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        // What runs a model: tokenizers, kernels, the forward pass, perplexity.
        .target(
            name: "Engine",
            dependencies: ["Graph", "Tensors", "CKernels", .target(name: "CBLAS", condition: .when(platforms: [.linux]))],
            // Kernels hand unsafe buffer pointers to concurrentPerform workers over disjoint ranges, which
            // Swift 6's Sendable checking cannot express; the module keeps Swift 5 mode for that.
            // The engine's loops are optimized in debug builds too, so the parity tests run in seconds.
            swiftSettings: [.swiftLanguageMode(.v5), .unsafeFlags(["-O"], .when(configuration: .debug))]
        ),
        // Calibration, block and sub-layer measurements, criteria, removal-set search and recovery fitting.
        .target(
            name: "Scoring",
            dependencies: ["Graph", "Engine", .target(name: "CBLAS", condition: .when(platforms: [.linux]))],
            swiftSettings: [.swiftLanguageMode(.v5), .unsafeFlags(["-O"], .when(configuration: .debug))]
        ),
        // Plans and applies changes to a model: block and sub-layer removal, recovery layers, per-layer roles,
        // tensor conversion.
        .target(name: "Surgery", dependencies: ["Graph", "Tensors"]),
        .executableTarget(
            name: "modelsurgery",
            dependencies: [
                "Graph", "Tensors", "Formats", "Engine", "Scoring", "Surgery",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/CLI"
        ),
        // One function per reader that runs its whole read path on an input, for fuzzing (Fuzz/, `make fuzz`)
        // and for the committed regression inputs (TestModels/fuzz-regressions).
        .target(name: "FuzzEntry", dependencies: ["Graph", "Tensors", "Formats", "Engine"]),
        // Shared by the test targets: the repository's folders, found once.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "TensorsTests", dependencies: ["Tensors", "Formats", "Graph", "TestSupport"]),
        .testTarget(name: "FormatsTests", dependencies: ["Formats", "Graph", "Tensors", "TestSupport"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "Formats", "Graph", "Tensors", "Surgery", "TestSupport"]),
        .testTarget(name: "ScoringTests", dependencies: ["Scoring", "Engine", "Formats", "Graph", "Surgery", "TestSupport"]),
        .testTarget(name: "SurgeryTests", dependencies: ["Surgery", "Formats", "Graph", "TestSupport"]),
        .testTarget(name: "FuzzRegressionTests", dependencies: ["FuzzEntry", "TestSupport"]),
    ]
)
