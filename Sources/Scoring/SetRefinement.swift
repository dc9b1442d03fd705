import Engine
/// Refines a removal set by the calibration NLL of the pruned model: starting from a criterion's set, swap one
/// removed block for one kept block of a small pool of near-ties (the blocks the criterion ranks least
/// important), keep the first swap that lowers the NLL, and repeat until no swap helps or the budget is spent.
///
/// Per-block scores are measured on the unpruned model, so they cannot see how removals interact; among
/// blocks whose scores are nearly tied, which ones go together decides the pruned model's quality. The pool
/// keeps the search to the blocks the criterion already considers removable.
///
/// The search stops at whichever comes first: `budget` evaluations, or evaluations whose work (`PassCost`)
/// would exceed `work` multiply-adds. The start set's evaluation runs from its first removed block on the
/// unpruned hidden states the scoring pass kept (`BlockScorer.unpruned`), and always runs.
public struct SetRefinement: Sendable {
    /// Pool size beyond the removal count: the `count + extra` least important blocks may be swapped in.
    public let extra: Int?
    /// Most calibration-NLL evaluations the search may spend.
    public let budget: Int
    /// Most multiply-adds the search may spend (see `PassCost`); nil for no limit but `budget`.
    public let work: Double?

    public init(extra: Int? = nil, budget: Int, work: Double? = nil) {
        self.extra = extra
        self.budget = budget
        self.work = work
    }

    public struct Result: Codable, Sendable {
        /// The criterion's own set, where the search started.
        public let start: [Int]
        public let removed: [Int]
        public let startNLL: Double
        public let calibrationNLL: Double
        public let evaluations: Int
        /// The search's work in streaming passes over the calibration tokens.
        public let passes: Double
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

    /// The evaluations the search can make: `budget`, or fewer where the work budget, at the mean cost per
    /// evaluation so far, runs out first (for progress and its ETA).
    func expectedEvaluations(_ done: Int, spent: Double) -> Int {
        guard let work, done > 0, spent > 0 else { return budget }
        let affordable = Double(done) * work / spent
        return max(done, min(budget, Int(affordable.rounded(.down))))
    }

    public func run(start: [Int], importance: [Double], scorer: BlockScorer, protected: Set<Int>,
                    space: RemovalSpace = .blocks, progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws -> Result {
        let count = start.count
        let byImportance = importance.indices.filter { !protected.contains($0) }.sorted { importance[$0] < importance[$1] }
        let pool = Set(byImportance.prefix(count + (extra ?? count))).union(start)
        let evaluator = try PrefixEvaluator(scorer: scorer, space: space)
        var current = Set(start)
        var currentNLL = try evaluator.evaluate(removing: current, from: evaluator.firstDifference(from: current))
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
                    if let work, evaluator.work + evaluator.cost(removing: candidate, from: min(out, into)) > work {
                        break improving
                    }
                    let nll = try evaluator.evaluate(removing: candidate, from: min(out, into))
                    evaluations += 1
                    progress?(evaluations, expectedEvaluations(evaluations, spent: evaluator.work))
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
                      evaluations: evaluations, passes: evaluator.work / evaluator.passCost.pass)
    }
}

/// Calibration NLL of pruned models that differ from an accepted one only from some block on: keeps the
/// hidden states entering every block under the accepted set, so an evaluation reruns only the blocks from
/// the first difference on. Indices are blocks whose `space.part` is removed. Before any set is accepted, the
/// accepted states are the unpruned model's when the scoring pass kept them (`BlockScorer.unpruned`).
final class PrefixEvaluator {
    let scorer: BlockScorer
    let space: RemovalSpace
    let passCost: PassCost
    /// Multiply-adds of every evaluation so far.
    private(set) var work = 0.0
    /// accepted[b]: the hidden states entering block b (after every kept block before it) under the accepted set.
    private var accepted: [[Float]] = []
    /// The same for the last set evaluated, from block `candidateStart` on.
    private var candidate: [[Float]] = []
    private var candidateStart = 0
    private let embedded: HiddenStates

    init(scorer: BlockScorer, space: RemovalSpace = .blocks) throws {
        self.scorer = scorer
        self.space = space
        passCost = PassCost(model: scorer.engine.model, calibration: scorer.calibration)
        embedded = try scorer.engine.embed(scorer.calibration.sequences)
        if let unpruned = scorer.unpruned.inputs, unpruned.count == scorer.engine.blockCount { accepted = unpruned }
    }

    /// The first block where `removed` (with `space.fixed`) differs from the accepted set: for the first
    /// evaluation, the unpruned model's when its states are kept, else block 0.
    func firstDifference(from removed: Set<Int>) -> Int {
        guard !accepted.isEmpty else { return 0 }
        let blocks = scorer.engine.blockCount
        return (0 ..< blocks).first { !space.skipped(by: $0, removing: removed).isEmpty } ?? blocks - 1
    }

    /// The work of `evaluate(removing:from:)`.
    func cost(removing removed: Set<Int>, from first: Int) -> Double {
        passCost.evaluation(from: accepted.isEmpty ? 0 : first) { space.skipped(by: $0, removing: removed) }
    }

    /// NLL with the `removed` blocks gone; the set must match the accepted one before block `first`.
    func evaluate(removing removed: Set<Int>, from first: Int) throws -> Double {
        work += cost(removing: removed, from: first)
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
