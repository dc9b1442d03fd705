import Graph

/// Per-layer behaviour that llama.cpp derives from a block's index unless the file states it.
/// After blocks are removed the indices shift, so surgery writes such roles out explicitly.
public struct SlidingWindowRule: Sendable {
    let architecture: String
    /// Default period: layer il is sliding-window when il % period < period - 1,
    /// or with `denseFirst` when il % period != 0 (llama.cpp's `set_swa_pattern`).
    let period: Int
    let denseFirst: Bool

    static let all: [SlidingWindowRule] = [
        .init(architecture: "gemma2", period: 2, denseFirst: false),
        .init(architecture: "gemma3", period: 6, denseFirst: false),
        .init(architecture: "gemma3n", period: 5, denseFirst: false),
        .init(architecture: "cohere2", period: 4, denseFirst: false),
        .init(architecture: "cohere2moe", period: 4, denseFirst: true),
        .init(architecture: "gpt-oss", period: 2, denseFirst: false),
        .init(architecture: "llama4", period: 4, denseFirst: false),
        .init(architecture: "exaone4", period: 4, denseFirst: false),
        .init(architecture: "olmo2", period: 4, denseFirst: false),
        .init(architecture: "afmoe", period: 4, denseFirst: false),
        .init(architecture: "mellum", period: 4, denseFirst: false),
        .init(architecture: "laguna", period: 4, denseFirst: true),
        .init(architecture: "modern-bert", period: 3, denseFirst: true),
    ]

    static let patternKey = "attention.sliding_window_pattern"

    func isSlidingWindow(layer: Int, period: Int) -> Bool {
        guard period > 0 else { return true }
        return denseFirst ? layer % period != 0 : layer % period < period - 1
    }

    /// Replaces an implicit or periodic pattern with one bool per block, keeping every block's role.
    public static func makeExplicit(in model: inout Model) {
        guard let rule = all.first(where: { $0.architecture == model.architecture }) else { return }
        let key = model.key(patternKey)
        let period: Int
        switch model.metadata[key] {
        case nil: period = rule.period
        case let value? where value.int != nil: period = value.int!
        default: return // already one entry per block
        }
        model.metadata[key] = .array(.bool, model.blocks.indices.map { .bool(rule.isSlidingWindow(layer: $0, period: period)) })
    }

    /// Drops a per-block pattern that says what llama.cpp assumes anyway (its default period, or no sliding
    /// window for an architecture without one), as its converter writes none.
    public static func removeIfDefault(in model: inout Model) {
        guard let flags = model.metadata[model.key(patternKey)]?.array, flags.count == model.blocks.count else { return }
        let rule = all.first { $0.architecture == model.architecture }
        let isDefault = flags.indices.allSatisfy { layer in
            flags[layer].bool == (rule?.isSlidingWindow(layer: layer, period: rule!.period) ?? false)
        }
        if isDefault { model.metadata[model.key(patternKey)] = nil }
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
