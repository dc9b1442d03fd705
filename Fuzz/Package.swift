// swift-tools-version:6.0
import Foundation
import PackageDescription

// libFuzzer targets for the readers: one executable per entry point of the main package's FuzzEntry library,
// each a single file exporting LLVMFuzzerTestOneInput; libFuzzer supplies main. Built and run by `make fuzz`:
//   swift build -c release --package-path Fuzz --scratch-path .build-fuzz --sanitize fuzzer --sanitize address \
//       -Xswiftc -sanitize=fuzzer,address
// (the last flag matters: swiftc keeps only its last -sanitize=, see the Makefile).
// A path dependency's identity is its folder's name, which is the checkout's (not necessarily "modelsurgery").
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
let targets = ["gguf", "ggufForwardPass", "safetensors", "huggingFaceConfig", "huggingFaceTokenizer", "huggingFaceTokenizerConfig",
               "huggingFaceIndex", "onnxModel"]

let package = Package(
    name: "modelsurgery-fuzz",
    platforms: [.macOS(.v13)],
    products: targets.map { .executable(name: "fuzz-\($0)", targets: ["fuzz-\($0)"]) },
    dependencies: [.package(path: "..")],
    targets: targets.map {
        .executableTarget(
            name: "fuzz-\($0)",
            dependencies: [.product(name: "FuzzEntry", package: root.lastPathComponent.lowercased())],
            path: "Sources/\($0)"
        )
    }
)
