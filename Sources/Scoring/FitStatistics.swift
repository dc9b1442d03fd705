#if canImport(Accelerate)
import Accelerate
#else
import CBLAS
#endif
import Graph

/// The sums a recovery fit needs from a removed piece's input X and output Y, for the fitting tokens and the
/// held-back ones apart: token count, Σ D, Σ ‖D‖², and (for linear fits) ZᵀZ and ZᵀD in float64.
struct FitStatistics {
    struct Part {
        var tokens = 0
        var sum: [Double]
        var squaredNorm = 0.0
        var gram: DoubleMatrix
        var cross: DoubleMatrix

        init(width: Int, needsGram: Bool) {
            sum = [Double](repeating: 0, count: width)
            gram = DoubleMatrix(size: needsGram ? width : 0)
            cross = DoubleMatrix(size: needsGram ? width : 0)
        }
    }

    let width: Int
    var fitting: Part
    var heldOut: Part

    /// Rows from `heldOutFrom` on are held back. Rows go in chunks, so memory holds a chunk of Z and D. The
    /// first token of each `sequenceLength` is left out: its states are the attention sink's, with norms many
    /// times the others', and a mean or a least-squares fit would chase that one token.
    init(input: [Float], output: UnsafeBufferPointer<Float>, width: Int, sequenceLength: Int, heldOutFrom split: Int,
         epsilon: Float, needsGram: Bool) {
        self.width = width
        fitting = Part(width: width, needsGram: needsGram)
        heldOut = Part(width: width, needsGram: needsGram)
        let rows = input.count / width, chunk = 256
        var z = [Double](repeating: 0, count: chunk * width), d = z
        var start = 0
        while start < rows {
            let end = min(rows, start + chunk, start < split ? split : rows)
            var filled = 0
            for row in start ..< end where row % sequenceLength != 0 {
                var squares = 0.0
                for i in 0 ..< width { squares += Double(input[row * width + i]) * Double(input[row * width + i]) }
                let scale = 1 / (squares / Double(width) + Double(epsilon)).squareRoot()
                for i in 0 ..< width {
                    let x = Double(input[row * width + i])
                    z[filled * width + i] = x * scale
                    d[filled * width + i] = Double(output[row * width + i]) - x
                }
                filled += 1
            }
            if start < split { Self.add(&fitting, z, d, rows: filled, width: width, needsGram: needsGram) }
            else { Self.add(&heldOut, z, d, rows: filled, width: width, needsGram: needsGram) }
            start = end
        }
    }

    private static func add(_ part: inout Part, _ z: [Double], _ d: [Double], rows: Int, width: Int, needsGram: Bool) {
        part.tokens += rows
        for row in 0 ..< rows {
            for i in 0 ..< width {
                let value = d[row * width + i]
                part.sum[i] += value
                part.squaredNorm += value * value
            }
        }
        guard needsGram else { return }
        part.gram.addTransposedProduct(z, z, rows: rows, symmetric: true)
        part.cross.addTransposedProduct(z, d, rows: rows, symmetric: false)
    }

    /// Both parts together, for the final fit.
    var all: Part {
        var total = fitting
        total.tokens += heldOut.tokens
        total.sum = zip(total.sum, heldOut.sum).map(+)
        total.squaredNorm += heldOut.squaredNorm
        total.gram.values = zip(total.gram.values, heldOut.gram.values).map(+)
        total.cross.values = zip(total.cross.values, heldOut.cross.values).map(+)
        return total
    }
}

extension RecoveryFit {
    func solve(_ statistics: FitStatistics, unit: RemovalUnit) -> (Replacement, Fitted) {
        let width = statistics.width, heldOut = statistics.heldOut
        func relativeError(_ residual: Double) -> Double {
            heldOut.squaredNorm > 0 ? residual / heldOut.squaredNorm : 0
        }
        switch kind {
        case .bias:
            let beta = statistics.fitting.sum.map { $0 / Double(max(1, statistics.fitting.tokens)) }
            let crossTerm = zip(beta, heldOut.sum).reduce(0) { $0 + $1.0 * $1.1 }
            let betaNorm = beta.reduce(0) { $0 + $1 * $1 }
            let error = relativeError(heldOut.squaredNorm - 2 * crossTerm + Double(heldOut.tokens) * betaNorm)
            let all = statistics.all
            let final = all.sum.map { Float($0 / Double(max(1, all.tokens))) }
            return (.bias(final), Fitted(unit: unit.description, ridge: nil, heldOutError: error, parameters: width))
        case .linear, .lowRank:
            let heldOutGram = heldOut.gram.symmetrized()
            func error(of w: DoubleMatrix) -> Double {
                relativeError(heldOut.squaredNorm - 2 * w.dot(heldOut.cross) + w.dot(heldOutGram * w))
            }
            var best: (scale: Double, error: Double)?
            for scale in Self.ridgeScales {
                guard let w = linear(statistics.fitting, ridgeScale: scale) else { continue }
                let candidate = error(of: w)
                if best == nil || candidate < best!.error { best = (scale, candidate) }
            }
            let scale = best?.scale ?? Self.ridgeScales.last!
            let final = linear(statistics.all, ridgeScale: scale) ?? DoubleMatrix(size: width)
            // Row i of the result holds input i's weights: W(i, o), which column-major keeps at o·n + i.
            var rowMajor = [Float](repeating: 0, count: width * width)
            for i in 0 ..< width { for o in 0 ..< width { rowMajor[i * width + o] = Float(final[i, o]) } }
            return (.linear(rowMajor), Fitted(unit: unit.description, ridge: scale, heldOutError: best?.error ?? 1,
                                              parameters: width * width))
        }
    }

    /// The ridge solution, truncated to the requested rank for `lowRank`.
    private func linear(_ part: FitStatistics.Part, ridgeScale: Double) -> DoubleMatrix? {
        let size = part.gram.size
        guard part.tokens > 0,
              let w = part.gram.solving(part.cross, ridge: ridgeScale * max(part.gram.trace / Double(size), 1e-12)) else { return nil }
        guard case .lowRank(let rank) = kind, rank < size else { return w }
        let explained = DoubleMatrix.multiply(w, part.gram.symmetrized() * w, transposingFirst: true)
        let basis = explained.topEigenvectors(rank) // size × rank
        var projected = [Double](repeating: 0, count: size * rank)
        let n = Int32(size), r = Int32(rank)
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, n, r, n, 1, w.values, n, basis, n, 0, &projected, n)
        var truncated = DoubleMatrix(size: size)
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, n, n, r, 1, projected, n, basis, n, 0, &truncated.values, n)
        return truncated
    }
}
