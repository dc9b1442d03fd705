import ArgumentParser
import Formats
import Foundation
import Graph
import Scoring
import Surgery

struct Prune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove decoder blocks, renumber the rest and write a smaller, valid model.",
        discussion: """
        Name the blocks (--layers, --keep; numbered from 0, lists like 3,5,20-23), or let scoring choose them \
        (--ratio or --count, with --criterion and a calibration text, or self-calibration without one: the model \
        samples its own calibration text and is scored while it samples); the criterion's set is then refined by \
        the pruned model's calibration NLL (--refine, 0 to skip).

        The default refinement makes at most 8 evaluations per block removed (--refine) and does at most one \
        streaming pass of work (--refine-budget 1x) or \(ScoringOptions.refineFloorDescription), whichever is \
        more: the whole search on models of a few hundred million parameters, whose passes take seconds; one more \
        scoring pass on a 7B model. A default prune of a 7B model costs under three scoring passes in all \
        (2.4 measured: sampling while scoring 1.4, refinement 0.9).

        Sub-layers (GGUF, llama models): remove the least important attention or feed-forward sub-layers \
        (--attention-ratio/--attention-count, --ffn-ratio/--ffn-count) or named ones (--drop 'attn:3,7 ffn:12'), \
        on their own or with blocks; --recover bias|linear|lowrank:R puts a stand-in fitted on calibration \
        activations in place of each removed run or sub-layer. These are written as llama.cpp's deci \
        architecture, which llama.cpp runs unchanged.
        """)

    @Argument(help: "The model to prune: a GGUF file (for a split one, its first shard), a Hugging Face folder, or an ONNX model (a .onnx file, or a folder with one: onnxruntime-genai's or optimum's).")
    var input: String

    @Argument(help: "Where to write the pruned model, in the input's format (a folder for a folder).")
    var output: String

    @Option(help: "Blocks to remove.")
    var layers: String?

    @Option(help: "Blocks to keep; every other block is removed.")
    var keep: String?

    @OptionGroup var amount: RemovalAmount
    @OptionGroup var subLayers: SubLayerOptions
    @OptionGroup var scoring: ScoringOptions

    @Option(help: "How scoring chooses blocks (and sub-layers) with --ratio/--count: simdiff, cosine, angular, mssd, masd, loo, greedy or shapley.")
    var criterion: Criterion = .simdiff

    @Option(name: [.customLong("split-max-size"), .customLong("max-shard-size")],
            help: "Split the output into shards of at most this much tensor data (e.g. 500M, 4G): GGUF shards, or safetensors shards in a folder.")
    var splitMaxSize: String?

    @Flag(help: "Replace an existing output folder (the old one goes only once the new one is complete).")
    var force = false

    @Flag(help: "Print JSON for machines.")
    var json = false

    @OptionGroup var progressOptions: ProgressOptions
    @OptionGroup var threadOptions: ThreadOptions

    func validate() throws {
        let blockChoices = [layers != nil, keep != nil, amount.given].filter { $0 }.count
        guard blockChoices <= 1 else { throw ValidationError("give at most one of --layers, --keep, --ratio and --count") }
        guard blockChoices == 1 || subLayers.scoresSubLayers || subLayers.drop != nil else {
            throw ValidationError("give one of --layers, --keep, --ratio and --count, or sub-layers to remove (--attention-ratio, --ffn-ratio, --drop, ...)")
        }
        if let splitMaxSize, Format.parseSize(splitMaxSize) == nil {
            throw ValidationError("--split-max-size '\(splitMaxSize)' is not a size like 500M or 4G")
        }
    }

    func run() throws {
        progressOptions.apply()
        threadOptions.apply()
        if ONNXModel.isONNX(input) {
            guard !subLayers.given else {
                throw UsageError(file: input, problem: "sub-layer removal and recovery are written as llama.cpp's deci architecture: prune the model's GGUF")
            }
            return try pruneONNX()
        }
        let model = try ModelFiles.read(input, needsTokenizer: amount.given || subLayers.scoresSubLayers || subLayers.recover != nil)
        if OutputFormat(of: model) == .safetensors && output.lowercased().hasSuffix(".gguf") {
            throw UsageError(file: output, problem: "prune writes the input's format (a folder); prune to a folder, then `convert` it to GGUF")
        }
        try OutputName.check(output, writing: OutputFormat(of: model).fileExtension, command: "prune")
        if OutputFormat(of: model) == .gguf {
            try checkOutputFile(URL(fileURLWithPath: output), of: model)
        } else {
            try OutputFolder.check(URL(fileURLWithPath: output), inputs: model.origin.files, replacing: force,
                                   inputFolder: model.origin.folder)
        }
        if subLayers.given { return try pruneSubLayers(model) }
        let (removal, scoringRun) = try chooseRemoval(blockCount: model.blocks.count) { model }
        var result = removal.apply(to: model)
        if let scoringRun { result = result.recordingScoring(criterion: criterion, run: scoringRun) }
        for warning in result.warnings {
            FileHandle.standardError.write(Data("warning: \(warning)\n".utf8))
        }
        let written = try ModelFiles.write(result.model, to: output, as: OutputFormat(of: model),
                                           maxShardBytes: splitMaxSize.flatMap(Format.parseSize), replacing: force)
        let report = PruneReport(input: input, outputs: written.map(\.path), originalBlocks: model.blocks.count,
                                 removed: removal.removed, keptBlocks: removal.kept.count,
                                 bytesBefore: model.byteCount, bytesAfter: result.model.byteCount,
                                 parametersBefore: model.parameterCount, parametersAfter: result.model.parameterCount,
                                 warnings: result.warnings,
                                 criterion: scoringRun.map { _ in criterion.rawValue },
                                 calibration: scoringRun?.calibration.source,
                                 reasons: scoringRun.map { Self.reasons(removal.removed, $0) } ?? [],
                                 refinement: scoringRun?.selections.first?.refinement, subLayers: nil)
        print(json ? try Format.json(report) : report.text)
    }
}

extension Prune {
    /// ONNX models keep their graph: scoring (with --ratio/--count) runs the model read as the common model,
    /// and the blocks chosen go from the graph itself.
    func pruneONNX() throws {
        try OutputName.check(output, writing: "onnx", command: "prune")
        let model = try ONNXModel(path: input)
        let (removal, scoringRun) = try chooseRemoval(blockCount: model.blockCount) {
            try model.commonModel(scratchFolder: ModelFiles.scratchFolder(beside: output))
        }
        var pruned = try model.removingBlocks(removal.removed)
        if let scoringRun { pruned.setProperties(Self.scoringRecord(criterion: criterion, run: scoringRun).map { ($0, $1.description) }) }
        let progress = ProgressLine(label: "writing \(URL(fileURLWithPath: output).lastPathComponent)")
        let written = try pruned.write(to: output, replacing: force) { progress.update(done: $0, total: $1) }
        progress.finish()
        let report = PruneReport(input: input, outputs: written.map(\.path), originalBlocks: model.blockCount,
                                 removed: removal.removed, keptBlocks: pruned.blockCount,
                                 bytesBefore: model.byteCount, bytesAfter: pruned.byteCount,
                                 parametersBefore: model.parameterCount, parametersAfter: pruned.parameterCount,
                                 warnings: [], criterion: scoringRun.map { _ in criterion.rawValue },
                                 calibration: scoringRun?.calibration.source,
                                 reasons: scoringRun.map { Self.reasons(removal.removed, $0) } ?? [],
                                 refinement: scoringRun?.selections.first?.refinement, subLayers: nil)
        print(json ? try Format.json(report) : report.text)
    }

    /// The blocks to remove: chosen by scoring `model()` with --ratio/--count, else named with --layers/--keep.
    func chooseRemoval(blockCount: Int, model: () throws -> Model) throws -> (BlockRemoval, ScoringRun?) {
        do {
            guard amount.given else { return (try namedRemoval(blockCount: blockCount), nil) }
            let run = try ScoringRun(model: try model(), path: input, options: scoring, amount: amount, criteria: [criterion])
            guard let selection = run.selections.first else {
                throw UsageError(file: input, problem: "criterion \(criterion.rawValue) found no removable blocks")
            }
            return (try BlockRemoval(removing: LayerSelection(indices: selection.removed), blockCount: blockCount), run)
        } catch let error as SurgeryError {
            throw UsageError(file: input, problem: error.description)
        }
    }

    /// The removal the user named with --layers or --keep.
    func namedRemoval(blockCount: Int) throws -> BlockRemoval {
        if let layers { return try BlockRemoval(removing: LayerSelection(parsing: layers), blockCount: blockCount) }
        return try BlockRemoval(keeping: LayerSelection(parsing: keep ?? ""), blockCount: blockCount)
    }

    /// Each removed block with the scores that condemned it.
    static func reasons(_ removed: [Int], _ run: ScoringRun) -> [String] {
        let importance = run.selections.first?.importance
        return removed.map { block in
            let measured = run.scores.blocks[block]
            var text = String(format: "block %d: cos %.4f, mssd %.4g, masd %.4g", block, measured.cosine, measured.mssd, measured.masd)
            if let importance { text += String(format: ", importance %.4g", importance[block]) }
            return text
        }
    }
}

extension Prune {
    /// How scoring chose the blocks, as the output's provenance keys.
    static func scoringRecord(criterion: Criterion, run: ScoringRun) -> [(key: String, value: MetadataValue)] {
        var record: [(key: String, value: MetadataValue)] = [("modelsurgery.criterion", .string(MetadataString(criterion.rawValue)))]
        if criterion == .simdiff { record.append(("modelsurgery.simdiff_lambda", .float32(Float(run.lambda)))) }
        record.append(("modelsurgery.calibration", .string(MetadataString(run.calibration.source))))
        record.append(("modelsurgery.calibration_tokens", .uint32(UInt32(run.calibration.tokenCount))))
        if let refinement = run.selections.first?.refinement {
            record.append(("modelsurgery.refine_evaluations", .uint32(UInt32(refinement.evaluations))))
            record.append(("modelsurgery.calibration_nll", .float32(Float(refinement.calibrationNLL))))
        }
        return record
    }
}

extension BlockRemoval.Result {
    /// Adds how the blocks were chosen to the output's provenance keys.
    func recordingScoring(criterion: Criterion, run: ScoringRun) -> BlockRemoval.Result {
        var model = model
        for (key, value) in Prune.scoringRecord(criterion: criterion, run: run) { model.metadata[key] = value }
        return BlockRemoval.Result(model: model, warnings: warnings)
    }
}

struct PruneReport: Encodable {
    let input: String
    let outputs: [String]
    let originalBlocks: Int
    let removed: [Int]
    let keptBlocks: Int
    let bytesBefore: Int
    let bytesAfter: Int
    let parametersBefore: Int
    let parametersAfter: Int
    let warnings: [String]
    let criterion: String?
    let calibration: String?
    let reasons: [String]
    let refinement: SetRefinement.Result?
    let subLayers: SubLayerReport?

    var text: String {
        let ratio = bytesBefore > 0 ? Double(bytesAfter) / Double(bytesBefore) : 1
        let chosenBy = criterion.map { " by \($0) on \(calibration ?? "?")" } ?? ""
        let why = (reasons + [refinement?.summary].compactMap { $0 }).map { "  " + $0 + "\n" }.joined()
        let blocks = removed.isEmpty && subLayers != nil ? "" : "removed \(removed.count) of \(originalBlocks) blocks: "
            + removed.map(String.init).joined(separator: ",") + "\n"
        return """
        \(blocks)\(subLayers.map { $0.text + "\n" } ?? "")\(chosenBy.isEmpty ? "" : "chosen\(chosenBy)\n")\(why)
        parameters \(Format.count(parametersBefore)) -> \(Format.count(parametersAfter)), \
        tensor data \(Format.bytes(bytesBefore)) -> \(Format.bytes(bytesAfter)) (\(String(format: "%.1f", 100 * ratio))%)
        wrote \(outputs.joined(separator: ", "))
        """
    }
}
