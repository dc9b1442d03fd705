import Engine
import Foundation

/// Each candidate's Shapley value of calibration NLL under removal (Siddiqui et al., 2024): the mean rise in
/// NLL when it is removed on top of a random set of others, estimated by Monte-Carlo permutation sampling.
/// Each sampled permutation removes candidates one by one in its order and charges each the rise its removal
/// causes; the prefix hidden states are reused, so a step reruns only the blocks from the removed one on.
///
/// Walks stop after `depth` removals: the coalitions that matter for pruning are those about as large as the
/// set to remove, and models with most blocks gone say nothing about which few to remove. So this is the
/// Shapley value over coalitions of fewer than `depth` removed pieces.
public struct ShapleyEstimate: Sendable {
    public let permutations: Int
    public let depth: Int
    public let seed: UInt64

    public init(permutations: Int, depth: Int, seed: UInt64 = 0x5EED) {
        self.permutations = permutations
        self.depth = depth
        self.seed = seed
    }

    public struct Result: Codable, Sendable {
        /// Mean NLL rise per candidate (index = block), nil for non-candidates and ones never sampled.
        public let values: [Double?]
        public let standardErrors: [Double?]
        public let samples: [Int]
        public let evaluations: Int
    }

    public func run(candidates: [Int], scorer: BlockScorer, space: RemovalSpace,
                    progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws -> Result {
        var generator = SplitMix64(seed: seed)
        let steps = min(depth, candidates.count)
        var marginals = [[Double]](repeating: [], count: scorer.engine.blockCount)
        var evaluations = 0
        for permutation in 0 ..< permutations {
            let order = candidates.shuffled(using: &generator)
            let evaluator = try PrefixEvaluator(scorer: scorer, space: space)
            var removed = Set<Int>()
            var previous = try evaluator.evaluate(removing: removed, from: 0)
            evaluator.acceptLast()
            for candidate in order.prefix(steps) {
                removed.insert(candidate)
                let nll = try evaluator.evaluate(removing: removed, from: candidate)
                evaluator.acceptLast()
                marginals[candidate].append(nll - previous)
                previous = nll
            }
            evaluations += steps + 1
            progress?(permutation + 1, permutations)
        }
        let values = marginals.map { $0.isEmpty ? nil : $0.reduce(0, +) / Double($0.count) }
        let errors = zip(marginals, values).map { samples, mean -> Double? in
            guard let mean, samples.count > 1 else { return nil }
            let variance = samples.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(samples.count - 1)
            return (variance / Double(samples.count)).squareRoot()
        }
        return Result(values: values, standardErrors: errors, samples: marginals.map(\.count), evaluations: evaluations)
    }
}
