import Foundation
import Scoring

/// An SVG chart of per-block scores, each scaled to its own range (MSSD on a log scale, as a few blocks
/// dwarf the rest), with the blocks each criterion removes marked below the plot.
struct ScorePlot {
    typealias Series = (name: String, color: String, values: [Double])
    let model: String
    let subject: String
    let series: [Series]
    /// One row of marks per criterion: its label and the blocks it removes.
    let marks: [(label: String, blocks: [Int])]

    init(report: ScoreReport) {
        model = report.model
        subject = "block scores"
        var series: [Series] = [
            ("1 − cos (BI)", "#1f77b4", report.blocks.map(\.blockInfluence)),
            ("log MSSD", "#d62728", report.blocks.map { log10(max($0.mssd, 1e-12)) }),
            ("MASD", "#ff7f0e", report.blocks.map(\.masd)),
            ("SimDiff", "#2ca02c", report.simdiff),
        ]
        if let loo = report.leaveOneOutNLL { series.append(("loo ΔNLL", "#9467bd", loo.map { $0 - report.baselineNLL })) }
        self.series = series
        marks = report.selections.map { ($0.criterion.rawValue, $0.removed) }
    }

    init(report: SubLayerScoreReport) {
        model = report.model
        subject = "sub-layer scores"
        series = [
            ("attention BI", "#1f77b4", report.attention.map(\.blockInfluence)),
            ("attention SimDiff", "#2ca02c", report.attentionSimdiff),
            ("FFN BI", "#ff7f0e", report.feedForward.map(\.blockInfluence)),
            ("FFN SimDiff", "#d62728", report.feedForwardSimdiff),
        ]
        marks = report.selections.flatMap { [("attn " + $0.criterion, $0.attention), ("ffn " + $0.criterion, $0.feedForward)] }
    }

    private let width = 820.0, plotHeight = 280.0
    private let left = 60.0, right = 170.0, top = 30.0

    /// Room below the plot for the axis and one row of marks per criterion.
    private var height: Double { top + plotHeight + 56 + Double(marks.count) * 14 }

    func write(to path: String) throws {
        do {
            try Data(svg.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw UsageError(file: path, problem: "cannot write the plot: \(error.localizedDescription)")
        }
    }

    private var svg: String {
        let n = series.first?.values.count ?? 0
        let plotWidth = width - left - right
        func x(_ block: Int) -> Double { left + (n > 1 ? Double(block) / Double(n - 1) : 0.5) * plotWidth }
        var parts = [
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">",
            "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>",
            "<text x=\"\(left)\" y=\"18\" font-size=\"13\">\(escape(URL(fileURLWithPath: model).lastPathComponent)): \(subject), each scaled to its range (higher = more important)</text>",
            "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(plotWidth)\" height=\"\(plotHeight)\" fill=\"none\" stroke=\"#888\"/>",
        ]
        for block in 0 ..< n where n <= 40 || block % 5 == 0 {
            parts.append("<text x=\"\(x(block))\" y=\"\(top + plotHeight + 14)\" text-anchor=\"middle\" font-size=\"10\">\(block)</text>")
        }
        parts.append("<text x=\"\(left + plotWidth / 2)\" y=\"\(top + plotHeight + 30)\" text-anchor=\"middle\">block</text>")
        for (index, line) in series.enumerated() {
            let low = line.values.min() ?? 0, high = line.values.max() ?? 1
            let span = high > low ? high - low : 1
            let points = line.values.enumerated().map { block, value in
                String(format: "%.1f,%.1f", x(block), top + plotHeight - (value - low) / span * plotHeight)
            }.joined(separator: " ")
            parts.append("<polyline points=\"\(points)\" fill=\"none\" stroke=\"\(line.color)\" stroke-width=\"2\"/>")
            let legendY = top + 14 + Double(index) * 18
            parts.append("<line x1=\"\(width - right + 12)\" y1=\"\(legendY - 4)\" x2=\"\(width - right + 32)\" y2=\"\(legendY - 4)\" stroke=\"\(line.color)\" stroke-width=\"2\"/>")
            parts.append("<text x=\"\(width - right + 38)\" y=\"\(legendY)\">\(escape(line.name))</text>")
        }
        for (row, mark) in marks.enumerated() {
            let y = top + plotHeight + 48 + Double(row) * 14
            parts.append("<text x=\"\(left - 6)\" y=\"\(y + 4)\" text-anchor=\"end\" font-size=\"10\">\(escape(mark.label))</text>")
            for block in mark.blocks {
                parts.append("<circle cx=\"\(x(block))\" cy=\"\(y)\" r=\"4\" fill=\"#c00\"/>")
            }
        }
        parts.append("</svg>")
        return parts.joined(separator: "\n")
    }

    private func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
    }
}
