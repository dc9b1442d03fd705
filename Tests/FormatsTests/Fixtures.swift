import Foundation

/// Paths of the committed fixtures written by `TestModels/generate.py` with the reference gguf package.
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("TestModels")

    static func url(_ name: String) -> URL { root.appendingPathComponent(name) }

    /// What gguf.GGUFReader read from each fixture (`expected.json`).
    nonisolated(unsafe) static let expected: [String: Any] = {
        let data = try! Data(contentsOf: url("expected.json"))
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }()

    static var expectedFiles: [String: [String: Any]] { expected["files"] as! [String: [String: Any]] }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("modelsurgery-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
