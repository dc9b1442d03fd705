import Foundation
import Formats
import Graph
import Scoring

/// A problem with what the user asked for, named with the file it concerns.
struct UsageError: Error, CustomStringConvertible {
    let file: String
    let problem: String
    var description: String { "\(file): \(problem)" }
}

enum ModelFiles {
    static func read(_ path: String) throws -> Model {
        let url = URL(fileURLWithPath: path)
        guard FileManager.default.fileExists(atPath: path) else { throw UsageError(file: path, problem: "no such file") }
        return try GGUF.readModel(at: url)
    }

    /// The engine and tokenizer for `model`; problems are reported against its file.
    static func engine(for model: Model, path: String) throws -> (Engine, any Tokenizer) {
        try naming(path) { (try Engine(model: model), try Tokenizers.make(from: model.metadata)) }
    }

    /// Runs `body`, reporting engine errors (unsupported architecture, tensor type ...) against `file`.
    static func naming<T>(_ file: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as ScoringError {
            throw UsageError(file: file, problem: error.description)
        }
    }

    /// Writes `model` to `path` (or shards named after it), showing progress for long writes.
    static func write(_ model: Model, to path: String, maxShardBytes: Int?) throws -> [URL] {
        let progress = ProgressLine(label: "writing \(URL(fileURLWithPath: path).lastPathComponent)")
        defer { progress.finish() }
        return try GGUF.write(model, to: URL(fileURLWithPath: path), maxShardBytes: maxShardBytes) { done, total in
            progress.update(done: done, total: total)
        }
    }
}
