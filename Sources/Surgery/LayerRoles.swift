import Graph

/// Per-layer roles written out explicitly, or dropped where they say what llama.cpp assumes.
public enum LayerRoles {
    /// Replaces an implicit or periodic sliding-window pattern with one bool per block, keeping every block's
    /// role when indices shift.
    public static func makeSlidingWindowExplicit(in model: inout Model) {
        let key = model.key(SlidingWindowRule.patternKey)
        guard model.metadata[key]?.array == nil, let flags = SlidingWindowRule.flags(of: model) else { return }
        model.metadata[key] = .array(.bool, flags.map { .bool($0) })
    }

    /// Drops a per-block pattern that says what llama.cpp assumes anyway, as its converter writes none.
    public static func removeSlidingWindowIfDefault(in model: inout Model) {
        let key = model.key(SlidingWindowRule.patternKey)
        guard let flags = model.metadata[key]?.array, flags.count == model.blocks.count,
              SlidingWindowRule.isDefault(flags.map { $0.bool == true }, architecture: model.architecture) else { return }
        model.metadata[key] = nil
    }
}

/// Roles tied to the layer index that no key can state, so a pruned file may change them.
struct IndexTiedRoles {
    static func warnings(for model: Model, keeping kept: [Int]) -> [String] {
        var warnings: [String] = []
        func check(_ what: String, role: (Int) -> Bool) {
            let changed = kept.enumerated().filter { role($0.element) != role($0.offset) }.map(\.element)
            if !changed.isEmpty {
                warnings.append("\(model.architecture): \(what) follows the layer index in llama.cpp; "
                    + "blocks \(changed.map(String.init).joined(separator: ",")) change role after renumbering")
            }
        }
        switch model.architecture {
        case "llama4":
            check("RoPE on/off (every 4th layer has none)") { ($0 + 1) % 4 == 0 }
            if let step = model.metadata[model.key("interleave_moe_layer_step")]?.int, step > 1 {
                check("MoE vs dense FFN (every \(step)th layer)") { ($0 + 1) % step == 0 }
            }
        case "gemma3n":
            check("KV sharing (layers from 20 reuse earlier KV)") { $0 >= 20 }
            check("activation sparsity (first 10 layers)") { $0 < 10 }
        default:
            break
        }
        return warnings
    }
}
