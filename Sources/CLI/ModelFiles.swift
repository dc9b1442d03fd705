import Engine
import Foundation
import Formats
import Graph
import Scoring
import Surgery
import ArgumentParser
import Tensors

/// A problem with what the user asked for, named with the file it concerns.
struct UsageError: Error, CustomStringConvertible {
    let file: String
    let problem: String
    var description: String { "\(file): \(problem)" }
}

enum ModelFiles {
    /// A GGUF file (the first shard of a split one), a Hugging Face model folder or an ONNX model, whose
    /// tokenizer is read only when `needsTokenizer` (a GGUF file's is in its metadata anyway). An ONNX model's
    /// computed weights go to a scratch file beside `output` when one is given (see `scratchFolder(beside:)`).
    static func read(_ path: String, needsTokenizer: Bool = true, output: String? = nil) throws -> Model {
        let url = URL(fileURLWithPath: path)
        guard FileManager.default.fileExists(atPath: path) else { throw UsageError(file: path, problem: "no such file") }
        if ONNXModel.isONNX(path) {
            return try ONNXModel(path: path).commonModel(tokenizer: needsTokenizer, scratchFolder: output.flatMap(scratchFolder))
        }
        return HuggingFace.isModelFolder(path)
            ? try HuggingFace.readModel(at: url, tokenizer: needsTokenizer) : try GGUF.readModel(at: url)
    }

    /// The folder an output goes to, for scratch files the size of the weights: it has room for them, which a
    /// temporary folder in memory (tmpfs) may not. Nil when it does not exist yet (the temporary folder serves).
    static func scratchFolder(beside output: String) -> URL? {
        let folder = URL(fileURLWithPath: output).deletingLastPathComponent()
        var isFolder: ObjCBool = false
        return FileManager.default.fileExists(atPath: folder.path, isDirectory: &isFolder) && isFolder.boolValue ? folder : nil
    }

    /// The engine and tokenizer for `model`; problems are reported against its file.
    static func engine(for model: Model, path: String) throws -> (Engine, any Tokenizer) {
        let engine = try naming(path) { try Engine(model: model) }
        guard model.metadata["tokenizer.ggml.model"] != nil else {
            throw UsageError(file: path, problem: "has no tokenizer, which this command needs (for an ONNX model: put "
                + "tokenizer.json and tokenizer_config.json beside it)")
        }
        return (engine, try naming(path) { try Tokenizers.make(from: model.metadata) })
    }

    /// Runs `body`, reporting engine and conversion errors (unsupported architecture, tensor type ...) against `file`.
    static func naming<T>(_ file: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as EngineError {
            throw UsageError(file: file, problem: error.description)
        } catch let error as TensorError {
            throw UsageError(file: file, problem: error.description)
        } catch let error as SurgeryError {
            throw UsageError(file: file, problem: error.description)
        }
    }

    /// Writes `model` to `path` in `format` (GGUF shards named after it, or a Hugging Face folder), showing
    /// progress for long writes; `conversion` re-encodes tensors on the way.
    static func write(_ model: Model, to path: String, as format: OutputFormat, maxShardBytes: Int?,
                      conversion: TensorConversion? = nil, onnx: ONNXExport.Options = .init(),
                      replacing: Bool = false) throws -> [URL] {
        let url = URL(fileURLWithPath: path)
        let progress = ProgressLine(label: "writing \(url.lastPathComponent)")
        defer { progress.finish() }
        let update = { (done: Int, total: Int) in progress.update(done: done, total: total) }
        switch format {
        case .gguf:
            if HuggingFace.isModelFolder(path) { throw UsageError(file: path, problem: "is a folder; a GGUF output is a file") }
            return try GGUF.write(model, to: url, maxShardBytes: maxShardBytes, encoder: conversion?.encoder, progress: update)
        case .safetensors:
            return [try HuggingFace.write(model, to: url, maxShardBytes: maxShardBytes,
                                          dtypeName: conversion?.matrixType.map(HuggingFace.torchName),
                                          encoder: conversion?.encoder, replacing: replacing, progress: update)]
        case .onnx:
            guard url.pathExtension.lowercased() == "onnx" else {
                return [try ONNXExport.writeFolder(model, to: url, options: onnx, replacing: replacing, progress: update)]
            }
            if HuggingFace.isModelFolder(path) { throw UsageError(file: path, problem: "is a folder; an .onnx output is a file") }
            return try ONNXExport.write(model, to: url, options: onnx, progress: update)
        }
    }
}

enum OutputFormat: String, CaseIterable, ExpressibleByArgument {
    case gguf, safetensors, onnx

    /// The format a model read from `model` is written back in.
    init(of model: Model) {
        self = model.origin.format == HuggingFace.format ? .safetensors : .gguf
    }
}

/// What an output's name promises: an extension that names a model format must be the format written
/// (`out.onnx` is never a GGUF file, `out.safetensors` never a folder).
struct OutputName {
    /// Model file extensions and what they name.
    private static let formats: [String: String] = [
        "gguf": "a GGUF file", "onnx": "an ONNX model", "safetensors": "a safetensors file", "bin": "a PyTorch file",
        "pt": "a PyTorch file", "pth": "a PyTorch file", "ckpt": "a checkpoint", "h5": "a Keras file",
        "msgpack": "a Flax file", "json": "a JSON file",
    ]

    /// Refuses `path` when its extension names another format than `written` (its own extension, or nil for
    /// a folder, which `folder` describes).
    static func check(_ path: String, writing written: String?, command: String,
                      folder: String = "a Hugging Face folder") throws {
        let pathExtension = URL(fileURLWithPath: path).pathExtension.lowercased()
        guard let named = formats[pathExtension], pathExtension != written else { return }
        let what = written.flatMap { formats[$0] } ?? folder
        let advice = written.map { "a name ending in .\($0)" } ?? "a folder name without a model file extension"
        throw UsageError(file: path, problem: "names \(named), but \(command) writes \(what) here; choose \(advice)")
    }
}

extension OutputFormat {
    /// The extension of the files this format writes (nil: a folder).
    var fileExtension: String? { self == .gguf ? "gguf" : nil }
}
