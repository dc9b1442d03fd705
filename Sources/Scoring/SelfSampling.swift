import Engine
import Foundation

/// The sampling loop of self-calibration: `count` sequences from BOS, one position of every sequence per step
/// through the key/value cache, each next token drawn with temperature `temperature` over the `topK` most likely
/// tokens from a fixed seed. Observers see each block's input, residual stream after attention and output, and
/// each row's logits with the token drawn from them; with a block observer, the last position runs the blocks
/// too, unsampled.
struct SelfSampling {
    let count: Int, length: Int
    let temperature: Float, topK: Int
    private var generator: SplitMix64

    /// (block, position, input, after attention, output) of one step's rows, one row per sequence.
    var observeBlock: ((Int, Int, [Float], [Float], [Float]) -> Void)?
    /// (position, sequence, logits, the token drawn).
    var observeLogits: ((Int, Int, UnsafeBufferPointer<Float>, Int) -> Void)?

    init(count: Int, length: Int, temperature: Float, topK: Int, seed: UInt64) {
        (self.count, self.length, self.temperature, self.topK) = (count, length, temperature, topK)
        generator = SplitMix64(seed: seed)
    }

    mutating func run(engine: Engine, tokenizer: any Tokenizer, progress: ((Int, Int) -> Void)?) throws -> Calibration {
        guard let start = tokenizer.bosID ?? tokenizer.eosID else { throw EngineError.missingMetadata("tokenizer.ggml.bos_token_id") }
        var sequences = Array(repeating: [start], count: count)
        let cache = KeyValueCache(blockCount: engine.blockCount, sequenceCount: count, capacity: length)
        let positions = observeBlock == nil ? length - 1 : length
        try engine.keepingWeights(upTo: 2 << 30) {
            for position in 0 ..< positions {
                var states = try engine.embed(sequences.map { [$0[position]] })
                for block in 0 ..< engine.blockCount {
                    guard let observeBlock else {
                        try engine.runBlock(block, on: &states, cache: cache)
                        continue
                    }
                    let input = states.values
                    var middle: [Float] = []
                    try engine.runBlock(block, on: &states, cache: cache) { middle = Array($0) }
                    observeBlock(block, position, input, middle, states.values)
                }
                if position < length - 1 {
                    try engine.forEachLogits(of: states, rows: Array(0 ..< count)) { index, logits in
                        let token = Calibration.sample(logits, temperature: temperature, topK: topK, using: &generator)
                        sequences[index].append(token)
                        observeLogits?(position, index, logits, token)
                    }
                }
                progress?(position + 1, positions)
            }
        }
        return Calibration(sequences: sequences, source: "self-generated (\(count)×\(length) tokens)")
    }
}
