import CKernels
import Foundation
import Tensors

/// The element-wise and row-wise pieces of the forward pass. Matrix products live in `BLAS`.
public enum Kernels {
    /// Runs `body` over `0..<count` split in contiguous chunks across the cores.
    static func parallel(_ count: Int, minimumChunk: Int = 16, _ body: (Range<Int>) -> Void) {
        let chunks = max(1, min(Cores.count, count / max(minimumChunk, 1)))
        let size = (count + chunks - 1) / chunks
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let start = chunk * size
            if start < count { body(start ..< min(count, start + size)) }
        }
    }

    /// y = x / rms(x) * weight for each row of `width` values (in place when y == x).
    static func rmsNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
                        rows: Int, width: Int, epsilon: Float) {
        parallel(rows) { range in
            for row in range {
                let input = x + row * width, output = y + row * width
                var sums = Vector()
                var i = 0
                while i + 8 <= width {
                    let v = load(input + i)
                    sums += v * v
                    i += 8
                }
                var sum = sums.sum()
                while i < width {
                    sum += input[i] * input[i]
                    i += 1
                }
                let scale = 1 / (sum / Float(width) + epsilon).squareRoot()
                i = 0
                while i + 8 <= width {
                    store(load(input + i) * scale * load(weight + i), output + i)
                    i += 8
                }
                while i < width {
                    output[i] = input[i] * scale * weight[i]
                    i += 1
                }
            }
        }
    }

    /// The largest of `count` values (−∞ for none).
    static func maximum(_ x: UnsafePointer<Float>, count: Int) -> Float {
        var maxima = Vector(repeating: -.infinity)
        var i = 0
        while i + 8 <= count {
            let v = load(x + i)
            maxima = maxima.replacing(with: v, where: v .> maxima)
            i += 8
        }
        var result = maxima.max()
        while i < count {
            result = max(result, x[i])
            i += 1
        }
        return result
    }

    static func rmsNormInPlace(_ x: UnsafeMutablePointer<Float>, weight: UnsafePointer<Float>, rows: Int, width: Int,
                               epsilon: Float) {
        rmsNorm(x, weight: weight, into: x, rows: rows, width: width, epsilon: epsilon)
    }

    static func add(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, count: Int) {
        for i in 0 ..< count { x[i] += y[i] }
    }

    /// Adds `bias` to every row.
    static func addBias(_ x: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>, rows: Int, width: Int) {
        for row in 0 ..< rows {
            let r = x + row * width
            for i in 0 ..< width { r[i] += bias[i] }
        }
    }

    typealias Vector = SIMD8<Float>

    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> Vector {
        UnsafeRawPointer(p).loadUnaligned(as: Vector.self)
    }

    @inline(__always) static func store(_ v: Vector, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vector.self)
    }

    /// Gated MLP activation in place: gate[i] = act(gate[i]) * up[i].
    static func gatedActivation(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, count: Int,
                                gelu: Bool) {
        parallel(count, minimumChunk: 4096) { range in
            modelsurgery_gated_activation(gate + range.lowerBound, up + range.lowerBound, range.count, gelu ? 1 : 0)
        }
    }

    /// Σ exp(x[i] − shift) over `count` values.
    static func sumOfExponentials(_ x: UnsafePointer<Float>, count: Int, shift: Float) -> Float {
        modelsurgery_sum_of_exponentials(x, count, shift)
    }

    /// Softmax over `row[range]`; entries outside the range (masked positions) become 0.
    static func softmax(_ row: UnsafeMutablePointer<Float>, over range: Range<Int>, width: Int) {
        let maximum = Kernels.maximum(row + range.lowerBound, count: range.count)
        let sum = modelsurgery_exponentials(row + range.lowerBound, range.count, maximum)
        let inverse = 1 / sum
        var i = range.lowerBound
        while i + 8 <= range.upperBound {
            store(load(row + i) * inverse, row + i)
            i += 8
        }
        while i < range.upperBound {
            row[i] *= inverse
            i += 1
        }
        (row).update(repeating: 0, count: range.lowerBound)
        (row + range.upperBound).update(repeating: 0, count: width - range.upperBound)
    }

    /// log Σ exp(row).
    public static func logSumExp(_ row: UnsafePointer<Float>, count: Int) -> Double {
        var maximum = -Float.infinity
        for i in 0 ..< count { maximum = max(maximum, row[i]) }
        var sum: Double = 0
        for i in 0 ..< count { sum += Double(Foundation.exp(row[i] - maximum)) }
        return Double(maximum) + log(sum)
    }
}
