import CKernels
import Graph
import Tensors

/// A block's weight matrix of n rows of k (ggml's layout: one output per row), either decoded to Float once (in
/// panels, `PackedMatrix`), or left encoded in the model file and decoded a panel of rows at a time inside the
/// product. Products with few input rows (generation: one token of each sequence per step) use the encoded form:
/// decoding a whole 7B block wrote 800 MB of Float to memory that the product then read back, once per token; a
/// panel stays in cache.
enum WeightMatrix {
    case packed(PackedMatrix)
    /// Only for tensors in llama.cpp's layout (no rows to permute), of whole blocks per row.
    case encoded(Tensor)

    var count: Int {
        switch self {
        case .packed(let matrix): matrix.rows * matrix.rowLength
        case .encoded(let tensor): tensor.elementCount
        }
    }

    /// The decoded values' storage, for reuse by the next block.
    var packedValues: [Float]? {
        if case .packed(let matrix) = self { return matrix.values }
        return nil
    }

    /// Panel rows: about 32 K floats (128 KB: decoded and multiplied within a core's L2; 4× more was 1.6× slower
    /// on a 7B-shaped model, 4× less the same), at least 8 rows.
    static func panelRows(rowLength k: Int) -> Int { max(8, (32 << 10) / max(k, 1)) }

    /// C[m×n] = A[m×k] · Wᵀ (+ beta · C).
    func multiply(_ a: UnsafePointer<Float>, into c: UnsafeMutablePointer<Float>, m: Int, n: Int, k: Int, beta: Float = 0) {
        switch self {
        case .packed(let matrix):
            precondition(matrix.rows == n && matrix.rowLength == k, "a \(n) × \(k) product through a \(matrix.rows) × \(matrix.rowLength) matrix")
            matrix.multiply(a, into: c, m: m, beta: beta)
        case .encoded(let tensor):
            let type = tensor.type, panel = Self.panelRows(rowLength: k)
            let rowBytes = tensor.data.buffer.count / max(n, 1)
            nonisolated(unsafe) let source = tensor.data.buffer.baseAddress!
            // Each worker decodes and multiplies its own panels of output columns.
            Kernels.parallel(n, minimumChunk: panel) { columns in
                var buffer = [Float](repeating: 0, count: panel * k)
                buffer.withUnsafeMutableBufferPointer { decoded in
                    for first in stride(from: columns.lowerBound, to: columns.upperBound, by: panel) {
                        let rows = min(panel, columns.upperBound - first)
                        Dequantizer.decode(type, from: source + first * rowBytes, count: rows * k, into: decoded.baseAddress!)
                        modelsurgery_rows_times_panel(a, m, k, decoded.baseAddress!, rows, k, c + first, n, beta)
                    }
                }
            }
        }
    }
}
