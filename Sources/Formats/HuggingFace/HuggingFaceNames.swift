/// Tensor names between transformers checkpoints and GGUF, after gguf-py's `tensor_mapping.py` for the
/// architectures we convert. Names outside the table are kept as they are, so pruning a folder of an
/// architecture we do not know still works.
enum HuggingFaceNames {
    static let blockPrefix = "model.layers."

    static let globals: [(huggingFace: String, gguf: String)] = [
        ("model.embed_tokens.weight", "token_embd.weight"),
        ("model.norm.weight", "output_norm.weight"),
        ("lm_head.weight", "output.weight"),
    ]

    /// Block roles shared by every architecture here.
    private static let commonRoles: [(huggingFace: String, gguf: String)] = [
        ("input_layernorm.weight", "attn_norm.weight"),
        ("self_attn.q_proj.weight", "attn_q.weight"),
        ("self_attn.q_proj.bias", "attn_q.bias"),
        ("self_attn.k_proj.weight", "attn_k.weight"),
        ("self_attn.k_proj.bias", "attn_k.bias"),
        ("self_attn.v_proj.weight", "attn_v.weight"),
        ("self_attn.v_proj.bias", "attn_v.bias"),
        ("self_attn.o_proj.weight", "attn_output.weight"),
        ("self_attn.q_norm.weight", "attn_q_norm.weight"),
        ("self_attn.k_norm.weight", "attn_k_norm.weight"),
        ("mlp.gate_proj.weight", "ffn_gate.weight"),
        ("mlp.up_proj.weight", "ffn_up.weight"),
        ("mlp.down_proj.weight", "ffn_down.weight"),
    ]

    /// Gemma puts a norm before and after each sub-layer; `post_attention_layernorm` means something else there.
    private static let gemmaRoles: [(huggingFace: String, gguf: String)] = [
        ("post_attention_layernorm.weight", "post_attention_norm.weight"),
        ("pre_feedforward_layernorm.weight", "ffn_norm.weight"),
        ("post_feedforward_layernorm.weight", "post_ffw_norm.weight"),
    ]

    private static let plainRoles: [(huggingFace: String, gguf: String)] = [
        ("post_attention_layernorm.weight", "ffn_norm.weight"),
    ]

    static func roles(architecture: String) -> [(huggingFace: String, gguf: String)] {
        commonRoles + (architecture.hasPrefix("gemma") ? gemmaRoles : plainRoles)
    }

    static func ggufRole(_ huggingFace: String, architecture: String) -> String? {
        roles(architecture: architecture).first { $0.huggingFace == huggingFace }?.gguf
    }

    static func huggingFaceRole(_ gguf: String, architecture: String) -> String? {
        roles(architecture: architecture).first { $0.gguf == gguf }?.huggingFace
    }

    static func ggufGlobal(_ huggingFace: String) -> String? { globals.first { $0.huggingFace == huggingFace }?.gguf }
    static func huggingFaceGlobal(_ gguf: String) -> String? { globals.first { $0.gguf == gguf }?.huggingFace }

    /// `model.layers.12.mlp.up_proj.weight` → (12, "mlp.up_proj.weight").
    static func blockName(_ name: String) -> (index: Int, role: String)? {
        guard name.hasPrefix(blockPrefix) else { return nil }
        let rest = name.dropFirst(blockPrefix.count)
        guard let dot = rest.firstIndex(of: "."), let index = Int(rest[..<dot]), index >= 0 else { return nil }
        return (index, String(rest[rest.index(after: dot)...]))
    }
}
