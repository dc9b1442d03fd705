import Engine
import Formats
import Foundation
import Graph

/// Entry points for fuzzing the readers: each takes one input and runs the public read path on it, as the CLI
/// would, swallowing thrown errors. Errors are the expected answer to a hostile input; a trap, a crash or an
/// unbounded allocation is a bug. Fuzz/ wraps each in a libFuzzer target, and the FuzzRegressionTests run the
/// committed inputs of TestModels/fuzz-regressions/<name>/ through them.
///
/// Calls are serialized (the targets share a scratch folder), so the tests may call them from any thread.
public enum FuzzTargets {
    /// Every target by its name, which is also its fuzz executable's, with the folder of TestModels/fuzz-regressions
    /// its committed inputs are in (the target's name, but ggufForwardPass replays gguf's).
    public static let all: [(name: String, regressions: String, run: @Sendable (UnsafeRawBufferPointer) -> Void)] = [
        ("gguf", "gguf", gguf),
        ("ggufForwardPass", "gguf", ggufForwardPass),
        ("safetensors", "safetensors", safetensors),
        ("huggingFaceConfig", "huggingFaceConfig", huggingFaceConfig),
        ("huggingFaceTokenizer", "huggingFaceTokenizer", huggingFaceTokenizer),
        ("huggingFaceTokenizerConfig", "huggingFaceTokenizerConfig", huggingFaceTokenizerConfig),
        ("huggingFaceIndex", "huggingFaceIndex", huggingFaceIndex),
        ("onnxModel", "onnxModel", onnxModel),
    ]

    /// The input as the first shard of a split GGUF, beside TestModels/split's other two shards, so a header that
    /// names them is read with them; then the model's validation, its engine and its tokenizer (`exercise`).
    public static func gguf(_ bytes: UnsafeRawBufferPointer) {
        serialized { try exercise(readGGUF(bytes), forwardPass: false) }
    }

    /// As `gguf`, then a forward pass through every block and the output head on a small model: the engine's
    /// kernels on whatever values pass validation. It runs at well under half the rate of `gguf` (178 against 441
    /// inputs/s on the same corpus), so it is a target of its own.
    public static func ggufForwardPass(_ bytes: UnsafeRawBufferPointer) {
        serialized { try exercise(readGGUF(bytes), forwardPass: true) }
    }

    private static func readGGUF(_ bytes: UnsafeRawBufferPointer) throws -> Model {
        let folder = try Scratch.folder("gguf") { folder in
            for shard in 2 ... 3 {
                try Scratch.copy(Scratch.testModel("split/tiny-split-0000\(shard)-of-00003.gguf"),
                                 to: folder.appendingPathComponent("fuzz-0000\(shard)-of-00003.gguf"))
            }
        }
        let url = folder.appendingPathComponent("fuzz-00001-of-00003.gguf")
        try Scratch.write(bytes, to: url)
        return try GGUF.readModel(at: url)
    }

    /// The input as one .safetensors file; every tensor's bytes are read.
    public static func safetensors(_ bytes: UnsafeRawBufferPointer) {
        serialized {
            let url = try Scratch.folder("safetensors") { _ in }.appendingPathComponent("fuzz.safetensors")
            try Scratch.write(bytes, to: url)
            let file = try SafeTensorsFile(url: url)
            var sum: UInt8 = 0
            for entry in file.tensors {
                for byte in entry.data.buffer { sum &+= byte }
            }
            _ = file.metadata
            blackHole(sum)
        }
    }

    /// The input as config.json of TestModels/hf/tiny-llama-hf.
    public static func huggingFaceConfig(_ bytes: UnsafeRawBufferPointer) {
        huggingFace(replacing: "config.json", of: "tiny-llama-hf", with: bytes)
    }

    /// The input as tokenizer.json of TestModels/hf/tiny-llama-hf.
    public static func huggingFaceTokenizer(_ bytes: UnsafeRawBufferPointer) {
        huggingFace(replacing: "tokenizer.json", of: "tiny-llama-hf", with: bytes)
    }

    /// The input as tokenizer_config.json of TestModels/hf/tiny-llama-hf.
    public static func huggingFaceTokenizerConfig(_ bytes: UnsafeRawBufferPointer) {
        huggingFace(replacing: "tokenizer_config.json", of: "tiny-llama-hf", with: bytes)
    }

    /// The input as model.safetensors.index.json of TestModels/hf/tiny-qwen2-hf (two shards).
    public static func huggingFaceIndex(_ bytes: UnsafeRawBufferPointer) {
        huggingFace(replacing: "model.safetensors.index.json", of: "tiny-qwen2-hf", with: bytes)
    }

    /// The input as model.onnx of TestModels/onnx/genai/qwen2/int4 (MatMulNBits, GatherBlockQuantized, fused
    /// norms), beside its external data, genai_config.json and tokenizer, read into the common model and run.
    public static func onnxModel(_ bytes: UnsafeRawBufferPointer) {
        replacing("model.onnx", in: "onnx/genai/qwen2/int4", named: "genai-qwen2-int4", with: bytes) { folder in
            try exercise(ONNXModel(path: folder.path).commonModel(), forwardPass: true)
        }
    }

    /// A scratch copy of a valid folder with one file replaced by the input, read as the CLI reads a folder.
    static func huggingFace(replacing file: String, of fixture: String, with bytes: UnsafeRawBufferPointer) {
        replacing(file, in: "hf/\(fixture)", named: fixture, with: bytes) { folder in
            try exercise(HuggingFace.readModel(at: folder), forwardPass: false)
        }
    }

    /// `read` on a scratch copy (named `name`) of the folder `fixture` of TestModels/ with `file` replaced by the input.
    private static func replacing(_ file: String, in fixture: String, named name: String, with bytes: UnsafeRawBufferPointer,
                                  read: (URL) throws -> Void) {
        serialized {
            let folder = try Scratch.folder("\(name)-\(file)") { folder in
                let source = Scratch.testModel(fixture)
                for name in try FileManager.default.contentsOfDirectory(atPath: source.path) {
                    try Scratch.copy(source.appendingPathComponent(name), to: folder.appendingPathComponent(name))
                }
            }
            try Scratch.write(bytes, to: folder.appendingPathComponent(file))
            try read(folder)
        }
    }

    /// Text with ASCII, digits, accents, CJK, an emoji, whitespace runs and a special token's spelling.
    static let sample = "Hello, world! 123 h\u{E9}llo \u{6F22}\u{5B57} \u{1F642}\n\t  <|eot_id|><s>"
    /// A forward pass runs only on models whose tensors take at most this many bytes.
    static let forwardLimit = 16 << 20
    /// Tokens in the forward pass.
    static let forwardTokens = 8

    /// What follows a successful read in `inspect`, `eval` and `score`: hyper-parameters, the engine and the
    /// tokenizer; with `forwardPass`, on a small model, the tokens of `sample` through every block and the head.
    static func exercise(_ model: Model, forwardPass: Bool) throws {
        _ = model.hyperParameters
        _ = model.perBlockKeys
        let engine = try Engine(model: model)
        let tokenizer = try Tokenizers.make(from: model.metadata)
        let ids = tokenizer.encode(sample, addSpecial: true)
        _ = tokenizer.decode(ids)
        _ = tokenizer.addsBOS
        guard forwardPass else { return }
        guard model.byteCount <= forwardLimit, ids.count >= 2 else {
            if verbose { print("fuzz: read, no forward pass (\(model.byteCount) bytes, \(ids.count) tokens)") }
            return
        }
        let tokens = Array(ids.prefix(forwardTokens))
        var states = try engine.embed([tokens])
        for block in 0 ..< engine.blockCount { try engine.runBlock(block, on: &states) }
        let nll = try engine.negativeLogLikelihoods(of: states, rows: Array(0 ..< tokens.count - 1),
                                                    targets: Array(tokens.dropFirst()))
        blackHole(nll.reduce(0, +))
        if verbose { print("fuzz: forward pass over \(tokens.count) tokens") }
    }

    private static let lock = NSLock()

    private static func serialized(_ body: () throws -> Void) {
        lock.lock()
        defer { lock.unlock() }
        do {
            try body()
            if verbose { print("fuzz: ok") }
        } catch {
            if verbose { print("fuzz: \(error)") }
        }
    }

    /// MODELSURGERY_FUZZ_VERBOSE=1 prints how each input ended (the error, or how far the model went).
    private static let verbose = ProcessInfo.processInfo.environment["MODELSURGERY_FUZZ_VERBOSE"] == "1"

    @inline(never)
    static func blackHole<T>(_ value: T) { withExtendedLifetime(value) {} }
}

/// The per-process scratch folder: $TMPDIR (else /dev/shm, else /tmp)/modelsurgery-fuzz/<pid>/, one subfolder
/// per target made once and reused; folders of processes that no longer run are removed when it is made.
enum Scratch {
    nonisolated(unsafe) private static var folders: [String: URL] = [:]

    /// The repository root: $MODELSURGERY_ROOT, else found from this file's place in the tree.
    static let root: URL = {
        if let path = ProcessInfo.processInfo.environment["MODELSURGERY_ROOT"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
            url.deleteLastPathComponent()
        }
        return url
    }()

    static func testModel(_ path: String) -> URL { root.appendingPathComponent("TestModels/\(path)") }

    static let base: URL = {
        let environment = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 }
        let temporary = environment ?? (FileManager.default.isWritableFile(atPath: "/dev/shm") ? "/dev/shm" : "/tmp")
        let parent = URL(fileURLWithPath: temporary).appendingPathComponent("modelsurgery-fuzz")
        try? FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        for name in (try? FileManager.default.contentsOfDirectory(atPath: parent.path)) ?? [] {
            if let pid = Int32(name), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH {
                try? FileManager.default.removeItem(at: parent.appendingPathComponent(name))
            }
        }
        let url = parent.appendingPathComponent("\(getpid())")
        try? FileManager.default.removeItem(at: url)
        return url
    }()

    /// The scratch subfolder `name`, filled by `setUp` the first time it is asked for.
    static func folder(_ name: String, setUp: (URL) throws -> Void) throws -> URL {
        if let url = folders[name] { return url }
        let url = base.appendingPathComponent(name)
        try? FileManager.default.removeItem(at: url)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        try setUp(url)
        folders[name] = url
        return url
    }

    static func copy(_ source: URL, to target: URL) throws {
        try? FileManager.default.removeItem(at: target)
        try FileManager.default.copyItem(at: source, to: target)
    }

    /// Replaces the file at `url` with `bytes` (a new inode, so no earlier mapping sees the change).
    static func write(_ bytes: UnsafeRawBufferPointer, to url: URL) throws {
        unlink(url.path)
        let fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw ScratchError(path: url.path) }
        defer { close(fd) }
        var done = 0
        while done < bytes.count {
            let written = Foundation.write(fd, bytes.baseAddress! + done, bytes.count - done)
            guard written > 0 else { throw ScratchError(path: url.path) }
            done += written
        }
    }

    struct ScratchError: Error { let path: String }
}
