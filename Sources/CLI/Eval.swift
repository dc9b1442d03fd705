import ArgumentParser
import Engine
import Foundation
import Graph
import Scoring

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Perplexity of a model on a text, with llama.cpp's llama-perplexity protocol.",
        discussion: """
        The text is tokenized as llama.cpp does and cut into non-overlapping windows of --ctx tokens; the \
        second half of each window is scored. Runs on the CPU, one block at a time.
        """)

    @Argument(help: "The model (GGUF; for a split model, its first shard).")
    var model: String

    @Option(help: "The text to score (UTF-8).")
    var text: String

    @Option(help: "Tokens per window.")
    var ctx = 512

    @Option(help: "Score at most this many windows.")
    var chunks: Int?

    @Flag(help: "Print JSON for machines.")
    var json = false

    func validate() throws {
        guard ctx >= 8 else { throw ValidationError("--ctx must be at least 8") }
        if let chunks, chunks < 1 { throw ValidationError("--chunks must be at least 1") }
    }

    func run() throws {
        let loaded = try ModelFiles.read(model)
        let (engine, tokenizer) = try ModelFiles.engine(for: loaded, path: model)
        guard let data = FileManager.default.contents(atPath: text) else {
            throw UsageError(file: text, problem: "cannot read the text file")
        }
        let tokens = tokenizer.encode(String(decoding: data, as: UTF8.self), addSpecial: true)
        guard tokens.count >= ctx else {
            throw UsageError(file: text, problem: "has \(tokens.count) tokens, fewer than one window of --ctx \(ctx)")
        }
        let progress = ProgressLine(label: "eval \(URL(fileURLWithPath: model).lastPathComponent)", counting: .steps)
        let result = try ModelFiles.naming(model) {
            try PerplexityEvaluation(context: ctx, maxWindows: chunks)
                .run(engine: engine, tokens: tokens, bos: tokenizer.addsBOS ? tokenizer.bosID : nil) { done, total in
                    progress.update(done: done, total: total)
                }
        }
        progress.finish()
        let report = EvalReport(model: model, textFile: text, tokens: tokens.count, result: result)
        print(json ? try Format.json(report) : report.summary)
    }
}

struct EvalReport: Encodable {
    let model: String
    let textFile: String
    let tokens: Int
    let result: PerplexityEvaluation.Result

    var summary: String {
        String(format: "perplexity %.4f (mean NLL %.4f) over %d windows of %d tokens, %d tokens scored",
               result.perplexity, result.meanNegativeLogLikelihood, result.windows, result.context, result.scoredTokens)
    }
}
