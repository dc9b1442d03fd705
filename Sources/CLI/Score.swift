import ArgumentParser
import Foundation
import Graph
import Scoring

struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score every block's importance on calibration text (SimDiff and baselines).",
        discussion: """
        Criteria: \(Criterion.allCases.map { "\($0.rawValue) (\($0.summary))" }.joined(separator: "; ")). \
        'all' means the criteria of the single streaming pass; loo and greedy rerun the model and are opt-in. \
        With --ratio or --count, each ranking criterion's set is refined by the pruned model's calibration NLL \
        (--refine; 0 shows each criterion's own set, and is much faster).
        """)

    @Argument(help: "The model (GGUF; for a split model, its first shard).")
    var model: String

    @OptionGroup var scoring: ScoringOptions
    @OptionGroup var amount: RemovalAmount

    @Option(help: "Comma-separated criteria, or all (simdiff,cosine,angular,mssd,masd); add loo or greedy explicitly.")
    var criterion = "all"

    @Option(help: "Write a plot of the scores to this SVG file.")
    var plot: String?

    @Flag(help: "Print JSON for machines.")
    var json = false

    func validate() throws { _ = try CriterionList(criterion) }

    func run() throws {
        let criteria = try CriterionList(criterion).criteria
        let loaded = try ModelFiles.read(model)
        let run = try ScoringRun(model: loaded, path: model, options: scoring, amount: amount, criteria: criteria)
        let report = ScoreReport(model: model, run: run)
        if let plot { try ScorePlot(report: report).write(to: plot) }
        print(json ? Format.json(report) : report.text)
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
    let scores: CalibrationScores
    let selections: [BlockSelection]
    let removeCount: Int?
    let protected: Set<Int>
    let lambda: Double

    init(model: Model, path: String, options: ScoringOptions, amount: RemovalAmount, criteria: [Criterion]) throws {
        let (engine, tokenizer) = try ModelFiles.engine(for: model, path: path)
        let blockCount = engine.blockCount
        let protected = try options.protectedBlocks(blockCount: blockCount, file: path)
        let removeCount = amount.given ? try amount.blocks(of: blockCount, protected: protected, file: path) : nil
        let calibration = try options.calibration(engine: engine, tokenizer: tokenizer, model: path)
        let scorer = BlockScorer(engine: engine, calibration: calibration)
        let progress = ProgressLine(label: "scoring \(calibration.tokenCount) calibration tokens", counting: .steps)
        let scores = try ModelFiles.naming(path) {
            try scorer.measure(runLength: removeCount ?? 1, leaveOneOut: criteria.contains(.loo)) {
                progress.update(done: $0, total: $1)
            }
        }
        progress.finish()
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
        let selector = BlockSelector(count: removeCount ?? 1, protected: protected, simDiff: SimDiff(lambda: lambda))
        var selections: [BlockSelection] = []
        // Removal sets only mean something for a given count.
        for criterion in criteria {
            guard let removeCount else { break }
            if criterion == .greedy {
                let greedyProgress = ProgressLine(label: "greedy removal", counting: .steps)
                let order = try ModelFiles.naming(path) {
                    try scorer.greedyRemoval(count: removeCount, protected: protected) { greedyProgress.update(done: $0, total: $1) }
                }
                greedyProgress.finish()
                selections.append(BlockSelection(criterion: .greedy, importance: nil, removed: order.sorted()))
            } else if var selection = selector.select(criterion, scores: scores) {
                let refinement = SetRefinement(budget: options.refineBudget(removing: removeCount))
                if refinement.budget > 0 && selection.importance != nil {
                    let refineProgress = ProgressLine(label: "refining the \(criterion.rawValue) set by calibration NLL", counting: .steps)
                    selection = try ModelFiles.naming(path) {
                        try refinement.refine(selection, scorer: scorer, protected: protected) { refineProgress.update(done: $0, total: $1) }
                    }
                    refineProgress.finish()
                }
                selections.append(selection)
            }
        }
        (self.calibration, self.scores, self.selections) = (calibration, scores, selections)
        (self.removeCount, self.protected, self.lambda) = (removeCount, protected, lambda)
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
    let selections: [BlockSelection]

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
        return String(format: "%@; calibration NLL %.4f -> %.4f, %d evaluations", origin, startNLL, calibrationNLL, evaluations)
    }
}
