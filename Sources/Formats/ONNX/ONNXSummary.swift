import Foundation

/// What `inspect` shows of an ONNX model: where it came from, its interface, and its blocks with the nodes,
/// parameters and bytes of each (an initializer read by several blocks, such as shared rotary caches,
/// counts as shared).
public struct ONNXSummary: Encodable {
    public struct Value: Encodable {
        public let name: String
        public let type: String
        public let shape: [String]
    }

    public struct Part: Encodable {
        public let nodes: Int
        public let parameters: Int
        public let bytes: Int
    }

    public struct Tensor: Encodable {
        /// The initializer's part in the block (`attn_q.weight`, `ffn_down.scales`), as the common model names it.
        public let role: String
        public let name: String
        public let type: String
        public let shape: [Int]
        public let bytes: Int
    }

    public struct BlockSummary: Encodable {
        public let index: Int
        public let nodes: Int
        public let parameters: Int
        public let bytes: Int
        public let cacheInputs: [String]
        public let cacheOutputs: [String]
        public let tensors: [Tensor]
    }

    public let file: String
    public let format = "onnx"
    public let producer: String
    public let irVersion: Int
    /// Domain ("ai.onnx" for the default one) → opset version.
    public let opsets: [String: Int]
    public let inputs: [Value]
    public let outputs: [Value]
    public let residual: String
    public let blockCount: Int
    public let parameters: Int
    public let bytes: Int
    public let globals: Part
    /// Initializers read by more than one block, or by a block and the rest of the graph.
    public let shared: Part
    public let blocks: [BlockSummary]
    /// External data files with their sizes.
    public let externalData: [String: Int]
    /// Earlier surgery recorded in the model's metadata_props.
    public let originalBlockCount: Int?
    public let removedBlocks: [Int]?
}

extension ONNXModel {
    public var summary: ONNXSummary {
        let model = source.model, graph = decoder.graph
        let sizes = Dictionary(uniqueKeysWithValues: graph.initializer.map { ($0.name, Self.size(of: $0)) })
        // The blocks reading each initializer (nil for the graph outside the blocks).
        var readers: [String: Set<Int?>] = [:]
        for (node, block) in zip(graph.node, decoder.blockOfNode) {
            for name in DecoderGraph.namesRead(by: node) where sizes[name] != nil { readers[name, default: []].insert(block) }
        }
        func part(_ names: [String], nodes: Int) -> ONNXSummary.Part {
            ONNXSummary.Part(nodes: nodes, parameters: names.reduce(0) { $0 + sizes[$1]!.elements },
                             bytes: names.reduce(0) { $0 + sizes[$1]!.bytes })
        }
        let owned = { (block: Int?) in sizes.keys.filter { readers[$0] == [block] } }
        let roles = decoder.initializerRoles()
        let tensors = Dictionary(graph.initializer.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let blocks = (0 ..< blockCount).map { block -> ONNXSummary.BlockSummary in
            let counts = part(owned(block), nodes: decoder.blockOfNode.filter { $0 == block }.count)
            let cache = { (names: [String]) in names.filter { LayerToken.cacheBlock(of: $0)?.number == block } }
            let named = (roles[block] ?? []).map { role, name in
                ONNXSummary.Tensor(role: role, name: name, type: ONNXElementType.name(tensors[name]!.dataType),
                                   shape: tensors[name]!.dims.map { Int($0) }, bytes: sizes[name]!.bytes)
            }
            return ONNXSummary.BlockSummary(index: block, nodes: counts.nodes, parameters: counts.parameters, bytes: counts.bytes,
                                            cacheInputs: cache(graph.input.map(\.name)), cacheOutputs: cache(graph.output.map(\.name)),
                                            tensors: named)
        }
        let unread = sizes.keys.filter { readers[$0] == nil }
        let shared = sizes.keys.filter { (readers[$0]?.count ?? 0) > 1 }
        let everything = part(Array(sizes.keys), nodes: graph.node.count)
        let record = provenance
        return ONNXSummary(
            file: path, producer: [model.producerName, model.producerVersion].filter { !$0.isEmpty }.joined(separator: " "),
            irVersion: Int(model.irVersion),
            opsets: Dictionary(model.opsetImport.map { ($0.domain.isEmpty ? "ai.onnx" : $0.domain, Int($0.version)) },
                               uniquingKeysWith: max),
            inputs: graph.input.map(Self.value), outputs: graph.output.map(Self.value), residual: decoder.residual.rawValue,
            blockCount: blockCount, parameters: everything.parameters, bytes: everything.bytes,
            globals: part(owned(nil) + unread, nodes: decoder.blockOfNode.filter { $0 == nil }.count),
            shared: part(shared, nodes: 0), blocks: blocks,
            externalData: externalDataSizes,
            originalBlockCount: record?.originalBlockCount, removedBlocks: record?.removedBlocks)
    }

    /// Each external data file's size, by its location relative to the model (two folders may hold files of one name).
    private var externalDataSizes: [String: Int] {
        let folder = source.file.url.deletingLastPathComponent().path + "/"
        return Dictionary(source.externalFiles.map { file in
            (file.path.hasPrefix(folder) ? String(file.path.dropFirst(folder.count)) : file.url.lastPathComponent, file.size)
        }, uniquingKeysWith: { first, _ in first })
    }

    public var parameterCount: Int { decoder.graph.initializer.reduce(0) { $0 + Self.size(of: $1).elements } }
    public var byteCount: Int { decoder.graph.initializer.reduce(0) { $0 + Self.size(of: $1).bytes } }

    private static func size(of tensor: Onnx_TensorProto) -> (elements: Int, bytes: Int) {
        let elements = ONNXElementType.elementCount(tensor.dims) ?? 0
        return (elements, ONNXElementType.bits(tensor.dataType).flatMap { ONNXElementType.byteCount(elements: elements, bits: $0) } ?? 0)
    }

    private static func value(_ info: Onnx_ValueInfoProto) -> ONNXSummary.Value {
        let tensor = info.type.tensorType
        let shape = tensor.shape.dim.map { dimension -> String in
            switch dimension.value {
            case .dimValue(let value): String(value)
            case .dimParam(let name): name
            case nil: "?"
            }
        }
        return ONNXSummary.Value(name: info.name, type: ONNXElementType.name(tensor.elemType), shape: shape)
    }
}
