import Foundation

/// The element-wise and row-wise pieces of the forward pass. Matrix products live in `BLAS`.
enum Kernels {
    /// Runs `body` over `0..<count` split in contiguous chunks across the cores.
    static func parallel(_ count: Int, minimumChunk: Int = 16, _ body: (Range<Int>) -> Void) {
        let chunks = max(1, min(ProcessInfo.processInfo.activeProcessorCount, count / max(minimumChunk, 1)))
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
                var sum: Float = 0
                for i in 0 ..< width { sum += input[i] * input[i] }
                let scale = 1 / (sum / Float(width) + epsilon).squareRoot()
                for i in 0 ..< width { output[i] = input[i] * scale * weight[i] }
            }
        }
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

    /// Gated MLP activation in place: gate[i] = act(gate[i]) * up[i].
    static func gatedActivation(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, count: Int,
                                gelu: Bool) {
        parallel(count, minimumChunk: 4096) { range in
            for i in range {
                let g = gate[i]
                let activated = gelu
                    ? 0.5 * g * (1 + tanh(0.797_884_56 * g * (1 + 0.044_715 * g * g)))
                    : g / (1 + exp(-g))
                gate[i] = activated * up[i]
            }
        }
    }

    /// Softmax over `row[range]`; entries outside the range (masked positions) become 0.
    static func softmax(_ row: UnsafeMutablePointer<Float>, over range: Range<Int>, width: Int) {
        var maximum = -Float.infinity
        for i in range { maximum = max(maximum, row[i]) }
        var sum: Float = 0
        for i in range {
            let e = exp(row[i] - maximum)
            row[i] = e
            sum += e
        }
        let inverse = 1 / sum
        for i in range { row[i] *= inverse }
        for i in 0 ..< range.lowerBound { row[i] = 0 }
        for i in range.upperBound ..< width { row[i] = 0 }
    }

    /// log Σ exp(row).
    static func logSumExp(_ row: UnsafePointer<Float>, count: Int) -> Double {
        var maximum = -Float.infinity
        for i in 0 ..< count { maximum = max(maximum, row[i]) }
        var sum: Double = 0
        for i in 0 ..< count { sum += Double(exp(row[i] - maximum)) }
        return Double(maximum) + log(sum)
    }
}
