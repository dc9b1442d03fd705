import Foundation
import TestSupport

/// Paths of the committed fixtures written by `TestModels/generate.py` with the reference gguf package.
enum Fixtures {
    static func url(_ name: String) -> URL { Repository.testModel(name) }

    /// What gguf.GGUFReader read from each fixture (`expected.json`).
    nonisolated(unsafe) static let expected: [String: Any] = {
        let data = try! Data(contentsOf: url("expected.json"))
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }()

    static var expectedFiles: [String: [String: Any]] { expected["files"] as! [String: [String: Any]] }

    static func temporaryDirectory() throws -> URL { try Repository.temporaryDirectory() }
}
