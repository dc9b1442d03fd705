import Foundation

/// The repository's folders as the tests see them, found once from this file's place in the tree.
public enum Repository {
    /// The folder holding Package.swift.
    public static let root: URL = {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
            url.deleteLastPathComponent()
        }
        return url
    }()

    /// A path relative to the repository root.
    public static func url(_ relativePath: String) -> URL { root.appendingPathComponent(relativePath) }

    /// The committed fixtures (TestModels/).
    public static func testModel(_ name: String) -> URL { url("TestModels").appendingPathComponent(name) }

    /// A model fetched by `make models`; a missing one fails the test, naming the command that fetches it.
    public static func downloadedModel(_ name: String) throws -> URL {
        try existing(url("models").appendingPathComponent(name), fetchedBy: "make models")
    }

    /// `url` when it exists; otherwise a failure that names it and what makes it.
    public static func existing(_ url: URL, fetchedBy command: String) throws -> URL {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw MissingPrerequisite(what: url.path, remedy: "run `\(command)`")
        }
        return url
    }

    /// The Python with the reference packages (MODELSURGERY_PYTHON, which `make test` sets to the project's venv).
    public static func python() throws -> URL {
        guard let path = ProcessInfo.processInfo.environment["MODELSURGERY_PYTHON"], !path.isEmpty else {
            throw MissingPrerequisite(what: "MODELSURGERY_PYTHON",
                                      remedy: "run the tests through `make test`, or set it to .venv/bin/python")
        }
        return try existing(URL(fileURLWithPath: path), fetchedBy: "make test")
    }

    /// What the repository's Python `script` (a path relative to the root) prints for `arguments`, run by
    /// `python()`; a failing run is an error naming the script.
    public static func runPython(_ script: String, _ arguments: [String]) throws -> Data {
        let process = Process()
        process.executableURL = try python()
        process.arguments = [url(script).path] + arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ScriptFailure(script: script, status: process.terminationStatus)
        }
        return data
    }

    /// A new empty folder under the system's temporary folder.
    public static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("modelsurgery-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// A reference script that exited with a failure (its stderr shows in the test's output).
public struct ScriptFailure: Error, CustomStringConvertible {
    public let script: String
    public let status: Int32
    public var description: String { "\(script) exited with status \(status)" }
}

/// Something a test needs that this machine lacks: the test fails and says how to get it.
public struct MissingPrerequisite: Error, CustomStringConvertible {
    public let what: String
    public let remedy: String
    public var description: String { "\(what) is missing: \(remedy)" }
}

/// TestModels/engine-golden.json (written by generate_engine_golden.py with llama.cpp): each model's file and
/// the prompts with llama.cpp's logits for them.
public enum EngineGolden {
    nonisolated(unsafe) public static let models: [String: [String: Any]] = {
        let data = try! Data(contentsOf: Repository.testModel("engine-golden.json"))
        let json = try! JSONSerialization.jsonObject(with: data) as! [String: Any]
        return json["models"] as! [String: [String: Any]]
    }()

    /// The model file of `name`; a downloaded one that is missing fails the test.
    public static func modelFile(_ name: String) throws -> URL {
        try Repository.existing(Repository.url(models[name]!["file"] as! String), fetchedBy: "make models")
    }

    /// The tokens of the model's first prompt.
    public static func firstPromptTokens(_ name: String) -> [Int] {
        (models[name]!["prompts"] as! [[String: Any]])[0]["tokens"] as! [Int]
    }
}
