import Foundation
import Graph
import Tensors

/// Reading GGUF files (single or split) into the common model, and writing the model back.
public enum GGUF {
    public static let blockPrefix = "blk."

    public static func readModel(at url: URL) throws -> Model {
        let first = try GGUFFile(url: url)
        let files = try shards(startingWith: first)
        var metadata = first.metadata
        if files.count > 1 {
            for key in GGUFSplit.keys { metadata[key] = nil }
        }
        var entries: [(info: GGUFFile.TensorInfo, data: TensorBytes, file: String)] = []
        for file in files {
            entries += file.tensors.map { ($0, file.data(of: $0), file.path) }
        }
        return try assemble(metadata: metadata, tensors: entries, origin: Origin(format: "gguf",
                            version: Int(first.version), files: files.map(\.file)))
    }

    /// The shards of a split model (just `first` when it is not split), each checked against the first.
    private static func shards(startingWith first: GGUFFile) throws -> [GGUFFile] {
        let stated = first.metadata[GGUFSplit.countKey]
        // llama.cpp's split.count is a UINT16; every shard is a file, so the count is bounded by what exists.
        guard let count = stated.map(\.int) ?? 1, (1 ... Int(UInt16.max)).contains(count) else {
            throw FormatError.split(file: first.path, problem: "split.count \(stated.map { "\($0)" } ?? "") is not from 1 to \(UInt16.max)")
        }
        let number = first.metadata[GGUFSplit.numberKey]?.int ?? 0
        guard count > 1 || number == 0 else {
            throw FormatError.split(file: first.path, problem: "split.no is \(number) but split.count is 1")
        }
        guard count > 1 else { return [first] }
        guard number == 0 else {
            throw FormatError.split(file: first.path, problem: "is shard \(number + 1) of \(count); pass the first shard")
        }
        var files = [first]
        for (index, url) in try GGUFSplit.shardURLs(firstShard: first.file.url, count: count).enumerated().dropFirst() {
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw FormatError.split(file: first.path, problem: "shard \(index + 1) of \(count) is missing: \(url.path)")
            }
            let shard = try GGUFFile(url: url)
            guard shard.metadata[GGUFSplit.numberKey]?.int == index, shard.metadata[GGUFSplit.countKey]?.int == count else {
                throw FormatError.split(file: shard.path, problem: "split.no/split.count do not say shard \(index + 1) of \(count)")
            }
            files.append(shard)
        }
        let total = files.reduce(0) { $0 + $1.tensors.count }
        if let expected = first.metadata[GGUFSplit.tensorCountKey]?.int, expected != total {
            throw FormatError.split(file: first.path, problem: "split.tensors.count is \(expected) but the shards hold \(total) tensors")
        }
        return files
    }

    private static func assemble(metadata: Metadata, tensors entries: [(info: GGUFFile.TensorInfo, data: TensorBytes, file: String)],
                                 origin: Origin) throws -> Model {
        let architecture = metadata["general.architecture"]?.string ?? "unknown"
        let statedBlockCount = metadata["\(architecture).block_count"]?.int
        var seen = Set<String>()
        var globals: [Tensor] = []
        var blocks = BlockAssembly()
        for (ordinal, entry) in entries.enumerated() {
            guard seen.insert(entry.info.name).inserted else {
                throw FormatError.duplicateTensor(file: entry.file, tensor: entry.info.name)
            }
            var tensor = Tensor(name: entry.info.name, shape: entry.info.shape, type: entry.info.type,
                                data: entry.data, ordinal: ordinal)
            guard let (index, role) = blockName(entry.info.name) else {
                globals.append(tensor)
                continue
            }
            if let statedBlockCount, index >= statedBlockCount {
                throw FormatError.blockOutOfRange(file: entry.file, tensor: entry.info.name, blockCount: statedBlockCount)
            }
            tensor.name = role
            blocks.add(tensor, toBlock: index)
        }
        let file = origin.files.first?.path ?? "model"
        return try Model(metadata: metadata, globalTensors: globals, blocks: blocks.blocks(file: file), origin: origin)
            .validated(file: file)
    }

    /// `blk.12.attn_q.weight` → (12, "attn_q.weight").
    static func blockName(_ name: String) -> (index: Int, role: String)? {
        guard name.hasPrefix(blockPrefix) else { return nil }
        let rest = name.dropFirst(blockPrefix.count)
        guard let dot = rest.firstIndex(of: "."), let index = Int(rest[..<dot]), index >= 0 else { return nil }
        return (index, String(rest[rest.index(after: dot)...]))
    }

    /// Every tensor with its GGUF name (`blk.N.role` inside blocks) and block, in the order of the source file(s).
    public static func namedTensors(of model: Model) -> [(name: String, tensor: Tensor, block: Int?)] {
        (model.globalTensors.map { ($0.name, $0, nil) }
            + model.blocks.enumerated().flatMap { index, block in
                block.tensors.map { ("\(blockPrefix)\(index).\($0.name)", $0, index) }
            }).sorted { $0.1.ordinal < $1.1.ordinal }
    }

    /// Writes `model` to `url`, or to shards named after it when its tensor data exceeds `maxShardBytes`;
    /// `encoder` may give tensors a new encoding (a conversion).
    /// Each file is written beside its target under a temporary name and renamed only when all are done.
    @discardableResult
    public static func write(_ model: Model, to url: URL, maxShardBytes: Int? = nil, encoder: TensorEncoder? = nil,
                             progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws -> [URL] {
        try GGUFWriter(model: model, maxShardBytes: maxShardBytes, encoder: encoder).write(to: url, progress: progress)
    }
}
