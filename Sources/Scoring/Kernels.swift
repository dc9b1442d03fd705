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

    /// eˣ lane by lane, as Cephes' expf computes it (within 2 ulp; inputs clamped to ±88, so no infinities
    /// and e^(−∞) is 1e−38 rather than 0): x = n·ln 2 + r with |r| ≤ ln 2 / 2, eʳ by a degree-7 polynomial,
    /// 2ⁿ written into the exponent bits. libm's scalar expf made the activations and log-sum-exp a tenth
    /// of the forward pass.
    @inline(__always) static func exp(_ x: Vector) -> Vector {
        // replacing(with:where:) compiles to compare-and-blend; clamped and pointwiseMin stay scalar calls.
        let low = Vector(repeating: -87.336_54), high = Vector(repeating: 88.376_26)
        let x = x.replacing(with: low, where: x .< low).replacing(with: high, where: x .> high)
        // Adding 1.5·2²³ rounds x·log₂e to an integer n, which then sits in the low mantissa bits of t.
        let magic = Vector(repeating: 12_582_912)
        let t = x * 1.442_695_04 + magic
        let n = t - magic
        let r = x - n * 0.693_359_375 + n * 2.121_944_4e-4
        var p = Vector(repeating: 1.987_569_15e-4)
        p = p * r + 1.398_199_95e-3
        p = p * r + 8.333_451_9e-3
        p = p * r + 4.166_579_59e-2
        p = p * r + 1.666_666_55e-1
        p = p * r + 5.000_000_12e-1
        p = p * (r * r) + r + 1
        let scale = unsafeBitCast((unsafeBitCast(t, to: SIMD8<UInt32>.self) &+ 127) &<< 23, to: Vector.self)
        return p * scale
    }

    /// Gated MLP activation in place: gate[i] = act(gate[i]) * up[i].
    static func gatedActivation(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, count: Int,
                                gelu: Bool) {
        @inline(__always) func activate(_ g: Vector) -> Vector {
            if gelu {
                // tanh(u) = 1 − 2 / (e²ᵘ + 1)
                let u = 0.797_884_56 * g * (1 + 0.044_715 * g * g)
                return 0.5 * g * (2 - 2 / (exp(2 * u) + 1))
            }
            return g / (1 + exp(-g))
        }
        parallel(count, minimumChunk: 4096) { range in
            var i = range.lowerBound
            while i + 8 <= range.upperBound {
                store(activate(load(gate + i)) * load(up + i), gate + i)
                i += 8
            }
            if i < range.upperBound {
                var g = Vector(), u = Vector()
                for j in i ..< range.upperBound { g[j - i] = gate[j]; u[j - i] = up[j] }
                let a = activate(g) * u
                for j in i ..< range.upperBound { gate[j] = a[j - i] }
            }
        }
    }

    /// Σ exp(x[i] − shift) over `count` values, in Float lanes.
    static func sumOfExponentials(_ x: UnsafePointer<Float>, count: Int, shift: Float) -> Float {
        var sums = Vector()
        var i = 0
        while i + 8 <= count {
            sums += exp(load(x + i) - shift)
            i += 8
        }
        var sum = sums.sum()
        while i < count {
            sum += Foundation.exp(x[i] - shift)
            i += 1
        }
        return sum
    }

    /// Softmax over `row[range]`; entries outside the range (masked positions) become 0.
    static func softmax(_ row: UnsafeMutablePointer<Float>, over range: Range<Int>, width: Int) {
        let maximum = Kernels.maximum(row + range.lowerBound, count: range.count)
        var sums = Vector()
        var i = range.lowerBound
        while i + 8 <= range.upperBound {
            let e = exp(load(row + i) - maximum)
            store(e, row + i)
            sums += e
            i += 8
        }
        var sum = sums.sum()
        while i < range.upperBound {
            let e = Foundation.exp(row[i] - maximum)
            row[i] = e
            sum += e
            i += 1
        }
        let inverse = 1 / sum
        i = range.lowerBound
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
    static func logSumExp(_ row: UnsafePointer<Float>, count: Int) -> Double {
        var maximum = -Float.infinity
        for i in 0 ..< count { maximum = max(maximum, row[i]) }
        var sum: Double = 0
        for i in 0 ..< count { sum += Double(Foundation.exp(row[i] - maximum)) }
        return Double(maximum) + log(sum)
    }
}
