import Foundation
import Graph

/// The sizes an exported decoder is built from, read from the hyper-parameters and checked against every
/// tensor the graph uses, so a hostile or inconsistent model is refused before anything is written.
struct DecoderShape {
    struct Layer {
        let heads: Int
        let kvHeads: Int
        let feedForward: Int
        let slidingWindow: Bool
    }

    let hiddenSize: Int
    let headSize: Int
    let valueHeadSize: Int
    let vocabularySize: Int
    let rmsEpsilon: Float
    /// Tokens a sliding-window layer sees (0: none).
    let window: Int
    /// Rows of the rotary caches: the positions the model supports.
    let maxPositions: Int
    let rotaryDimensions: Int
    let layers: [Layer]

    private static let positionLimit = 1 << 20

    init(model: Model) throws {
        let file = model.sourcePath
        func fail(_ problem: String) -> FormatError { .onnx(file: file, problem: problem) }
        func required(_ value: Int?, _ suffix: String) throws -> Int {
            guard let value, value > 0 else { throw fail("\(model.key(suffix)) is missing or not positive") }
            return value
        }
        let parameters = model.hyperParameters
        hiddenSize = try required(parameters.hiddenSize, "embedding_length")
        headSize = try required(parameters.headSize, "attention.key_length")
        valueHeadSize = try required(parameters.valueHeadSize, "attention.value_length")
        rmsEpsilon = Float(parameters.rmsEpsilon ?? 1e-5)
        window = max(0, parameters.slidingWindow ?? 0)
        maxPositions = min(try required(parameters.contextLength, "context_length"), Self.positionLimit)
        rotaryDimensions = parameters.rope.dimensionCount ?? headSize
        guard rotaryDimensions > 0, rotaryDimensions <= headSize, rotaryDimensions % 2 == 0 else {
            throw fail("rope.dimension_count \(rotaryDimensions) must be even and at most the head size \(headSize)")
        }
        guard let embedding = model.globalTensors.first(where: { $0.name == "token_embd.weight" }),
              embedding.shape.count == 2, embedding.shape[0] == hiddenSize, embedding.shape[1] > 0 else {
            throw fail("token_embd.weight is missing or not [\(hiddenSize), vocabulary]")
        }
        vocabularySize = embedding.shape[1]
        let sliding = window > 0 ? SlidingWindowRule.flags(of: model) : nil
        layers = try model.blocks.indices.map { index in
            let heads = try required(parameters.headCount[index], "attention.head_count")
            let kvHeads = try required(parameters.headCountKV[index], "attention.head_count_kv")
            guard heads % kvHeads == 0 else {
                throw fail("block \(index): \(heads) query heads do not split into groups of \(kvHeads) key/value heads")
            }
            let feedForward = try required(parameters.feedForwardLength[index]
                ?? model.blocks[index].tensor("ffn_up.weight")?.shape.last, "feed_forward_length")
            return Layer(heads: heads, kvHeads: kvHeads, feedForward: feedForward, slidingWindow: sliding?[index] ?? false)
        }
        try checkTensors(of: model, fail: fail)
    }

    /// Every tensor the graph reads has the shape the sizes promise (ggml order, innermost first).
    private func checkTensors(of model: Model, fail: (String) -> FormatError) throws {
        func check(_ tensor: Tensor?, _ name: String, _ expected: [Int], optional: Bool = false) throws {
            guard let tensor else {
                if optional { return }
                throw fail("tensor '\(name)' is missing")
            }
            guard tensor.shape == expected else { throw fail("tensor '\(name)' has shape \(tensor.shape), expected \(expected)") }
        }
        func global(_ name: String) -> Tensor? { model.globalTensors.first { $0.name == name } }
        try check(global("output_norm.weight"), "output_norm.weight", [hiddenSize])
        try check(global("output.weight"), "output.weight", [hiddenSize, vocabularySize], optional: true)
        for (index, (block, layer)) in zip(model.blocks, layers).enumerated() {
            let (queryWidth, keyWidth) = try widths(layer, fail: fail)
            let valueWidth = layer.kvHeads * valueHeadSize, outputWidth = layer.heads * valueHeadSize
            let expected: [(String, [Int], Bool)] = [
                ("attn_norm.weight", [hiddenSize], false), ("ffn_norm.weight", [hiddenSize], false),
                ("attn_q.weight", [hiddenSize, queryWidth], false), ("attn_k.weight", [hiddenSize, keyWidth], false),
                ("attn_v.weight", [hiddenSize, valueWidth], false), ("attn_output.weight", [outputWidth, hiddenSize], false),
                ("attn_q.bias", [queryWidth], true), ("attn_k.bias", [keyWidth], true), ("attn_v.bias", [valueWidth], true),
                ("attn_output.bias", [hiddenSize], true), ("attn_q_norm.weight", [headSize], true),
                ("attn_k_norm.weight", [headSize], true), ("post_attention_norm.weight", [hiddenSize], true),
                ("post_ffw_norm.weight", [hiddenSize], true),
                ("ffn_gate.weight", [hiddenSize, layer.feedForward], false), ("ffn_up.weight", [hiddenSize, layer.feedForward], false),
                ("ffn_down.weight", [layer.feedForward, hiddenSize], false),
            ]
            for (role, dims, optional) in expected {
                try check(block.tensor(role), "blk.\(index).\(role)", dims, optional: optional)
            }
        }
    }

    private func widths(_ layer: Layer, fail: (String) -> FormatError) throws -> (query: Int, key: Int) {
        let (query, queryOverflow) = layer.heads.multipliedReportingOverflow(by: headSize)
        let (key, keyOverflow) = layer.kvHeads.multipliedReportingOverflow(by: headSize)
        let (_, valueOverflow) = layer.heads.multipliedReportingOverflow(by: valueHeadSize)
        guard !queryOverflow, !keyOverflow, !valueOverflow else {
            throw fail("\(layer.heads) heads of \(max(headSize, valueHeadSize)) overflow")
        }
        return (query, key)
    }
}
