import Engine
import Foundation

extension BlockScorer {
    /// Self-calibration and its streaming pass in one run. The model samples its calibration sequences as
    /// `Calibration.selfGenerated` does (the same tokens), one position of every sequence per step through the
    /// key/value cache; a causal model's hidden states at a position depend only on the tokens up to it, so each
    /// step's block inputs and outputs are the ones a streaming pass over the finished sequences would see, and
    /// they are measured as they are made instead of in a second pass. The last position runs the blocks once
    /// more, unsampled. `keepingInputs` keeps every block's input for refinement (`unpruned`).
    public static func selfCalibrated(engine: Engine, tokenizer: any Tokenizer, count: Int, length: Int, runLength: Int,
                                      keepingInputs: Bool, temperature: Float = 1.0, topK: Int = 50, seed: UInt64 = 0x5EED,
                                      progress: ((Int, Int) -> Void)? = nil) throws -> (scorer: BlockScorer, scores: CalibrationScores) {
        guard let start = tokenizer.bosID ?? tokenizer.eosID else { throw EngineError.missingMetadata("tokenizer.ggml.bos_token_id") }
        var generator = SplitMix64(seed: seed)
        var sequences = Array(repeating: [start], count: count)
        let blockCount = engine.blockCount
        let cache = KeyValueCache(blockCount: blockCount, sequenceCount: count, capacity: length)
        let sums = MeasurementSums(blockCount: blockCount, runLength: runLength)
        var inputs: [[Float]] = []
        let scored = length / 2 ..< length - 1 // the positions whose next token BlockScorer's NLL scores
        try engine.keepingWeights(upTo: 2 << 30) {
            for position in 0 ..< length {
                var states = try engine.embed(sequences.map { [$0[position]] })
                if keepingInputs && inputs.isEmpty {
                    inputs = Array(repeating: [Float](repeating: 0, count: count * length * states.width), count: blockCount)
                }
                for block in 0 ..< blockCount {
                    let input = states.values
                    var middle: [Float] = []
                    try engine.runBlock(block, on: &states, cache: cache) { middle = Array($0) }
                    sums.add(block: block, input: input, middle: middle, output: states.values, rows: count, width: states.width)
                    if keepingInputs { scatter(input, position: position, length: length, width: states.width, into: &inputs[block]) }
                }
                if position < length - 1 {
                    var nll = 0.0
                    try engine.forEachLogits(of: states, rows: Array(0 ..< count)) { index, logits in
                        let token = Calibration.sample(logits, temperature: temperature, topK: topK, using: &generator)
                        sequences[index].append(token)
                        if scored.contains(position) { nll += Kernels.logSumExp(logits.baseAddress!, count: logits.count) - Double(logits[token]) }
                    }
                    if scored.contains(position) { sums.addNLL(nll, count: count) }
                }
                progress?(position + 1, length)
            }
        }
        let calibration = Calibration(sequences: sequences, source: "self-generated (\(count)×\(length) tokens)")
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
