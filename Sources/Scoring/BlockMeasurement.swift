import Engine
import Foundation
import Tensors

/// What a block does to the hidden states, averaged over every calibration token, from the block's own
/// input x and output y (the residual stream before and after it; never after the final norm).
public struct BlockMeasurement: Codable, Sendable {
    public let block: Int
    /// Mean cos(x, y).
    public let cosine: Double
    /// Mean arccos(cos(x, y)) / π.
    public let angular: Double
    /// Mean ‖y − x‖² / ‖x‖²: squared, so a few tokens the block changes decisively dominate it.
    public let mssd: Double
    /// Mean ‖y − x‖₁ / ‖x‖₁: the robust average size of the block's contribution.
    public let masd: Double

    public init(block: Int, cosine: Double, angular: Double, mssd: Double, masd: Double) {
        (self.block, self.cosine, self.angular, self.mssd, self.masd) = (block, cosine, angular, mssd, masd)
    }

    /// ShortGPT's Block Influence, 1 − mean cos.
    public var blockInfluence: Double { 1 - cosine }

    /// Measures how `output` differs from `input`, both `rows × width`.
    static func measure(block: Int, input: [Float], output: [Float], rows: Int, width: Int) -> BlockMeasurement {
        let chunks = max(1, min(Cores.count, rows))
        var partial = [[Double]](repeating: [0, 0, 0, 0], count: chunks)
        let size = (rows + chunks - 1) / chunks
        input.withUnsafeBufferPointer { x in
            output.withUnsafeBufferPointer { y in
                partial.withUnsafeMutableBufferPointer { sums in
                    DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                        var total = [0.0, 0.0, 0.0, 0.0]
                        for row in chunk * size ..< min(rows, (chunk + 1) * size) {
                            var dot = 0.0, xx = 0.0, yy = 0.0, squared = 0.0, absolute = 0.0, xAbsolute = 0.0
                            for i in row * width ..< (row + 1) * width {
                                let a = Double(x[i]), b = Double(y[i]), d = b - a
                                dot += a * b
                                xx += a * a
                                yy += b * b
                                squared += d * d
                                absolute += abs(d)
                                xAbsolute += abs(a)
                            }
                            let cosine = max(-1, min(1, dot / max((xx * yy).squareRoot(), .leastNormalMagnitude)))
                            total[0] += cosine
                            total[1] += acos(cosine) / .pi
                            total[2] += squared / max(xx, .leastNormalMagnitude)
                            total[3] += absolute / max(xAbsolute, .leastNormalMagnitude)
                        }
                        sums[chunk] = total
                    }
                }
            }
        }
        let sums = partial.reduce([0.0, 0.0, 0.0, 0.0]) { zip($0, $1).map(+) }
        let n = Double(rows)
        return BlockMeasurement(block: block, cosine: sums[0] / n, angular: sums[1] / n, mssd: sums[2] / n, masd: sums[3] / n)
    }

    /// Mean arccos(cos(a, b)) / π over rows: Gromov et al.'s distance between x_l and x_{l+n}.
    static func angularDistance(_ a: [Float], _ b: [Float], rows: Int, width: Int) -> Double {
        measure(block: -1, input: a, output: b, rows: rows, width: width).angular
    }
}
