import Graph
import Tensors

/// One block's weights dequantized to Float, held only while that block runs.
struct BlockWeights {
    let attentionNorm: [Float]
    let query: [Float], key: [Float], value: [Float], output: [Float]
    let queryBias: [Float]?, keyBias: [Float]?, valueBias: [Float]?
    let queryNorm: [Float]?, keyNorm: [Float]?
    let postAttentionNorm: [Float]?
    let feedForwardNorm: [Float]
    let gate: [Float], up: [Float], down: [Float]
    let postFeedForwardNorm: [Float]?
    let feedForwardSize: Int

    var byteCount: Int { arrays.reduce(0) { $0 + $1.count } * MemoryLayout<Float>.size }

    /// Every array, for reuse by the next block (`spare` of the initializer).
    var arrays: [[Float]] {
        [attentionNorm, query, key, value, output, feedForwardNorm, gate, up, down]
            + [queryBias, keyBias, valueBias, queryNorm, keyNorm, postAttentionNorm, postFeedForwardNorm].compactMap { $0 }
    }

    /// Dequantizes the block, into arrays taken from `spare` where their counts match (see `Dequantizer.floats`).
    init(block: Block, index: Int, config: EngineConfig, reusing spare: inout [[Float]]) throws {
        func load(_ role: String) throws -> [Float] {
            guard let tensor = block.tensor(role) else { throw EngineError.missingTensor("blk.\(index).\(role)") }
            return try config.floats(of: tensor, role: role, layer: index, name: "blk.\(index).\(role)", reusing: &spare)
        }
        func optional(_ role: String) throws -> [Float]? {
            try block.tensor(role).map {
                try config.floats(of: $0, role: role, layer: index, name: "blk.\(index).\(role)", reusing: &spare)
            }
        }
        attentionNorm = try load("attn_norm.weight")
        query = try load("attn_q.weight")
        key = try load("attn_k.weight")
        value = try load("attn_v.weight")
        output = try load("attn_output.weight")
        queryBias = try optional("attn_q.bias")
        keyBias = try optional("attn_k.bias")
        valueBias = try optional("attn_v.bias")
        queryNorm = try optional("attn_q_norm.weight")
        keyNorm = try optional("attn_k_norm.weight")
        postAttentionNorm = config.architecture.postNorms ? try load("post_attention_norm.weight") : nil
        feedForwardNorm = try load("ffn_norm.weight")
        gate = try load("ffn_gate.weight")
        up = try load("ffn_up.weight")
        down = try load("ffn_down.weight")
        postFeedForwardNorm = config.architecture.postNorms ? try load("post_ffw_norm.weight") : nil
        feedForwardSize = block.tensor("ffn_up.weight")?.shape.last ?? 0
    }
}
