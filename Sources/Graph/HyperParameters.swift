/// The architecture's hyper-parameters as llama.cpp reads them from the metadata (GGUF key names). This is
/// the one reader of those keys: the engine, inspection and the conversions all ask it.
public struct HyperParameters: Sendable {
    public let blockCount: Int
    public let hiddenSize: Int?
    public let headCount: PerBlock
    public let headCountKV: PerBlock
    public let feedForwardLength: PerBlock
    public let vocabularySize: Int?
    public let contextLength: Int?
    /// Width of one attention head's queries and keys: `attention.key_length`, else hidden size / heads.
    public let headSize: Int?
    /// Width of one head's values: `attention.value_length`, else the head size.
    public let valueHeadSize: Int?
    public let rmsEpsilon: Double?
    /// Tokens a sliding-window layer attends to (`attention.sliding_window`).
    public let slidingWindow: Int?
    public let rope: Rope

    public struct Rope: Sendable {
        public let base: Double?
        /// The base of sliding-window layers (`rope.freq_base_swa`).
        public let slidingBase: Double?
        /// The factor of linear position scaling, when the model states linear scaling with a positive factor.
        public let linearFactor: Double?
        /// Dimensions of each head that rotate (`rope.dimension_count`).
        public let dimensionCount: Int?
    }

    /// A size stated once for every block or as one value per block.
    public struct PerBlock: Sendable {
        public let values: [Int]
        public let isPerBlock: Bool

        /// Block `index`'s value: its entry of a per-block array (nil past its end), or the one value for all.
        public subscript(index: Int) -> Int? {
            isPerBlock ? (values.indices.contains(index) ? values[index] : nil) : values.first
        }
    }

    init(model: Model) {
        let metadata = model.metadata
        func value(_ suffix: String) -> MetadataValue? { metadata[model.key(suffix)] }
        func perBlock(_ suffix: String) -> PerBlock {
            guard let value = value(suffix) else { return PerBlock(values: [], isPerBlock: false) }
            if let array = value.array { return PerBlock(values: array.compactMap(\.int), isPerBlock: true) }
            return PerBlock(values: value.int.map { [$0] } ?? [], isPerBlock: false)
        }
        blockCount = model.blocks.count
        hiddenSize = value("embedding_length")?.int
        headCount = perBlock("attention.head_count")
        headCountKV = perBlock("attention.head_count_kv")
        feedForwardLength = perBlock("feed_forward_length")
        contextLength = value("context_length")?.int
        vocabularySize = value("vocab_size")?.int
            ?? metadata["tokenizer.ggml.tokens"]?.arrayCount
            ?? model.globalTensors.first { $0.name == "token_embd.weight" }?.shape.last
        let firstHeadCount = headCount[0]
        headSize = value("attention.key_length")?.int ?? hiddenSize.flatMap { width in
            firstHeadCount.flatMap { $0 > 0 ? width / $0 : nil }
        }
        valueHeadSize = value("attention.value_length")?.int ?? headSize
        rmsEpsilon = value("attention.layer_norm_rms_epsilon")?.double
        slidingWindow = value("attention.sliding_window")?.int
        let factor = value("rope.scaling.factor")?.double
        rope = Rope(base: value("rope.freq_base")?.double, slidingBase: value("rope.freq_base_swa")?.double,
                    linearFactor: value("rope.scaling.type")?.string == "linear" ? factor.flatMap { $0 > 0 ? $0 : nil } : nil,
                    dimensionCount: value("rope.dimension_count")?.int)
    }
}
