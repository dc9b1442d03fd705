import Foundation

/// Perplexity with llama.cpp's `llama-perplexity` protocol: the token stream is cut into non-overlapping
/// windows of `context` tokens (BOS replacing the first token of each when the model adds BOS), and each
/// window's second half is scored, every token predicted from all the tokens before it in its window.
public struct PerplexityEvaluation: Sendable {
    public struct Result: Codable, Sendable {
        public let perplexity: Double
        public let meanNegativeLogLikelihood: Double
        public let scoredTokens: Int
        public let windows: Int
        public let context: Int
    }

    public let context: Int
    public let maxWindows: Int?
    /// Tokens run through the blocks together; bounds the memory of the hidden states.
    public let tokensPerBatch: Int

    public init(context: Int, maxWindows: Int? = nil, tokensPerBatch: Int = 8192) {
        self.context = context
        self.maxWindows = maxWindows
        self.tokensPerBatch = tokensPerBatch
    }

    /// The text's windows of `context` tokens (at most `maxWindows`), BOS first when the model adds it.
    public func windows(of tokens: [Int], bos: Int?) throws -> [[Int]] {
        var windowCount = tokens.count / context
        if let maxWindows { windowCount = min(windowCount, maxWindows) }
        guard windowCount > 0 else { throw EngineError.textTooShort(tokens: tokens.count, needed: context) }
        return (0 ..< windowCount).map { index -> [Int] in
            var window = Array(tokens[index * context ..< (index + 1) * context])
            if let bos { window[0] = bos }
            return window
        }
    }

    /// Positions of a window whose next token is scored: the second half.
    public var scoredPositions: [Int] { Array(context / 2 ..< context - 1) }

    public func run(engine: Engine, tokens: [Int], bos: Int?,
                    progress: ((_ stepsDone: Int, _ steps: Int) -> Void)? = nil) throws -> Result {
        let windows = try self.windows(of: tokens, bos: bos)
        let scoredPositions = self.scoredPositions
        let perBatch = max(1, tokensPerBatch / context)
        var negativeLogLikelihood = 0.0, scored = 0
        let batchStarts = Array(stride(from: 0, to: windows.count, by: perBatch))
        let steps = batchStarts.count * (engine.blockCount + 1)
        for (batchIndex, start) in batchStarts.enumerated() {
            let batch = Array(windows[start ..< min(windows.count, start + perBatch)])
            var states = try engine.embed(batch)
            for block in 0 ..< engine.blockCount {
                try engine.runBlock(block, on: &states)
                progress?(batchIndex * (engine.blockCount + 1) + block + 1, steps)
            }
            let rows = batch.indices.flatMap { window in scoredPositions.map { window * context + $0 } }
            let targets = rows.map { batch[$0 / context][$0 % context + 1] }
            negativeLogLikelihood += try engine.negativeLogLikelihoods(of: states, rows: rows, targets: targets).reduce(0, +)
            scored += rows.count
            progress?((batchIndex + 1) * (engine.blockCount + 1), steps)
        }
        let mean = negativeLogLikelihood / Double(scored)
        return Result(perplexity: exp(mean), meanNegativeLogLikelihood: mean, scoredTokens: scored, windows: windows.count,
                      context: context)
    }
}
