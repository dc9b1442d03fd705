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
    /// llama.cpp's default sliding-window period when the model uses sliding-window attention.
    let slidingWindowPeriod: Int?

    static let supported: [Architecture] = [
        Architecture(name: "llama", pairing: .adjacent, geluActivation: false, scalesEmbeddings: false, postNorms: false,
                     slidingWindowPeriod: nil),
        Architecture(name: "mistral", pairing: .adjacent, geluActivation: false, scalesEmbeddings: false, postNorms: false,
                     slidingWindowPeriod: nil),
        Architecture(name: "qwen2", pairing: .halves, geluActivation: false, scalesEmbeddings: false, postNorms: false,
                     slidingWindowPeriod: nil),
        Architecture(name: "qwen3", pairing: .halves, geluActivation: false, scalesEmbeddings: false, postNorms: false,
                     slidingWindowPeriod: nil),
        Architecture(name: "gemma3", pairing: .halves, geluActivation: true, scalesEmbeddings: true, postNorms: true,
                     slidingWindowPeriod: 6),
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
        let slidingWindow: Bool
        let rope: RotaryEmbedding
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
        let metadata = model.metadata
        func value(_ suffix: String) -> MetadataValue? { metadata[model.key(suffix)] }
        func required(_ suffix: String) throws -> Int {
            guard let number = value(suffix)?.int else { throw EngineError.missingMetadata(model.key(suffix)) }
            return number
        }
        /// A per-layer integer, stated once for all layers or as an array.
        func perLayer(_ suffix: String, _ layer: Int) throws -> Int {
            if let array = value(suffix)?.array, layer < array.count, let number = array[layer].int { return number }
            return try required(suffix)
        }

        self.architecture = architecture
        layout = model.layout
        hiddenSize = try required("embedding_length")
        let headCount0 = try perLayer("attention.head_count", 0)
        headSize = value("attention.key_length")?.int ?? hiddenSize / headCount0
        valueHeadSize = value("attention.value_length")?.int ?? headSize
        rmsEpsilon = Float(value("attention.layer_norm_rms_epsilon")?.double ?? 1e-5)
        attentionScale = 1 / Float(headSize).squareRoot()

        let window = value("attention.sliding_window")?.int ?? 0
        self.window = window
        let pattern = value("attention.sliding_window_pattern")
        let period = pattern?.int ?? architecture.slidingWindowPeriod ?? 0
        func isSliding(_ layer: Int) -> Bool {
            guard window > 0, architecture.slidingWindowPeriod != nil else { return false }
            if let flags = pattern?.array { return layer < flags.count && flags[layer].bool == true }
            return period == 0 || layer % period < period - 1
        }

        let base = Float(value("rope.freq_base")?.double ?? 10000)
        let slidingBase = Float(value("rope.freq_base_swa")?.double ?? 10000)
        var scale: Float = 1
        if value("rope.scaling.type")?.string == "linear", let factor = value("rope.scaling.factor")?.double, factor > 0 {
            scale = Float(1 / factor)
        }
        let dimensions = value("rope.dimension_count")?.int ?? headSize
        let factors = try model.globalTensors.first { $0.name == "rope_freqs.weight" }
            .map { try Dequantizer.floats(of: $0, name: $0.name) }

        layers = try model.blocks.indices.map { index in
            let sliding = isSliding(index)
            return Layer(
                headCount: try perLayer("attention.head_count", index),
                kvHeadCount: try perLayer("attention.head_count_kv", index),
                slidingWindow: sliding,
                rope: RotaryEmbedding(pairing: architecture.pairing, dimensions: dimensions,
                                      base: sliding ? slidingBase : base, scale: sliding ? 1 : scale,
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
            layout.convert(&values, role: role, architecture: architecture.name, rowLength: tensor.shape.first ?? 1,
                           heads: heads, to: .llamaCpp)
        }
        return values
    }
}
