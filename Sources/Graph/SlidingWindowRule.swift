/// Which blocks use sliding-window attention, as llama.cpp derives it from a block's index unless the file
/// states one flag per block. The engine runs blocks by it; surgery writes it out before indices shift.
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

    public static let patternKey = "attention.sliding_window_pattern"

    /// The rule of an architecture with sliding-window attention; nil for one without.
    public static func of(architecture: String) -> SlidingWindowRule? { all.first { $0.architecture == architecture } }

    /// A period of 0 or less makes every layer sliding-window, as llama.cpp's unsigned period does.
    func isSlidingWindow(layer: Int, period: Int) -> Bool {
        guard period > 0 else { return true }
        return denseFirst ? layer % period != 0 : layer % period < period - 1
    }

    /// One flag per block: the file's per-block pattern (false past its end), or the file's period, or the
    /// architecture's default period, applied to the block index; nil for an architecture without the rule.
    public static func flags(of model: Model) -> [Bool]? {
        guard let rule = of(architecture: model.architecture) else { return nil }
        let stated = model.metadata[model.key(patternKey)]
        if let flags = stated?.array {
            return model.blocks.indices.map { $0 < flags.count && flags[$0].bool == true }
        }
        let period = stated?.int ?? rule.period
        return model.blocks.indices.map { rule.isSlidingWindow(layer: $0, period: period) }
    }

    /// Whether `flags` say what llama.cpp assumes anyway: its default period, or no sliding window at all for
    /// an architecture without one.
    public static func isDefault(_ flags: [Bool], architecture: String) -> Bool {
        let rule = of(architecture: architecture)
        return flags.indices.allSatisfy { layer in
            flags[layer] == (rule?.isSlidingWindow(layer: layer, period: rule!.period) ?? false)
        }
    }
}
