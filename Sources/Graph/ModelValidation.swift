/// A model whose metadata is out of range or contradicts its tensors; the description names the key, its
/// value and what it contradicts (readers prefix the file).
public struct InconsistentModel: Error, CustomStringConvertible, Equatable {
    public let problem: String
    public var description: String { problem }
}

extension Model {
    /// Checks every hyper-parameter that the engine, surgery and the writers use: present where needed, in
    /// range, and consistent with the tensors' actual shapes, the way llama.cpp checks shapes when it loads a
    /// model. Afterwards code may divide, index and allocate by these values. Readers call it on every model.
    public func validate() throws {
        try ModelValidation(model: self).run()
    }
}

/// The checks of `Model.validate()`, one concern each: counts, scalar ranges, global tensors, each block.
/// Shapes follow llama.cpp's roles (`attn_q.weight` is {n_embd, n_head·head_size}, ...), which every format's
/// reader maps its tensors to; a role a model does not have is not checked.
private struct ModelValidation {
    let model: Model
    let metadata: Metadata
    /// The per-block sizes stated as arrays, decoded once (a long array stays encoded in the metadata, and
    /// decoding it for every block would cost blocks²).
    let perBlockValues: [String: [MetadataValue]]

    static let perBlockSuffixes = ["attention.head_count", "attention.head_count_kv", "feed_forward_length"]

    init(model: Model) {
        self.model = model
        metadata = model.metadata
        perBlockValues = Dictionary(uniqueKeysWithValues: Self.perBlockSuffixes.compactMap { suffix in
            model.metadata[model.key(suffix)]?.array.map { (suffix, $0) }
        })
    }

    func run() throws {
        try checkBlockCount()
        try checkPerBlockArrays()
        try checkScalars()
        guard let width = try integer("embedding_length", atLeast: 1) else { return }
        try checkVocabulary(width: width)
        for index in model.blocks.indices { try checkBlock(index, width: width) }
    }

    private func fail(_ problem: String) -> InconsistentModel { InconsistentModel(problem: problem) }

    /// The blocks are the ones the tensors describe; a stated count must agree, and no block may be empty.
    private func checkBlockCount() throws {
        let key = model.key("block_count")
        if let stated = metadata[key] {
            guard stated.int == model.blocks.count else {
                throw fail("\(key) = \(shown(stated)) but the tensors describe \(model.blocks.count) blocks")
            }
        }
        if let empty = model.blocks.firstIndex(where: { $0.tensors.isEmpty }) {
            throw fail("block \(empty) has no tensors (the tensors describe \(model.blocks.count) blocks)")
        }
    }

    /// Per-block sizes stated as arrays have one entry per block.
    private func checkPerBlockArrays() throws {
        for suffix in Self.perBlockSuffixes + [SlidingWindowRule.patternKey] {
            let key = model.key(suffix)
            guard let count = metadata[key]?.arrayCount, suffix != SlidingWindowRule.patternKey || count > 0 else { continue }
            guard count == model.blocks.count else {
                throw fail("\(key) has \(count) entries but the model has \(model.blocks.count) blocks")
            }
        }
    }

    private func checkScalars() throws {
        _ = try integer("context_length", atLeast: 0)
        _ = try integer("attention.sliding_window", atLeast: 0)
        _ = try integer("vocab_size", atLeast: 1)
        for suffix in ["rope.freq_base", "rope.freq_base_swa", "attention.layer_norm_rms_epsilon"] {
            try positiveNumber(suffix)
        }
        if metadata[model.key("rope.scaling.type")]?.string == "linear" { try positiveNumber("rope.scaling.factor") }
    }

    /// Embedding rows, output head and tokenizer agree on the vocabulary; norms are as wide as the model.
    private func checkVocabulary(width: Int) throws {
        let embeddings = global("token_embd.weight")
        try expect(embeddings, "token_embd.weight", width: width)
        let rows = embeddings.flatMap { $0.shape.count == 2 ? $0.shape[1] : nil }
        try expect(global("output.weight"), "output.weight", shape: rows.map { [width, $0] }, because: "token_embd.weight's rows")
        try expect(global("output_norm.weight"), "output_norm.weight", shape: [width], because: model.key("embedding_length"))
        guard let rows else { return }
        if let stated = try integer("vocab_size", atLeast: 1), stated != rows {
            throw fail("\(model.key("vocab_size")) = \(stated) but token_embd.weight has \(rows) rows")
        }
        guard let tokens = metadata["tokenizer.ggml.tokens"]?.arrayCount else { return }
        guard tokens == rows else { throw fail("tokenizer.ggml.tokens has \(tokens) entries but token_embd.weight has \(rows) rows") }
        for key in ["tokenizer.ggml.scores", "tokenizer.ggml.token_type"] {
            if let count = metadata[key]?.arrayCount, count != tokens {
                throw fail("\(key) has \(count) entries but tokenizer.ggml.tokens has \(tokens)")
            }
        }
    }

    private func checkBlock(_ index: Int, width: Int) throws {
        let block = model.blocks[index]
        let heads = try blockInteger("attention.head_count", index, atMost: width)
        let kvHeads = try blockInteger("attention.head_count_kv", index, atMost: width)
        let feedForward = try blockInteger("feed_forward_length", index, atMost: Self.largestSize)
        let tensor = { (role: String) in (block.tensor(role), "blk.\(index).\(role)") }
        for role in ["attn_norm.weight", "ffn_norm.weight", "post_attention_norm.weight", "post_ffw_norm.weight",
                     "attn_output.bias", "ffn_down.bias"] {
            let (found, name) = tensor(role)
            try expect(found, name, shape: [width], because: model.key("embedding_length"))
        }
        if let heads {
            try checkAttention(of: block, index, width: width, heads: heads, kvHeads: kvHeads ?? heads)
        }
        // deci states layers without a feed-forward network (0); everywhere else 0 contradicts the FFN tensors.
        if feedForward == 0, model.architecture != "deci", block.tensor("ffn_up.weight") != nil {
            throw fail("\(model.key("feed_forward_length")) = 0 in block \(index), which has feed-forward tensors")
        }
        if let feedForward, feedForward > 0 {
            let because = "\(model.key("feed_forward_length")) = \(feedForward)"
            for role in ["ffn_gate.weight", "ffn_up.weight"] {
                let (found, name) = tensor(role)
                try expect(found, name, shape: [width, feedForward], because: because)
            }
            let (down, name) = tensor("ffn_down.weight")
            try expect(down, name, shape: [feedForward, width], because: because)
            for role in ["ffn_gate.bias", "ffn_up.bias"] {
                let (found, name) = tensor(role)
                try expect(found, name, shape: [feedForward], because: because)
            }
        }
    }

    /// Heads divide into key/value groups, and the projections have the shapes heads × head size imply.
    private func checkAttention(of block: Block, _ index: Int, width: Int, heads: Int, kvHeads: Int) throws {
        let headKey = model.key("attention.head_count"), kvKey = model.key("attention.head_count_kv")
        // deci states layers without attention (0 heads) and with "linear attention" (0 key/value heads).
        let perLayerAttention = model.architecture == "deci"
        guard heads > 0 || perLayerAttention else { throw fail("\(headKey) = 0 in block \(index): every block needs heads") }
        guard kvHeads > 0 || perLayerAttention else { throw fail("\(kvKey) = 0 in block \(index): every block needs key/value heads") }
        guard heads > 0 else { return }
        guard kvHeads == 0 || heads % kvHeads == 0 else {
            throw fail("\(kvKey) = \(kvHeads) does not divide \(headKey) = \(heads) in block \(index)")
        }
        let name = { (role: String) in "blk.\(index).\(role)" }
        if kvHeads == 0 {
            try expect(block.tensor("attn_output.weight"), name("attn_output.weight"), shape: [width, width],
                       because: "linear attention (\(kvKey) = 0)")
            return
        }
        let headSize = try checkedHeadSize(heads: heads)
        let valueSize = try integer("attention.value_length", atLeast: 1) ?? headSize
        let sizes = "\(headKey) = \(heads), \(kvKey) = \(kvHeads), head size \(headSize)"
        try expect(block.tensor("attn_q.weight"), name("attn_q.weight"), shape: [width, heads * headSize], because: sizes)
        try expect(block.tensor("attn_k.weight"), name("attn_k.weight"), shape: [width, kvHeads * headSize], because: sizes)
        try expect(block.tensor("attn_v.weight"), name("attn_v.weight"), shape: [width, kvHeads * valueSize], because: sizes)
        try expect(block.tensor("attn_output.weight"), name("attn_output.weight"), shape: [heads * valueSize, width], because: sizes)
        try expect(block.tensor("attn_q.bias"), name("attn_q.bias"), shape: [heads * headSize], because: sizes)
        try expect(block.tensor("attn_k.bias"), name("attn_k.bias"), shape: [kvHeads * headSize], because: sizes)
        try expect(block.tensor("attn_v.bias"), name("attn_v.bias"), shape: [kvHeads * valueSize], because: sizes)
        for role in ["attn_q_norm.weight", "attn_k_norm.weight"] {
            try expect(block.tensor(role), name(role), shape: [headSize], because: "head size \(headSize)")
        }
    }

    /// `attention.key_length`, else embedding_length / head_count as llama.cpp derives it; RoPE rotates at
    /// most that many dimensions, an even number of them.
    private func checkedHeadSize(heads: Int) throws -> Int {
        let width = try integer("embedding_length", atLeast: 1) ?? 0
        let headSize = try integer("attention.key_length", atLeast: 1) ?? width / heads
        // RoPE turns pairs of dimensions, and transformers' layout splits each head in halves.
        guard headSize > 0, headSize % 2 == 0 else {
            throw fail("head size \(headSize) (\(model.key("attention.key_length")), else \(model.key("embedding_length")) = \(width) "
                       + "/ \(heads) heads) must be even and at least 2")
        }
        let rotated = try integer("rope.dimension_count", atLeast: 1) ?? headSize
        guard rotated <= headSize, rotated % 2 == 0 else {
            throw fail("\(model.key("rope.dimension_count")) = \(rotated) must be even and at most the head size \(headSize)")
        }
        try expect(global("rope_freqs.weight"), "rope_freqs.weight", shape: [rotated / 2], because: "\(rotated) rotated dimensions")
        return headSize
    }

    // MARK: reading values

    private func global(_ name: String) -> Tensor? { model.globalTensors.first { $0.name == name } }

    /// `{arch}.suffix` as an integer from `minimum` to llama.cpp's limit (UInt32/Int32), nil when absent.
    /// The bound keeps every product of two sizes within Int.
    private func integer(_ suffix: String, atLeast minimum: Int) throws -> Int? {
        let key = model.key(suffix)
        guard let value = metadata[key] else { return nil }
        guard let number = value.int, number >= minimum, number <= Self.largestSize else {
            throw fail("\(key) = \(shown(value)) must be an integer from \(minimum) to \(Self.largestSize)")
        }
        return number
    }

    private static let largestSize = Int(Int32.max)

    /// A value as an error shows it: numbers as they are, never a string from the file.
    private func shown(_ value: MetadataValue) -> String {
        value.string != nil ? "a string" : value.arrayCount.map { "an array of \($0)" } ?? value.description
    }

    /// Block `index`'s entry of a per-block size (one value for all, or an array), between 0 and `maximum`.
    private func blockInteger(_ suffix: String, _ index: Int, atMost maximum: Int) throws -> Int? {
        let key = model.key(suffix)
        guard let value = metadata[key] else { return nil }
        let entry = perBlockValues[suffix].map { $0[index] } ?? value
        guard let number = entry.int, number >= 0, number <= maximum else {
            throw fail("\(key) = \(shown(entry)) in block \(index) must be an integer from 0 to \(maximum)")
        }
        return number
    }

    private func positiveNumber(_ suffix: String) throws {
        let key = model.key(suffix)
        guard let value = metadata[key] else { return }
        guard let number = value.double, number.isFinite, number > 0 else {
            throw fail("\(key) = \(shown(value)) must be a positive finite number")
        }
    }

    /// A tensor that exists has the shape the hyper-parameters imply.
    private func expect(_ tensor: Tensor?, _ name: String, shape: [Int]?, because reason: String) throws {
        guard let tensor, let shape, tensor.shape != shape else { return }
        throw fail("tensor '\(name)' has shape \(tensor.shape), expected \(shape) from \(reason)")
    }

    /// A matrix whose rows are as wide as the model.
    private func expect(_ tensor: Tensor?, _ name: String, width: Int) throws {
        guard let tensor, tensor.shape.first != width || tensor.shape.count != 2 else { return }
        throw fail("tensor '\(name)' has shape \(tensor.shape), expected rows of \(width) from \(model.key("embedding_length")) = \(width)")
    }
}
