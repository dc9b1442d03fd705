import Foundation
import Graph
import Tensors

/// Hugging Face model folders (config.json, safetensors weights, tokenizer files) read into the common model
/// and written back. The model takes GGUF's tensor names and metadata keys, so scoring and surgery treat both
/// formats alike; values stay in transformers' layout (`WeightLayout.transformers`) and bytes stay mapped.
public enum HuggingFace {
    public static let format = "safetensors"
    static let configFileName = "config.json"
    /// Files of a folder that are weights in some format; a written folder gets its own weights instead.
    static let weightFileExtensions: Set<String> = ["safetensors", "bin", "pt", "pth", "ckpt", "h5", "msgpack", "gguf", "onnx"]

    /// Whether `path` looks like a Hugging Face model folder.
    public static func isModelFolder(_ path: String) -> Bool {
        var isFolder: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) && isFolder.boolValue
    }

    /// `tokenizer: false` skips turning tokenizer.json into metadata (a few hundred milliseconds for a large
    /// vocabulary), for jobs that only move tensors.
    public static func readModel(at folder: URL, tokenizer: Bool = true) throws -> Model {
        let configURL = folder.appendingPathComponent(configFileName)
        guard FileManager.default.fileExists(atPath: configURL.path) else {
            throw FormatError.huggingFace(file: folder.path, problem: "no config.json: not a Hugging Face model folder")
        }
        let config = try readJSON(configURL)
        var metadata = try HuggingFaceConfig.metadata(from: config, file: configURL.path)
        let weights = try SafeTensorsFolder(path: folder.path)
        if tokenizer {
            let embeddingRows = weights.tensors.first { HuggingFaceNames.ggufGlobal($0.entry.name) == "token_embd.weight" }?
                .entry.shape.first
            for (key, value) in try tokenizerMetadata(in: folder, config: config, embeddingRows: embeddingRows) {
                metadata[key] = value
            }
        }

        let architecture = metadata["general.architecture"]?.string ?? "unknown"
        let statedBlockCount = metadata["\(architecture).block_count"]?.int ?? 0
        var globals: [Tensor] = []
        var blocks = BlockAssembly()
        for (ordinal, (entry, shard)) in weights.tensors.enumerated() {
            var tensor = Tensor(name: entry.name, shape: entry.shape.reversed(), type: entry.type, data: entry.data,
                                ordinal: ordinal)
            if let (index, role) = HuggingFaceNames.blockName(entry.name) {
                guard index < statedBlockCount else {
                    throw FormatError.blockOutOfRange(file: shard.file.path, tensor: entry.name, blockCount: statedBlockCount)
                }
                tensor.name = HuggingFaceNames.ggufRole(role, architecture: architecture) ?? role
                blocks.add(tensor, toBlock: index)
            } else {
                tensor.name = HuggingFaceNames.ggufGlobal(entry.name) ?? entry.name
                globals.append(tensor)
            }
        }
        var model = Model(metadata: metadata, globalTensors: globals, blocks: try blocks.blocks(file: folder.path),
                          origin: Origin(format: format, version: 0, files: weights.shards.map(\.file), folder: folder),
                          layout: .transformers)
        nameAsConverterDoes(&model, folder: folder)
        return try model.validated(file: configURL.path)
    }

    /// `general.name`, `general.type` and `general.size_label` as gguf-py names a model it converts: from the
    /// folder's name and the parameter count (`model_weight_count_rounded_notation`).
    private static func nameAsConverterDoes(_ model: inout Model, folder: URL) {
        if model.metadata["general.name"] == nil {
            let words = folder.lastPathComponent.split(whereSeparator: { $0 == "-" || $0 == "_" })
            model.metadata["general.name"] = .string(MetadataString(words.map { $0.prefix(1).uppercased() + $0.dropFirst() }
                .joined(separator: " ")))
        }
        model.metadata["general.type"] = .string("model")
        let count = Double(model.parameterCount)
        let (scaled, suffix) = count > 1e12 ? (count / 1e12, "T") : count > 1e9 ? (count / 1e9, "B")
            : count > 1e6 ? (count / 1e6, "M") : (count / 1e3, "K")
        let digits = max(2 - String(Int(scaled.rounded())).count, 0)
        model.metadata["general.size_label"] = .string(MetadataString(String(format: "%.\(digits)f", scaled) + suffix))
    }

    /// The tokenizer.* keys from the folder's tokenizer files, when it has them.
    static func tokenizerMetadata(in folder: URL, config: JSONValue,
                                          embeddingRows: Int?) throws -> [(key: String, value: MetadataValue)] {
        func file(_ name: String) -> URL? {
            let url = folder.appendingPathComponent(name)
            return FileManager.default.fileExists(atPath: url.path) ? url : nil
        }
        guard let tokenizerURL = file("tokenizer.json") else { return [] }
        let chatTemplate = try file("chat_template.jinja").map { try String(contentsOf: $0, encoding: .utf8) }
        return try HuggingFaceTokenizer.ggufMetadata(
            tokenizerJSON: try readJSON(tokenizerURL), tokenizerConfig: try file("tokenizer_config.json").map(readJSON),
            modelConfig: config, chatTemplate: chatTemplate, embeddingRows: embeddingRows, file: folder.path)
    }

    static func readJSON(_ url: URL) throws -> JSONValue {
        try JSONFile.read(url, error: FormatError.huggingFace)
    }

    /// Writes `model` as a folder at `folder`: weights (sharded above `maxShardBytes`), config.json and the
    /// tokenizer. A model read from a folder keeps that folder's other files and its config, updated after
    /// surgery; one from GGUF gets them rebuilt from its metadata. `encoder` converts tensors (see `convert`).
    @discardableResult
    public static func write(_ model: Model, to folder: URL, maxShardBytes: Int? = nil, dtypeName: String? = nil,
                             encoder: TensorEncoder? = nil, replacing: Bool = false,
                             progress: ((Int, Int) -> Void)? = nil) throws -> URL {
        let output = try OutputFolder(target: folder, inputs: model.origin.files, replacing: replacing,
                                      inputFolder: model.origin.folder)
        let architecture = model.architecture
        let fromFolder = model.origin.format == format
        let tensors = try GGUF.namedTensors(of: model).filter { !droppedGlobals.contains($0.name) }.map { ggufName, tensor, block in
            let mapped = block == nil
                ? HuggingFaceNames.huggingFaceGlobal(tensor.name)
                : HuggingFaceNames.huggingFaceRole(tensor.name, architecture: architecture)
            // A folder's own names pass through; a GGUF tensor needs a transformers name.
            guard let hfName = mapped ?? (fromFolder ? tensor.name : nil) else {
                throw FormatError.huggingFace(file: folder.path, problem: "no transformers name for tensor '\(ggufName)'")
            }
            let name = block.map { "\(HuggingFaceNames.blockPrefix)\($0).\(hfName)" } ?? hfName
            let encoded = try encoder?(tensor, block)
            return SafeTensorsWriter.Tensor(name: name, type: encoded?.type ?? tensor.type, shape: tensor.shape.reversed(),
                                            payload: encoded?.payload ?? .bytes(tensor.data))
        }

        if let source = model.origin.folder, fromFolder {
            try copyCompanionFiles(from: source, to: output)
            let config = HuggingFaceConfig.updated(try readJSON(source.appendingPathComponent(configFileName)), for: model)
            try JSONFile.write(config, to: output.url(for: configFileName))
        } else {
            let dtype = dtypeName ?? tensors.first { $0.shape.count == 2 }.map { torchName(of: $0.type) } ?? "float32"
            let config = try HuggingFaceConfig.config(for: model, dtype: dtype)
            try JSONFile.write(config, to: output.url(for: configFileName))
            // A model without a tokenizer (a bare ONNX graph) gets no tokenizer files.
            let tokenizerFiles = model.metadata["tokenizer.ggml.model"] == nil ? []
                : try HuggingFaceTokenizer.files(from: model.metadata, file: folder.path)
            for (name, contents) in tokenizerFiles {
                try JSONFile.write(contents, to: output.url(for: name))
            }
            try JSONFile.write(generationConfig(for: model), to: output.url(for: "generation_config.json"))
        }
        let limit = maxShardBytes ?? sourceShardLimit(of: model)
        let safetensorsMetadata = fromFolder
            ? model.origin.files.first.flatMap { try? SafeTensorsFile(file: $0).metadata } ?? [("format", "pt")]
            : [("format", "pt")]
        try SafeTensorsWriter(tensors: tensors, metadata: safetensorsMetadata, maxShardBytes: limit)
            .write(into: output.temporary, progress: progress)
        try output.commit()
        return folder
    }

    /// GGUF tensors transformers has no place for: llama.cpp's precomputed RoPE factors come from the config.
    private static let droppedGlobals: Set<String> = ["rope_freqs.weight"]

    /// A sharded source is written in shards no larger than its largest; a single file stays single.
    private static func sourceShardLimit(of model: Model) -> Int? {
        guard model.origin.format == format, model.origin.files.count > 1 else { return nil }
        return model.origin.files.map(\.size).max()
    }

    /// The source folder's files other than weights and config.json (tokenizer, generation config, README …):
    /// regular files only, their contents copied (a Hugging Face cache links each one to a blob; a FIFO or
    /// device would block or never end).
    private static func copyCompanionFiles(from source: URL, to output: OutputFolder) throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: source.path)
        for name in names.sorted() where !name.hasPrefix(".") && name != configFileName
            && name != SafeTensorsFolder.indexFileName && !weightFileExtensions.contains((name as NSString).pathExtension) {
            let url = source.appendingPathComponent(name).resolvingSymlinksInPath()
            guard let type = try? FileManager.default.attributesOfItem(atPath: url.path)[.type] as? FileAttributeType,
                  type == .typeRegular else { continue }
            try FileManager.default.copyItem(at: url, to: output.url(for: name))
        }
    }

    private static func generationConfig(for model: Model) -> JSONValue {
        let members = [("_from_model_config", JSONValue.bool(true))] + HuggingFaceConfig.specialTokenIDs(of: model)
        return .object(members.sorted { $0.key < $1.key })
    }

    /// torch's name for an element type, as config.json's `torch_dtype` gives it.
    public static func torchName(of type: ElementType) -> String {
        switch type {
        case .f16: "float16"
        case .bf16: "bfloat16"
        default: "float32"
        }
    }
}
