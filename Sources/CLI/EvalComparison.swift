import Engine
import Foundation
import Graph

extension Eval {
    /// Every model on the same text, tasks and speed test; one row each, the first model as the reference.
    func runComparison(items: [MultipleChoiceItem]?) throws {
        let loaded = try models.map { path in try LoadedModel(path: path) }
        let reference = loaded[0], referenceVocabulary = try reference.engine.vocabularySize()
        for other in loaded.dropFirst() where try other.engine.vocabularySize() != referenceVocabulary {
            throw UsageError(file: other.path, problem: "has \(try other.engine.vocabularySize()) logits per token, the reference "
                             + "\(Self.name(reference.path)) \(referenceVocabulary): compared models share a tokenizer")
        }
        var rows = loaded.map { ComparisonRow(path: $0.path, model: $0.model) }
        if let text {
            let tokenizer = reference.tokenizer
            let tokens = try textTokens(text, tokenizer: tokenizer)
            let results = try measure("comparing on \(Self.name(text))", file: reference.path) { progress in
                try TextComparison(windowing: PerplexityEvaluation(context: ctx, maxWindows: chunks))
                    .run(engines: loaded.map(\.engine), tokens: tokens, bos: tokenizer.addsBOS ? tokenizer.bosID : nil,
                         progress: progress)
            }
            for index in rows.indices { rows[index].text = results[index] }
        }
        for (index, model) in loaded.enumerated() {
            if let items {
                rows[index].tasks = try measure("tasks \(Self.name(model.path))", file: model.path) { progress in
                    try MultipleChoiceEvaluation().run(engine: model.engine, tokenizer: model.tokenizer, items: items,
                                                       progress: progress)
                }
            }
            if speed { rows[index].speed = try measureSpeed(engine: model.engine, tokenizer: model.tokenizer, model: model.path) }
        }
        let report = ComparisonReport(textFile: text, context: ctx, tasksFile: tasks, rows: rows)
        print(json ? try Format.json(report) : report.table)
    }
}

/// A model read with its engine and tokenizer.
struct LoadedModel {
    let path: String
    let model: Model
    let engine: Engine
    let tokenizer: any Tokenizer

    init(path: String) throws {
        self.path = path
        model = try ModelFiles.read(path)
        (engine, tokenizer) = try ModelFiles.engine(for: model, path: path)
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
