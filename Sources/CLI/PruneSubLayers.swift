import Engine
import Foundation
import Graph
import Scoring
import Surgery

/// `prune` with sub-layers or recovery: blocks first (named or scored), then attention, then feed-forward
/// sub-layers among what is left, each set refined by calibration NLL with the earlier removals in place;
/// recovery fitted on the unpruned model; the result written as llama.cpp's deci architecture.
extension Prune {
    func pruneSubLayers(_ model: Model) throws {
        guard OutputFormat(of: model) == .gguf else {
            throw UsageError(file: input, problem: "sub-layer removal and recovery are written as llama.cpp's deci architecture (GGUF), which transformers cannot load for llama models: `convert` the folder to GGUF and prune that")
        }
        guard DeciRewrite.coveredArchitectures.contains(model.architecture) else {
            throw UsageError(file: input, problem: SurgeryError.subLayersUnsupported(architecture: model.architecture).description)
        }
        if subLayers.recover != nil && !amount.given && !subLayers.scoresSubLayers && scoring.calib.isEmpty {
            throw UsageError(file: input, problem: "--recover fits its stand-ins on calibration activations: give --calib TEXT along with --layers, --keep or --drop")
        }
        let scoringRun = amount.given || subLayers.scoresSubLayers
            ? try ScoringRun(model: model, path: input, options: scoring, amount: amount, criteria: amount.given ? [criterion] : [])
            : nil
        let removal = try chooseRemoval(blockCount: model.blocks.count, run: scoringRun)
        var replacements: [RemovalUnit: Replacement] = [:]
        var fits: [RecoveryFit.Fitted] = []
        if let kind = subLayers.recovery {
            (replacements, fits) = try fitRecovery(kind, removal: removal, model: model, run: scoringRun)
        }
        var result: BlockRemoval.Result
        do {
            result = try DeciRewrite(removal: removal, replacements: replacements).apply(to: model)
        } catch let error as SurgeryError {
            throw UsageError(file: input, problem: error.description)
        }
        if let scoringRun { result = result.recordingScoring(criterion: criterion, run: scoringRun) }
        var pruned = result.model
        if let kind = subLayers.recovery { pruned.metadata["modelsurgery.recovery"] = .string(MetadataString(kind.description)) }
        for warning in result.warnings { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
        let written = try ModelFiles.write(pruned, to: output, as: .gguf, maxShardBytes: splitMaxSize.flatMap(Format.parseSize))
        let report = PruneReport(input: input, outputs: written.map(\.path), originalBlocks: model.blocks.count,
                                 removed: removal.blocks, keptBlocks: pruned.blocks.count,
                                 bytesBefore: model.byteCount, bytesAfter: pruned.byteCount,
                                 parametersBefore: model.parameterCount, parametersAfter: pruned.parameterCount,
                                 warnings: result.warnings,
                                 criterion: scoringRun.map { _ in criterion.rawValue },
                                 calibration: scoringRun?.calibration.source, reasons: [],
                                 refinement: amount.given ? scoringRun?.selections.first?.refinement : nil,
                                 subLayers: SubLayerReport(removal: removal, recovery: subLayers.recover, fits: fits,
                                                           before: model, after: pruned))
        print(json ? try Format.json(report) : report.text)
    }

    /// Blocks, then attention, then feed-forward sub-layers: named ones, and scored ones among the rest.
    private func chooseRemoval(blockCount: Int, run: ScoringRun?) throws -> SubLayerRemoval {
        do {
            let named = try subLayers.drop.map { try SubLayerRemoval(parsing: $0, blockCount: blockCount) }
            var blocks = named?.blocks ?? []
            if amount.given, let run {
                guard let selection = run.selections.first else {
                    throw UsageError(file: input, problem: "criterion \(criterion.rawValue) found no removable blocks")
                }
                blocks += selection.removed
            } else if layers != nil || keep != nil {
                blocks += try namedRemoval(blockCount: blockCount).removed
            }
            var fixed = Dictionary(blocks.map { ($0, SubLayers([.attention, .feedForward])) }, uniquingKeysWith: { a, _ in a })
            func removing(_ part: SubLayers, named blocks: [Int]) throws -> [Int] {
                for block in blocks { fixed[block, default: []].formUnion(part) }
                guard let count = subLayers.count(of: part, blockCount: blockCount), let run else { return blocks }
                let scored = try scoredSubLayers(part, count: count, fixed: fixed, run: run)
                for block in scored { fixed[block, default: []].formUnion(part) }
                return blocks + scored
            }
            let attention = try removing(.attention, named: named?.attention ?? [])
            let feedForward = try removing(.feedForward, named: named?.feedForward ?? [])
            return try SubLayerRemoval(blockCount: blockCount, blocks: blocks, attention: attention, feedForward: feedForward)
        } catch let error as SurgeryError {
            throw UsageError(file: input, problem: error.description)
        }
    }

    /// The `count` least important `part` sub-layers of blocks that still have one. The first kept block keeps
    /// its attention: llama.cpp takes the head size from layer 0.
    private func scoredSubLayers(_ part: SubLayers, count: Int, fixed: [Int: SubLayers], run: ScoringRun) throws -> [Int] {
        let name = part == .attention ? "attention" : "ffn"
        // A block that lost anything keeps the rest: losing both sub-layers is removing the block.
        var protected = run.protected.union(fixed.keys)
        if part == .attention, let first = (0 ..< run.scorer.engine.blockCount).first(where: { fixed[$0] != [.attention, .feedForward] }) {
            protected.insert(first)
        }
        let available = run.scorer.engine.blockCount - protected.count
        guard count >= 1, count <= available else {
            throw UsageError(file: input, problem: "--\(name)-ratio/--\(name)-count asks for \(count) \(name) sub-layers, but \(available) can be removed (the first block's attention and protected blocks stay)")
        }
        guard let selection = try run.choose(count: count, by: criterion, space: RemovalSpace(part: part, fixed: fixed),
                                             protected: protected) else { return [] }
        return selection.removed
    }

    private func fitRecovery(_ kind: RecoveryFit.Kind, removal: SubLayerRemoval, model: Model,
                             run: ScoringRun?) throws -> ([RemovalUnit: Replacement], [RecoveryFit.Fitted]) {
        let engine: Engine, calibration: Calibration
        if let run {
            (engine, calibration) = (run.scorer.engine, run.calibration)
        } else {
            let tokenizer: any Tokenizer
            (engine, tokenizer) = try ModelFiles.engine(for: model, path: input)
            calibration = try scoring.calibration(engine: engine, tokenizer: tokenizer, model: input)
        }
        let progress = ProgressLine(label: "fitting \(kind) recovery on \(calibration.tokenCount) tokens", counting: .steps)
        defer { progress.finish() }
        return try ModelFiles.naming(input) {
            try RecoveryFit(kind: kind).fit(removal.units, engine: engine, calibration: calibration) {
                progress.update(done: $0, total: $1)
            }
        }
    }
}

/// What a sub-layer prune removed and added, and what it costs in llama.cpp.
struct SubLayerReport: Encodable {
    let attention: [Int]
    let feedForward: [Int]
    let recovery: String?
    let fits: [RecoveryFit.Fitted]
    let layersAfter: Int
    /// K and V cache bytes per token in F16, as llama.cpp allocates them with flash attention (each layer its
    /// own width); without it llama.cpp pads every layer's V to the widest.
    let kvBytesPerTokenBefore: Int
    let kvBytesPerTokenAfter: Int

    init(removal: SubLayerRemoval, recovery: String?, fits: [RecoveryFit.Fitted], before: Model, after: Model) {
        attention = removal.attention
        feedForward = removal.feedForward
        self.recovery = recovery
        self.fits = fits
        layersAfter = after.blocks.count
        kvBytesPerTokenBefore = Self.cacheBytesPerToken(before)
        kvBytesPerTokenAfter = Self.cacheBytesPerToken(after)
    }

    static func cacheBytesPerToken(_ model: Model) -> Int {
        let parameters = model.hyperParameters
        let perHead = (parameters.headSize ?? 0) + (parameters.valueHeadSize ?? 0)
        return model.blocks.indices.reduce(0) { $0 + (parameters.headCountKV[$1] ?? 0) * perHead * 2 }
    }

    var text: String {
        func list(_ values: [Int]) -> String { values.isEmpty ? "none" : values.map(String.init).joined(separator: ",") }
        var lines = ["attention removed: \(list(attention)); ffn removed: \(list(feedForward)); \(layersAfter) layers (llama.cpp deci)",
                     "KV cache \(kvBytesPerTokenBefore) -> \(kvBytesPerTokenAfter) bytes per token (F16)"]
        if let recovery {
            let added = fits.reduce(0) { $0 + $1.parameters }
            lines.append("recovery \(recovery): \(Format.count(added)) parameters fitted")
            for fit in fits {
                var line = String(format: "  %@: held-out error %.3f of removal's", fit.unit, fit.heldOutError)
                if let ridge = fit.ridge { line += String(format: ", ridge %.0e", ridge) }
                lines.append(line)
            }
        }
        return lines.joined(separator: "\n")
    }
}
