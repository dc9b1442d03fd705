/// A decoder-only LLM graph seen as blocks, found by following the graph rather than by names alone: which
/// nodes form each block (node names `/model/layers.N/…`, or torch's `name_scopes` metadata for the dynamo
/// exporter's anonymous nodes), how the residual stream passes from block to block, and each block's
/// KV-cache inputs and outputs. It also rewires the graph when blocks go (see DecoderGraph+Removal.swift).
struct DecoderGraph {
    /// How one block hands the residual stream to the next.
    enum Residual: String {
        /// A plain `Add` chain (torch's exporters, optimum): one tensor between blocks.
        case addChain
        /// onnxruntime-genai's fused norms: a pair of tensors (the running sum and the last projection) that
        /// the next block's `SkipSimplifiedLayerNormalization` adds and normalizes.
        case fusedNorms
    }

    var graph: Onnx_GraphProto
    /// The block of each node of `graph.node`, nil for nodes outside the blocks (embedding, final norm, head).
    var blockOfNode: [Int?]
    let blockCount: Int
    let residual: Residual
    /// The embedding lookup's output: the residual stream entering block 0.
    let embedding: String
    let file: String
    /// Blocks already removed while others are being removed: what survives of them (nodes later blocks still
    /// read) does not count as the rest of the graph.
    var retired: Set<Int> = []
    /// Who makes and who reads each tensor; rebuilt (`reindex`) after the graph changes.
    private(set) var index = TensorIndex(nodes: [])

    static let fusedNorm = "SkipSimplifiedLayerNormalization"
    static let plainNorm = "SimplifiedLayerNormalization"

    init(graph: Onnx_GraphProto, file: String) throws {
        self.graph = graph
        self.file = file
        index = TensorIndex(nodes: graph.node)
        let blockOfNode = graph.node.map(Self.block(of:))
        self.blockOfNode = blockOfNode
        let numbers = Set(blockOfNode.compactMap { $0 })
        guard let last = numbers.max() else {
            throw FormatError.onnx(file: file, problem: "no node carries a block number (node names /model/layers.N/… or "
                + "torch's name_scopes metadata): not a decoder graph modelsurgery recognizes")
        }
        blockCount = last + 1
        if let missing = (0 ..< blockCount).first(where: { !numbers.contains($0) }) {
            throw FormatError.onnx(file: file, problem: "blocks are numbered up to \(last) but block \(missing) has no nodes")
        }
        residual = blockOfNode.indices.contains { blockOfNode[$0] != nil && graph.node[$0].opType == Self.fusedNorm }
            ? .fusedNorms : .addChain
        guard let lookup = graph.node.first(where: { ["Gather", "GatherBlockQuantized"].contains($0.opType)
            && $0.input.count > 1 && $0.input[1] == "input_ids" }), let output = lookup.output.first else {
            throw FormatError.onnx(file: file, problem: "no embedding lookup (a Gather of the input input_ids) found")
        }
        embedding = output
        for name in graph.input.map(\.name) + graph.output.map(\.name) {
            if let cache = LayerToken.cacheBlock(of: name), cache.number >= blockCount {
                throw FormatError.onnx(file: file, problem: "\(name) names block \(cache.number), but the graph has \(blockCount) blocks")
            }
        }
        // Every block's residual interface must be where the pattern says, before anything is changed.
        for block in 0 ..< blockCount {
            switch residual {
            case .addChain: _ = try residualOutput(of: block)
            case .fusedNorms: _ = try (entryNorm(of: block), nextNorm(after: block))
            }
        }
    }

    /// The block a node belongs to: the first `layers.N` of its name, else of torch's scope metadata.
    /// onnxruntime-genai names its final norm like a block past the last (`/model/layers.L/final_norm_layernorm`).
    static func block(of node: Onnx_NodeProto) -> Int? {
        if node.name.contains("final_norm") { return nil }
        if let number = LayerToken.first(in: node.name) { return number }
        for key in ["pkg.torch.onnx.name_scopes", "namespace"] {
            if let scope = node.metadataProps.first(where: { $0.key == key }), let number = LayerToken.first(in: scope.value) {
                return number
            }
        }
        return nil
    }

    /// ` (name, name, …)` of up to five nodes, for errors.
    func nodeList(_ indices: [Int]) -> String {
        guard !indices.isEmpty else { return "" }
        let names = indices.prefix(5).map { graph.node[$0].name.isEmpty ? graph.node[$0].opType : graph.node[$0].name }
        return " (" + names.joined(separator: ", ") + (indices.count > 5 ? ", …" : "") + ")"
    }

    // MARK: Who makes and who reads each tensor

    mutating func reindex() { index = TensorIndex(nodes: graph.node) }

    func producer(of tensor: String) -> Int? { index.producer[tensor] }

    /// Nodes that read `tensor`, directly or from inside one of their subgraphs.
    func consumers(of tensor: String) -> [Int] { index.readers[tensor] ?? [] }

    func isGraphOutput(_ tensor: String) -> Bool { graph.output.contains { $0.name == tensor } }

    /// Whether node `index` is in the graph outside `block` (not in it, nor in a block being removed).
    func isOutside(_ block: Int, _ index: Int) -> Bool {
        blockOfNode[index] != block && !(blockOfNode[index].map(retired.contains) ?? false)
    }

    func isProduced(_ tensor: String, inBlock block: Int) -> Bool {
        producer(of: tensor).map { blockOfNode[$0] == block } ?? false
    }

    // MARK: The residual interface

    /// Add chain: the residual leaving `block`, the one `Add` output of the block read outside it.
    func residualOutput(of block: Int) throws -> String {
        var found: [String] = []
        let adds = graph.node.indices.filter { blockOfNode[$0] == block && graph.node[$0].opType == "Add" }
        for index in adds {
            for output in graph.node[index].output where !output.isEmpty {
                let readOutside = consumers(of: output).contains { isOutside(block, $0) }
                if readOutside || isGraphOutput(output) { found.append(output) }
            }
        }
        guard found.count == 1 else {
            throw FormatError.onnx(file: file, problem: "block \(block): expected one Add whose output carries the residual "
                + "stream out of the block, found \(found.count)"
                + (found.isEmpty ? " among its Add nodes\(nodeList(adds))" : " (\(found.joined(separator: ", ")))"))
        }
        return found[0]
    }

    /// Add chain: the residual entering `block` (the previous block's output, or the embeddings).
    func residualInput(of block: Int) throws -> String {
        let input = block == 0 ? embedding : try residualOutput(of: block - 1)
        guard consumers(of: input).contains(where: { blockOfNode[$0] == block }) else {
            throw FormatError.onnx(file: file, problem: "block \(block) does not read the residual stream \(input)")
        }
        return input
    }

    /// Fused norms: the block's first norm, the one that reads nothing the block makes.
    func entryNorm(of block: Int) throws -> Int {
        let entries = graph.node.indices.filter { index in
            let node = graph.node[index]
            let inputs = node.opType == Self.fusedNorm ? 3 : node.opType == Self.plainNorm ? 2 : Int.max
            return blockOfNode[index] == block && node.input.count >= inputs && !node.output.isEmpty
                && node.input.allSatisfy { !isProduced($0, inBlock: block) }
        }
        guard entries.count == 1 else {
            throw FormatError.onnx(file: file, problem: "block \(block): expected one input norm reading the residual stream "
                + "from outside the block, found \(entries.count)\(nodeList(entries))")
        }
        return entries[0]
    }

    /// Fused norms: the norm after `block` (the next block's first, or the final norm) that adds the pair of
    /// tensors the block hands on.
    func nextNorm(after block: Int) throws -> Int {
        let next = graph.node.indices.filter { index in
            let node = graph.node[index]
            return isOutside(block, index) && node.opType == Self.fusedNorm && node.input.count >= 3 && !node.output.isEmpty
                && node.input[0 ..< 2].contains { isProduced($0, inBlock: block) }
        }
        guard next.count == 1 else {
            throw FormatError.onnx(file: file, problem: "block \(block): expected one \(Self.fusedNorm) after the block "
                + "taking its output, found \(next.count)\(nodeList(next))")
        }
        return next[0]
    }
}

/// The producer and the readers (subgraphs' reads of outer names included) of each tensor name of a graph.
struct TensorIndex {
    let producer: [String: Int]
    let readers: [String: [Int]]

    init(nodes: [Onnx_NodeProto]) {
        var producer: [String: Int] = [:], readers: [String: [Int]] = [:]
        for (index, node) in nodes.enumerated() {
            for output in node.output where !output.isEmpty && producer[output] == nil { producer[output] = index }
            for name in DecoderGraph.namesRead(by: node) where readers[name]?.last != index {
                readers[name, default: []].append(index)
            }
        }
        self.producer = producer
        self.readers = readers
    }
}
