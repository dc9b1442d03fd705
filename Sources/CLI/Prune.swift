import ArgumentParser
import Foundation
import Graph
import Surgery

struct Prune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove decoder blocks, renumber the rest and write a smaller, valid model.",
        discussion: "Blocks are numbered from 0. Lists take indices and inclusive ranges: 3,5,20-23.")

    @Argument(help: "The model to prune (for a split GGUF, its first shard).")
    var input: String

    @Argument(help: "Where to write the pruned model.")
    var output: String

    @Option(help: "Blocks to remove.")
    var layers: String?

    @Option(help: "Blocks to keep; every other block is removed.")
    var keep: String?

    @Option(help: "Split the output into shards of at most this much tensor data (e.g. 500M, 4G).")
    var splitMaxSize: String?

    @Flag(help: "Print JSON for machines.")
    var json = false

    func validate() throws {
        guard (layers == nil) != (keep == nil) else { throw ValidationError("give exactly one of --layers and --keep") }
        if let splitMaxSize, Format.parseSize(splitMaxSize) == nil {
            throw ValidationError("--split-max-size '\(splitMaxSize)' is not a size like 500M or 4G")
        }
    }

    func run() throws {
        let model = try ModelFiles.read(input)
        let removal: BlockRemoval
        do {
            removal = if let layers {
                try BlockRemoval(removing: LayerSelection(parsing: layers), blockCount: model.blocks.count)
            } else {
                try BlockRemoval(keeping: LayerSelection(parsing: keep ?? ""), blockCount: model.blocks.count)
            }
        } catch let error as SurgeryError {
            throw UsageError(file: input, problem: error.description)
        }
        let result = removal.apply(to: model)
        for warning in result.warnings {
            FileHandle.standardError.write(Data("warning: \(warning)\n".utf8))
        }
        let written = try ModelFiles.write(result.model, to: output, maxShardBytes: splitMaxSize.flatMap(Format.parseSize))
        let report = PruneReport(input: input, outputs: written.map(\.path), originalBlocks: model.blocks.count,
                                 removed: removal.removed, keptBlocks: removal.kept.count,
                                 bytesBefore: model.byteCount, bytesAfter: result.model.byteCount,
                                 parametersBefore: model.parameterCount, parametersAfter: result.model.parameterCount,
                                 warnings: result.warnings)
        print(json ? Format.json(report) : report.text)
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

    var text: String {
        let ratio = bytesBefore > 0 ? Double(bytesAfter) / Double(bytesBefore) : 1
        return """
        removed \(removed.count) of \(originalBlocks) blocks: \(removed.map(String.init).joined(separator: ","))
        parameters \(Format.count(parametersBefore)) -> \(Format.count(parametersAfter)), \
        tensor data \(Format.bytes(bytesBefore)) -> \(Format.bytes(bytesAfter)) (\(String(format: "%.1f", 100 * ratio))%)
        wrote \(outputs.joined(separator: ", "))
        """
    }
}
