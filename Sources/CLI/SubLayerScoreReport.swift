import Foundation
import Scoring

/// `score --granularity sublayer`: each block's attention and feed-forward branches measured like blocks,
/// and with a count, the sub-layers each criterion would remove.
struct SubLayerScoreReport: Encodable {
    struct Selection: Encodable {
        let criterion: String
        let attention: [Int]
        let feedForward: [Int]
    }

    let model: String
    let calibration: String
    let calibrationTokens: Int
    let baselineNLL: Double
    let attention: [BlockMeasurement]
    let feedForward: [BlockMeasurement]
    let attentionSimdiff: [Double]
    let feedForwardSimdiff: [Double]
    let removeCount: Int?
    let selections: [Selection]

    /// Chooses each criterion's sets when `count` is given (angular and greedy, which choose whole blocks, are left out).
    init(model: String, run: ScoringRun, criteria: [Criterion], count: Int?) throws {
        self.model = model
        calibration = run.calibration.source
        calibrationTokens = run.calibration.tokenCount
        baselineNLL = run.scores.baselineNLL
        attention = run.scores.attention
        feedForward = run.scores.feedForward
        let simDiff = SimDiff(lambda: run.lambda)
        attentionSimdiff = simDiff.importance(attention)
        feedForwardSimdiff = simDiff.importance(feedForward)
        removeCount = count
        guard let count else {
            selections = []
            return
        }
        // llama.cpp takes the head size from layer 0, so its attention stays.
        selections = try criteria.filter { $0 != .angular && $0 != .greedy }.map { criterion in
            let attention = try run.choose(count: count, by: criterion, space: RemovalSpace(part: .attention),
                                           protected: run.protected.union([0]))
            let feedForward = try run.choose(count: count, by: criterion, space: RemovalSpace(part: .feedForward),
                                             protected: run.protected)
            return Selection(criterion: criterion.rawValue, attention: attention?.removed ?? [],
                             feedForward: feedForward?.removed ?? [])
        }
    }

    var text: String {
        func row(_ measured: BlockMeasurement, _ simdiff: Double) -> String {
            String(format: "%-8.4f%-10.4g%-10.4g%-9.3f", measured.blockInfluence, measured.mssd, measured.masd, simdiff)
        }
        var lines = ["\(model): \(attention.count) blocks' sub-layers scored on \(calibrationTokens) tokens (\(calibration)); "
            + String(format: "calibration NLL %.4f; higher = more important", baselineNLL), "",
            "        attention                             feed-forward",
            "block   BI      mssd      masd      simdiff  BI      mssd      masd      simdiff"]
        for block in attention.indices {
            lines.append(String(block).padding(toLength: 8, withPad: " ", startingAt: 0)
                + row(attention[block], attentionSimdiff[block]) + row(feedForward[block], feedForwardSimdiff[block]))
        }
        lines.append("")
        guard let removeCount else {
            lines.append("(give --ratio or --count to see the sub-layers each criterion removes)")
            return lines.joined(separator: "\n")
        }
        lines.append("removing \(removeCount) attention and \(removeCount) feed-forward sub-layers (each kind on its own)")
        for selection in selections {
            lines.append("  " + selection.criterion.padding(toLength: 9, withPad: " ", startingAt: 0)
                + "attention " + selection.attention.map(String.init).joined(separator: ",")
                + "   ffn " + selection.feedForward.map(String.init).joined(separator: ","))
        }
        return lines.joined(separator: "\n")
    }
}
