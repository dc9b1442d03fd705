/// The hyper-parameters a user asks about, read from the metadata (GGUF key names). Sizes that may vary
/// per block hold one value per block, or a single value when the model states one for all.
public struct HyperParameters: Sendable {
    public let blockCount: Int
    public let hiddenSize: Int?
    public let headCount: [Int]
    public let headCountKV: [Int]
    public let feedForwardLength: [Int]
    public let vocabularySize: Int?
    public let contextLength: Int?

    init(model: Model) {
        let metadata = model.metadata
        func ints(_ suffix: String) -> [Int] {
            guard let value = metadata[model.key(suffix)] else { return [] }
            if let array = value.array { return array.compactMap(\.int) }
            return value.int.map { [$0] } ?? []
        }
        blockCount = model.blocks.count
        hiddenSize = metadata[model.key("embedding_length")]?.int
        headCount = ints("attention.head_count")
        headCountKV = ints("attention.head_count_kv")
        feedForwardLength = ints("feed_forward_length")
        contextLength = metadata[model.key("context_length")]?.int
        vocabularySize = metadata[model.key("vocab_size")]?.int
            ?? metadata["tokenizer.ggml.tokens"]?.arrayCount
            ?? model.globalTensors.first { $0.name == "token_embd.weight" }?.shape.last
    }
}
