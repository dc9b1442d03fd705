import ArgumentParser
import Foundation

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rewrite a model in another format or layout (for now GGUF to GGUF: join or split shards).")

    @Argument(help: "The model to read (for a split GGUF, its first shard).")
    var input: String

    @Argument(help: "Where to write.")
    var output: String

    @Option(help: "Output format.")
    var to: String = "gguf"

    @Option(help: "Split the output into shards of at most this much tensor data (e.g. 500M, 4G).")
    var splitMaxSize: String?

    func validate() throws {
        guard to == "gguf" else { throw ValidationError("--to \(to): only gguf is supported so far") }
        if let splitMaxSize, Format.parseSize(splitMaxSize) == nil {
            throw ValidationError("--split-max-size '\(splitMaxSize)' is not a size like 500M or 4G")
        }
    }

    func run() throws {
        let model = try ModelFiles.read(input)
        let written = try ModelFiles.write(model, to: output, maxShardBytes: splitMaxSize.flatMap(Format.parseSize))
        print("wrote \(written.map(\.path).joined(separator: ", "))")
    }
}
