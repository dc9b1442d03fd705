import Graph
import Tensors

/// How one supported architecture differs from the plain llama block. A new architecture is a new entry here
/// (plus its own block code only if it needs more than these switches).
struct Architecture: Sendable {
    let name: String
    let pairing: RotaryEmbedding.Pairing
    /// GELU (tanh approximation) instead of SiLU in the gated MLP.
    let geluActivation: Bool
    /// Embeddings multiplied by sqrt(hidden size).
    let scalesEmbeddings: Bool
    /// Extra RMS norms after attention and after the MLP, before each residual add.
    let postNorms: Bool

    static let supported: [Architecture] = [
        Architecture(name: "llama", pairing: .adjacent, geluActivation: false, scalesEmbeddings: false, postNorms: false),
        // llama with per-layer head counts and feed-forward widths (Nemotron-51B): see `EngineConfig.Layer`.
        Architecture(name: "deci", pairing: .adjacent, geluActivation: false, scalesEmbeddings: false, postNorms: false),
        Architecture(name: "mistral", pairing: .adjacent, geluActivation: false, scalesEmbeddings: false, postNorms: false),
        Architecture(name: "qwen2", pairing: .halves, geluActivation: false, scalesEmbeddings: false, postNorms: false),
        Architecture(name: "qwen3", pairing: .halves, geluActivation: false, scalesEmbeddings: false, postNorms: false),
        Architecture(name: "gemma3", pairing: .halves, geluActivation: true, scalesEmbeddings: true, postNorms: true),
    ]

    static func named(_ name: String) throws -> Architecture {
        guard let architecture = supported.first(where: { $0.name == name }) else {
            throw EngineError.unsupportedArchitecture(name, supported: supported.map(\.name))
        }
        return architecture
    }
}

/// The numbers the forward pass needs, read from the model's metadata as llama.cpp reads them.
struct EngineConfig: Sendable {
    struct Layer: Sendable {
        let headCount: Int
        let kvHeadCount: Int
        /// 0: llama.cpp skips the whole layer (deci's `continue` before the residual add), attention included.
        let feedForwardSize: Int
        let slidingWindow: Bool
        let rope: RotaryEmbedding

        /// What the attention sub-layer is, by llama.cpp's deci rules (every other architecture is `.full`).
        enum Attention: Sendable { case none, linear, full }
        var attention: Attention { headCount == 0 ? .none : kvHeadCount == 0 ? .linear : .full }
    }

    let architecture: Architecture
    let hiddenSize: Int
    let headSize: Int
    let valueHeadSize: Int
    let rmsEpsilon: Float
    /// Multiplies queries before q·k (llama.cpp's kq_scale or Gemma 3's f_attention_scale).
    let attentionScale: Float
    let window: Int
    let layers: [Layer]
    /// The source's value conventions; weights are brought to llama.cpp's as they are dequantized.
    let layout: WeightLayout

    init(model: Model) throws {
        let architecture = try Architecture.named(model.architecture)
        let parameters = model.hyperParameters
        func required<T>(_ value: T?, _ suffix: String) throws -> T {
            guard let value else { throw EngineError.missingMetadata(model.key(suffix)) }
            return value
        }

        self.architecture = architecture
        layout = model.layout
        hiddenSize = try required(parameters.hiddenSize, "embedding_length")
        _ = try required(parameters.headCount[0], "attention.head_count")
        headSize = try required(parameters.headSize, "attention.key_length")
        guard headSize > 0, parameters.valueHeadSize ?? 0 > 0 else { throw EngineError.missingMetadata(model.key("attention.key_length")) }
        valueHeadSize = try required(parameters.valueHeadSize, "attention.value_length")
        rmsEpsilon = Float(parameters.rmsEpsilon ?? 1e-5)
        attentionScale = 1 / Float(headSize).squareRoot()

        window = parameters.slidingWindow ?? 0
        let sliding = window > 0 ? SlidingWindowRule.flags(of: model) : nil
        let rope = parameters.rope
        let base = Float(rope.base ?? 10000), slidingBase = Float(rope.slidingBase ?? 10000)
        let scale = Float(1 / (rope.linearFactor ?? 1))
        let dimensions = rope.dimensionCount ?? headSize
        let factors = try model.globalTensors.first { $0.name == "rope_freqs.weight" }
            .map { try Dequantizer.floats(of: $0, name: $0.name) }

        layers = try model.blocks.indices.map { index in
            let isSliding = sliding?[index] ?? false
            let headCount = try required(parameters.headCount[index], "attention.head_count")
            let kvHeadCount = try required(parameters.headCountKV[index], "attention.head_count_kv")
            guard headCount >= 0, kvHeadCount >= 0, kvHeadCount == 0 || headCount % kvHeadCount == 0 else {
                throw EngineError.badHeadCounts(block: index, heads: headCount, kvHeads: kvHeadCount)
            }
            let ffnWidth = parameters.feedForwardLength[index]
                ?? model.blocks[index].tensor("ffn_up.weight")?.shape.last ?? 0
            return Layer(
                headCount: headCount,
                kvHeadCount: kvHeadCount,
                feedForwardSize: max(0, ffnWidth),
                slidingWindow: isSliding,
                rope: RotaryEmbedding(pairing: architecture.pairing, dimensions: dimensions,
                                      base: isSliding ? slidingBase : base, scale: isSliding ? 1 : scale,
                                      frequencyFactors: factors))
        }
    }

    /// `tensor` (the role `role` of block `layer`, or a global tensor) as Float in llama.cpp's conventions,
    /// decoded into an array from `spare` where one fits (see `Dequantizer.floats`).
    func floats(of tensor: Tensor, role: String, layer: Int?, name: String) throws -> [Float] {
        var spare: [[Float]] = []
        return try floats(of: tensor, role: role, layer: layer, name: name, reusing: &spare)
    }

    func floats(of tensor: Tensor, role: String, layer: Int?, name: String, reusing spare: inout [[Float]]) throws -> [Float] {
        var values = try Dequantizer.floats(of: tensor, name: name, reusing: &spare)
        if layout != .llamaCpp {
            let heads = layer.map { role.hasPrefix("attn_k") ? layers[$0].kvHeadCount : layers[$0].headCount } ?? 1
            layout.convert(&values, role: role, architecture: architecture.name, rowLength: WeightLayout.rowLength(of: tensor.shape),
                           heads: heads, to: .llamaCpp)
        }
        return values
    }
}
