import Foundation
import Graph
import Tensors

/// A common model (llama, mistral, qwen2, qwen3, gemma3) as one ONNX decoder graph of opset 23 standard ops
/// that onnxruntime's CPU provider runs, computing what the engine computes:
///
/// - inputs `input_ids`, `attention_mask` (int64 [batch, total_sequence]), `position_ids` (int64 [batch,
///   sequence]) and, unless the cache is left out, `past_key_values.N.key/value` ([batch, kv_heads, past, head_size]);
///   outputs `logits` (float [batch, sequence, vocab]) and `present.N.key/value`;
/// - `/model/embed_tokens/Gather` (times sqrt(hidden) for gemma3), then per block `RMSNormalization` (axis −1),
///   the Q/K/V `MatMul`s (+ bias), per-head q/k `RMSNormalization`, `RotaryEmbedding` (cos/sin caches
///   [max_positions, rotary_dim/2] from position_ids; `interleaved` = 1 exactly when the rows are llama.cpp's
///   permuted llama/mistral Q/K rows, which then stay as they are), `Attention` (q/kv head counts, an explicit
///   scale, past and present caches, a float additive mask), the output `MatMul`, the gated MLP (SiLU as
///   Sigmoid·x, gemma3's `Gelu` tanh), gemma3's post norms, and the residual adds;
/// - one causal mask built from index positions (query i sits at total − sequence + i; key j is visible iff
///   j ≤ that and attention_mask[b, j] = 1, and on sliding-window layers also j > query − window), shared by
///   the layers;
/// - node names as transformers' modules (`/model/layers.N/self_attn/q_proj/MatMul`), initializers as its
///   tensors (`model.layers.N.self_attn.q_proj.weight` holding MatMul's [in, out] B, `lm_head.weight` even
///   when tied), norms with their effective multiplier (gemma's +1 included);
/// - matrices in f32, f16 (each followed by a `Cast` to float) or com.microsoft `MatMulNBits` (4 bits, block 32,
///   f32 scales; embeddings and norms stay f32).
struct DecoderExport {
    let model: Model
    let options: ONNXExport.Options
    let family: Family
    let shape: DecoderShape

    init(model: Model, options: ONNXExport.Options) throws {
        self.model = model
        self.options = options
        family = try Family.named(model.architecture, file: model.sourcePath)
        shape = try DecoderShape(model: model)
    }

    /// llama.cpp's GGUF rows of llama and mistral Q/K pair adjacent elements; every other source pairs halves.
    var interleavedRotary: Bool { model.layout == .llamaCpp && family.permutesQueryKey }

    func build() throws -> (model: Onnx_ModelProto, payloads: [String: TensorPayload]) {
        var graph = ONNXGraphBuilder(name: "modelsurgery-\(model.architecture)")
        declareInputs(&graph)
        let masks = buildMasks(&graph)
        let rotary = try buildRotaryCaches(&graph)
        var hidden = try embed(&graph)
        for index in model.blocks.indices {
            hidden = try layer(index, input: hidden, masks: masks, rotary: rotary, graph: &graph)
        }
        let logits = try head(hidden, graph: &graph)
        graph.rename(output: logits, to: "logits")
        graph.output("logits", type: .float, shape: [.symbolic("batch_size"), .symbolic("sequence_length"), .fixed(shape.vocabularySize)])
        declareCacheOutputs(&graph)
        return (modelProto(graph.graph), graph.payloads)
    }

    private func modelProto(_ graph: Onnx_GraphProto) -> Onnx_ModelProto {
        var proto = Onnx_ModelProto()
        // Opset 23 came with IR version 11.
        proto.irVersion = 11
        proto.producerName = "modelsurgery"
        var standard = Onnx_OperatorSetIdProto()
        standard.version = 23
        proto.opsetImport = [standard]
        if options.precision == .int4 {
            var microsoft = Onnx_OperatorSetIdProto()
            microsoft.domain = "com.microsoft"
            microsoft.version = 1
            proto.opsetImport.append(microsoft)
        }
        proto.graph = graph
        var entry = Onnx_StringStringEntryProto()
        entry.key = ONNXExport.metadataKey
        entry.value = ONNXExport.metadataJSON(of: model).serialized(.compact)
        proto.metadataProps = [entry]
        return proto
    }

    private func declareInputs(_ graph: inout ONNXGraphBuilder) {
        graph.input("input_ids", type: .int64, shape: [.symbolic("batch_size"), .symbolic("sequence_length")])
        graph.input("attention_mask", type: .int64, shape: [.symbolic("batch_size"), .symbolic("total_sequence_length")])
        graph.input("position_ids", type: .int64, shape: [.symbolic("batch_size"), .symbolic("sequence_length")])
        for entry in cacheEntries(length: "past_sequence_length") {
            graph.input("past_key_values.\(entry.layer).\(entry.part)", type: .float, shape: entry.shape)
        }
    }

    private func declareCacheOutputs(_ graph: inout ONNXGraphBuilder) {
        for entry in cacheEntries(length: "total_sequence_length") {
            graph.output("present.\(entry.layer).\(entry.part)", type: .float, shape: entry.shape)
        }
    }

    /// Each layer's key and value cache ([batch, kv_heads, `length`, head_size]); none without the cache.
    private func cacheEntries(length: String) -> [(layer: Int, part: String, shape: [ONNXGraphBuilder.Dimension])] {
        guard options.keyValueCache else { return [] }
        return shape.layers.enumerated().flatMap { index, layer in
            [("key", shape.headSize), ("value", shape.valueHeadSize)].map { part, width in
                (index, part, [.symbolic("batch_size"), .fixed(layer.kvHeads), .symbolic(length), .fixed(width)])
            }
        }
    }
}

/// How a supported architecture's decoder differs from llama's (the engine's `Architecture` switches).
struct Family {
    let name: String
    let geluActivation: Bool
    let scalesEmbeddings: Bool
    let postNorms: Bool

    /// llama.cpp permutes this family's Q/K rows into adjacent pairs when it writes GGUF.
    var permutesQueryKey: Bool { WeightLayout.permutedQueryKey.contains(name) }

    static let all: [Family] = [
        Family(name: "llama", geluActivation: false, scalesEmbeddings: false, postNorms: false),
        Family(name: "mistral", geluActivation: false, scalesEmbeddings: false, postNorms: false),
        Family(name: "qwen2", geluActivation: false, scalesEmbeddings: false, postNorms: false),
        Family(name: "qwen3", geluActivation: false, scalesEmbeddings: false, postNorms: false),
        Family(name: "gemma3", geluActivation: true, scalesEmbeddings: true, postNorms: true),
    ]

    static func named(_ name: String, file: String) throws -> Family {
        guard let family = all.first(where: { $0.name == name }) else {
            throw FormatError.onnx(file: file, problem: "architecture '\(name)' cannot be exported to ONNX "
                + "(supported: \(all.map(\.name).joined(separator: ", ")))")
        }
        return family
    }
}

extension Model {
    /// The file or folder the model was read from, for messages.
    var sourcePath: String { origin.folder?.path ?? origin.files.first?.path ?? "model" }
}
