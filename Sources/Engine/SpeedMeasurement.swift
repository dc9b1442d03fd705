import Foundation

/// The engine's speed in llama-bench's terms: prompt processing (one sequence of `promptTokens` through every
/// block, then the last token's logits) and generation (`generatedTokens` tokens one at a time through the
/// key/value cache, greedy), each in tokens per second. Dequantized blocks are kept between generation steps
/// when they fit in `weightCacheBytes`, as self-calibration does.
public struct SpeedMeasurement: Sendable {
    public struct Result: Codable, Sendable {
        public let promptTokens: Int
        public let promptTokensPerSecond: Double
        public let generatedTokens: Int
        public let generationTokensPerSecond: Double
    }

    public let promptTokens: Int
    public let generatedTokens: Int
    public let weightCacheBytes: Int

    public init(promptTokens: Int = 512, generatedTokens: Int = 128, weightCacheBytes: Int = 2 << 30) {
        self.promptTokens = promptTokens
        self.generatedTokens = generatedTokens
        self.weightCacheBytes = weightCacheBytes
    }

    /// `prompt` supplies the tokens (repeated as needed); the first run is a warm-up, as llama-bench's.
    public func run(engine: Engine, prompt: [Int], progress: ((_ stepsDone: Int, _ steps: Int) -> Void)? = nil) throws -> Result {
        guard !prompt.isEmpty else { throw EngineError.textTooShort(tokens: 0, needed: 1) }
        let tokens = (0 ..< promptTokens).map { prompt[$0 % prompt.count] }
        let steps = 3 + generatedTokens
        try processPrompt(tokens, engine: engine)
        progress?(1, steps)
        let promptSeconds = try Self.seconds { try processPrompt(tokens, engine: engine) }
        progress?(2, steps)
        let generationSeconds = try engine.keepingWeights(upTo: weightCacheBytes) {
            try generate(after: tokens[0], engine: engine) { progress?(3 + $0, steps) }
        }
        return Result(promptTokens: promptTokens, promptTokensPerSecond: Double(promptTokens) / promptSeconds,
                      generatedTokens: generatedTokens, generationTokensPerSecond: Double(generatedTokens) / generationSeconds)
    }

    private func processPrompt(_ tokens: [Int], engine: Engine) throws {
        var states = try engine.embed([tokens])
        for block in 0 ..< engine.blockCount { try engine.runBlock(block, on: &states) }
        _ = try engine.logits(of: states, rows: [tokens.count - 1][...])
    }

    /// Seconds spent generating `generatedTokens` tokens after `first`, not counting the first step (a warm-up
    /// that fills the weight cache).
    private func generate(after first: Int, engine: Engine, step: (Int) -> Void) throws -> Double {
        let cache = KeyValueCache(blockCount: engine.blockCount, sequenceCount: 1, capacity: generatedTokens + 1)
        var token = first, started = Date()
        for index in 0 ... generatedTokens {
            if index == 1 { started = Date() }
            var states = try engine.embed([[token]])
            for block in 0 ..< engine.blockCount { try engine.runBlock(block, on: &states, cache: cache) }
            let logits = try engine.logits(of: states, rows: [0][...])
            token = logits.indices.max { logits[$0] < logits[$1] } ?? 0
            step(index)
        }
        return Date().timeIntervalSince(started)
    }

    private static func seconds(_ body: () throws -> Void) throws -> Double {
        let started = Date()
        try body()
        return Date().timeIntervalSince(started)
    }
}
