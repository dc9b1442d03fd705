import Foundation
import Graph

/// An ONNX decoder model: a `.onnx` file with its external data, or a folder holding one, as
/// onnxruntime-genai's model builder (with genai_config.json) and optimum (with config.json) write them.
public struct ONNXModel {
    public static let genaiConfigFileName = "genai_config.json"

    var source: ONNXFile
    var decoder: DecoderGraph
    /// The folder the model was read from, when it was given as one.
    public let folder: URL?
    /// The blocks of the model as read that this one still has, for the per-block entries of its config files.
    private var keptSourceBlocks: [Int]

    public var blockCount: Int { decoder.blockCount }
    public var path: String { folder?.path ?? source.path }
    /// Every file the model's bytes come from.
    public var inputs: [MappedFile] { source.inputs }

    /// Whether `path` names an ONNX model: a `.onnx` file, or a folder with genai_config.json, or with a `.onnx`
    /// file and no safetensors weights (those make it a Hugging Face folder).
    public static func isONNX(_ path: String) -> Bool {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else { return false }
        guard isFolder.boolValue else { return path.lowercased().hasSuffix(".onnx") }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        if names.contains(genaiConfigFileName) { return true }
        return !names.contains { $0.hasSuffix(".safetensors") || $0 == SafeTensorsFolder.indexFileName }
            && names.contains { $0.lowercased().hasSuffix(".onnx") }
    }

    public init(path: String) throws {
        let url = URL(fileURLWithPath: path)
        var isFolder: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: path, isDirectory: &isFolder)
        folder = isFolder.boolValue ? url : nil
        source = try ONNXFile(url: isFolder.boolValue ? try Self.modelFile(inFolder: url) : url)
        decoder = try DecoderGraph(graph: source.model.graph, file: source.path)
        keptSourceBlocks = Array(0 ..< decoder.blockCount)
    }

    /// The model file of a folder: genai_config.json's decoder file name, or the folder's one `.onnx` file.
    static func modelFile(inFolder folder: URL) throws -> URL {
        let config = folder.appendingPathComponent(genaiConfigFileName)
        if FileManager.default.fileExists(atPath: config.path) {
            let json = try readJSON(config)
            guard let name = json["model"]?["decoder"]?["filename"]?.string, !name.isEmpty, !name.contains("/") else {
                throw FormatError.onnx(file: config.path, problem: "model.decoder.filename names no file beside it")
            }
            return folder.appendingPathComponent(name)
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        let models = names.filter { $0.lowercased().hasSuffix(".onnx") }
        guard models.count == 1 else {
            throw FormatError.onnx(file: folder.path, problem: models.isEmpty ? "no .onnx file and no \(genaiConfigFileName)"
                : "several .onnx files (\(models.sorted().joined(separator: ", "))) and no \(genaiConfigFileName) naming one")
        }
        return folder.appendingPathComponent(models[0])
    }

    /// The model without the `removed` blocks (indices ascending, at least one block kept), with its
    /// removal recorded in the model's metadata_props, composing with an earlier record.
    public func removingBlocks(_ removed: [Int]) throws -> ONNXModel {
        guard !removed.isEmpty else { return self }
        var pruned = self
        let (graph, names) = try decoder.removingBlocks(removed)
        pruned.decoder = graph
        pruned.source.model.graph = graph.graph
        pruned.source.tensorBytes = Dictionary(uniqueKeysWithValues: names.compactMap { old, new in
            source.tensorBytes[old].map { (new, $0) }
        })
        pruned.recordProvenance(RemovalProvenance.after(removing: removed, blockCount: blockCount, earlier: provenance))
        let gone = Set(removed)
        pruned.removeBlocksFromExportedMetadata(gone, blockCount: blockCount)
        pruned.keptSourceBlocks = keptSourceBlocks.indices.filter { !gone.contains($0) }.map { keptSourceBlocks[$0] }
        return pruned
    }

    /// Our exporter's `modelsurgery.metadata` without the `gone` blocks: the block count, and each per-block array
    /// without their entries (the reader prefers it to the graph, so it must describe the pruned model).
    private mutating func removeBlocksFromExportedMetadata(_ gone: Set<Int>, blockCount: Int) {
        guard let property = source.model.metadataProps.last(where: { $0.key == ONNXExport.metadataKey }),
              case .object(let entries)? = try? JSONValue.parse(Array(property.value.utf8)),
              let architecture = entries.first(where: { $0.key == "general.architecture" })?.value.string else { return }
        let prefix = architecture + "."
        let updated = entries.map { key, value -> (key: String, value: JSONValue) in
            guard key.hasPrefix(prefix) else { return (key, value) }
            if key == prefix + "block_count" { return (key, .integer(blockCount - gone.count)) }
            guard let array = value.array, array.count == blockCount,
                  !Model.fixedLengthArrays.contains(String(key.dropFirst(prefix.count))) else { return (key, value) }
            return (key, .array(array.indices.filter { !gone.contains($0) }.map { array[$0] }))
        }
        setProperties([(ONNXExport.metadataKey, JSONValue.object(updated).serialized(.compact))])
    }

    /// The record of earlier surgery in the model's metadata_props.
    var provenance: RemovalProvenance? {
        let properties = Dictionary(source.model.metadataProps.map { ($0.key, $0.value) }, uniquingKeysWith: { $1 })
        guard let original = properties[RemovalProvenance.originalBlockCountKey].flatMap(Int.init) else { return nil }
        let removed = properties[RemovalProvenance.removedBlocksKey].flatMap { try? JSONValue.parse(Array($0.utf8)) }?
            .array?.compactMap(\.int) ?? []
        return RemovalProvenance(originalBlockCount: original, removedBlocks: removed)
    }

    private mutating func recordProvenance(_ record: RemovalProvenance) {
        setProperties([(RemovalProvenance.originalBlockCountKey, String(record.originalBlockCount)),
                       (RemovalProvenance.removedBlocksKey, JSONValue.array(record.removedBlocks.map { .integer($0) }).serialized())])
    }

    /// Sets entries of the model's metadata_props, replacing those of the same keys.
    public mutating func setProperties(_ entries: [(key: String, value: String)]) {
        for (key, value) in entries {
            source.model.metadataProps.removeAll { $0.key == key }
            var entry = Onnx_StringStringEntryProto()
            entry.key = key
            entry.value = value
            source.model.metadataProps.append(entry)
        }
    }

    /// Writes the model to `path`: a file (and its `.data` beside it) for a model read from a file, or a
    /// folder with the source folder's other files, genai_config.json and config.json brought in line.
    @discardableResult
    public func write(to path: String, replacing: Bool = false, progress: ((Int, Int) -> Void)? = nil) throws -> [URL] {
        let url = URL(fileURLWithPath: path)
        let writer = ONNXWriter(model: source.model, tensorBytes: source.tensorBytes, inputs: inputs)
        guard let folder else {
            var isFolder: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
                throw FormatError.output(file: path, problem: "is a folder; the model was read from a file, so the output is a file")
            }
            return try writer.write(to: url, progress: progress)
        }
        let output = try OutputFolder(target: url, inputs: inputs, replacing: replacing, inputFolder: folder)
        let modelName = source.file.url.lastPathComponent
        let own = Set([modelName] + inputs.map(\.url.lastPathComponent))
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
            where !name.hasPrefix(".") && !own.contains(name) {
            let file = folder.appendingPathComponent(name)
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: file.path, isDirectory: &isFolder), !isFolder.boolValue else { continue }
            if let updated = try updatedConfig(named: name, in: folder) {
                try JSONFile.write(updated, to: output.url(for: name))
            } else {
                try FileManager.default.copyItem(at: file, to: output.url(for: name))
            }
        }
        _ = try writer.write(to: output.url(for: modelName), progress: progress)
        try output.commit()
        return [url]
    }

    /// genai_config.json or config.json with the new block count (and config.json's per-layer types sliced).
    private func updatedConfig(named name: String, in folder: URL) throws -> JSONValue? {
        let url = folder.appendingPathComponent(name)
        switch name {
        case Self.genaiConfigFileName:
            let config = try Self.readJSON(url)
            guard let model = config["model"], let decoder = model["decoder"] else { return config }
            return config.setting("model", model.setting("decoder", decoder.setting("num_hidden_layers", .integer(blockCount))))
        case "config.json":
            var config = try Self.readJSON(url)
            guard config["num_hidden_layers"] != nil else { return config }
            config = config.setting("num_hidden_layers", .integer(blockCount))
            if let types = config["layer_types"]?.array, keptSourceBlocks.allSatisfy(types.indices.contains) {
                config = config.setting("layer_types", .array(keptSourceBlocks.map { types[$0] }))
            }
            return config
        default:
            return nil
        }
    }

    private static func readJSON(_ url: URL) throws -> JSONValue { try JSONFile.read(url, error: FormatError.onnx) }
}
