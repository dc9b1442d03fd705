extension DecoderGraph {
    /// Removes `removed` blocks (ascending, not all): rewires the residual stream around each, drops its
    /// nodes and KV-cache inputs and outputs, and renumbers the rest contiguously. Nodes of a removed block
    /// that kept blocks still read (torch's exporters compute rotary and mask tensors once, in block 0) stay,
    /// renamed `removed_layers.N`; initializers nothing reads any more go. Returns the graph, recognized
    /// afresh, and the old → new names of the initializers that stay.
    func removingBlocks(_ removed: [Int]) throws -> (graph: DecoderGraph, initializerNames: [String: String]) {
        var edited = self
        let names = try edited.removeBlocks(removed)
        return (try DecoderGraph(graph: edited.graph, file: file), names)
    }

    private mutating func removeBlocks(_ removed: [Int]) throws -> [String: String] {
        // Rewiring only points readers at earlier tensors, and dropping nodes keeps the order: sorted once, the
        // graph stays sorted.
        try sortTopologically()
        reindex()
        for block in removed.reversed() {
            switch residual {
            case .addChain: try bypassAddChain(block)
            case .fusedNorms: try bypassFusedNorms(block)
            }
            graph.output.removeAll { LayerToken.cacheBlock(of: $0.name)?.number == block }
            dropDeadNodes(in: [block])
            retired.insert(block)
            reindex()
        }
        let gone = Set(removed)
        let removedCache = Set(graph.input.map(\.name).filter { name in
            LayerToken.cacheBlock(of: name).map { gone.contains($0.number) } ?? false
        })
        try redirectReads(of: removedCache, keptBlocks: (0 ..< blockCount).filter { !gone.contains($0) })
        graph.input.removeAll { removedCache.contains($0.name) }
        dropUnreferenced()
        let names = renumber(removing: gone)
        try checkEachTensorIsDefinedOnce()
        return names
    }

    /// Each tensor is defined once: by a node, as an initializer, or as a graph input (old IR versions list
    /// initializers among the inputs too).
    private func checkEachTensorIsDefinedOnce() throws {
        let initializers = graph.initializer.map(\.name)
        let listed = Set(initializers)
        let defined = graph.node.flatMap(\.output).filter { !$0.isEmpty } + initializers
            + graph.input.map(\.name).filter { !listed.contains($0) }
        if let clash = Dictionary(defined.map { ($0, 1) }, uniquingKeysWith: +).first(where: { $0.value > 1 }) {
            throw FormatError.onnx(file: file, problem: "renumbering the blocks would give two tensors the name \(clash.key)")
        }
    }

    /// Add chain: whoever read the block's output reads its input instead.
    private mutating func bypassAddChain(_ block: Int) throws {
        let input = try residualInput(of: block), output = try residualOutput(of: block)
        for index in consumers(of: output) where blockOfNode[index] != block {
            replaceInput(output, with: input, inNode: index)
        }
        for index in graph.output.indices where graph.output[index].name == output {
            graph.output[index].name = input
        }
    }

    /// Fused norms: the norm after the block adds the pair the block received. When the block received the
    /// embeddings alone (its entry norm is a plain norm), the norm after it becomes a plain norm of them, and
    /// its sum output, which carried the stream on, is the embeddings.
    private mutating func bypassFusedNorms(_ block: Int) throws {
        let entry = graph.node[try entryNorm(of: block)]
        let next = try nextNorm(after: block)
        if entry.opType == Self.fusedNorm {
            graph.node[next].input[0] = entry.input[0]
            graph.node[next].input[1] = entry.input[1]
            return
        }
        let embeddings = entry.input[0]
        var node = graph.node[next]
        let sum = node.output.count > 3 ? node.output[3] : ""
        for unused in node.output.dropFirst().prefix(2) where !unused.isEmpty && !consumers(of: unused).isEmpty {
            throw FormatError.onnx(file: file, problem: "node \(node.name): output \(unused) is read, so it cannot become a plain norm")
        }
        let epsilon = node.attribute.first { $0.name == "epsilon" }
        node.opType = entry.opType
        node.domain = entry.domain
        node.input = [embeddings, node.input[2]]
        node.output = [node.output[0]]
        node.attribute = entry.attribute.map { attribute in
            attribute.name == "epsilon" ? epsilon ?? attribute : attribute
        }
        if node.name.hasSuffix("SkipLayerNorm") { node.name = String(node.name.dropLast("SkipLayerNorm".count)) + "LayerNorm" }
        graph.node[next] = node
        if !sum.isEmpty {
            for index in consumers(of: sum) { replaceInput(sum, with: embeddings, inNode: index) }
        }
    }

    private mutating func replaceInput(_ old: String, with new: String, inNode index: Int) {
        graph.node[index].input = graph.node[index].input.map { $0 == old ? new : $0 }
    }

    /// Drops nodes of the removed blocks whose outputs nothing reads any more, until none is left: in
    /// topological order, one pass from the end sees every reader of a node before the node.
    private mutating func dropDeadNodes(in removed: Set<Int>) {
        var read = Set(graph.output.map(\.name))
        var alive = [Bool](repeating: true, count: graph.node.count)
        for index in graph.node.indices.reversed() {
            if let block = blockOfNode[index], removed.contains(block), !graph.node[index].output.contains(where: read.contains) {
                alive[index] = false
            } else {
                read.formUnion(Self.namesRead(by: graph.node[index]))
            }
        }
        graph.node = graph.node.indices.filter { alive[$0] }.map { graph.node[$0] }
        blockOfNode = blockOfNode.indices.filter { alive[$0] }.map { blockOfNode[$0] }
    }

    /// Every name a node reads, its subgraphs' reads of outer names included (not the empty name of an
    /// omitted optional input).
    static func namesRead(by node: Onnx_NodeProto) -> [String] {
        node.input.filter { !$0.isEmpty } + node.attribute.flatMap { attribute in
            ((attribute.hasG ? [attribute.g] : []) + attribute.graphs).flatMap { $0.node.flatMap(namesRead) }
        }
    }

    /// Graph-level reads of a removed block's KV inputs (the past length or batch size taken from its
    /// shape) move to the first kept block's input of the same kind.
    private mutating func redirectReads(of removedCache: Set<String>, keptBlocks: [Int]) throws {
        let inputs = Set(graph.input.map(\.name))
        for name in removedCache where inputs.contains(name) {
            let readers = consumers(of: name)
            guard !readers.isEmpty else { continue }
            let cache = LayerToken.cacheBlock(of: name)!
            guard let replacement = keptBlocks.lazy.map({ "\(cache.prefix)\($0).\(cache.kind)" }).first(where: inputs.contains) else {
                throw FormatError.onnx(file: file, problem: "\(name) is still read, and no kept block has a \(cache.kind) cache input")
            }
            for index in readers { replaceInput(name, with: replacement, inNode: index) }
        }
    }
}

extension DecoderGraph {
    /// Kept blocks become 0, 1, …; what survives of a removed block N becomes `removed_layers.N`; the final
    /// norm that onnxruntime-genai numbers as a block past the last follows the new count. Names, tensor
    /// names, initializers and torch's scope metadata all change together. Returns old → new initializer names.
    mutating func renumber(removing gone: Set<Int>) -> [String: String] {
        let kept = (0 ..< blockCount).filter { !gone.contains($0) }
        var number = Dictionary(uniqueKeysWithValues: kept.enumerated().map { ($0.element, $0.offset) })
        number[blockCount] = kept.count
        let rename = { (name: String) in Self.renumbered(name, number, removed: gone) }
        var initializerNames: [String: String] = [:]
        for index in graph.initializer.indices {
            let name = graph.initializer[index].name
            initializerNames[name] = rename(name)
            graph.initializer[index].name = rename(name)
        }
        for index in graph.node.indices {
            graph.node[index].name = rename(graph.node[index].name)
            graph.node[index].input = graph.node[index].input.map(rename)
            graph.node[index].output = graph.node[index].output.map(rename)
            for entry in graph.node[index].metadataProps.indices
                where ["pkg.torch.onnx.name_scopes", "namespace"].contains(graph.node[index].metadataProps[entry].key) {
                graph.node[index].metadataProps[entry].value = rename(graph.node[index].metadataProps[entry].value)
            }
        }
        for index in graph.input.indices { graph.input[index].name = rename(graph.input[index].name) }
        for index in graph.output.indices { graph.output[index].name = rename(graph.output[index].name) }
        for index in graph.valueInfo.indices { graph.valueInfo[index].name = rename(graph.valueInfo[index].name) }
        blockOfNode = blockOfNode.map { $0.flatMap { number[$0] } }
        return initializerNames
    }

    static func renumbered(_ name: String, _ number: [Int: Int], removed: Set<Int>) -> String {
        if let cache = LayerToken.cacheBlock(of: name), let new = number[cache.number] {
            return "\(cache.prefix)\(new).\(cache.kind)"
        }
        return LayerToken.replacing(in: name) { old in
            removed.contains(old) ? "removed_layers.\(old)" : "layers.\(number[old] ?? old)"
        }
    }

    /// Drops initializers (and value infos) that nothing reads any more; shared ones stay while one reader does.
    mutating func dropUnreferenced() {
        var read = Set(graph.output.map(\.name))
        for node in graph.node { read.formUnion(Self.namesRead(by: node)) }
        let dropped = Set(graph.initializer.map(\.name).filter { !read.contains($0) })
        graph.initializer.removeAll { dropped.contains($0.name) }
        graph.input.removeAll { dropped.contains($0.name) }
        let produced = Set(graph.node.flatMap(\.output))
        graph.valueInfo.removeAll { !produced.contains($0.name) }
    }

    /// Puts the nodes back in an order where each comes after the nodes it reads (rewiring only ever points a
    /// reader at an earlier tensor, so this is normally the order already), keeping the order where it can.
    mutating func sortTopologically() throws {
        var producer: [String: Int] = [:]
        for (index, node) in graph.node.enumerated() {
            for output in node.output where !output.isEmpty { producer[output] = index }
        }
        let dependencies = graph.node.map { node in Set(Self.namesRead(by: node).compactMap { producer[$0] }) }
        if dependencies.enumerated().allSatisfy({ index, needs in needs.allSatisfy { $0 < index } }) { return }
        var order: [Int] = [], placed = Set<Int>()
        while order.count < graph.node.count {
            guard let next = graph.node.indices.first(where: { !placed.contains($0) && dependencies[$0].isSubset(of: placed) }) else {
                throw FormatError.onnx(file: file, problem: "the rewired graph has a cycle")
            }
            order.append(next)
            placed.insert(next)
        }
        graph.node = order.map { graph.node[$0] }
        blockOfNode = order.map { blockOfNode[$0] }
    }
}
