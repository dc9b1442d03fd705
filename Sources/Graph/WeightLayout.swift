/// How a model's tensor values are arranged. llama.cpp's converter changes two things when it writes GGUF
/// from a transformers checkpoint, and the same tensor roles then hold different numbers:
/// - llama-family Q and K projections have their rows permuted per head, from transformers' rotary halves
///   (x₀…x₃₁ paired with x₃₂…x₆₃) to adjacent pairs (x₀,x₁), (x₂,x₃) …;
/// - Gemma's RMSNorm weights carry the +1 that transformers' Gemma norm adds at run time.
public enum WeightLayout: String, Sendable {
    case llamaCpp
    case transformers

    /// Architectures whose Q/K rows llama.cpp permutes (its `LlamaModel` converter family).
    public static let permutedQueryKey: Set<String> = ["llama", "mistral"]
    /// Architectures whose norm weights llama.cpp shifts by one.
    public static let shiftedNorms: Set<String> = ["gemma", "gemma2", "gemma3"]

    /// The row length `convert` takes for a tensor of `shape`: its innermost dimension, 1 for a vector (a bias).
    public static func rowLength(of shape: [Int]) -> Int { shape.count > 1 ? shape[0] : 1 }

    /// Whether moving `role` of `architecture` between the layouts changes its values.
    public static func differs(role: String, architecture: String) -> Bool {
        permutation(role: role, architecture: architecture) || normShift(role: role, architecture: architecture)
    }

    private static func permutation(role: String, architecture: String) -> Bool {
        permutedQueryKey.contains(architecture) && ["attn_q.weight", "attn_q.bias", "attn_k.weight", "attn_k.bias"].contains(role)
    }

    private static func normShift(role: String, architecture: String) -> Bool {
        shiftedNorms.contains(architecture) && role.hasSuffix("norm.weight")
    }

    /// Rearranges the values of the tensor `role` (a block role, or `output_norm.weight`) from layout `self`
    /// to `target`. `rowLength` is the tensor's innermost dimension (1 for a bias); `heads` its head count:
    /// the query head count for `attn_q`, the key/value head count for `attn_k`.
    public func convert(_ values: inout [Float], role: String, architecture: String, rowLength: Int, heads: Int,
                        to target: WeightLayout) {
        guard target != self else { return }
        if Self.normShift(role: role, architecture: architecture) {
            let shift: Float = target == .llamaCpp ? 1 : -1
            for i in values.indices { values[i] += shift }
        } else if Self.permutation(role: role, architecture: architecture) {
            values = Self.permuteRows(values, rowLength: rowLength, heads: heads, toAdjacentPairs: target == .llamaCpp)
        }
    }

    /// Within each head, row k·half + j moves to 2j + k (toward adjacent pairs), or back.
    static func permuteRows(_ values: [Float], rowLength: Int, heads: Int, toAdjacentPairs: Bool) -> [Float] {
        let rowCount = values.count / max(rowLength, 1)
        let half = rowCount / max(heads, 1) / 2
        // Model.validate() guarantees whole heads of even size, so this is a programming error.
        precondition(heads > 0 && half > 0 && rowCount == heads * half * 2 && values.count == rowCount * rowLength,
                     "\(rowCount) rows do not split into \(heads) heads of even size")
        var result = values
        for head in 0 ..< heads {
            let base = head * 2 * half
            for j in 0 ..< half {
                for k in 0 ..< 2 {
                    let halves = base + k * half + j, adjacent = base + 2 * j + k
                    let (from, to) = toAdjacentPairs ? (halves, adjacent) : (adjacent, halves)
                    result[to * rowLength ..< (to + 1) * rowLength] = values[from * rowLength ..< (from + 1) * rowLength]
                }
            }
        }
        return result
    }
}
