import Foundation
import Graph
import Tensors

/// Writes a common model as an ONNX decoder (see `DecoderExport` for the graph): `NAME.onnx` with
/// `NAME.onnx.data`, or a folder onnxruntime-genai generates from (model.onnx, its data, genai_config.json and
/// the tokenizer files).
public enum ONNXExport {
    /// The ModelProto metadata_props key holding the source's GGUF metadata (every key but `tokenizer.*`) as
    /// one JSON object of plain values, so a reader can restore the exact hyper-parameters.
    public static let metadataKey = "modelsurgery.metadata"
    static let modelFileName = "model.onnx"

    public enum Precision: String, CaseIterable, Sendable {
        case f32, f16, int4
    }

    public struct Options: Sendable {
        public var precision: Precision
        /// past_key_values.N.* inputs and present.N.* outputs.
        public var keyValueCache: Bool

        public init(precision: Precision = .f32, keyValueCache: Bool = true) {
            self.precision = precision
            self.keyValueCache = keyValueCache
        }
    }

    /// Checks that `model` can be exported (architecture, sizes, tensor shapes) without writing anything.
    public static func check(_ model: Model) throws {
        _ = try DecoderExport(model: model, options: Options())
    }

    /// Writes `url` (and `url.data`); returns the files written.
    public static func write(_ model: Model, to url: URL, options: Options,
                             progress: ((Int, Int) -> Void)? = nil) throws -> [URL] {
        let (proto, payloads) = try DecoderExport(model: model, options: options).build()
        return try ONNXWriter(model: proto, payloads: payloads, inputs: model.origin.files).write(to: url, progress: progress)
    }

    /// Writes the folder `folder` for onnxruntime-genai; it replaces an existing output folder only when `replacing`.
    public static func writeFolder(_ model: Model, to folder: URL, options: Options, replacing: Bool = false,
                                   progress: ((Int, Int) -> Void)? = nil) throws -> URL {
        let export = try DecoderExport(model: model, options: options)
        let output = try OutputFolder(target: folder, inputs: model.origin.files, replacing: replacing,
                                      inputFolder: model.origin.folder)
        try JSONFile.write(GenAIConfig.config(for: export), to: output.url(for: ONNXModel.genaiConfigFileName))
        for (name, contents) in try tokenizerFiles(of: model, file: folder.path) {
            try JSONFile.write(contents, to: output.url(for: name))
        }
        let (proto, payloads) = try export.build()
        _ = try ONNXWriter(model: proto, payloads: payloads, inputs: model.origin.files)
            .write(to: output.url(for: modelFileName), progress: progress)
        try output.commit()
        return folder
    }

    /// A Hugging Face source's own tokenizer files, or files rebuilt from the GGUF tokenizer keys.
    private static func tokenizerFiles(of model: Model, file: String) throws -> [(name: String, contents: [UInt8])] {
        if let source = model.origin.folder {
            let names = ["tokenizer.json", "tokenizer_config.json"]
            let present = names.map { source.appendingPathComponent($0) }.filter { FileManager.default.fileExists(atPath: $0.path) }
            if !present.isEmpty { return try present.map { ($0.lastPathComponent, [UInt8](try Data(contentsOf: $0))) } }
        }
        return try HuggingFaceTokenizer.files(from: model.metadata, file: file)
    }

    /// The model's metadata but the tokenizer, as `metadataKey` holds it.
    static func metadataJSON(of model: Model) -> JSONValue {
        .object(model.metadata.entries.compactMap { key, value in
            guard !key.hasPrefix("tokenizer."), let json = value.jsonValue else { return nil }
            return (key, json)
        })
    }
}
