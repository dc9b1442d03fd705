import Engine
import Graph

/// The work of calibration-NLL evaluations, counted as the multiply-adds of the weight matrices they run
/// (attention and feed-forward separately, and the output head on the scored rows), so a refinement budget
/// can be stated in streaming passes: machine-independent, and the same on every run.
public struct PassCost: Sendable {
    /// Matrix elements of each block's attention and feed-forward tensors.
    let attention: [Double], feedForward: [Double]
    let head: Double
    /// Rows of one sequence, and the rows of it whose NLL is scored (`BlockScorer.negativeLogLikelihood`).
    let sequenceLength: Int, scoredRows: Int
    let sequenceCount: Int

    public init(model: Model, calibration: Calibration) {
        func matrices(_ block: Block, prefix: String) -> Double {
            Double(block.tensors.filter { $0.name.hasPrefix(prefix) && $0.shape.count > 1 }.reduce(0) { $0 + $1.elementCount })
        }
        attention = model.blocks.map { matrices($0, prefix: "attn_") }
        feedForward = model.blocks.map { matrices($0, prefix: "ffn_") }
        let head = model.globalTensors.first { $0.name == "output.weight" }
            ?? model.globalTensors.first { $0.name == "token_embd.weight" }
        self.head = Double(head?.elementCount ?? 0)
        sequenceLength = calibration.sequences.first?.count ?? 0
        scoredRows = max(0, sequenceLength - 1 - sequenceLength / 2)
        sequenceCount = calibration.sequences.count
    }

    /// Multiply-adds of running blocks `first...` with `skipped(block)` left out, then the head.
    func evaluation(from first: Int, skipped: (Int) -> SubLayers) -> Double {
        var perRow = 0.0
        for block in first ..< attention.count {
            let left = skipped(block)
            if !left.contains(.attention) { perRow += attention[block] }
            if !left.contains(.feedForward) { perRow += feedForward[block] }
        }
        return Double(sequenceCount) * (perRow * Double(sequenceLength) + head * Double(scoredRows))
    }

    /// One streaming pass: every block on every token, then the head.
    public var pass: Double { evaluation(from: 0) { _ in [] } }
}
