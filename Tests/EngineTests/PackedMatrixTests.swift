import CKernels
import Foundation
import Graph
import Testing
@testable import Engine
@testable import Formats
import Tensors
import TestSupport

/// The engine's own product (`modelsurgery_packed_gemm`) on weights packed into panels (`PackedMatrix`): every
/// kernel this CPU can run, against a product in Double.
struct PackedMatrixTests {
    static let levels = Array(0 ... Int(modelsurgery_packed_gemm_best_level()))

    /// Shapes with tails everywhere: rows of A past the kernels' 12, 6 and 4-row tiles, output columns past whole
    /// panels, rows of 1100 (longer than a chunk of 1024 steps: copied into tiles, summed over two chunks), a
    /// product added to what C holds (beta 1), and only some panels, written from `c` on.
    @Test(arguments: levels, [(1, 7, 5), (13, 70, 36), (25, 33, 1100), (7, 96, 64)])
    func everyKernelMatchesADoubleProduct(level: Int, shape: (m: Int, n: Int, k: Int)) {
        let (m, n, k) = shape
        let weights = (0 ..< n * k).map { Float(($0 * 7) % 11) / 4 - 1.25 }
        var spare: [[Float]] = []
        let packed = PackedMatrix(packing: weights, rows: n, rowLength: k, reusing: &spare)
        let a = (0 ..< m * k).map { Float($0 % 5) / 3 - 0.5 }
        let panels = PackedMatrix.panelCount(rows: n)
        for beta: Float in [0, 1] {
            for range in [0 ..< panels, panels / 2 ..< panels] {
                let ldc = n + 3, firstColumn = range.lowerBound * PackedMatrix.panelWidth
                var c = [Float](repeating: 2, count: m * ldc)
                c.withUnsafeMutableBufferPointer { c in
                    packed.values.withUnsafeBufferPointer { p in
                        modelsurgery_packed_gemm_using(Int32(level), a, m, k, p.baseAddress!, k, n, range.lowerBound,
                                                       range.upperBound, c.baseAddress! + firstColumn, ldc, beta)
                    }
                }
                for i in 0 ..< m {
                    for j in 0 ..< ldc {
                        guard (firstColumn ..< n).contains(j) else {
                            #expect(c[i * ldc + j] == 2, "level \(level): C[\(i)][\(j)] outside the panels was written")
                            continue
                        }
                        let product = (0 ..< k).reduce(0.0) { $0 + Double(a[i * k + $1]) * Double(weights[j * k + $1]) }
                        let expected = Double(beta) * 2 + product
                        #expect(abs(Double(c[i * ldc + j]) - expected) <= 1e-5 * max(1, abs(expected)),
                                "level \(level), beta \(beta), panels \(range): C[\(i)][\(j)]")
                    }
                }
            }
        }
    }

    /// Panels hold step q of row j at (panel · k + q) · 32 + j, zeros past the last row; decoding a tensor
    /// straight into panels gives what decoding it whole and then packing gives, bit for bit.
    @Test func decodingIntoPanelsEqualsDecodingThenPacking() throws {
        let model = try GGUF.readModel(at: EngineGolden.modelFile("tiny-llama"))
        for tensor in model.blocks.flatMap(\.tensors) + model.globalTensors where tensor.shape.count == 2 {
            let (k, n) = (tensor.shape[0], tensor.shape[1])
            let decoded = try Dequantizer.floats(of: tensor, name: tensor.name)
            var spare: [[Float]] = []
            let direct = PackedMatrix(decoding: tensor, rows: n, rowLength: k, reusing: &spare)
            let packed = PackedMatrix(packing: decoded, rows: n, rowLength: k, reusing: &spare)
            #expect(direct.values == packed.values, "\(tensor.name) (\(tensor.type.name))")
            let width = PackedMatrix.panelWidth
            for panel in 0 ..< PackedMatrix.panelCount(rows: n) {
                for q in 0 ..< k {
                    for j in 0 ..< width {
                        let row = panel * width + j
                        let value = packed.values[(panel * k + q) * width + j]
                        #expect(value == (row < n ? decoded[row * k + q] : 0), "\(tensor.name) panel \(panel) step \(q)")
                    }
                }
            }
        }
    }

    /// Large products split their panels over the cores; each output is then what one thread computes.
    @Test func splittingOverTheCoresChangesNoOutput() {
        let (m, n, k) = (70, 300, 260)
        let weights = (0 ..< n * k).map { Float(($0 * 13) % 17) / 8 - 1 }
        var spare: [[Float]] = []
        let packed = PackedMatrix(packing: weights, rows: n, rowLength: k, reusing: &spare)
        let a = (0 ..< m * k).map { Float($0 % 9) / 5 - 0.75 }
        #expect(m * n * k >= 1 << 22)
        var split = [Float](repeating: 0, count: m * n), single = split
        packed.multiply(a, into: &split, m: m)
        packed.multiply(a, into: &single, m: m, panels: 0 ..< PackedMatrix.panelCount(rows: n), ldc: n)
        #expect(split == single)
    }
}
