import Graph
import Tensors

/// Weights as com.microsoft `MatMulNBits` takes them with bits 4 and block size 32: for each output column n
/// (a row of a ggml matrix), K/32 blocks of 16 bytes, byte j holding element 2j in its low nibble and 2j + 1
/// in its high one, and one f32 scale per block; no zero points, so onnxruntime takes 8 and a nibble q
/// stands for (q − 8) · scale.
enum MatMulNBitsEncoder {
    static let blockSize = 32
    /// int8 activations on the CPU, as onnxruntime-genai's builder writes for it (and as llama.cpp multiplies
    /// quantized weights with Q8 activations): 1.6× the decode speed of float activations on SmolLM2.
    static let accuracyLevel = 4
    static let bytesPerBlock = blockSize / 2

    /// Whether a ggml matrix of `shape` ([K, N]) splits into whole blocks along K.
    static func fits(_ shape: [Int]) -> Bool { shape.count == 2 && shape[0] > 0 && shape[0] % blockSize == 0 }

    /// ggml Q4_0 blocks (an f16 scale d, then 16 bytes: byte j holds element j low and element j + 16 high,
    /// each standing for (q − 8) · d) repacked without a float detour: the same nibbles in MatMulNBits'
    /// order and d widened to f32, which is exact.
    static func repackQ4_0(_ source: UnsafeRawBufferPointer) -> (packed: [UInt8], scales: [Float]) {
        let sourceBlockBytes = ElementType.q4_0.bytesPerBlock
        let blocks = source.count / sourceBlockBytes
        var packed = [UInt8](repeating: 0, count: blocks * bytesPerBlock)
        var scales = [Float](repeating: 0, count: blocks)
        for block in 0 ..< blocks {
            let base = block * sourceBlockBytes
            let bits = UInt16(source[base]) | UInt16(source[base + 1]) << 8
            scales[block] = Float(Float16(bitPattern: bits))
            func nibble(_ element: Int) -> UInt8 {
                let byte = source[base + 2 + element % 16]
                return element < 16 ? byte & 0x0F : byte >> 4
            }
            for j in 0 ..< bytesPerBlock {
                packed[block * bytesPerBlock + j] = nibble(2 * j) | nibble(2 * j + 1) << 4
            }
        }
        return (packed, scales)
    }

    /// Float rows quantized as onnxruntime's `quantize_matmul_4bits` does symmetrically (MLAS `range2scale`):
    /// the block's extreme of largest magnitude m gives scale m / −8, and q = clamp(round(v / scale + 8), 0, 15)
    /// with halves rounded up, through the reciprocal of the scale (0 for an all-zero block).
    static func quantize(_ values: [Float]) -> (packed: [UInt8], scales: [Float]) {
        let blocks = values.count / blockSize
        var packed = [UInt8](repeating: 0, count: blocks * bytesPerBlock)
        var scales = [Float](repeating: 0, count: blocks)
        for block in 0 ..< blocks {
            let slice = values[block * blockSize ..< (block + 1) * blockSize]
            let low = slice.min()!, high = slice.max()!
            // MLAS takes the minimum when both have the same magnitude.
            let scale = (abs(high) > abs(low) ? high : low) / -8
            let reciprocal: Float = scale != 0 ? 1 / scale : 0
            scales[block] = scale
            func level(_ element: Int) -> UInt8 {
                let shifted = (slice[slice.startIndex + element] * reciprocal + 8).rounded(.toNearestOrAwayFromZero)
                return UInt8(min(15, max(0, shifted)))
            }
            for j in 0 ..< bytesPerBlock {
                packed[block * bytesPerBlock + j] = level(2 * j) | level(2 * j + 1) << 4
            }
        }
        return (packed, scales)
    }
}
