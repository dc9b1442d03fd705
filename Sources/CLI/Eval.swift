import ArgumentParser
import Engine
import Formats
import Foundation
import Graph

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Perplexity, multiple-choice accuracy and speed of a model, or of several side by side (--compare).",
        discussion: """
        --text: perplexity with llama-perplexity's protocol (non-overlapping windows of --ctx tokens, the second \
        half of each scored). --tasks: zero-shot multiple-choice accuracy (acc: summed log-likelihood of each \
        ending; acc_norm: divided by its length in bytes, as lm-evaluation-harness; acc_per_token: the mean per \
        token after the endings' shared prefix, as llama-perplexity --hellaswag). Task files: JSON lines \
        ({"ctx", "endings", "label"}, HellaSwag's, PIQA's with --labels, ARC's) or llama-perplexity's \
        --hellaswag text. --speed: prompt processing (pp512) and generation (tg128) tokens/s of this engine. \
        --compare: one row per model, with the KL divergence of each model's next-token distribution from the \
        first model's and how often they agree on the top token. Runs on the CPU, one block at a time.
        """)

    @Argument(help: "The model(s): GGUF files (for a split model, its first shard), Hugging Face folders or ONNX models.")
    var models: [String]

    @Option(help: "A text to score (UTF-8): perplexity, and with --compare the KL divergence from the first model.")
    var text: String?

    @Option(help: "Tokens per window of --text.")
    var ctx = 512

    @Option(help: "Score at most this many windows of --text.")
    var chunks: Int?

    @Option(help: "A multiple-choice task file (.jsonl, or .txt in llama-perplexity's --hellaswag format).")
    var tasks: String?

    @Option(help: "PIQA's separate labels file (one 0/1 per line) for --tasks.")
    var labels: String?

    @Option(help: "Use at most the first N task items.")
    var limit: Int?

    @Flag(help: "Measure prompt processing (512 tokens) and generation (128 tokens) speed of this engine (about a minute for a 135M model on 2 cores).")
    var speed = false

    @Flag(help: "Evaluate every model on the same data and print one table, the first model as the reference.")
    var compare = false

    @Flag(help: "Print JSON for machines.")
    var json = false

    @OptionGroup var progressOptions: ProgressOptions
    @OptionGroup var threadOptions: ThreadOptions

    func validate() throws {
        guard ctx >= 8 else { throw ValidationError("--ctx must be at least 8") }
        if let chunks, chunks < 1 { throw ValidationError("--chunks must be at least 1") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        guard text != nil || tasks != nil || speed else { throw ValidationError("give --text, --tasks or --speed") }
        if labels != nil && tasks == nil { throw ValidationError("--labels goes with --tasks") }
        if models.count > 1 && !compare { throw ValidationError("several models are evaluated side by side with --compare") }
        if compare && models.count < 2 { throw ValidationError("--compare needs at least two models") }
    }

    func run() throws {
        progressOptions.apply()
        threadOptions.apply()
        let items = try taskItems()
        if compare { return try runComparison(items: items) }
        let model = models[0]
        let loaded = try LoadedModel(path: model)
        let (engine, tokenizer) = (loaded.engine, loaded.tokenizer)
        var report = EvalReport(model: model)
        if let text {
            let tokens = try textTokens(text, tokenizer: tokenizer)
            report.textFile = text
            report.tokens = tokens.count
            report.perplexity = try measure("eval \(Self.name(model))", file: model) { progress in
                try PerplexityEvaluation(context: ctx, maxWindows: chunks)
                    .run(engine: engine, tokens: tokens, bos: tokenizer.addsBOS ? tokenizer.bosID : nil, progress: progress)
            }
        }
        if let items, let tasks {
            report.tasksFile = tasks
            report.tasks = try measure("tasks \(Self.name(model))", file: model) { progress in
                try MultipleChoiceEvaluation().run(engine: engine, tokenizer: tokenizer, items: items, progress: progress)
            }
        }
        if speed { report.speed = try measureSpeed(engine: engine, tokenizer: tokenizer, model: model) }
        print(json ? try Format.json(report) : report.text)
    }

    /// The task items, read before any model so a bad task file fails first.
    func taskItems() throws -> [MultipleChoiceItem]? {
        guard let tasks else { return nil }
        let items = try TaskFile.read(URL(fileURLWithPath: tasks), labels: labels.map { URL(fileURLWithPath: $0) })
        return limit.map { Array(items.prefix($0)) } ?? items
    }

    /// The text's tokens, warning when they give too few windows for a steady figure.
    func textTokens(_ path: String, tokenizer: any Tokenizer) throws -> [Int] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw UsageError(file: path, problem: "cannot read the text file")
        }
        let tokens = tokenizer.encode(String(decoding: data, as: UTF8.self), addSpecial: true)
        guard tokens.count >= ctx else {
            throw UsageError(file: path, problem: "has \(tokens.count) tokens, fewer than one window of --ctx \(ctx)")
        }
        let windows = min(tokens.count / ctx, chunks ?? .max)
        if windows < Self.steadyWindows && chunks == nil {
            let suggested = tokens.count / Self.steadyWindows
            let advice = suggested >= 16 ? "--ctx \(suggested) would give \(Self.steadyWindows)" : "use a longer text"
            FileHandle.standardError.write(Data(("warning: \(path) gives \(windows) window\(windows == 1 ? "" : "s") of "
                + "--ctx \(ctx) tokens; at least \(Self.steadyWindows) give a steadier perplexity (\(advice))\n").utf8))
        }
        return tokens
    }

    static let steadyWindows = 8

    func measureSpeed(engine: Engine, tokenizer: any Tokenizer, model: String) throws -> SpeedMeasurement.Result {
        let prompt = tokenizer.encode(Self.speedPrompt, addSpecial: true)
        return try measure("speed \(Self.name(model))", file: model) { progress in
            try SpeedMeasurement().run(engine: engine, prompt: prompt, progress: progress)
        }
    }

    /// Text whose tokens fill the speed test's prompt (repeated); its content does not matter.
    static let speedPrompt = "The engine processes a prompt of ordinary English text, one block at a time, to measure its speed. "

    /// Runs a long step with a progress line, reporting engine errors against `file`.
    func measure<T>(_ label: String, file: String, _ body: (@escaping (Int, Int) -> Void) throws -> T) throws -> T {
        let progress = ProgressLine(label: label, counting: .steps)
        defer { progress.finish() }
        return try ModelFiles.naming(file) { try body { progress.update(done: $0, total: $1) } }
    }

    static func name(_ path: String) -> String { URL(fileURLWithPath: path).lastPathComponent }
}

struct EvalReport: Encodable {
    let model: String
    var textFile: String?
    var tokens: Int?
    var perplexity: PerplexityEvaluation.Result?
    var tasksFile: String?
    var tasks: MultipleChoiceEvaluation.Result?
    var speed: SpeedMeasurement.Result?

    init(model: String) { self.model = model }

    var text: String {
        var lines: [String] = []
        if let result = perplexity {
            lines.append(String(format: "perplexity %.4f (mean NLL %.4f) over %d windows of %d tokens, %d tokens scored",
                                result.perplexity, result.meanNegativeLogLikelihood, result.windows, result.context, result.scoredTokens))
        }
        if let tasks, let tasksFile {
            lines.append("\(tasksFile): \(tasks.items) items, " + Self.accuracies(tasks))
        }
        if let speed {
            lines.append(String(format: "speed (this engine): pp%d %.1f tokens/s, tg%d %.1f tokens/s", speed.promptTokens,
                                speed.promptTokensPerSecond, speed.generatedTokens, speed.generationTokensPerSecond))
        }
        return lines.joined(separator: "\n")
    }

    static func accuracies(_ result: MultipleChoiceEvaluation.Result) -> String {
        [("acc", result.acc), ("acc_norm", result.accNorm), ("acc_per_token", result.accPerToken)]
            .map { String(format: "%@ %.2f%% ± %.2f", $0.0, 100 * $0.1.value, 100 * $0.1.standardError) }
            .joined(separator: ", ")
    }
}
