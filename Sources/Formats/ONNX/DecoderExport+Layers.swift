import Foundation
import Graph

extension DecoderExport {
    /// `/model/embed_tokens/Gather` of the input ids (scaled by sqrt(hidden) where the family does).
    func embed(_ graph: inout ONNXGraphBuilder) throws -> String {
        let table = try vectorOrTable(global("token_embd.weight"), name: "model.embed_tokens.weight", graph: &graph)
        let embedded = graph.apply("Gather", [table, "input_ids"], name: "/model/embed_tokens/Gather")
        guard family.scalesEmbeddings else { return embedded }
        let factor = graph.floatScalar(Float(shape.hiddenSize).squareRoot(), name: "model.embed_tokens.scale")
        return graph.apply("Mul", [embedded, factor], name: "/model/embed_tokens/Mul")
    }

    /// The final norm and the output head (the embedding table again when tied).
    func head(_ hidden: String, graph: inout ONNXGraphBuilder) throws -> String {
        let normed = try rmsNorm(hidden, global("output_norm.weight"), name: "model.norm.weight", node: "/model/norm", graph: &graph)
        let weight = try model.globalTensors.first { $0.name == "output.weight" } ?? global("token_embd.weight")
        return try project(normed, weight, name: "lm_head.weight", node: "/lm_head", graph: &graph)
    }

    /// Block `index`: x + attention(norm(x)), then + mlp(norm(·)), each post-normed where the family has it.
    func layer(_ index: Int, input: String, masks: Masks, rotary: [Bool: (cos: String, sin: String)],
               graph: inout ONNXGraphBuilder) throws -> String {
        let names = LayerNames(index: index, gemma: family.postNorms)
        let block = model.blocks[index]
        let layer = shape.layers[index]
        let normed = try rmsNorm(input, block.tensor("attn_norm.weight"), name: names.tensor("input_layernorm"),
                                 node: names.node("input_layernorm"), graph: &graph)
        var attended = try attention(normed, index: index, names: names, mask: layer.slidingWindow ? masks.sliding ?? masks.full : masks.full,
                                     rotary: rotary[layer.slidingWindow]!, graph: &graph)
        if let norm = block.tensor("post_attention_norm.weight") {
            attended = try rmsNorm(attended, norm, name: names.tensor("post_attention_layernorm"),
                                   node: names.node("post_attention_layernorm"), graph: &graph)
        }
        let residual = graph.apply("Add", [input, attended], name: names.node("Add_attention"))
        let feedForwardNorm = names.feedForwardNorm
        let ffnInput = try rmsNorm(residual, block.tensor("ffn_norm.weight"), name: names.tensor(feedForwardNorm),
                                   node: names.node(feedForwardNorm), graph: &graph)
        var mlpOutput = try mlp(ffnInput, block: block, names: names, graph: &graph)
        if let norm = block.tensor("post_ffw_norm.weight") {
            mlpOutput = try rmsNorm(mlpOutput, norm, name: names.tensor("post_feedforward_layernorm"),
                                    node: names.node("post_feedforward_layernorm"), graph: &graph)
        }
        return graph.apply("Add", [residual, mlpOutput], name: names.node("Add_mlp"))
    }

    private func attention(_ normed: String, index: Int, names: LayerNames, mask: String,
                           rotary: (cos: String, sin: String), graph: inout ONNXGraphBuilder) throws -> String {
        let block = model.blocks[index], layer = shape.layers[index]
        func projection(_ role: String, _ module: String) throws -> String {
            try project(normed, block.tensor("\(role).weight"), bias: block.tensor("\(role).bias"),
                        name: names.tensor("self_attn.\(module)"), node: names.node("self_attn/\(module)"), graph: &graph)
        }
        var query = try projection("attn_q", "q_proj"), key = try projection("attn_k", "k_proj")
        let value = try projection("attn_v", "v_proj")
        if let norm = block.tensor("attn_q_norm.weight") {
            query = try headNorm(query, norm, module: "q_norm", names: names, graph: &graph)
        }
        if let norm = block.tensor("attn_k_norm.weight") {
            key = try headNorm(key, norm, module: "k_norm", names: names, graph: &graph)
        }
        query = rotate(query, heads: layer.heads, rotary: rotary, node: names.node("self_attn/rotary_emb/RotaryEmbedding"), graph: &graph)
        key = rotate(key, heads: layer.kvHeads, rotary: rotary, node: names.node("self_attn/rotary_emb/RotaryEmbedding_1"), graph: &graph)
        let cache = options.keyValueCache
        let inputs = [query, key, value, mask] + (cache ? ["past_key_values.\(index).key", "past_key_values.\(index).value"] : [])
        let outputs = graph.node("Attention", inputs, name: names.node("self_attn/Attention"), outputs: cache ? 3 : 1, attributes: [
            .int("q_num_heads", layer.heads), .int("kv_num_heads", layer.kvHeads),
            .float("scale", 1 / Float(shape.headSize).squareRoot()),
        ])
        if cache {
            graph.rename(output: outputs[1], to: "present.\(index).key")
            graph.rename(output: outputs[2], to: "present.\(index).value")
        }
        return try project(outputs[0], block.tensor("attn_output.weight"), bias: block.tensor("attn_output.bias"),
                           name: names.tensor("self_attn.o_proj"), node: names.node("self_attn/o_proj"), graph: &graph)
    }

    /// RMS norm over each head of a [batch, sequence, heads × head_size] projection (qwen3's and gemma3's q/k norms).
    private func headNorm(_ input: String, _ weight: Tensor, module: String, names: LayerNames,
                          graph: inout ONNXGraphBuilder) throws -> String {
        // The reshapes' shape constants sit outside the norm's module, so no reader takes them for its weight.
        let heads = graph.apply("Reshape", [input, graph.int64s([0, 0, -1, shape.headSize])],
                                name: names.node("self_attn/Reshape_\(module)_heads"))
        let normed = try rmsNorm(heads, weight, name: names.tensor("self_attn.\(module)"), node: names.node("self_attn/\(module)"),
                                 graph: &graph)
        return graph.apply("Reshape", [normed, graph.int64s([0, 0, -1])], name: names.node("self_attn/Reshape_\(module)_rows"))
    }

    private func rotate(_ input: String, heads: Int, rotary: (cos: String, sin: String), node: String,
                        graph: inout ONNXGraphBuilder) -> String {
        var attributes: [Onnx_AttributeProto] = [.int("num_heads", heads), .int("interleaved", interleavedRotary ? 1 : 0)]
        if shape.rotaryDimensions < shape.headSize { attributes.append(.int("rotary_embedding_dim", shape.rotaryDimensions)) }
        return graph.apply("RotaryEmbedding", [input, rotary.cos, rotary.sin, "position_ids"], name: node, attributes: attributes)
    }

    /// down(act(gate(x)) · up(x)): SiLU as x · sigmoid(x), or GELU with the tanh approximation.
    private func mlp(_ input: String, block: Block, names: LayerNames, graph: inout ONNXGraphBuilder) throws -> String {
        func projection(_ x: String, _ role: String, _ module: String) throws -> String {
            try project(x, block.tensor("\(role).weight"), bias: block.tensor("\(role).bias"),
                        name: names.tensor("mlp.\(module)"), node: names.node("mlp/\(module)"), graph: &graph)
        }
        let gate = try projection(input, "ffn_gate", "gate_proj"), up = try projection(input, "ffn_up", "up_proj")
        let activated: String
        if family.geluActivation {
            activated = graph.apply("Gelu", [gate], name: names.node("mlp/act_fn/Gelu"), attributes: [.string("approximate", "tanh")])
        } else {
            let sigmoid = graph.apply("Sigmoid", [gate], name: names.node("mlp/act_fn/Sigmoid"))
            activated = graph.apply("Mul", [gate, sigmoid], name: names.node("mlp/act_fn/Mul"))
        }
        let product = graph.apply("Mul", [activated, up], name: names.node("mlp/Mul"))
        return try projection(product, "ffn_down", "down_proj")
    }

    private func global(_ name: String) throws -> Tensor {
        guard let tensor = model.globalTensors.first(where: { $0.name == name }) else {
            throw FormatError.onnx(file: model.sourcePath, problem: "tensor '\(name)' is missing")
        }
        return tensor
    }
}

/// Transformers' names for block `index`'s modules (nodes) and tensors (initializers).
struct LayerNames {
    let index: Int
    /// Gemma's feed-forward norm is `pre_feedforward_layernorm`, its `post_attention_layernorm` a post norm.
    let gemma: Bool

    func node(_ path: String) -> String { "/model/layers.\(index)/\(path)" }
    func tensor(_ module: String) -> String { "model.layers.\(index).\(module).weight" }
    var feedForwardNorm: String { gemma ? "pre_feedforward_layernorm" : "post_attention_layernorm" }
}
