import Engine
import Foundation

/// A way of choosing which blocks to remove.
public enum Criterion: String, CaseIterable, Codable, Sendable {
    case simdiff, cosine, angular, mssd, masd, loo, greedy, shapley

    /// Criteria computed from the single streaming pass (the others rerun the model).
    public static let streaming: [Criterion] = [.simdiff, .cosine, .angular, .mssd, .masd]

    public var summary: String {
        switch self {
        case .simdiff: "SimDiff: similarity and transformation difference (MSSD, MASD) combined"
        case .cosine: "Block Influence, 1 − cos(x, y) (ShortGPT)"
        case .angular: "angular distance between x_l and x_(l+n), best contiguous run (Gromov et al.)"
        case .mssd: "mean squared difference ‖y−x‖²/‖x‖²"
        case .masd: "mean absolute difference ‖y−x‖₁/‖x‖₁"
        case .loo: "calibration NLL with each block left out"
        case .greedy: "greedy removal by calibration NLL, rescoring after each (SLEB)"
        case .shapley: "Shapley value of calibration NLL, Monte-Carlo permutation sampling"
        }
    }
}

/// Per-block importance under each criterion (higher = more important, removed last) and the removal set.
public struct BlockSelection: Codable, Sendable {
    public let criterion: Criterion
    /// One value per block; nil for `greedy` and `angular`, which choose sets rather than rank blocks.
    public let importance: [Double]?
    public let removed: [Int]
    /// How the criterion's own set was refined by calibration NLL, when it was.
    public let refinement: SetRefinement.Result?
    /// The standard error of each importance, for sampled criteria (Shapley).
    public let standardErrors: [Double?]?

    public init(criterion: Criterion, importance: [Double]?, removed: [Int], refinement: SetRefinement.Result? = nil,
                standardErrors: [Double?]? = nil) {
        self.criterion = criterion
        self.importance = importance
        self.removed = removed
        self.refinement = refinement
        self.standardErrors = standardErrors
    }

    public func withStandardErrors(_ errors: [Double?]?) -> BlockSelection {
        BlockSelection(criterion: criterion, importance: importance, removed: removed, refinement: refinement,
                       standardErrors: errors)
    }
}

/// SimDiff's combination of similarity and difference:
///
///     importance = rank(1 − cos) + λ · (rank(MSSD) + ε · rank(MASD)),  scaled to [0, 1]
///
/// Ranks across blocks, because raw difference magnitudes grow steeply with depth and a few blocks carry
/// outlier differences thousands of times the median: any blend of raw values is swamped by them. MSSD,
/// being squared, singles out blocks that make decisive corrections for a few tokens, which similarity
/// alone misses (on Gemma 3 270M it is what keeps cosine from removing the last two blocks together).
/// MASD only breaks ties (ε = 0.1): as a full term it made every comparison worse (see README).
public struct SimDiff: Sendable {
    public static let defaultLambda = 1.0
    /// Weight of MASD relative to MSSD: enough to order blocks the other two ranks tie, no more.
    public static let absoluteShare = 0.1
    public let lambda: Double

    public init(lambda: Double = defaultLambda) { self.lambda = lambda }

    public func importance(_ blocks: [BlockMeasurement]) -> [Double] {
        let similarity = Self.ranks(blocks.map(\.blockInfluence))
        let squared = Self.ranks(blocks.map(\.mssd)), absolute = Self.ranks(blocks.map(\.masd))
        let scale = max(1, Double(blocks.count - 1)) * (1 + lambda * (1 + Self.absoluteShare))
        return blocks.indices.map { (similarity[$0] + lambda * (squared[$0] + Self.absoluteShare * absolute[$0])) / scale }
    }

    /// 0 for the smallest value … n−1 for the largest; ties share their mean rank.
    public static func ranks(_ values: [Double]) -> [Double] {
        let order = values.indices.sorted { values[$0] < values[$1] }
        var ranks = [Double](repeating: 0, count: values.count)
        var start = 0
        while start < order.count {
            var end = start
            while end + 1 < order.count, values[order[end + 1]] == values[order[start]] { end += 1 }
            for position in start ... end { ranks[order[position]] = Double(start + end) / 2 }
            start = end + 1
        }
        return ranks
    }
}

/// Turns scores into removal sets.
public struct BlockSelector: Sendable {
    public let count: Int
    public let protected: Set<Int>
    public let simDiff: SimDiff

    public init(count: Int, protected: Set<Int>, simDiff: SimDiff = SimDiff()) {
        self.count = count
        self.protected = protected
        self.simDiff = simDiff
    }

    public func select(_ criterion: Criterion, scores: CalibrationScores) -> BlockSelection? {
        switch criterion {
        case .simdiff: return lowest(criterion, simDiff.importance(scores.blocks))
        case .cosine: return lowest(criterion, scores.blocks.map(\.blockInfluence))
        case .mssd: return lowest(criterion, scores.blocks.map(\.mssd))
        case .masd: return lowest(criterion, scores.blocks.map(\.masd))
        case .loo:
            guard let nll = scores.leaveOneOutNLL else { return nil }
            return lowest(criterion, nll.map { $0 - scores.baselineNLL })
        case .angular:
            guard scores.runLength == count else { return nil }
            let starts = scores.runAngular.indices.filter { start in !(start ..< start + count).contains { protected.contains($0) } }
            guard let best = starts.min(by: { scores.runAngular[$0] < scores.runAngular[$1] }) else { return nil }
            return BlockSelection(criterion: criterion, importance: nil, removed: Array(best ..< best + count))
        case .greedy, .shapley:
            return nil
        }
    }

    /// The `count` unprotected pieces of lowest importance.
    public func lowest(_ criterion: Criterion, _ importance: [Double]) -> BlockSelection {
        let candidates = importance.indices.filter { !protected.contains($0) }.sorted { importance[$0] < importance[$1] }
        return BlockSelection(criterion: criterion, importance: importance, removed: Array(candidates.prefix(count)).sorted())
    }
}

extension BlockScorer {
    /// Each piece's importance under a criterion that ranks pieces (higher = more important, removed last):
    /// the streaming metrics of `space`'s measurements, or the NLL rise of leaving each candidate out (`loo`)
    /// or its Shapley value (`shapley`), both on top of `space.fixed`. Pieces outside `candidates` get +∞ where
    /// the criterion measures candidates only. Nil for criteria that choose sets (`angular`, `greedy`).
    public func importance(_ criterion: Criterion, scores: CalibrationScores, space: RemovalSpace, candidates: [Int],
                           simDiff: SimDiff, shapley: ShapleyEstimate,
                           progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws -> Importance? {
        let measured = scores.measurements(of: space)
        func perCandidate(_ values: [Int: Double]) -> [Double] {
            (0 ..< engine.blockCount).map { values[$0] ?? .infinity }
        }
        switch criterion {
        case .simdiff: return Importance(values: simDiff.importance(measured))
        case .cosine: return Importance(values: measured.map(\.blockInfluence))
        case .mssd: return Importance(values: measured.map(\.mssd))
        case .masd: return Importance(values: measured.map(\.masd))
        case .angular, .greedy: return nil
        case .loo:
            if space.part == RemovalSpace.blocks.part, space.fixed.isEmpty, let nll = scores.leaveOneOutNLL {
                return Importance(values: nll.map { $0 - scores.baselineNLL })
            }
            return Importance(values: perCandidate(try leaveOneOut(candidates, space: space, progress: progress)))
        case .shapley:
            let result = try shapley.run(candidates: candidates, scorer: self, space: space, progress: progress)
            let values = Dictionary(uniqueKeysWithValues: candidates.compactMap { block in result.values[block].map { (block, $0) } })
            return Importance(values: perCandidate(values), standardErrors: result.standardErrors,
                              evaluations: result.evaluations)
        }
    }
}

/// A criterion's importance of every piece, with the standard error of each estimate where it is sampled.
public struct Importance: Codable, Sendable {
    public let values: [Double]
    public let standardErrors: [Double?]?
    /// NLL evaluations spent, for criteria that rerun the model.
    public let evaluations: Int?

    public init(values: [Double], standardErrors: [Double?]? = nil, evaluations: Int? = nil) {
        (self.values, self.standardErrors, self.evaluations) = (values, standardErrors, evaluations)
    }
}
