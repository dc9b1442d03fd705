import Engine
/// Refines a removal set by the calibration NLL of the pruned model: starting from a criterion's set, swap one
/// removed block for one kept block of a small pool of near-ties (the blocks the criterion ranks least
/// important), keep the first swap that lowers the NLL, and repeat until no swap helps or the budget is spent.
///
/// Per-block scores are measured on the unpruned model, so they cannot see how removals interact; among
/// blocks whose scores are nearly tied, which ones go together decides the pruned model's quality. The pool
/// keeps the search to the blocks the criterion already considers removable.
public struct SetRefinement: Sendable {
    /// Pool size beyond the removal count: the `count + extra` least important blocks may be swapped in.
    public let extra: Int?
    /// Most calibration-NLL evaluations the search may spend.
    public let budget: Int

    public init(extra: Int? = nil, budget: Int) {
        self.extra = extra
        self.budget = budget
    }

    public struct Result: Codable, Sendable {
        /// The criterion's own set, where the search started.
        public let start: [Int]
        public let removed: [Int]
        public let startNLL: Double
        public let calibrationNLL: Double
        public let evaluations: Int
    }

    /// `selection` with its set refined; selections without per-block importance are returned as they are.
    public func refine(_ selection: BlockSelection, scorer: BlockScorer, protected: Set<Int>, space: RemovalSpace = .blocks,
                       progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws -> BlockSelection {
        guard let importance = selection.importance, budget > 0 else { return selection }
        let result = try run(start: selection.removed, importance: importance, scorer: scorer, protected: protected,
                             space: space, progress: progress)
        return BlockSelection(criterion: selection.criterion, importance: importance, removed: result.removed,
                              refinement: result, standardErrors: selection.standardErrors)
    }

    public func run(start: [Int], importance: [Double], scorer: BlockScorer, protected: Set<Int>,
                    space: RemovalSpace = .blocks, progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws -> Result {
        let count = start.count
        let byImportance = importance.indices.filter { !protected.contains($0) }.sorted { importance[$0] < importance[$1] }
        let pool = Set(byImportance.prefix(count + (extra ?? count))).union(start)
        let evaluator = try PrefixEvaluator(scorer: scorer, space: space)
        var current = Set(start)
        var currentNLL = try evaluator.evaluate(removing: current, from: 0)
        evaluator.acceptLast()
        let startNLL = currentNLL
        var measured: Set<Set<Int>> = [current]
        var evaluations = 1
        improving: while evaluations < budget {
            // Most important removed block out first, least important kept block in first.
            let outs = current.sorted { importance[$0] > importance[$1] }
            let ins = pool.subtracting(current).sorted { importance[$0] < importance[$1] }
            for out in outs {
                for into in ins {
                    var candidate = current
                    candidate.remove(out)
                    candidate.insert(into)
                    guard measured.insert(candidate).inserted else { continue }
                    let nll = try evaluator.evaluate(removing: candidate, from: min(out, into))
                    evaluations += 1
                    progress?(evaluations, budget)
                    if nll < currentNLL {
                        evaluator.acceptLast()
                        (current, currentNLL) = (candidate, nll)
                        continue improving
                    }
                    if evaluations >= budget { break improving }
                }
            }
            break
        }
        return Result(start: start.sorted(), removed: current.sorted(), startNLL: startNLL, calibrationNLL: currentNLL,
                      evaluations: evaluations)
    }
}

/// Calibration NLL of pruned models that differ from an accepted one only from some block on: keeps the
/// hidden states entering every block under the accepted set, so an evaluation reruns only the blocks from
/// the first difference on. Indices are blocks whose `space.part` is removed.
final class PrefixEvaluator {
    let scorer: BlockScorer
    let space: RemovalSpace
    /// accepted[b]: the hidden states entering block b (after every kept block before it) under the accepted set.
    private var accepted: [[Float]] = []
    /// The same for the last set evaluated, from block `candidateStart` on.
    private var candidate: [[Float]] = []
    private var candidateStart = 0
    private let embedded: HiddenStates

    init(scorer: BlockScorer, space: RemovalSpace = .blocks) throws {
        self.scorer = scorer
        self.space = space
        embedded = try scorer.engine.embed(scorer.calibration.sequences)
    }

    /// NLL with the `removed` blocks gone; the set must match the accepted one before block `first`.
    func evaluate(removing removed: Set<Int>, from first: Int) throws -> Double {
        let start = accepted.isEmpty ? 0 : first
        var states = embedded
        if start > 0 { states.values = accepted[start] }
        candidate = []
        candidateStart = start
        for block in start ..< scorer.engine.blockCount {
            candidate.append(states.values)
            try scorer.engine.runBlock(block, on: &states, skipping: space.skipped(by: block, removing: removed))
        }
        return try scorer.negativeLogLikelihood(of: states)
    }

    /// Makes the set last evaluated the accepted one.
    func acceptLast() {
        accepted.removeSubrange(min(candidateStart, accepted.count)...)
        accepted += candidate
        candidate = []
    }
}
