import Engine
import Foundation
import Graph

extension Eval {
    /// Every model on the same text, tasks and speed test; one row each, the first model as the reference.
    func runComparison(items: [MultipleChoiceItem]?) throws {
        let loaded = try models.map { path in (path, try ModelFiles.read(path)) }
        let engines = try loaded.map { path, model in (path, model, try ModelFiles.engine(for: model, path: path)) }
        let referenceVocabulary = try engines[0].2.0.vocabularySize()
        for (path, _, (engine, _)) in engines.dropFirst() where try engine.vocabularySize() != referenceVocabulary {
            throw UsageError(file: path, problem: "has \(try engine.vocabularySize()) logits per token, the reference "
                             + "\(Self.name(models[0])) \(referenceVocabulary): compared models share a tokenizer")
        }
        var rows = engines.map { path, model, _ in ComparisonRow(path: path, model: model) }
        if let text {
            let tokenizer = engines[0].2.1
            let tokens = try textTokens(text, tokenizer: tokenizer)
            let results = try measure("comparing on \(Self.name(text))", file: models[0]) { progress in
                try TextComparison(windowing: PerplexityEvaluation(context: ctx, maxWindows: chunks))
                    .run(engines: engines.map(\.2.0), tokens: tokens, bos: tokenizer.addsBOS ? tokenizer.bosID : nil,
                         progress: progress)
            }
            for index in rows.indices { rows[index].text = results[index] }
        }
        for (index, (path, _, (engine, tokenizer))) in engines.enumerated() {
            if let items {
                rows[index].tasks = try measure("tasks \(Self.name(path))", file: path) { progress in
                    try MultipleChoiceEvaluation().run(engine: engine, tokenizer: tokenizer, items: items, progress: progress)
                }
            }
            if speed { rows[index].speed = try measureSpeed(engine: engine, tokenizer: tokenizer, model: path) }
        }
        let report = ComparisonReport(textFile: text, context: ctx, tasksFile: tasks, rows: rows)
        print(json ? try Format.json(report) : report.table)
    }
}

struct ComparisonRow: Encodable {
    let model: String
    let blocks: Int
    let parameters: Int
    let fileBytes: Int
    var text: TextComparison.Row?
    var tasks: MultipleChoiceEvaluation.Result?
    var speed: SpeedMeasurement.Result?

    init(path: String, model: Model) {
        self.model = path
        blocks = model.blocks.count
        parameters = model.parameterCount
        fileBytes = model.origin.files.reduce(0) { $0 + $1.size }
    }

    enum CodingKeys: String, CodingKey { case model, blocks, parameters, fileBytes, text, tasks, speed }

    /// The JSON leaves out per-item scores: a table row is a summary.
    func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(model, forKey: .model)
        try container.encode(blocks, forKey: .blocks)
        try container.encode(parameters, forKey: .parameters)
        try container.encode(fileBytes, forKey: .fileBytes)
        try container.encodeIfPresent(text, forKey: .text)
        try container.encodeIfPresent(tasks.map(TaskSummary.init), forKey: .tasks)
        try container.encodeIfPresent(speed, forKey: .speed)
    }

    struct TaskSummary: Encodable {
        let items: Int
        let acc, accNorm, accPerToken: MultipleChoiceEvaluation.Accuracy
        init(_ result: MultipleChoiceEvaluation.Result) {
            (items, acc, accNorm, accPerToken) = (result.items, result.acc, result.accNorm, result.accPerToken)
        }
    }
}

struct ComparisonReport: Encodable {
    let textFile: String?
    let context: Int
    let tasksFile: String?
    let rows: [ComparisonRow]

    var table: String {
        var header = ["model", "blocks", "params", "size"]
        if textFile != nil { header += ["ppl", "KL vs 1st", "top-1 same"] }
        if tasksFile != nil { header += ["acc", "acc_norm"] }
        let speed = rows.contains { $0.speed != nil }
        if speed { header += ["pp512 t/s", "tg128 t/s"] }
        let body = rows.map { row -> [String] in
            var cells = [Eval.name(row.model), "\(row.blocks)", Format.count(row.parameters), Format.bytes(row.fileBytes)]
            if let text = row.text {
                cells += [String(format: "%.3f", text.perplexity),
                          String(format: "%.4f ± %.4f", text.meanKLDivergence, text.klStandardError),
                          String(format: "%.1f%%", 100 * text.topTokenAgreement)]
            }
            if let tasks = row.tasks {
                cells += [tasks.acc, tasks.accNorm].map { String(format: "%.1f%% ± %.1f", 100 * $0.value, 100 * $0.standardError) }
            }
            if speed {
                cells += [row.speed?.promptTokensPerSecond, row.speed?.generationTokensPerSecond]
                    .map { $0.map { String(format: "%.1f", $0) } ?? "-" }
            }
            return cells
        }
        var notes: [String] = []
        if let textFile { notes.append("perplexity and KL on \(textFile), windows of \(context) tokens") }
        if let tasksFile, let items = rows.first?.tasks?.items { notes.append("accuracy on \(items) items of \(tasksFile)") }
        if speed { notes.append("speed of this engine on this machine") }
        return Self.aligned([header] + body) + "\n" + notes.joined(separator: "; ")
    }

    /// Columns padded to their widest cell; the first left-aligned, numbers right-aligned.
    static func aligned(_ rows: [[String]]) -> String {
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { column, cell in
                let padding = String(repeating: " ", count: widths[column] - cell.count)
                return column == 0 ? cell + padding : padding + cell
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
