import Foundation
import Graph
import Tensors

extension Engine {
    /// Final norm and output head on the chosen rows; `body` gets each row's index in `rows` and its logits.
    public func forEachLogits(of states: HiddenStates, rows: [Int],
                              _ body: (Int, UnsafeBufferPointer<Float>) -> Void) throws {
        let vocabulary = try vocabularySize()
        // About 128 MB of logits at a time, so the head's weights are read once per chunk, not per few rows.
        let chunk = max(16, min(rows.count, (128 << 20) / (vocabulary * MemoryLayout<Float>.size)))
        for start in stride(from: 0, to: rows.count, by: chunk) {
            let count = min(chunk, rows.count - start)
            let logits = try self.logits(of: states, rows: rows[start ..< start + count])
            logits.withUnsafeBufferPointer { all in
                for i in 0 ..< count {
                    body(start + i, UnsafeBufferPointer(rebasing: all[i * vocabulary ..< (i + 1) * vocabulary]))
                }
            }
        }
    }

    /// The logits of the chosen rows, one row of the vocabulary after another.
    /// Few rows (generation) multiply through the head as the file stores it (`WeightMatrix.encoded`).
    public func logits(of states: HiddenStates, rows: ArraySlice<Int>) throws -> [Float] {
        let norm = try outputNorm()
        let width = config.hiddenSize, vocabulary = try vocabularySize()
        var selected = [Float](repeating: 0, count: rows.count * width)
        var logits = [Float](repeating: 0, count: rows.count * vocabulary)
        finalNorm(of: states, rows: rows, weight: norm, into: &selected)
        let head = rows.count < Self.encodedRowLimit ? WeightMatrix.encoded(try headTensor()) : .packed(try outputHead())
        head.multiply(selected, into: &logits, m: rows.count, n: vocabulary, k: width)
        return logits
    }

    /// Rows of the output head: the number of logits per token.
    public func vocabularySize() throws -> Int { try headTensor().elementCount / config.hiddenSize }

    /// The output projection's tensor: `output.weight`, or the embeddings it is tied to.
    private func headTensor() throws -> Tensor {
        try model.globalTensors.first { $0.name == "output.weight" } ?? globalTensor("token_embd.weight")
    }

    /// −log p(targets[i] | rows[i]) for each chosen row. The logits are never stored whole (see `LogSumExpFolds`).
    public func negativeLogLikelihoods(of states: HiddenStates, rows: [Int], targets: [Int]) throws -> [Double] {
        let head = try outputHead(), norm = try outputNorm()
        let width = config.hiddenSize
        let rowChunk = 512
        let folds = LogSumExpFolds(vocabulary: head.rows, rows: min(rowChunk, rows.count))
        var selected = [Float](repeating: 0, count: min(rowChunk, rows.count) * width)
        var result: [Double] = []
        result.reserveCapacity(rows.count)
        for start in stride(from: 0, to: rows.count, by: rowChunk) {
            let count = min(rowChunk, rows.count - start)
            finalNorm(of: states, rows: rows[start ..< start + count], weight: norm, into: &selected)
            folds.fold(selected, head: head, count: count, targets: targets[start ..< start + count])
            result += (0 ..< count).map(folds.negativeLogLikelihood)
        }
        return result
    }

    /// The final RMS norm of the chosen rows of `states`, packed one after another into `output`.
    private func finalNorm(of states: HiddenStates, rows: ArraySlice<Int>, weight: [Float], into output: inout [Float]) {
        let width = config.hiddenSize
        states.values.withUnsafeBufferPointer { x in
            output.withUnsafeMutableBufferPointer { out in
                for (i, row) in rows.enumerated() {
                    Kernels.rmsNorm(x.baseAddress! + row * width, weight: weight, into: out.baseAddress! + i * width,
                                    rows: 1, width: width, epsilon: config.rmsEpsilon)
                }
            }
        }
    }

    /// The final RMS norm's weights, in llama.cpp's conventions.
    private func outputNorm() throws -> [Float] {
        let name = "output_norm.weight"
        return try config.floats(of: try globalTensor(name), role: name, layer: nil, name: name)
    }

    /// The output projection, tied to the embeddings when the model has no `output.weight`; kept once built.
    private func outputHead() throws -> PackedMatrix {
        if let headWeights { return headWeights }
        let tensor = try headTensor(), width = config.hiddenSize
        // Readers check that the head's rows are the embedding width (ModelValidation).
        var none: [[Float]] = []
        let weights = PackedMatrix(decoding: tensor, rows: tensor.elementCount / width, rowLength: width, reusing: &none)
        headWeights = weights
        return weights
    }
}

/// log Σ exp(logits) and the target's logit for a chunk of rows, without storing their logits: each core takes
/// a share of the vocabulary and runs through it in slices of `columns` head rows, folding each slice into a
/// running log-sum-exp per row (the largest logit so far and the sum of exponentials relative to it) while
/// it is still in cache; the shares are combined per row at the end.
private final class LogSumExpFolds {
    private let vocabulary: Int, capacity: Int
    /// Head rows per slice: whole panels of the packed head.
    private let columns = 16 * PackedMatrix.panelWidth
    private let slices: Int, workers: Int
    /// Per worker and row: the largest logit of its share and Σ exp(logit − that largest).
    private let maxima: UnsafeMutablePointer<Float>
    private let sums: UnsafeMutablePointer<Double>
    private let targetLogits: UnsafeMutablePointer<Float>

    init(vocabulary: Int, rows capacity: Int) {
        (self.vocabulary, self.capacity) = (vocabulary, capacity)
        slices = (vocabulary + columns - 1) / columns
        workers = max(1, min(Cores.count, slices))
        maxima = .allocate(capacity: workers * capacity)
        sums = .allocate(capacity: workers * capacity)
        targetLogits = .allocate(capacity: capacity)
    }

    deinit {
        maxima.deallocate()
        sums.deallocate()
        targetLogits.deallocate()
    }

    /// Folds the logits of `count` normed rows (`count` rows of the head's row length in `normed`) against the head.
    func fold(_ normed: [Float], head: PackedMatrix, count: Int, targets: ArraySlice<Int>) {
        let targets = Array(targets)
        normed.withUnsafeBufferPointer { a in
            let a = a.baseAddress!
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                foldShare(of: worker, a, head: head, count: count, targets: targets)
            }
        }
    }

    private func foldShare(of worker: Int, _ a: UnsafePointer<Float>, head: PackedMatrix, count: Int, targets: [Int]) {
        let logits = UnsafeMutablePointer<Float>.allocate(capacity: count * columns)
        defer { logits.deallocate() }
        let maxima = maxima + worker * capacity, sums = sums + worker * capacity
        for i in 0 ..< count { maxima[i] = -.infinity; sums[i] = 0 }
        for slice in slices * worker / workers ..< slices * (worker + 1) / workers {
            let first = slice * columns, n = min(columns, vocabulary - first)
            let panels = first / PackedMatrix.panelWidth ..< PackedMatrix.panelCount(rows: first + n)
            head.multiply(a, into: logits, m: count, panels: panels, ldc: n)
            for i in 0 ..< count {
                let row = logits + i * n
                let maximum = Kernels.maximum(row, count: n)
                if maximum > maxima[i] {
                    sums[i] *= Double(Foundation.exp(maxima[i] - maximum))
                    maxima[i] = maximum
                }
                sums[i] += Double(Kernels.sumOfExponentials(row, count: n, shift: maxima[i]))
                if targets[i] >= first && targets[i] < first + n { targetLogits[i] = row[targets[i] - first] }
            }
        }
    }

    /// −log p(target) of row `i` of the last fold: the workers' shares combined.
    func negativeLogLikelihood(_ i: Int) -> Double {
        let maximum = (0 ..< workers).map { maxima[$0 * capacity + i] }.max()!
        let sum = (0 ..< workers).reduce(0.0) {
            $0 + sums[$1 * capacity + i] * Foundation.exp(Double(maxima[$1 * capacity + i] - maximum))
        }
        return Double(maximum) + Foundation.log(sum) - Double(targetLogits[i])
    }
}
