import Foundation
import Graph
import Tensors

extension DecoderExport {
    /// The additive attention masks ([batch, 1, sequence, total_sequence]: 0 where a key is visible, the lowest
    /// float elsewhere), built once and shared by the layers.
    struct Masks {
        let full: String
        /// For sliding-window layers; nil when the model has none.
        let sliding: String?
    }

    /// Query i of the new tokens sits at total − sequence + i; key j is visible iff j ≤ that and
    /// attention_mask[b, j] = 1, and on sliding-window layers also j > query − window (the engine's window).
    func buildMasks(_ graph: inout ONNXGraphBuilder) -> Masks {
        let prefix = "/model/attn_mask"
        let zero = graph.int64s([0], scalar: true), one = graph.int64s([1], scalar: true)
        func length(of input: String, _ suffix: String) -> String {
            let dims = graph.apply("Shape", [input], name: "\(prefix)/Shape_\(suffix)", attributes: [.int("start", 1), .int("end", 2)])
            return graph.apply("Squeeze", [dims], name: "\(prefix)/Squeeze_\(suffix)")
        }
        let sequence = length(of: "input_ids", "sequence"), total = length(of: "attention_mask", "total")
        let past = graph.apply("Sub", [total, sequence], name: "\(prefix)/Sub_past")
        let queries = graph.apply("Range", [past, total, one], name: "\(prefix)/Range_queries")
        let keys = graph.apply("Range", [zero, total, one], name: "\(prefix)/Range_keys")
        let queryColumn = graph.apply("Unsqueeze", [queries, graph.int64s([1])], name: "\(prefix)/Unsqueeze_queries")
        let causal = graph.apply("LessOrEqual", [keys, queryColumn], name: "\(prefix)/LessOrEqual_causal")
        let attended = graph.apply("Equal", ["attention_mask", graph.int64s([1], scalar: true)], name: "\(prefix)/Equal_attended")
        let attendedKeys = graph.apply("Unsqueeze", [attended, graph.int64s([1, 2])], name: "\(prefix)/Unsqueeze_attended")
        let visible = graph.apply("And", [causal, attendedKeys], name: "\(prefix)/And_full")
        let zeroFloat = graph.floatScalar(0, name: "const_float_0")
        let lowest = graph.floatScalar(-Float.greatestFiniteMagnitude, name: "const_float_lowest")
        let full = graph.apply("Where", [visible, zeroFloat, lowest], name: "\(prefix)/Where_full")
        guard shape.window > 0, shape.layers.contains(where: \.slidingWindow) else { return Masks(full: full, sliding: nil) }
        let windowStart = graph.apply("Sub", [queryColumn, graph.int64s([shape.window], scalar: true)], name: "\(prefix)/Sub_window")
        let inWindow = graph.apply("Greater", [keys, windowStart], name: "\(prefix)/Greater_window")
        let slidingCausal = graph.apply("And", [causal, inWindow], name: "\(prefix)/And_window")
        let slidingVisible = graph.apply("And", [slidingCausal, attendedKeys], name: "\(prefix)/And_sliding")
        let sliding = graph.apply("Where", [slidingVisible, zeroFloat, lowest], name: "\(prefix)/Where_sliding")
        return Masks(full: full, sliding: sliding)
    }

    /// cos and sin caches ([max_positions, rotary_dim / 2]) for full and, where the model has them, sliding-window
    /// layers (their own base, no linear scaling), keyed by whether the layer slides.
    func buildRotaryCaches(_ graph: inout ONNXGraphBuilder) throws -> [Bool: (cos: String, sin: String)] {
        let rope = model.hyperParameters.rope
        let factors = try model.globalTensors.first { $0.name == "rope_freqs.weight" }
            .map { try Dequantizer.floats(of: $0, name: $0.name) }
        var caches: [Bool: (cos: String, sin: String)] = [:]
        for sliding in Set(shape.layers.map(\.slidingWindow)).sorted(by: { !$0 && $1 }) {
            let base = Float(sliding ? rope.slidingBase ?? 10000 : rope.base ?? 10000)
            let scale = sliding ? 1 : Float(1 / (rope.linearFactor ?? 1))
            let (cosines, sines) = rotaryTables(base: base, scale: scale, factors: factors)
            let suffix = sliding ? "_sliding" : ""
            let dims = [shape.maxPositions, shape.rotaryDimensions / 2]
            caches[sliding] = (graph.floats("cos_cache\(suffix)", cosines, dims: dims),
                               graph.floats("sin_cache\(suffix)", sines, dims: dims))
        }
        return caches
    }

    /// The angles as the engine's `RotaryEmbedding` (ggml's rope) computes them: θ by repeated float products.
    private func rotaryTables(base: Float, scale: Float, factors: [Float]?) -> (cos: [Float], sin: [Float]) {
        let half = shape.rotaryDimensions / 2
        let thetaScale = powf(base, -2 / Float(shape.rotaryDimensions))
        var cosines = [Float](repeating: 0, count: shape.maxPositions * half), sines = cosines
        for position in 0 ..< shape.maxPositions {
            var theta = Float(position)
            for i in 0 ..< half {
                let angle = scale * (theta / (factors.flatMap { i < $0.count ? $0[i] : nil } ?? 1))
                cosines[position * half + i] = cosf(angle)
                sines[position * half + i] = sinf(angle)
                theta *= thetaScale
            }
        }
        return (cosines, sines)
    }
}
