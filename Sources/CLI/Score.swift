import ArgumentParser
import Foundation
import Graph
import Scoring

struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score every block's importance on calibration text (SimDiff and baselines).",
        discussion: """
        Criteria: \(Criterion.allCases.map { "\($0.rawValue) (\($0.summary))" }.joined(separator: "; ")). \
        'all' means the criteria of the single streaming pass; loo, greedy and shapley rerun the model and are opt-in. \
        With --ratio or --count, each ranking criterion's set is refined by the pruned model's calibration NLL \
        (--refine; 0 shows each criterion's own set), with at most --refine-budget streaming passes of work or \
        \(ScoringOptions.refineFloorDescription), whichever is more.
        """)

    @Argument(help: "The model: a GGUF file (for a split model, its first shard), a Hugging Face folder or an ONNX model (a .onnx file or a folder with one).")
    var model: String

    @OptionGroup var scoring: ScoringOptions
    @OptionGroup var amount: RemovalAmount

    @Option(help: "Comma-separated criteria, or all (simdiff,cosine,angular,mssd,masd); add loo, greedy or shapley explicitly.")
    var criterion = "all"

    @Option(help: "Score whole blocks, or each block's attention and feed-forward sub-layers (block, sublayer).")
    var granularity: Granularity = .block

    @Option(help: "Write a plot of the scores to this SVG file.")
    var plot: String?

    @Flag(help: "Print JSON for machines.")
    var json = false

    @OptionGroup var progressOptions: ProgressOptions
    @OptionGroup var threadOptions: ThreadOptions

    func validate() throws { _ = try CriterionList(criterion) }

    func run() throws {
        progressOptions.apply()
        threadOptions.apply()
        let criteria = try CriterionList(criterion).criteria
        let loaded = try ModelFiles.read(model)
        if granularity == .sublayer { return try scoreSubLayers(loaded, criteria: criteria) }
        let run = try ScoringRun(model: loaded, path: model, options: scoring, amount: amount, criteria: criteria)
        let report = ScoreReport(model: model, run: run)
        if let plot { try ScorePlot(report: report).write(to: plot) }
        print(json ? try Format.json(report) : report.text)
    }
}

extension Score {
    enum Granularity: String, ExpressibleByArgument { case block, sublayer }

    /// Sub-layer scores; `--ratio`/`--count` then counts sub-layers of each kind.
    func scoreSubLayers(_ loaded: Model, criteria: [Criterion]) throws {
        let run = try ScoringRun(model: loaded, path: model, options: scoring, amount: nil, criteria: [])
        let count = amount.given
            ? try amount.blocks(of: loaded.blocks.count, protected: run.protected.union([0]), file: model) : nil
        let report = try SubLayerScoreReport(model: model, run: run, criteria: criteria, count: count)
        if let plot { try ScorePlot(report: report).write(to: plot) }
        print(json ? try Format.json(report) : report.text)
    }
}

/// `--criterion` as a list.
struct CriterionList {
    let criteria: [Criterion]

    init(_ text: String) throws {
        var criteria: [Criterion] = []
        for name in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) {
            if name == "all" {
                criteria += Criterion.streaming
            } else if let criterion = Criterion(rawValue: name) {
                criteria.append(criterion)
            } else {
                throw ValidationError("unknown criterion '\(name)' (choose from all, \(Criterion.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
        }
        self.criteria = criteria.reduce(into: []) { if !$0.contains($1) { $0.append($1) } }
    }
}

/// One scoring of a model: calibration, measurements, and each criterion's removal set.
struct ScoringRun {
    let calibration: Calibration
    let scorer: BlockScorer
    let scores: CalibrationScores
    private(set) var selections: [BlockSelection]
    let removeCount: Int?
    let protected: Set<Int>
    let lambda: Double
    let options: ScoringOptions
    let path: String

    init(model: Model, path: String, options: ScoringOptions, amount: RemovalAmount?, criteria: [Criterion]) throws {
        let (engine, tokenizer) = try ModelFiles.engine(for: model, path: path)
        let blockCount = engine.blockCount
        let protected = try options.protectedBlocks(blockCount: blockCount, file: path)
        let removeCount = amount?.given == true ? try amount?.blocks(of: blockCount, protected: protected, file: path) : nil
        let keepingInputs = removeCount.map { options.refineEvaluations(removing: $0) > 0 } ?? false
        let scorer: BlockScorer, scores: CalibrationScores
        if options.calib.isEmpty && !criteria.contains(.loo) {
            (scorer, scores) = try options.selfCalibratedScores(engine: engine, tokenizer: tokenizer, model: path,
                                                                runLength: removeCount ?? 1, keepingInputs: keepingInputs)
        } else {
            scorer = BlockScorer(engine: engine, calibration: try options.calibration(engine: engine, tokenizer: tokenizer, model: path))
            let progress = ProgressLine(label: "scoring \(scorer.calibration.tokenCount) calibration tokens", counting: .steps)
            scores = try ModelFiles.naming(path) {
                try scorer.measure(runLength: removeCount ?? 1, leaveOneOut: criteria.contains(.loo), keepingInputs: keepingInputs) {
                    progress.update(done: $0, total: $1)
                }
            }
            progress.finish()
        }
        let calibration = scorer.calibration
        var lambda = options.fixedLambda ?? SimDiff.defaultLambda
        if options.fixedLambda == nil, let removeCount, criteria.contains(.simdiff) {
            let search = try ModelFiles.naming(path) {
                try LambdaSearch().run(scores: scores, scorer: scorer, count: removeCount, protected: protected)
            }
            lambda = search.lambda
            FileHandle.standardError.write(Data(String(
                format: "λ search: λ = %.3f (calibration NLL %.4f, %d removal sets measured)\n",
                search.lambda, search.calibrationNLL, search.evaluations).utf8))
        }
        (self.calibration, self.scorer, self.scores, self.selections) = (calibration, scorer, scores, [])
        (self.removeCount, self.protected, self.lambda, self.options, self.path) = (removeCount, protected, lambda, options, path)
        // Removal sets only mean something for a given count.
        guard let removeCount else { return }
        selections = try criteria.compactMap { try choose(count: removeCount, by: $0, space: .blocks, protected: protected) }
    }

    /// The `count` pieces of `space` that `criterion` removes, among those not `protected`, refined by
    /// calibration NLL where the criterion ranks pieces; nil when angular finds no unprotected run.
    func choose(count: Int, by criterion: Criterion, space: RemovalSpace, protected: Set<Int>) throws -> BlockSelection? {
        let selector = BlockSelector(count: count, protected: protected, simDiff: SimDiff(lambda: lambda))
        let candidates = (0 ..< scorer.engine.blockCount).filter { !protected.contains($0) }
        let label = space.part == RemovalSpace.blocks.part ? "" : " (\(space.name) sub-layers)"
        if criterion == .greedy {
            guard space.part == RemovalSpace.blocks.part else {
                throw UsageError(file: path, problem: "criterion greedy chooses blocks only; use simdiff, cosine, mssd, masd, loo or shapley for sub-layers")
            }
            let progress = ProgressLine(label: "greedy removal", counting: .steps)
            defer { progress.finish() }
            let order = try ModelFiles.naming(path) {
                try scorer.greedyRemoval(count: count, protected: protected) { progress.update(done: $0, total: $1) }
            }
            return BlockSelection(criterion: .greedy, importance: nil, removed: order.sorted())
        }
        if criterion == .angular {
            guard space.part == RemovalSpace.blocks.part else {
                throw UsageError(file: path, problem: "criterion angular chooses a run of whole blocks; use simdiff, cosine, mssd, masd, loo or shapley for sub-layers")
            }
            return selector.select(.angular, scores: scores)
        }
        let shapley = ShapleyEstimate(permutations: options.shapleyPermutations,
                                      depth: min(candidates.count, options.shapleyDepth ?? count))
        let scoring = ProgressLine(label: "\(criterion.rawValue) importance\(label)", counting: .steps)
        let importance = try ModelFiles.naming(path) {
            try scorer.importance(criterion, scores: scores, space: space, candidates: candidates,
                                  simDiff: SimDiff(lambda: lambda), shapley: shapley) { scoring.update(done: $0, total: $1) }
        }!
        scoring.finish()
        var selection = selector.lowest(criterion, importance.values).withStandardErrors(importance.standardErrors)
        let refinement = SetRefinement(budget: options.refineEvaluations(removing: count),
                                       work: options.refineWork(pass: PassCost(model: scorer.engine.model, calibration: calibration).pass))
        if refinement.budget > 0 {
            let progress = ProgressLine(label: "refining the \(criterion.rawValue) set\(label) by calibration NLL", counting: .steps)
            selection = try ModelFiles.naming(path) {
                try refinement.refine(selection, scorer: scorer, protected: protected, space: space) { progress.update(done: $0, total: $1) }
            }
            progress.finish()
        }
        return selection
    }
}

struct ScoreReport: Encodable {
    let model: String
    let calibration: String
    let calibrationTokens: Int
    let lambda: Double
    let baselineNLL: Double
    let blocks: [BlockMeasurement]
    let simdiff: [Double]
    let leaveOneOutNLL: [Double]?
    let removeCount: Int?
    let protected: [Int]
    private(set) var selections: [BlockSelection]

    init(model: String, run: ScoringRun) {
        self.model = model
        calibration = run.calibration.source
        calibrationTokens = run.calibration.tokenCount
        lambda = run.lambda
        baselineNLL = run.scores.baselineNLL
        blocks = run.scores.blocks
        simdiff = SimDiff(lambda: run.lambda).importance(run.scores.blocks)
        leaveOneOutNLL = run.scores.leaveOneOutNLL
        removeCount = run.removeCount
        protected = run.protected.sorted()
        selections = run.selections
    }

    var text: String {
        func fixed(_ value: Double, _ digits: Int = 4) -> String { String(format: "%.\(digits)f", value) }
        /// 1 = least important, as a user reads a removal order.
        func rank(_ values: [Double]) -> [Int] { SimDiff.ranks(values).map { Int($0) + 1 } }
        let influenceRank = rank(blocks.map(\.blockInfluence)), simdiffRank = rank(simdiff)
        var header = "block   cos      BI(rank)       angular  mssd        masd      simdiff(rank)"
        if leaveOneOutNLL != nil { header += "   loo ΔNLL" }
        var lines = ["\(model): \(blocks.count) blocks scored on \(calibrationTokens) tokens (\(calibration)); "
            + "calibration NLL \(fixed(baselineNLL)); higher = more important", "", header]
        for (index, block) in blocks.enumerated() {
            var line = String(index).padding(toLength: 8, withPad: " ", startingAt: 0)
                + fixed(block.cosine).padding(toLength: 9, withPad: " ", startingAt: 0)
                + "\(fixed(block.blockInfluence)) (\(influenceRank[index]))".padding(toLength: 15, withPad: " ", startingAt: 0)
                + fixed(block.angular).padding(toLength: 9, withPad: " ", startingAt: 0)
                + String(format: "%-12.4g", block.mssd)
                + String(format: "%-10.4g", block.masd)
                + "\(fixed(simdiff[index], 3)) (\(simdiffRank[index]))"
            if let loo = leaveOneOutNLL { line = line.padding(toLength: 86, withPad: " ", startingAt: 0) + fixed(loo[index] - baselineNLL) }
            lines.append(line)
        }
        if let removeCount {
            lines.append("")
            lines.append("removing \(removeCount) of \(blocks.count) blocks" + (protected.isEmpty ? "" : " (protected: \(protected.map(String.init).joined(separator: ",")))"))
            for selection in selections {
                var line = "  " + selection.criterion.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)
                    + selection.removed.map(String.init).joined(separator: ",")
                if let refinement = selection.refinement { line += "  (\(refinement.summary))" }
                if let errors = selection.standardErrors, let values = selection.importance {
                    line += "\n           ΔNLL ± s.e.: " + selection.removed.map { block in
                        String(format: "%d: %.4f ± %.4f", block, values[block], errors[block] ?? .nan)
                    }.joined(separator: ", ")
                }
                lines.append(line)
            }
        } else {
            lines.append("")
            lines.append("(give --ratio or --count to see the blocks each criterion removes)")
        }
        return lines.joined(separator: "\n")
    }
}

extension Criterion: ExpressibleByArgument {}

extension SetRefinement.Result {
    /// Where the refinement started and what it gained, for reports.
    var summary: String {
        let origin = start == removed ? "the criterion's own set kept" : "refined from \(start.map(String.init).joined(separator: ","))"
        return String(format: "%@; calibration NLL %.4f -> %.4f, %d evaluations, %.1f passes", origin, startNLL, calibrationNLL,
                      evaluations, passes)
    }
}
