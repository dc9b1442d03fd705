import Foundation
import Graph

/// The GGUF metadata of an ONNX decoder, from the first source that has it: the model's `modelsurgery.metadata`
/// property (a JSON object of GGUF key → value, which modelsurgery's exporter writes), config.json (optimum),
/// genai_config.json (onnxruntime-genai), or the graph alone. What the graph states (weight shapes, head counts,
/// epsilon, RoPE base) then fills whatever the chosen source left out.
struct ONNXMetadata {
    static let propertyKey = ONNXExport.metadataKey

    let model: ONNXModel
    let facts: ONNXGraphFacts
    /// Block 0's tensor shapes by role (fused roles unsplit), and the embedding table's.
    let blockShapes: [String: [Int]]
    let embeddingShape: [Int]

    private var file: String { model.path }

    func read() throws -> Metadata {
        var metadata = try stated() ?? Metadata()
        if metadata["general.architecture"] == nil {
            let architecture = blockShapes["attn_q_norm.weight"] != nil ? "qwen3"
                : blockShapes["attn_q.bias"] != nil || blockShapes["attn_qkv.bias"] != nil ? "qwen2" : "llama"
            metadata["general.architecture"] = .string(MetadataString(architecture))
        }
        try fillFromGraph(&metadata)
        return metadata
    }

    /// The metadata of the first source that exists, or nil for a bare graph.
    private func stated() throws -> Metadata? {
        if let property = model.source.model.metadataProps.last(where: { $0.key == Self.propertyKey }) {
            return try propertyMetadata(property.value)
        }
        // A bare file's companions are beside it (optimum's config.json, for instance).
        let folder = model.folder ?? model.source.file.url.deletingLastPathComponent()
        let config = folder.appendingPathComponent(HuggingFace.configFileName)
        if FileManager.default.fileExists(atPath: config.path) {
            return try HuggingFaceConfig.metadata(from: try readJSON(config), file: config.path)
        }
        let genai = folder.appendingPathComponent(ONNXModel.genaiConfigFileName)
        return FileManager.default.fileExists(atPath: genai.path) ? try genaiMetadata(try readJSON(genai), file: genai.path) : nil
    }

    private func propertyMetadata(_ text: String) throws -> Metadata {
        let json: JSONValue
        do { json = try JSONValue.parse(Array(text.utf8)) } catch {
            throw FormatError.onnx(file: file, problem: "metadata property \(Self.propertyKey) is not JSON: \(error)")
        }
        guard let members = json.members else {
            throw FormatError.onnx(file: file, problem: "metadata property \(Self.propertyKey) is not a JSON object")
        }
        var metadata = Metadata()
        for (key, value) in members {
            guard let converted = Self.propertyValue(value) else {
                throw FormatError.onnx(file: file, problem: "\(Self.propertyKey): '\(key)' is not a string, number, bool "
                    + "or array of one kind")
            }
            metadata[key] = converted
        }
        return metadata
    }

    /// A JSON value as a GGUF value: a number written with a point or an exponent (`10000.0`, `1e-06`) is a
    /// float32, one without an integer (uint32, int32 when negative, 64 bits when it needs them); arrays hold one
    /// kind (integers among floats become floats).
    static func propertyValue(_ value: JSONValue) -> MetadataValue? {
        switch value {
        case .string(let text): return .string(MetadataString(text))
        case .bool(let flag): return .bool(flag)
        case .number(let literal):
            if literal.contains(where: { ".eE".contains($0) }) { return Double(literal).map { .float32(Float($0)) } }
            if let number = UInt32(literal) { return .uint32(number) }
            if let number = Int32(literal) { return .int32(number) }
            return UInt64(literal).map { .uint64($0) } ?? Int64(literal).map { .int64($0) }
        case .array(let items):
            var values = items.compactMap(propertyValue)
            guard values.count == items.count else { return nil }
            if values.contains(where: { $0.type == .float32 }) { values = values.map { $0.double.map { .float32(Float($0)) } ?? $0 } }
            let type = values.first?.type ?? .uint32
            return values.allSatisfy({ $0.type == type }) ? .array(type, values) : nil
        case .null, .object: return nil
        }
    }

    /// onnxruntime-genai's names for the architectures, where they differ from GGUF's.
    private static let genaiArchitectures = ["mistral": "llama", "gemma3_text": "gemma3"]

    private func genaiMetadata(_ config: JSONValue, file: String) throws -> Metadata {
        guard let model = config["model"], let type = model["type"]?.string else {
            throw FormatError.onnx(file: file, problem: "model.type is missing")
        }
        let architecture = Self.genaiArchitectures[type] ?? type
        var metadata = Metadata()
        metadata["general.architecture"] = .string(MetadataString(architecture))
        let decoder = model["decoder"]
        let fields: [(JSONValue?, String)] = [
            (decoder?["hidden_size"], "embedding_length"), (decoder?["num_attention_heads"], "attention.head_count"),
            (decoder?["num_key_value_heads"], "attention.head_count_kv"), (decoder?["num_hidden_layers"], "block_count"),
            (decoder?["head_size"], "attention.key_length"), (decoder?["head_size"], "attention.value_length"),
            (model["context_length"], "context_length"), (model["vocab_size"], "vocab_size"),
        ]
        for (value, suffix) in fields {
            guard let value, !value.isNull else { continue }
            guard let number = value.uint32, number > 0 else {
                throw FormatError.onnx(file: file, problem: "the value \(value.serialized()) for \(architecture).\(suffix) "
                    + "is not an integer from 1 to \(UInt32.max)")
            }
            metadata["\(architecture).\(suffix)"] = .uint32(number)
        }
        for (field, key) in [("bos_token_id", "bos"), ("eos_token_id", "eos"), ("pad_token_id", "padding")] {
            if let id = model[field]?.uint32 { metadata["tokenizer.ggml.\(key)_token_id"] = .uint32(id) }
        }
        return metadata
    }

    /// Sets each hyper-parameter the metadata lacks from what the graph states.
    private func fillFromGraph(_ metadata: inout Metadata) throws {
        let architecture = metadata["general.architecture"]?.string ?? "llama"
        func fill(_ suffix: String, _ value: MetadataValue?) {
            let key = "\(architecture).\(suffix)"
            if metadata[key] == nil, let value { metadata[key] = value }
        }
        func number(_ suffix: String) -> Int? { metadata["\(architecture).\(suffix)"]?.int }
        func count(_ value: Int?) -> MetadataValue? { value.flatMap(UInt32.init(exactly:)).map { .uint32($0) } }
        fill("block_count", .uint32(UInt32(model.blockCount)))
        fill("embedding_length", count(embeddingShape[0]))
        let hidden = number("embedding_length") ?? embeddingShape[0]
        let headSize = number("attention.key_length") ?? facts.headSize ?? facts.rotaryDimensions
            ?? number("attention.head_count").map { hidden / max($0, 1) }
        let qRows = blockShapes["attn_q.weight"]?.last, kRows = blockShapes["attn_k.weight"]?.last
        if let headSize, headSize > 0 {
            fill("attention.head_count", count(facts.headCount ?? qRows.map { $0 / headSize }))
            fill("attention.head_count_kv", count(facts.kvHeadCount ?? kRows.map { $0 / headSize }))
            if let heads = number("attention.head_count"), heads.multipliedReportingOverflow(by: headSize).partialValue != hidden {
                fill("attention.key_length", .uint32(UInt32(clamping: headSize)))
                fill("attention.value_length", .uint32(UInt32(clamping: headSize)))
            }
            if let rotary = facts.rotaryDimensions, rotary < headSize { fill("rope.dimension_count", .uint32(UInt32(rotary))) }
        }
        let feedForward = blockShapes["ffn_up.weight"]?.last ?? blockShapes["ffn_gate_up.weight"]?.last.map { $0 / 2 }
        fill("feed_forward_length", count(feedForward))
        fill("context_length", count(facts.contextLength))
        fill("attention.layer_norm_rms_epsilon", facts.epsilon.map { .float32(Float($0)) })
        fill("rope.freq_base", facts.ropeBase.map { .float32(Float($0)) })
    }

    private func readJSON(_ url: URL) throws -> JSONValue { try JSONFile.read(url, error: FormatError.onnx) }
}
