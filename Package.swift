// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "modelsurgery",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "modelsurgery", targets: ["modelsurgery"]),
        .library(name: "ModelSurgery", targets: ["Graph", "Formats", "Surgery"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .target(name: "Graph"),
        .target(name: "Formats", dependencies: ["Graph"]),
        .target(name: "Surgery", dependencies: ["Graph"]),
        .executableTarget(
            name: "modelsurgery",
            dependencies: [
                "Graph", "Formats", "Surgery",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/CLI"
        ),
        .testTarget(name: "FormatsTests", dependencies: ["Formats", "Graph"]),
        .testTarget(name: "SurgeryTests", dependencies: ["Surgery", "Formats", "Graph"]),
    ]
)
