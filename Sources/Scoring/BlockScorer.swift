import Engine
import Foundation

/// Everything scoring learns from one streaming pass over the calibration tokens.
public struct CalibrationScores: Codable, Sendable {
    public let blocks: [BlockMeasurement]
    /// Angular distance between x_l and x_{l+runLength}, for each start l (Gromov et al.).
    public let runAngular: [Double]
    public let runLength: Int
    /// Mean negative log-likelihood of the calibration tokens under the unpruned model.
    public let baselineNLL: Double
    /// The same with each single block left out, when asked for.
    public let leaveOneOutNLL: [Double]?
    public let tokens: Int
    /// Each block's attention branch (its input against the stream after attention) and feed-forward branch
    /// (that against its output), measured like blocks.
    public let attention: [BlockMeasurement]
    public let feedForward: [BlockMeasurement]

    public init(blocks: [BlockMeasurement], runAngular: [Double], runLength: Int, baselineNLL: Double,
                leaveOneOutNLL: [Double]?, tokens: Int, attention: [BlockMeasurement] = [],
                feedForward: [BlockMeasurement] = []) {
        (self.blocks, self.runAngular, self.runLength) = (blocks, runAngular, runLength)
        (self.baselineNLL, self.leaveOneOutNLL, self.tokens) = (baselineNLL, leaveOneOutNLL, tokens)
        (self.attention, self.feedForward) = (attention, feedForward)
    }

    /// The measurements of what `space` removes.
    public func measurements(of space: RemovalSpace) -> [BlockMeasurement] {
        space.part == .attention ? attention : space.part == .feedForward ? feedForward : blocks
    }
}

/// Hidden states kept from a scoring pass (see `BlockScorer.unpruned`).
public final class UnprunedStates: @unchecked Sendable {
    /// inputs[b]: the states entering block b, every calibration token.
    public internal(set) var inputs: [[Float]]?
}

/// Scores blocks by streaming the calibration batch through the model one block at a time: embed once,
/// then for each block dequantize only its weights, run every sequence through it, measure its input
/// against its output, free the weights and keep the output as the next block's input. Peak memory is the
/// hidden states of all calibration tokens plus one block (plus every block's input when leave-one-out
/// needs to restart from it).
public struct BlockScorer {
    public let engine: Engine
    public let calibration: Calibration
    /// The hidden states entering each block of the unpruned model, when `measure` was asked to keep them:
    /// refinement's first evaluation starts from them at the first block it removes.
    public let unpruned = UnprunedStates()

    public init(engine: Engine, calibration: Calibration) {
        self.engine = engine
        self.calibration = calibration
    }

    /// One streaming pass; `keepingInputs` keeps every block's input in `unpruned` (blocks × tokens × width
    /// floats, which `leaveOneOut` keeps anyway).
    public func measure(runLength: Int, leaveOneOut: Bool = false, keepingInputs: Bool = false,
                        progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws -> CalibrationScores {
        let blockCount = engine.blockCount
        let loadSteps = leaveOneOut ? blockCount * (blockCount + 1) / 2 : 0
        let total = blockCount + 1 + loadSteps
        var states = try engine.embed(calibration.sequences)
        let sums = MeasurementSums(blockCount: blockCount, runLength: runLength)
        var inputs: [[Float]] = []
        for block in 0 ..< blockCount {
            let input = states.values
            var middle: [Float] = []
            try engine.runBlock(block, on: &states) { middle = Array($0) }
            sums.add(block: block, input: input, middle: middle, output: states.values, rows: states.tokenCount,
                     width: states.width)
            if leaveOneOut || keepingInputs { inputs.append(input) }
            progress?(block + 1, total)
        }
        let baseline = try negativeLogLikelihood(of: states)
        progress?(blockCount + 1, total)
        if keepingInputs { unpruned.inputs = inputs }

        var leaveOneOutNLL: [Double]?
        if leaveOneOut {
            var done = blockCount + 1
            leaveOneOutNLL = try (0 ..< blockCount).map { skipped in
                var pruned = HiddenStates(values: inputs[skipped], sequenceCount: states.sequenceCount,
                                          sequenceLength: states.sequenceLength, width: states.width)
                for block in skipped + 1 ..< blockCount {
                    try engine.runBlock(block, on: &pruned)
                    done += 1
                    progress?(done, total)
                }
                done += 1
                progress?(min(done, total), total)
                return try negativeLogLikelihood(of: pruned)
            }
        }
        return sums.scores(baselineNLL: baseline, leaveOneOutNLL: leaveOneOutNLL, tokens: calibration.tokenCount)
    }

    /// SLEB-style greedy removal: repeatedly remove the block whose removal raises the calibration NLL least,
    /// measuring every candidate on the model as pruned so far. Returns blocks in the order removed.
    public func greedyRemoval(count: Int, protected: Set<Int>,
                              progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws -> [Int] {
        var kept = Array(0 ..< engine.blockCount)
        var removed: [Int] = []
        for round in 0 ..< count {
            // Inputs of every kept block under the current pruned model.
            var states = try engine.embed(calibration.sequences)
            var inputs: [Int: [Float]] = [:]
            for block in kept {
                inputs[block] = states.values
                try engine.runBlock(block, on: &states)
            }
            var best: (block: Int, nll: Double)?
            for (position, candidate) in kept.enumerated() where !protected.contains(candidate) {
                var trial = HiddenStates(values: inputs[candidate]!, sequenceCount: states.sequenceCount,
                                         sequenceLength: states.sequenceLength, width: states.width)
                for block in kept[(position + 1)...] { try engine.runBlock(block, on: &trial) }
                let nll = try negativeLogLikelihood(of: trial)
                if best == nil || nll < best!.nll { best = (candidate, nll) }
            }
            guard let chosen = best else { break }
            kept.removeAll { $0 == chosen.block }
            removed.append(chosen.block)
            progress?(round + 1, count)
        }
        return removed
    }

    /// Calibration NLL of the model made of the `kept` blocks alone.
    public func negativeLogLikelihood(keeping kept: [Int]) throws -> Double {
        var states = try engine.embed(calibration.sequences)
        for block in kept { try engine.runBlock(block, on: &states) }
        return try negativeLogLikelihood(of: states)
    }

    /// The rise in calibration NLL when each of `candidates` alone is removed (on top of `space.fixed`).
    public func leaveOneOut(_ candidates: [Int], space: RemovalSpace,
                            progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws -> [Int: Double] {
        let evaluator = try PrefixEvaluator(scorer: self, space: space)
        let baseline = try evaluator.evaluate(removing: [], from: 0)
        evaluator.acceptLast()
        var rises: [Int: Double] = [:]
        for (done, candidate) in candidates.enumerated() {
            rises[candidate] = try evaluator.evaluate(removing: [candidate], from: candidate) - baseline
            progress?(done + 1, candidates.count)
        }
        return rises
    }

    /// Mean NLL of each sequence's second half, every token predicted from the tokens before it
    /// (the half llama-perplexity scores, which also halves the cost of the output head).
    func negativeLogLikelihood(of states: HiddenStates) throws -> Double {
        let length = states.sequenceLength
        let rows = (0 ..< states.sequenceCount).flatMap { sequence in
            (length / 2 ..< length - 1).map { sequence * length + $0 }
        }
        let targets = rows.map { calibration.sequences[$0 / length][$0 % length + 1] }
        let total = try engine.negativeLogLikelihoods(of: states, rows: rows, targets: targets).reduce(0, +)
        return total / Double(rows.count)
    }
}
