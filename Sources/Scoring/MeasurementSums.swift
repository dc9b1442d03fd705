/// What scoring measures, summed over calibration tokens that arrive in pieces: every token at once in a
/// streaming pass, or one position of every sequence at a time while self-calibration samples. A piece gives
/// each block's input, the stream after its attention, and its output, block after block.
final class MeasurementSums {
    let blockCount: Int
    let runLength: Int
    private var blocks: [Sums], attention: [Sums], feedForward: [Sums]
    private var runAngular: [Double]
    /// Inputs of the last `runLength` blocks of the current piece.
    private var recent: [[Float]] = []
    private(set) var rows = 0
    private var nllSum = 0.0, nllCount = 0

    private struct Sums {
        var cosine = 0.0, angular = 0.0, mssd = 0.0, masd = 0.0
        mutating func add(_ mean: BlockMeasurement, rows: Int) {
            let n = Double(rows)
            (cosine, angular, mssd, masd) = (cosine + mean.cosine * n, angular + mean.angular * n, mssd + mean.mssd * n,
                                             masd + mean.masd * n)
        }
        func mean(block: Int, rows: Int) -> BlockMeasurement {
            let n = Double(max(rows, 1))
            return BlockMeasurement(block: block, cosine: cosine / n, angular: angular / n, mssd: mssd / n, masd: masd / n)
        }
    }

    init(blockCount: Int, runLength: Int) {
        (self.blockCount, self.runLength) = (blockCount, runLength)
        blocks = Array(repeating: Sums(), count: blockCount)
        attention = blocks
        feedForward = blocks
        runAngular = Array(repeating: 0, count: max(0, blockCount - runLength + 1))
    }

    /// Block `block` of the current piece, `rows` tokens of `width`; blocks come in order, from 0.
    func add(block: Int, input: [Float], middle: [Float], output: [Float], rows pieceRows: Int, width: Int) {
        if block == 0 { recent = [] }
        blocks[block].add(.measure(block: block, input: input, output: output, rows: pieceRows, width: width), rows: pieceRows)
        attention[block].add(.measure(block: block, input: input, output: middle, rows: pieceRows, width: width), rows: pieceRows)
        feedForward[block].add(.measure(block: block, input: middle, output: output, rows: pieceRows, width: width), rows: pieceRows)
        recent.append(input)
        if recent.count == runLength {
            let distance = BlockMeasurement.angularDistance(recent.removeFirst(), output, rows: pieceRows, width: width)
            runAngular[block + 1 - runLength] += distance * Double(pieceRows)
        }
        if block == blockCount - 1 { rows += pieceRows }
    }

    /// Negative log-likelihoods of scored tokens under the unpruned model.
    func addNLL(_ total: Double, count: Int) {
        nllSum += total
        nllCount += count
    }

    var meanNLL: Double { nllSum / Double(max(nllCount, 1)) }

    func scores(baselineNLL: Double, leaveOneOutNLL: [Double]?, tokens: Int) -> CalibrationScores {
        CalibrationScores(blocks: blocks.enumerated().map { $1.mean(block: $0, rows: rows) },
                          runAngular: runAngular.map { $0 / Double(max(rows, 1)) }, runLength: runLength,
                          baselineNLL: baselineNLL, leaveOneOutNLL: leaveOneOutNLL, tokens: tokens,
                          attention: attention.enumerated().map { $1.mean(block: $0, rows: rows) },
                          feedForward: feedForward.enumerated().map { $1.mean(block: $0, rows: rows) })
    }
}
