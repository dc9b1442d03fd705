import Foundation

/// Several models on the same text with llama-perplexity's windows: each one's perplexity, and how far its
/// next-token distributions are from the first model's, as `llama-perplexity --kl-divergence` reports:
/// the mean KL(P_first ‖ P_model) over the scored tokens (with its standard error) and how often both put
/// the same token first.
public struct TextComparison: Sendable {
    public struct Row: Codable, Sendable {
        public let perplexity: Double
        public let meanNegativeLogLikelihood: Double
        public let meanKLDivergence: Double
        public let klStandardError: Double
        public let topTokenAgreement: Double
    }

    public let windowing: PerplexityEvaluation
    /// Logit rows compared at a time (two models' logits of this many tokens are held together).
    let rowsPerChunk = 64

    public init(windowing: PerplexityEvaluation) {
        self.windowing = windowing
    }

    public func run(engines: [Engine], tokens: [Int], bos: Int?,
                    progress: ((_ stepsDone: Int, _ steps: Int) -> Void)? = nil) throws -> [Row] {
        let windows = try windowing.windows(of: tokens, bos: bos)
        let context = windowing.context, scored = windowing.scoredPositions
        let perBatch = max(1, windowing.tokensPerBatch / context)
        let batchStarts = Array(stride(from: 0, to: windows.count, by: perBatch))
        let stepsPerBatch = engines.reduce(0) { $0 + $1.blockCount + 1 }
        var totals = engines.map { _ in RowTotals() }
        for (batchIndex, start) in batchStarts.enumerated() {
            let batch = Array(windows[start ..< min(windows.count, start + perBatch)])
            var done = batchIndex * stepsPerBatch
            let states = try engines.map { engine in
                var states = try engine.embed(batch)
                for block in 0 ..< engine.blockCount {
                    try engine.runBlock(block, on: &states)
                    done += 1
                    progress?(done, batchStarts.count * stepsPerBatch)
                }
                return states
            }
            let rows = batch.indices.flatMap { window in scored.map { window * context + $0 } }
            let targets = rows.map { batch[$0 / context][$0 % context + 1] }
            for chunk in stride(from: 0, to: rows.count, by: rowsPerChunk) {
                let range = chunk ..< min(rows.count, chunk + rowsPerChunk)
                let reference = try LogProbabilities(engines[0].logits(of: states[0], rows: rows[range]), rows: range.count)
                for (index, engine) in engines.enumerated() {
                    let model = index == 0 ? reference
                        : try LogProbabilities(engine.logits(of: states[index], rows: rows[range]), rows: range.count)
                    for (row, target) in targets[range].enumerated() {
                        totals[index].add(reference: reference, model: model, row: row, target: target)
                    }
                }
            }
            progress?((batchIndex + 1) * stepsPerBatch, batchStarts.count * stepsPerBatch)
        }
        return totals.map(\.row)
    }
}

/// Log-softmax of logit rows, in Double.
private struct LogProbabilities {
    let values: [Double]
    let vocabulary: Int
    let top: [Int]

    init(_ logits: [Float], rows: Int) {
        vocabulary = logits.count / max(rows, 1)
        var values = [Double](repeating: 0, count: logits.count)
        var top: [Int] = []
        for row in 0 ..< rows {
            let slice = logits[row * vocabulary ..< (row + 1) * vocabulary]
            let maximum = Double(slice.max() ?? 0)
            let logSum = maximum + log(slice.reduce(0.0) { $0 + exp(Double($1) - maximum) })
            for (i, logit) in zip(slice.indices, slice) { values[i] = Double(logit) - logSum }
            top.append((slice.indices.max { slice[$0] < slice[$1] } ?? 0) - row * vocabulary)
        }
        self.values = values
        self.top = top
    }

    func row(_ row: Int) -> ArraySlice<Double> { values[row * vocabulary ..< (row + 1) * vocabulary] }
}

/// Running sums of one model's comparison.
private struct RowTotals {
    var negativeLogLikelihood = 0.0, kl = 0.0, klSquares = 0.0, agreements = 0, count = 0

    mutating func add(reference: LogProbabilities, model: LogProbabilities, row: Int, target: Int) {
        let p = reference.row(row), q = model.row(row)
        var divergence = 0.0
        for (lp, lq) in zip(p, q) { divergence += exp(lp) * (lp - lq) }
        negativeLogLikelihood -= q[q.startIndex + target]
        kl += divergence
        klSquares += divergence * divergence
        agreements += reference.top[row] == model.top[row] ? 1 : 0
        count += 1
    }

    var row: TextComparison.Row {
        let n = Double(max(count, 1)), mean = kl / n
        let variance = count > 1 ? max(0, klSquares / n - mean * mean) * n / (n - 1) : 0
        return .init(perplexity: exp(negativeLogLikelihood / n), meanNegativeLogLikelihood: negativeLogLikelihood / n,
                     meanKLDivergence: mean, klStandardError: (variance / n).squareRoot(),
                     topTokenAgreement: Double(agreements) / n)
    }
}
