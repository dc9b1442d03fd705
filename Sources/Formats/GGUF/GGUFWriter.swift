import Foundation
import Graph
import Tensors

/// Lays a model out as one or more GGUF files and streams them to disk.
///
/// Phases per file: header, key/values, tensor infos, padding, then the tensor data copied from the
/// source mapping in bounded chunks. Offsets are the padded running sum in info order, as llama.cpp requires.
struct GGUFWriter {
    /// A tensor as it will be written: its GGUF name, shape, encoding and bytes.
    struct Entry {
        let name: String
        let shape: [Int]
        let type: ElementType
        let payload: TensorPayload
    }

    struct Shard {
        var metadata: Metadata
        var tensors: [Entry]
    }

    let model: Model
    let shards: [Shard]
    let version: UInt32
    let alignment: Int
    private static let copyBufferSize = 4 << 20

    init(model: Model, maxShardBytes: Int?, encoder: TensorEncoder?) throws {
        version = model.origin.format == "gguf" ? UInt32(model.origin.version) : 3
        alignment = model.metadata[GGUFFile.alignmentKey]?.int ?? GGUFFile.defaultAlignment

        let named = try GGUF.namedTensors(of: model).map { name, tensor, block in
            let encoded = try encoder?(tensor, block)
            return Entry(name: name, shape: tensor.shape, type: encoded?.type ?? tensor.type,
                         payload: encoded?.payload ?? .bytes(tensor.data))
        }
        if let entry = named.first(where: { !$0.type.existsInGGUF }) {
            throw FormatError.output(file: model.origin.files.first?.path ?? "model",
                                     problem: "tensor '\(entry.name)' is \(entry.type.name), which GGUF cannot store")
        }

        let groups = shardGroups(named, maxBytes: maxShardBytes) { $0.payload.byteCount }
        // split.no and split.count are UINT16 in llama.cpp.
        guard groups.count <= Int(UInt16.max) else {
            throw FormatError.output(file: model.origin.files.first?.path ?? "model",
                                     problem: "\(groups.count) shards are more than GGUF's split count can state; raise --split-max-size")
        }

        if groups.count == 1 {
            shards = [Shard(metadata: model.metadata, tensors: groups[0])]
        } else {
            shards = groups.enumerated().map { index, tensors in
                var metadata = index == 0 ? model.metadata : Metadata()
                metadata[GGUFSplit.numberKey] = .uint16(UInt16(index))
                metadata[GGUFSplit.countKey] = .uint16(UInt16(groups.count))
                metadata[GGUFSplit.tensorCountKey] = .int32(Int32(named.count))
                return Shard(metadata: metadata, tensors: tensors)
            }
        }
        self.model = model
    }

    func write(to url: URL, progress: ((Int, Int) -> Void)?) throws -> [URL] {
        let targets = shards.count == 1
            ? [url]
            : shards.indices.map { GGUFSplit.shardURL(for: url, index: $0, count: shards.count) }
        try checkNotOverwritingInput(targets, of: model)

        let total = shards.reduce(0) { $0 + $1.tensors.reduce(0) { $0 + $1.payload.byteCount } }
        var done = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.copyBufferSize, alignment: 4096)
        defer { buffer.deallocate() }

        var outputs: [OutputFile] = []
        for (shard, target) in zip(shards, targets) {
            let output = try OutputFile(target: target)
            outputs.append(output)
            try output.write(header(of: shard))
            for entry in shard.tensors {
                let bytes = entry.payload.byteCount
                try output.write(entry.payload, of: entry.name, through: buffer)
                try output.writeZeros(GGUFFile.padded(bytes, to: alignment) - bytes)
                done += bytes
                progress?(done, total)
            }
        }
        for output in outputs { try output.commit() }
        return targets
    }

    /// Everything before the data section: magic, version, counts, key/values, tensor infos, padding.
    private func header(of shard: Shard) -> [UInt8] {
        var encoder = GGUFEncoder()
        encoder.append(bytes: GGUFFile.magic)
        encoder.append(version)
        encoder.append(UInt64(shard.tensors.count))
        encoder.append(UInt64(shard.metadata.count))
        for (key, value) in shard.metadata.entries {
            encoder.append(key: key, value: value)
        }
        var offset = 0
        for entry in shard.tensors {
            encoder.append(string: Array(entry.name.utf8))
            encoder.append(UInt32(entry.shape.count))
            for dimension in entry.shape { encoder.append(Int64(dimension)) }
            encoder.append(entry.type.id)
            encoder.append(UInt64(offset))
            offset += GGUFFile.padded(entry.payload.byteCount, to: alignment)
        }
        encoder.pad(to: alignment)
        return encoder.bytes
    }
}
