import ArgumentParser
import Engine
import Foundation
import Graph
import Scoring
import Surgery

/// Options shared by `score` and `prune --ratio/--count`: calibration, criterion and which blocks to spare.
struct ScoringOptions: ParsableArguments {
    @Option(help: "Calibration text (UTF-8); repeat for several. Without it, the model generates its own (self-calibration).")
    var calib: [String] = []

    @Option(help: "Calibration sequences.")
    var samples = 16

    @Option(help: "Tokens per calibration sequence.")
    var seqLen = 128

    @Option(help: "Weight λ of the difference terms in SimDiff, or 'search' to pick it by calibration perplexity.")
    var lambda = String(SimDiff.defaultLambda)

    /// A fixed λ, or nil for `--lambda search`.
    var fixedLambda: Double? { lambda == "search" ? nil : Double(lambda) }

    @Option(help: ArgumentHelp("Refine each criterion's removal set by the pruned model's calibration NLL, swapping near-tied blocks, with at most this many evaluations; 0 keeps the criterion's own set.", valueName: "evaluations"))
    var refine: Int?

    /// Evaluations `--refine` allows: by default 8 per block removed.
    func refineEvaluations(removing count: Int) -> Int { refine ?? 8 * count }

    @Option(help: ArgumentHelp("Most work the refinement may do, in streaming passes over the calibration tokens (the work of scoring), or \(Self.refineFloorDescription), whichever is more: bounded on large models, the whole search on small ones.", valueName: "passes"))
    var refineBudget = "1x"

    /// Multiply-adds below which `--refine-budget` never bounds the search: about 40 streaming passes of
    /// SmolLM2-135M, under one of a 7B model.
    static let refineFloor = 1e13
    static let refineFloorDescription = "10¹³ multiply-adds (about 2 minutes on 2 cores)"

    /// `--refine-budget` as passes.
    var refinePasses: Double? {
        let text = refineBudget.hasSuffix("x") ? String(refineBudget.dropLast()) : refineBudget
        return Double(text).flatMap { $0 >= 0 && $0.isFinite ? $0 : nil }
    }

    /// The refinement's work budget in multiply-adds, for a model whose streaming pass does `pass` of them.
    func refineWork(pass: Double) -> Double { max((refinePasses ?? 1) * pass, Self.refineFloor) }

    @Option(help: "Permutations the shapley criterion samples.")
    var shapleyPermutations = 16

    @Option(help: "Pieces each shapley permutation removes, one at a time (default: the count to remove).")
    var shapleyDepth: Int?

    @Option(help: "Blocks never removed: first, last, indices or ranges (e.g. first,last or 0-1), or none.")
    var protect = "none"

    func validate() throws {
        guard samples >= 1 else { throw ValidationError("--samples must be at least 1") }
        guard seqLen >= 8 else { throw ValidationError("--seq-len must be at least 8") }
        guard shapleyPermutations >= 1 else { throw ValidationError("--shapley-permutations must be at least 1") }
        if let shapleyDepth, shapleyDepth < 1 { throw ValidationError("--shapley-depth must be at least 1") }
        if let refine, refine < 0 { throw ValidationError("--refine must be 0 or more evaluations") }
        guard refinePasses != nil else { throw ValidationError("--refine-budget must be a number of passes ≥ 0, like 1x or 2.5") }
        guard lambda == "search" || (Double(lambda).map { $0 >= 0 } ?? false) else {
            throw ValidationError("--lambda must be a number ≥ 0 or 'search'")
        }
    }

    /// Refuses --samples × --seq-len whose hidden states (a few copies, plus the key/value cache when the model
    /// writes its own calibration) cannot fit in this machine's memory, before any is allocated.
    private func checkMemory(engine: Engine, model: String) throws {
        let width = engine.model.hyperParameters.hiddenSize ?? 1
        let copies = 4 + (calib.isEmpty ? 2 * engine.blockCount : 0)
        let (tokens, tokensOverflow) = samples.multipliedReportingOverflow(by: seqLen)
        let (perToken, perTokenOverflow) = (width * MemoryLayout<Float>.size).multipliedReportingOverflow(by: copies)
        let (bytes, overflow) = tokens.multipliedReportingOverflow(by: perToken)
        let available = ProcessInfo.processInfo.physicalMemory
        guard tokensOverflow || perTokenOverflow || overflow || UInt64(bytes) > available else { return }
        let need = tokensOverflow || perTokenOverflow || overflow ? "more memory than can be addressed" : "\(Format.bytes(bytes))"
        throw UsageError(file: model, problem: "--samples \(samples) × --seq-len \(seqLen) would need \(need) for activations; "
                         + "this machine has \(Format.bytes(Int(clamping: available)))")
    }

    func protectedBlocks(blockCount: Int, file: String) throws -> Set<Int> {
        var blocks = Set<Int>()
        for part in protect.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            switch part {
            case "none", "": continue
            case "first": blocks.insert(0)
            case "last": blocks.insert(blockCount - 1)
            default:
                do {
                    blocks.formUnion(try LayerSelection(parsing: part).indices)
                } catch {
                    throw UsageError(file: file, problem: "--protect '\(protect)': '\(part)' is not first, last, an index or a range")
                }
            }
        }
        if let bad = blocks.first(where: { $0 >= blockCount }) {
            throw UsageError(file: file, problem: "--protect names block \(bad), but the model has blocks 0-\(blockCount - 1)")
        }
        return blocks
    }

    /// Self-calibration and the scoring pass in one run (`BlockScorer.selfCalibrated`).
    func selfCalibratedScores(engine: Engine, tokenizer: any Tokenizer, model: String, runLength: Int,
                              keepingInputs: Bool) throws -> (scorer: BlockScorer, scores: CalibrationScores) {
        try checkMemory(engine: engine, model: model)
        let progress = ProgressLine(label: "self-calibration and scoring: sampling \(samples)×\(seqLen) tokens", counting: .steps)
        defer { progress.finish() }
        return try ModelFiles.naming(model) {
            try BlockScorer.selfCalibrated(engine: engine, tokenizer: tokenizer, count: samples, length: seqLen,
                                           runLength: runLength, keepingInputs: keepingInputs) { progress.update(done: $0, total: $1) }
        }
    }

    /// Calibration sequences from the texts given, or sampled from the model itself.
    func calibration(engine: Engine, tokenizer: any Tokenizer, model: String) throws -> Calibration {
        try checkMemory(engine: engine, model: model)
        guard !calib.isEmpty else {
            let progress = ProgressLine(label: "self-calibration: sampling \(samples)×\(seqLen) tokens", counting: .steps)
            defer { progress.finish() }
            return try ModelFiles.naming(model) {
                try Calibration.selfGenerated(engine: engine, tokenizer: tokenizer, count: samples, length: seqLen) {
                    progress.update(done: $0, total: $1)
                }
            }
        }
        let texts = try calib.map { path -> (name: String, text: String) in
            guard let data = FileManager.default.contents(atPath: path) else {
                throw UsageError(file: path, problem: "cannot read the calibration text")
            }
            return (URL(fileURLWithPath: path).lastPathComponent, String(decoding: data, as: UTF8.self))
        }
        do {
            return try Calibration.fromTexts(texts, tokenizer: tokenizer, count: samples, length: seqLen)
        } catch EngineError.textTooShort(let tokens, let needed) {
            throw UsageError(file: calib.joined(separator: ", "),
                             problem: "calibration text has \(tokens) tokens, fewer than one sequence of \(needed) (--seq-len \(seqLen))")
        }
    }
}

/// How many blocks to remove: a ratio of the blocks or a count.
struct RemovalAmount: ParsableArguments {
    @Option(help: "Fraction of the blocks to remove, in (0, 1).")
    var ratio: Double?

    @Option(help: "Number of blocks to remove.")
    var count: Int?

    var given: Bool { ratio != nil || count != nil }

    func validate() throws {
        if ratio != nil && count != nil { throw ValidationError("give --ratio or --count, not both") }
        if let ratio, !(ratio > 0 && ratio < 1) { throw ValidationError("--ratio must be between 0 and 1 (exclusive)") }
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
    }

    /// Blocks to remove out of `blockCount`, checked against the blocks that may be removed.
    func blocks(of blockCount: Int, protected: Set<Int>, file: String) throws -> Int {
        let wanted = count ?? Int((ratio ?? 0) * Double(blockCount) + 0.5)
        if wanted == 0 {
            throw UsageError(file: file, problem: "--ratio \(ratio ?? 0) of \(blockCount) blocks rounds to 0 blocks")
        }
        if wanted >= blockCount {
            throw UsageError(file: file, problem: "removing \(wanted) of \(blockCount) blocks would leave none")
        }
        if wanted > blockCount - protected.count {
            throw UsageError(file: file, problem: "only \(blockCount - protected.count) blocks are not protected, \(wanted) asked")
        }
        return wanted
    }
}
