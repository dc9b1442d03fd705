import Engine
import Foundation

extension BlockScorer {
    /// Self-calibration and its streaming pass in one run. The model samples its calibration sequences as
    /// `Calibration.selfGenerated` does (`SelfSampling`: the same tokens); a causal model's hidden states at a
    /// position depend only on the tokens up to it, so each step's block inputs and outputs are the ones a
    /// streaming pass over the finished sequences would see, and they are measured as they are made instead of
    /// in a second pass. The last position runs the blocks once
    /// more, unsampled. `keepingInputs` keeps every block's input for refinement (`unpruned`).
    public static func selfCalibrated(engine: Engine, tokenizer: any Tokenizer, count: Int, length: Int, runLength: Int,
                                      keepingInputs: Bool, temperature: Float = 1.0, topK: Int = 50, seed: UInt64 = 0x5EED,
                                      progress: ((Int, Int) -> Void)? = nil) throws -> (scorer: BlockScorer, scores: CalibrationScores) {
        let blockCount = engine.blockCount
        let sums = MeasurementSums(blockCount: blockCount, runLength: runLength)
        var inputs: [[Float]] = []
        let scored = length / 2 ..< length - 1 // the positions whose next token BlockScorer's NLL scores
        var sampling = SelfSampling(count: count, length: length, temperature: temperature, topK: topK, seed: seed)
        sampling.observeBlock = { block, position, input, middle, output in
            let width = input.count / count
            sums.add(block: block, input: input, middle: middle, output: output, rows: count, width: width)
            guard keepingInputs else { return }
            if inputs.isEmpty {
                inputs = Array(repeating: [Float](repeating: 0, count: count * length * width), count: blockCount)
            }
            scatter(input, position: position, length: length, width: width, into: &inputs[block])
        }
        var nll = 0.0
        sampling.observeLogits = { position, sequence, logits, token in
            guard scored.contains(position) else { return }
            nll += Kernels.logSumExp(logits.baseAddress!, count: logits.count) - Double(logits[token])
            if sequence == count - 1 {
                sums.addNLL(nll, count: count)
                nll = 0
            }
        }
        let calibration = try sampling.run(engine: engine, tokenizer: tokenizer, progress: progress)
        let scorer = BlockScorer(engine: engine, calibration: calibration)
        if keepingInputs { scorer.unpruned.inputs = inputs }
        return (scorer, sums.scores(baselineNLL: sums.meanNLL, leaveOneOutNLL: nil, tokens: calibration.tokenCount))
    }

    /// Row `sequence` of a step's states goes to row `sequence × length + position` of the whole batch.
    private static func scatter(_ step: [Float], position: Int, length: Int, width: Int, into all: inout [Float]) {
        for sequence in 0 ..< step.count / width {
            let target = (sequence * length + position) * width
            all.replaceSubrange(target ..< target + width, with: step[sequence * width ..< (sequence + 1) * width])
        }
    }
}
