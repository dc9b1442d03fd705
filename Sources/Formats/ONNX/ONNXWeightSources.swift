/// Where each weight of a recognized decoder graph is and how it is stored, by GGUF role: a block's
/// `attn_q.weight` is a MatMul's B, a Gemm's, a MatMulNBits' packed B; a norm's scale is a norm node's input
/// or the Mul of a decomposed norm. Fused roles (`attn_qkv`, `ffn_gate_up`) are split later, once the head
/// counts are known.
struct ONNXWeightSources {
    enum Source: Equatable {
        /// An initializer as it is: a vector, an embedding table, or a matrix already in out rows ([out, in]).
        case plain(String)
        /// A MatMul's (or Gemm's without transB) B, stored [in, out]: its rows are inputs, to be transposed.
        case transposed(String)
        /// The packed B of the MatMulNBits node with this index.
        case matMulNBits(Int)
        /// The table of the GatherBlockQuantized node with this index, whose data is `data`.
        case gatherBlockQuantized(Int, data: String)
    }

    /// Role (`attn_qkv.weight`, `ffn_norm.weight`, `attn_q.bias`) → source, for each block.
    var blocks: [[String: Source]]
    /// `token_embd.weight`, `output_norm.weight` and, unless tied to the embeddings, `output.weight`.
    var globals: [String: Source]
    /// The token embeddings, `token_embd.weight`.
    let embedding: Source

    /// Modules outside the blocks and their roles (the embeddings are the input_ids lookup's, by structure).
    static let globalRoles = ["norm": "output_norm", "final_norm_layernorm": "output_norm", "lm_head": "output"]
    static let normOps: Set<String> = ["SimplifiedLayerNormalization", "RMSNormalization", "LayerNormalization"]
    static let skipNormOps: Set<String> = ["SkipSimplifiedLayerNormalization", "SkipLayerNormalization"]
    /// The element types of weights read as they are (others are quantization data or constants).
    static let floatTypes = Set([Onnx_TensorProto.DataType.float, .float16, .bfloat16].map { Int32($0.rawValue) })

    init(decoder: DecoderGraph) throws {
        let graph = decoder.graph
        let initializers = Dictionary(graph.initializer.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var blocks = [[String: Source]](repeating: [:], count: decoder.blockCount)
        var globals: [String: Source] = [:]
        func record(_ role: String, _ source: Source, block: Int?) throws {
            let existing = block.map { blocks[$0][role] } ?? globals[role]
            if let existing, existing != source {
                throw FormatError.onnx(file: decoder.file, problem: "\(block.map { "block \($0)" } ?? "the graph") has two "
                    + "weights for \(role) (\(existing) and \(source))")
            }
            if let block { blocks[block][role] = source } else { globals[role] = source }
        }
        // Gemma puts a norm before and after each sub-layer: there post_attention_layernorm follows attention.
        var blockRoles = DecoderGraph.moduleRoles
        if graph.node.contains(where: { DecoderGraph.module(of: $0) == "pre_feedforward_layernorm" }) {
            blockRoles["post_attention_layernorm"] = "post_attention_norm"
        }
        for (index, node) in graph.node.enumerated() {
            let block = decoder.blockOfNode[index]
            let roles = block == nil ? Self.globalRoles : blockRoles
            guard let module = DecoderGraph.module(of: node, among: roles), let role = roles[module] else { continue }
            for (part, source) in try Self.weights(of: node, index: index, role: role, decoder: decoder,
                                                   initializers: initializers) {
                try record("\(role).\(part)", source, block: block)
            }
        }
        // The lookup of input_ids that DecoderGraph found holds the embeddings, whatever its name.
        guard let lookup = decoder.producer(of: decoder.embedding),
              let embedding = try Self.weights(of: graph.node[lookup], index: lookup, role: "token_embd", decoder: decoder,
                                               initializers: initializers).first?.1 else {
            throw FormatError.onnx(file: decoder.file, problem: "the embedding lookup reads no initializer: no token embeddings found")
        }
        globals["token_embd.weight"] = embedding
        if let output = globals["output.weight"], Self.initializer(of: output, in: graph) == Self.initializer(of: embedding, in: graph) {
            globals["output.weight"] = nil
        }
        self.blocks = blocks
        self.globals = globals
        self.embedding = embedding
    }

    /// The weights node `index` reads for `role`: (part, source), part `weight` or `bias`.
    private static func weights(of node: Onnx_NodeProto, index: Int, role: String, decoder: DecoderGraph,
                                initializers: [String: Onnx_TensorProto]) throws -> [(String, Source)] {
        func floatInitializer(_ position: Int) -> String? {
            guard node.input.count > position, let tensor = initializers[node.input[position]],
                  floatTypes.contains(tensor.dataType), (ONNXElementType.elementCount(tensor.dims) ?? 0) > 1 else { return nil }
            return tensor.name
        }
        let isNorm = role.hasSuffix("norm")
        switch node.opType {
        case "MatMul":
            // B as stored ([in, out]), widened by a Cast (f16 weights), or a Transpose of [out, in] rows.
            guard node.input.count > 1, let (weight, through) = initializer(behind: node.input[1], through: ["Cast", "Transpose"],
                                                                            decoder: decoder, initializers: initializers),
                  initializers[weight].map({ floatTypes.contains($0.dataType) }) == true else { return [] }
            return [("weight", through.contains("Transpose") ? .plain(weight) : .transposed(weight))]
        case "Gemm":
            // alpha · A·B + beta · C: only the plain product of a linear layer is a weight as it stands.
            let attributes = Dictionary(node.attribute.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
            guard attributes["alpha"].map({ $0.f == 1 }) ?? true, attributes["beta"].map({ $0.f == 1 }) ?? true,
                  attributes["transA"].map({ $0.i == 0 }) ?? true else {
                throw FormatError.onnx(file: decoder.file, problem: "Gemm '\(node.name)' scales or transposes its input "
                    + "(alpha, beta, transA): not a linear layer modelsurgery reads")
            }
            let transposedB = attributes["transB"]?.i == 1
            return [floatInitializer(1).map { ("weight", transposedB ? .plain($0) : .transposed($0)) },
                    floatInitializer(2).map { ("bias", .plain($0)) }].compactMap { $0 }
        case "MatMulNBits":
            return [("weight", .matMulNBits(index))]
        case "Add" where !isNorm:
            return (0 ..< node.input.count).compactMap(floatInitializer).prefix(1).map { ("bias", .plain($0)) }
        case "Mul" where isNorm:
            return (0 ..< node.input.count).compactMap(floatInitializer).prefix(1).map { ("weight", .plain($0)) }
        case _ where normOps.contains(node.opType):
            return floatInitializer(1).map { [("weight", .plain($0))] } ?? []
        case _ where skipNormOps.contains(node.opType):
            return floatInitializer(2).map { [("weight", .plain($0))] } ?? []
        case "Gather" where role == "token_embd":
            return floatInitializer(0).map { [("weight", .plain($0))] } ?? []
        case "GatherBlockQuantized" where role == "token_embd":
            guard let data = node.input.first.flatMap({
                initializer(behind: $0, through: ["Reshape"], decoder: decoder, initializers: initializers)?.name
            }) else { return [] }
            return [("weight", .gatherBlockQuantized(index, data: data))]
        default:
            return []
        }
    }

    /// The initializer `name` is, or is made from by a chain of the nodes `through` (at most one of each kind),
    /// with the kinds passed.
    private static func initializer(behind name: String, through kinds: Set<String>, decoder: DecoderGraph,
                                    initializers: [String: Onnx_TensorProto]) -> (name: String, through: Set<String>)? {
        var (current, passed) = (name, Set<String>())
        while initializers[current] == nil {
            guard let producer = decoder.producer(of: current), case let kind = decoder.graph.node[producer].opType,
                  kinds.contains(kind), !passed.contains(kind), let input = decoder.graph.node[producer].input.first else { return nil }
            passed.insert(kind)
            current = input
        }
        return (current, passed)
    }

    /// The initializer holding a source's values (MatMulNBits: its packed B), to tell tied weights.
    static func initializer(of source: Source, in graph: Onnx_GraphProto) -> String? {
        switch source {
        case .plain(let name), .transposed(let name), .gatherBlockQuantized(_, let name): name
        case .matMulNBits(let node): graph.node[node].input.count > 1 ? graph.node[node].input[1] : nil
        }
    }
}
