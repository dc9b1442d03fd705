import Engine
/// `--lambda search`: a ternary search over SimDiff's λ for the removal set whose pruned model has the lowest
/// calibration NLL. Sets are piecewise constant in λ, so each distinct set is measured once and the best
/// point seen anywhere in the search wins.
public struct LambdaSearch: Sendable {
    public let range: ClosedRange<Double>
    public let iterations: Int

    public init(range: ClosedRange<Double> = 0 ... 4, iterations: Int = 6) {
        self.range = range
        self.iterations = iterations
    }

    public struct Result: Sendable {
        public let lambda: Double
        public let removed: [Int]
        public let calibrationNLL: Double
        /// Distinct removal sets measured.
        public let evaluations: Int
    }

    public func run(scores: CalibrationScores, scorer: BlockScorer, count: Int, protected: Set<Int>) throws -> Result {
        var measured: [[Int]: Double] = [:]
        var best: Result?
        func loss(_ lambda: Double) throws -> Double {
            let selector = BlockSelector(count: count, protected: protected, simDiff: SimDiff(lambda: lambda))
            let removed = selector.select(.simdiff, scores: scores)!.removed
            let gone = Set(removed)
            let nll = try measured[removed] ?? scorer.negativeLogLikelihood(keeping: (0 ..< scorer.engine.blockCount).filter { !gone.contains($0) })
            measured[removed] = nll
            if best == nil || nll < best!.calibrationNLL {
                best = Result(lambda: lambda, removed: removed, calibrationNLL: nll, evaluations: 0)
            }
            return nll
        }
        var (low, high) = (range.lowerBound, range.upperBound)
        _ = try loss(SimDiff.defaultLambda)
        for _ in 0 ..< iterations {
            let (a, b) = (low + (high - low) / 3, high - (high - low) / 3)
            if try loss(a) <= loss(b) { high = b } else { low = a }
        }
        return Result(lambda: best!.lambda, removed: best!.removed, calibrationNLL: best!.calibrationNLL,
                      evaluations: measured.count)
    }
}
