import Foundation

/// Rotary position embedding as ggml's `rope_ext` computes it (no YaRN), in float, angle by repeated products.
struct RotaryEmbedding {
    enum Pairing {
        /// Adjacent pairs (x[2i], x[2i+1]): llama.cpp's "norm" mode, for llama-family GGUFs whose Q/K rows were permuted.
        case adjacent
        /// Halves (x[i], x[i + n/2]): "neox" mode (Qwen, Gemma).
        case halves
    }

    let pairing: Pairing
    /// Rotated dimensions per head (`rope.dimension_count`), at most the head size.
    let dimensions: Int
    let base: Float
    let scale: Float
    /// Per-pair divisors of the angle (`rope_freqs.weight`, Llama 3.1 style), if the model has them.
    let frequencyFactors: [Float]?

    /// Rotates `heads` heads of `headSize` values in each of `rows` rows; row r has position positions[r].
    func apply(_ x: UnsafeMutablePointer<Float>, rows: Int, heads: Int, headSize: Int, positions: [Int]) {
        let half = dimensions / 2
        let thetaScale = powf(base, -2 / Float(dimensions))
        Kernels.parallel(rows) { range in
            var cosines = [Float](repeating: 0, count: half), sines = [Float](repeating: 0, count: half)
            for row in range {
                var theta = Float(positions[row])
                for i in 0 ..< half {
                    let angle = scale * (theta / (frequencyFactors?[i] ?? 1))
                    cosines[i] = cosf(angle)
                    sines[i] = sinf(angle)
                    theta *= thetaScale
                }
                for head in 0 ..< heads {
                    let v = x + row * heads * headSize + head * headSize
                    for i in 0 ..< half {
                        let (a, b) = pairing == .adjacent ? (2 * i, 2 * i + 1) : (i, i + half)
                        let x0 = v[a], x1 = v[b]
                        v[a] = x0 * cosines[i] - x1 * sines[i]
                        v[b] = x0 * sines[i] + x1 * cosines[i]
                    }
                }
            }
        }
    }
}
