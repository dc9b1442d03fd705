import Foundation
import Graph
import Tensors

/// Writes tensors as safetensors files, as the reference writes them: header JSON with `__metadata__` first,
/// then the tensors in the order given with contiguous `data_offsets`, the header padded with spaces to a
/// multiple of 8. Several shards get Hugging Face's names and `model.safetensors.index.json`.
public struct SafeTensorsWriter {
    public struct Tensor {
        public let name: String
        public let type: ElementType
        /// Dimensions outermost first, as the header writes them.
        public let shape: [Int]
        public let payload: TensorPayload

        public init(name: String, type: ElementType, shape: [Int], payload: TensorPayload) {
            self.name = name
            self.type = type
            self.shape = shape
            self.payload = payload
        }
    }

    /// The tensors of each file, in order.
    public let shards: [[Tensor]]
    /// Written into every file's `__metadata__` (transformers writes `format: pt`); nil writes no such key.
    public let metadata: [(key: String, value: String)]?
    private static let copyBufferSize = 4 << 20

    /// Groups the tensors into shards as transformers does for `max_shard_size`: a new shard starts when the
    /// next tensor would take the current one past `maxShardBytes` (tensor bytes only). Unlike transformers,
    /// a tensor larger than the limit keeps its place in the order instead of moving to a shard of its own ahead.
    public init(tensors: [Tensor], metadata: [(key: String, value: String)]? = nil, maxShardBytes: Int? = nil) {
        shards = shardGroups(tensors, maxBytes: maxShardBytes) { $0.payload.byteCount }
        self.metadata = metadata
    }

    /// `model.safetensors`, or `model-00001-of-00003.safetensors`, … for several shards.
    public var fileNames: [String] {
        shards.count == 1
            ? [SafeTensorsFolder.singleFileName]
            : shards.indices.map { String(format: "model-%05d-of-%05d.safetensors", $0 + 1, shards.count) }
    }

    /// Writes the files (and the index, for several shards) into `folder`, normally an `OutputFolder`'s
    /// temporary folder. Returns the names written.
    @discardableResult
    public func write(into folder: URL, progress: ((Int, Int) -> Void)? = nil) throws -> [String] {
        try validate(folder: folder)
        let names = fileNames
        let total = shards.joined().reduce(0) { $0 + $1.payload.byteCount }
        var done = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.copyBufferSize, alignment: 4096)
        defer { buffer.deallocate() }

        var outputs: [OutputFile] = []
        for (shard, name) in zip(shards, names) {
            let output = try OutputFile(target: folder.appendingPathComponent(name))
            outputs.append(output)
            try output.write(header(of: shard))
            for tensor in shard {
                try output.write(tensor.payload, of: tensor.name, through: buffer)
                done += tensor.payload.byteCount
                progress?(done, total)
            }
        }
        if shards.count > 1 {
            let output = try OutputFile(target: folder.appendingPathComponent(SafeTensorsFolder.indexFileName))
            outputs.append(output)
            try output.write(Array(index(totalSize: total).utf8))
        }
        for output in outputs { try output.commit() }
        return names + (shards.count > 1 ? [SafeTensorsFolder.indexFileName] : [])
    }

    /// Refuses what safetensors cannot hold before anything is written.
    private func validate(folder: URL) throws {
        var names = Set<String>()
        for tensor in shards.joined() {
            func refuse(_ problem: String) -> FormatError { .output(file: folder.path, problem: "tensor '\(tensor.name)' \(problem)") }
            guard names.insert(tensor.name).inserted else { throw refuse("is named twice") }
            guard tensor.name != SafeTensorsFile.metadataKey else { throw refuse("has a reserved name") }
            guard SafeTensorsFile.dtypes.contains(tensor.type) else { throw refuse("is \(tensor.type.name), which safetensors cannot store") }
            let elements = tensor.shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).partialValue }
            guard tensor.shape.allSatisfy({ $0 >= 0 }), tensor.type.byteCount(elements: elements) == tensor.payload.byteCount else {
                throw refuse("has \(tensor.payload.byteCount) bytes, which do not fit \(tensor.type.name) \(tensor.shape)")
            }
        }
    }

    /// The length prefix and the header JSON, padded with spaces so the data starts at a multiple of 8.
    func header(of shard: [Tensor]) -> [UInt8] {
        var members: [(key: String, value: JSONValue)] = []
        if let metadata {
            members.append((SafeTensorsFile.metadataKey, .object(metadata.map { ($0.key, .string($0.value)) })))
        }
        var offset = 0
        for tensor in shard {
            let end = offset + tensor.payload.byteCount
            members.append((tensor.name, .object([
                ("dtype", .string(tensor.type.name)),
                ("shape", .array(tensor.shape.map { .integer($0) })),
                ("data_offsets", .array([.integer(offset), .integer(end)])),
            ])))
            offset = end
        }
        var json = Array(JSONValue.object(members).serialized(.compact).utf8)
        json += [UInt8](repeating: UInt8(ascii: " "), count: (8 - json.count % 8) % 8)
        return withUnsafeBytes(of: UInt64(json.count).littleEndian, Array.init) + json
    }

    /// The index as transformers writes it: `json.dumps(index, indent=2, sort_keys=True) + "\n"`.
    func index(totalSize: Int) -> String {
        let names = fileNames
        let weightMap = zip(shards, names)
            .flatMap { shard, name in shard.map { (key: $0.name, value: JSONValue.string(name)) } }
            .sorted { $0.key.unicodeScalars.lexicographicallyPrecedes($1.key.unicodeScalars) }
        let index = JSONValue.object([
            ("metadata", .object([("total_size", .integer(totalSize))])),
            ("weight_map", .object(weightMap)),
        ])
        return index.serialized(.pythonIndented) + "\n"
    }
}
