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
        [attentionNorm, query?.packedValues, key?.packedValues, value?.packedValues, output?.packedValues, queryBias, keyBias, valueBias,
         outputBias, queryNorm, keyNorm, postAttentionNorm, feedForwardNorm, gate?.packedValues, up?.packedValues, down?.packedValues,
         gateBias, upBias, downBias, postFeedForwardNorm].compactMap { $0 }
    }

    /// Dequantizes the block, into arrays taken from `spare` where their counts match (see `Dequantizer.floats`).
    init(block: Block, index: Int, config: EngineConfig, encoded: Bool = false, reusing spare: inout [[Float]]) throws {
        let layer = config.layers[index]
        encodedMatrices = encoded && config.layout == .llamaCpp
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
        /// `rows` rows of `rowLength`, as llama.cpp's shape checks demand: the tensor's own rows in a GGUF.
        func matrix(_ role: String, rows: Int, rowLength: Int, if needed: Bool = true) throws -> WeightMatrix? {
            guard needed else { return nil }
            let name = "blk.\(index).\(role)"
            guard let tensor = block.tensor(role) else { throw EngineError.missingTensor(name) }
            guard tensor.elementCount == rows * rowLength else {
                throw EngineError.badElementCount(tensor: name, expected: rows * rowLength, found: tensor.elementCount)
            }
            guard config.layout == .llamaCpp else {
                let values = try config.floats(of: tensor, role: role, layer: index, name: name)
                return .packed(PackedMatrix(packing: values, rows: rows, rowLength: rowLength, reusing: &spare))
            }
            guard tensor.shape.first == rowLength else {
                throw EngineError.badShape(tensor: name, expected: [rowLength, rows], found: tensor.shape)
            }
            if encoded { return .encoded(tensor) }
            return .packed(PackedMatrix(decoding: tensor, rows: rows, rowLength: rowLength, reusing: &spare))
        }
        let width = config.hiddenSize, ffn = layer.feedForwardSize
        let queryWidth = layer.headCount * config.headSize, keyWidth = layer.kvHeadCount * config.headSize
        let valueWidth = layer.kvHeadCount * config.valueHeadSize
        let outputInput = layer.attention == .linear ? width : layer.headCount * config.valueHeadSize
        let full = layer.attention == .full, postNorms = config.architecture.postNorms
        attentionNorm = try load("attn_norm.weight", if: layer.attention != .none)
        query = try matrix("attn_q.weight", rows: queryWidth, rowLength: width, if: full)
        key = try matrix("attn_k.weight", rows: keyWidth, rowLength: width, if: full)
        value = try matrix("attn_v.weight", rows: valueWidth, rowLength: width, if: full)
        output = try matrix("attn_output.weight", rows: width, rowLength: outputInput, if: layer.attention != .none)
        queryBias = full ? try optional("attn_q.bias") : nil
        keyBias = full ? try optional("attn_k.bias") : nil
        valueBias = full ? try optional("attn_v.bias") : nil
        // llama.cpp's linear attention is a bare matrix product: it never reads the bias.
        outputBias = full ? try optional("attn_output.bias") : nil
        queryNorm = full ? try optional("attn_q_norm.weight") : nil
        keyNorm = full ? try optional("attn_k_norm.weight") : nil
        postAttentionNorm = try load("post_attention_norm.weight", if: postNorms && layer.attention != .none)

        let hasFeedForward = ffn > 0
        feedForwardNorm = try load("ffn_norm.weight", if: hasFeedForward)
        gate = try matrix("ffn_gate.weight", rows: ffn, rowLength: width, if: hasFeedForward)
        up = try matrix("ffn_up.weight", rows: ffn, rowLength: width, if: hasFeedForward)
        down = try matrix("ffn_down.weight", rows: width, rowLength: ffn, if: hasFeedForward)
        gateBias = hasFeedForward ? try optional("ffn_gate.bias") : nil
        upBias = hasFeedForward ? try optional("ffn_up.bias") : nil
        downBias = hasFeedForward ? try optional("ffn_down.bias") : nil
        postFeedForwardNorm = try load("post_ffw_norm.weight", if: postNorms && hasFeedForward)
        feedForwardSize = layer.feedForwardSize
        try checkSizes(index: index, config: config)
    }

    /// Every vector as long as the layer's counts imply (the matrices are checked as they load), so a file whose
    /// tensors disagree with its metadata gets an error instead of reading past an array.
    private func checkSizes(index: Int, config: EngineConfig) throws {
        let layer = config.layers[index], width = config.hiddenSize, ffn = feedForwardSize
        let queryWidth = layer.headCount * config.headSize, keyWidth = layer.kvHeadCount * config.headSize
        let valueWidth = layer.kvHeadCount * config.valueHeadSize
        let expected: [(String, Int?, Int)] = [
            ("attn_norm.weight", attentionNorm?.count, width), ("attn_q.bias", queryBias?.count, queryWidth),
            ("attn_k.bias", keyBias?.count, keyWidth), ("attn_v.bias", valueBias?.count, valueWidth),
            ("attn_output.bias", outputBias?.count, width), ("attn_q_norm.weight", queryNorm?.count, config.headSize),
            ("attn_k_norm.weight", keyNorm?.count, config.headSize),
            ("post_attention_norm.weight", postAttentionNorm?.count, width),
            ("ffn_norm.weight", feedForwardNorm?.count, width), ("ffn_gate.bias", gateBias?.count, ffn),
            ("ffn_up.bias", upBias?.count, ffn), ("ffn_down.bias", downBias?.count, width),
            ("post_ffw_norm.weight", postFeedForwardNorm?.count, width),
        ]
        for (role, found, count) in expected {
            if let found, found != count {
                throw EngineError.badElementCount(tensor: "blk.\(index).\(role)", expected: count, found: found)
            }
        }
    }
}
