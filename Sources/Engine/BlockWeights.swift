import Graph
import Tensors

/// One block's weights dequantized to Float, held only while that block runs; with `encoded`, its matrices
/// stay encoded in the model file (`WeightMatrix`), for products with few input rows.
///
/// Blocks of llama.cpp's `deci` architecture vary per layer (`EngineConfig.Layer.attention`): no attention
/// (no attention tensors), "linear attention" (only `attn_norm` and an n_embd × n_embd `attn_output`), or
/// none of the feed-forward tensors when the layer's `feed_forward_length` is 0.
struct BlockWeights {
    let attentionNorm: [Float]?
    let query: WeightMatrix?, key: WeightMatrix?, value: WeightMatrix?, output: WeightMatrix?
    let queryBias: [Float]?, keyBias: [Float]?, valueBias: [Float]?, outputBias: [Float]?
    let queryNorm: [Float]?, keyNorm: [Float]?
    let postAttentionNorm: [Float]?
    let feedForwardNorm: [Float]?
    let gate: WeightMatrix?, up: WeightMatrix?, down: WeightMatrix?
    let gateBias: [Float]?, upBias: [Float]?, downBias: [Float]?
    let postFeedForwardNorm: [Float]?
    let feedForwardSize: Int
    /// Whether the matrices stayed encoded (`WeightMatrix.encoded`).
    let encodedMatrices: Bool

    var byteCount: Int { arrays.reduce(0) { $0 + $1.count } * MemoryLayout<Float>.size }

    /// Every decoded array, for reuse by the next block (`spare` of the initializer).
    var arrays: [[Float]] {
        [attentionNorm, query?.decoded, key?.decoded, value?.decoded, output?.decoded, queryBias, keyBias, valueBias,
         outputBias, queryNorm, keyNorm, postAttentionNorm, feedForwardNorm, gate?.decoded, up?.decoded, down?.decoded,
         gateBias, upBias, downBias, postFeedForwardNorm].compactMap { $0 }
    }

    /// Dequantizes the block, into arrays taken from `spare` where their counts match (see `Dequantizer.floats`).
    init(block: Block, index: Int, config: EngineConfig, encoded: Bool = false, reusing spare: inout [[Float]]) throws {
        let layer = config.layers[index]
        let encoding = encoded && config.layout == .llamaCpp
        encodedMatrices = encoding
        func optional(_ role: String) throws -> [Float]? {
            try block.tensor(role).map {
                try config.floats(of: $0, role: role, layer: index, name: "blk.\(index).\(role)", reusing: &spare)
            }
        }
        func load(_ role: String, if needed: Bool = true) throws -> [Float]? {
            guard needed else { return nil }
            guard let values = try optional(role) else { throw EngineError.missingTensor("blk.\(index).\(role)") }
            return values
        }
        func matrix(_ role: String, if needed: Bool = true) throws -> WeightMatrix? {
            guard needed else { return nil }
            if encoding, let tensor = block.tensor(role), tensor.shape.count == 2 { return .encoded(tensor) }
            return try load(role).map(WeightMatrix.decoded)
        }
        let full = layer.attention == .full, postNorms = config.architecture.postNorms
        attentionNorm = try load("attn_norm.weight", if: layer.attention != .none)
        query = try matrix("attn_q.weight", if: full)
        key = try matrix("attn_k.weight", if: full)
        value = try matrix("attn_v.weight", if: full)
        output = try matrix("attn_output.weight", if: layer.attention != .none)
        queryBias = full ? try optional("attn_q.bias") : nil
        keyBias = full ? try optional("attn_k.bias") : nil
        valueBias = full ? try optional("attn_v.bias") : nil
        // llama.cpp's linear attention is a bare matrix product: it never reads the bias.
        outputBias = full ? try optional("attn_output.bias") : nil
        queryNorm = full ? try optional("attn_q_norm.weight") : nil
        keyNorm = full ? try optional("attn_k_norm.weight") : nil
        postAttentionNorm = try load("post_attention_norm.weight", if: postNorms && layer.attention != .none)

        let ffn = layer.feedForwardSize > 0
        feedForwardNorm = try load("ffn_norm.weight", if: ffn)
        gate = try matrix("ffn_gate.weight", if: ffn)
        up = try matrix("ffn_up.weight", if: ffn)
        down = try matrix("ffn_down.weight", if: ffn)
        gateBias = ffn ? try optional("ffn_gate.bias") : nil
        upBias = ffn ? try optional("ffn_up.bias") : nil
        downBias = ffn ? try optional("ffn_down.bias") : nil
        postFeedForwardNorm = try load("post_ffw_norm.weight", if: postNorms && ffn)
        feedForwardSize = layer.feedForwardSize
        try checkSizes(index: index, config: config)
    }

    /// Every array as long as the layer's counts imply, so a file whose tensors disagree with its metadata
    /// gets an error instead of reading past an array.
    private func checkSizes(index: Int, config: EngineConfig) throws {
        let layer = config.layers[index], width = config.hiddenSize, ffn = feedForwardSize
        let queryWidth = layer.headCount * config.headSize, keyWidth = layer.kvHeadCount * config.headSize
        let valueWidth = layer.kvHeadCount * config.valueHeadSize
        let outputInput = layer.attention == .linear ? width : layer.headCount * config.valueHeadSize
        let expected: [(String, Int?, Int)] = [
            ("attn_norm.weight", attentionNorm?.count, width), ("attn_q.weight", query?.count, queryWidth * width),
            ("attn_k.weight", key?.count, keyWidth * width), ("attn_v.weight", value?.count, valueWidth * width),
            ("attn_output.weight", output?.count, outputInput * width), ("attn_q.bias", queryBias?.count, queryWidth),
            ("attn_k.bias", keyBias?.count, keyWidth), ("attn_v.bias", valueBias?.count, valueWidth),
            ("attn_output.bias", outputBias?.count, width), ("attn_q_norm.weight", queryNorm?.count, config.headSize),
            ("attn_k_norm.weight", keyNorm?.count, config.headSize),
            ("post_attention_norm.weight", postAttentionNorm?.count, width),
            ("ffn_norm.weight", feedForwardNorm?.count, width), ("ffn_gate.weight", gate?.count, ffn * width),
            ("ffn_up.weight", up?.count, ffn * width), ("ffn_down.weight", down?.count, ffn * width),
            ("ffn_gate.bias", gateBias?.count, ffn), ("ffn_up.bias", upBias?.count, ffn), ("ffn_down.bias", downBias?.count, width),
            ("post_ffw_norm.weight", postFeedForwardNorm?.count, width),
        ]
        for (role, found, count) in expected {
            if let found, found != count {
                throw EngineError.badElementCount(tensor: "blk.\(index).\(role)", expected: count, found: found)
            }
        }
    }
}
