extension DecoderGraph {
    /// The module names exporters give a block's parts (transformers' attribute names, in node names or torch's
    /// scopes) and the role each has in the common model (GGUF's names; `attn_qkv` and `ffn_gate_up` for
    /// fused projections).
    static let moduleRoles: [String: String] = [
        "q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "qkv_proj": "attn_qkv", "o_proj": "attn_output",
        "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down", "gate_up_proj": "ffn_gate_up",
        "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm", "q_norm": "attn_q_norm",
        "k_norm": "attn_k_norm", "pre_feedforward_layernorm": "ffn_norm", "post_feedforward_layernorm": "post_ffw_norm",
    ]

    /// The role of each initializer a block's node reads as a weight, bias, norm or quantization parameter
    /// (`attn_q.weight`, `ffn_down.scales`), by block. Small constants (shapes, axes, exponents) have none.
    func initializerRoles() -> [Int: [(role: String, initializer: String)]] {
        let sizes = Dictionary(graph.initializer.map { ($0.name, ONNXElementType.elementCount($0.dims) ?? 0) },
                               uniquingKeysWith: { first, _ in first })
        var roles: [Int: [(role: String, initializer: String)]] = [:]
        var seen = Set<String>()
        for (node, block) in zip(graph.node, blockOfNode) {
            guard let block, let module = Self.module(of: node), let role = Self.moduleRoles[module] else { continue }
            for (position, input) in node.input.enumerated() where (sizes[input] ?? 0) > 1 && !seen.contains(input) {
                seen.insert(input)
                roles[block, default: []].append(("\(role).\(Self.part(of: node, input: position))", input))
            }
        }
        return roles
    }

    /// The innermost module of a node that `roles` knows: from its name (`/model/layers.3/self_attn/q_proj/MatMul`),
    /// else from torch's scopes (`model.layers.3.self_attn.q_proj`).
    static func module(of node: Onnx_NodeProto, among roles: [String: String] = moduleRoles) -> String? {
        let scopes = node.metadataProps.first { $0.key == "pkg.torch.onnx.name_scopes" }?.value ?? ""
        for text in [node.name, scopes] {
            let parts = text.split { "/.'[], ".contains($0) }.map(String.init)
            if let known = parts.last(where: { roles[$0] != nil }) { return known }
        }
        return nil
    }

    /// Which part of a role an input is: MatMulNBits' packed weight, scales and zero points, a bias, or a weight.
    static func part(of node: Onnx_NodeProto, input position: Int) -> String {
        switch (node.opType, position) {
        case ("MatMulNBits", 2): "scales"
        case ("MatMulNBits", 3): "zero_points"
        case ("Add", _): "bias"
        default: "weight"
        }
    }
}
