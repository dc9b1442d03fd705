import Foundation
import Graph

/// Zero-shot multiple-choice accuracy. Each ending is scored as the log-likelihood of its tokens in
/// `context + " " + ending` (tokenized whole, BOS as the model adds it), three ways:
/// - `acc`: the summed log-likelihood of the tokens after the context's own tokens (lm-evaluation-harness);
/// - `acc_norm`: that sum divided by the ending's length in UTF-8 bytes (lm-evaluation-harness);
/// - `acc_per_token`: the mean log-likelihood of the tokens after the prefix all endings share, as
///   llama-perplexity --hellaswag counts (its acc_norm).
/// The first maximum wins a tie. An item's endings run together in one batch (right-padded, which a causal
/// model never sees), so their shared context is computed in the same pass.
public struct MultipleChoiceEvaluation: Sendable {
    public struct ItemScore: Codable, Sendable {
        public let source: String
        public let label: Int
        /// Per ending: summed log-likelihood after the context, its token count, and the mean after the shared prefix.
        public let logLikelihoods: [Double]
        public let tokenCounts: [Int]
        public let meanLogLikelihoods: [Double]
        public let endingBytes: [Int]
    }

    public struct Accuracy: Codable, Sendable {
        public let value: Double
        public let standardError: Double

        /// lm-evaluation-harness's mean and its standard error (sample standard deviation / √n).
        init(_ hits: [Bool]) {
            let n = Double(hits.count), mean = Double(hits.filter { $0 }.count) / max(n, 1)
            value = mean
            standardError = n > 1 ? (mean * (1 - mean) / (n - 1)).squareRoot() : 0
        }
    }

    public struct Result: Codable, Sendable {
        public let items: Int
        public let acc: Accuracy
        public let accNorm: Accuracy
        public let accPerToken: Accuracy
        public let scores: [ItemScore]
    }

    /// Tokens (padding included) run through the blocks together.
    public let tokensPerBatch: Int

    public init(tokensPerBatch: Int = 4096) {
        self.tokensPerBatch = tokensPerBatch
    }

    public func run(engine: Engine, tokenizer: any Tokenizer, items: [MultipleChoiceItem],
                    progress: ((_ stepsDone: Int, _ steps: Int) -> Void)? = nil) throws -> Result {
        let prepared = items.map { TokenizedItem($0, tokenizer: tokenizer) }
        let batches = batched(prepared)
        var scores = [ItemScore?](repeating: nil, count: items.count)
        let steps = batches.count * (engine.blockCount + 1)
        for (number, batch) in batches.enumerated() {
            let sequences = batch.flatMap { prepared[$0].sequences }
            let length = sequences.map(\.count).max() ?? 0
            var states = try engine.embed(sequences.map { $0 + Array(repeating: $0.last ?? 0, count: length - $0.count) })
            for block in 0 ..< engine.blockCount {
                try engine.runBlock(block, on: &states)
                progress?(number * (engine.blockCount + 1) + block + 1, steps)
            }
            var first = 0
            for index in batch {
                let item = prepared[index]
                let logLikelihoods = try item.sequences.indices.map { ending in
                    try tokenLogLikelihoods(engine: engine, states: states, row: (first + ending) * length,
                                            tokens: item.sequences[ending], from: item.firstScored)
                }
                scores[index] = item.score(logLikelihoods)
                first += item.sequences.count
            }
            progress?((number + 1) * (engine.blockCount + 1), steps)
        }
        let all = scores.compactMap { $0 }
        return Result(items: all.count,
                      acc: Accuracy(all.map { $0.label == Self.best($0.logLikelihoods) }),
                      accNorm: Accuracy(all.map { $0.label == Self.best(zip($0.logLikelihoods, $0.endingBytes).map { $0 / Double(max($1, 1)) }) }),
                      accPerToken: Accuracy(all.map { $0.label == Self.best($0.meanLogLikelihoods) }),
                      scores: all)
    }

    /// log p(tokens[i] | tokens[..<i]) for i from `start`, from the states of the sequence starting at `row`.
    private func tokenLogLikelihoods(engine: Engine, states: HiddenStates, row: Int, tokens: [Int], from start: Int) throws -> [Double] {
        let positions = Array(start ..< tokens.count)
        return try engine.negativeLogLikelihoods(of: states, rows: positions.map { row + $0 - 1 },
                                                 targets: positions.map { tokens[$0] }).map { -$0 }
    }

    /// Items grouped into batches of about `tokensPerBatch` tokens, similar lengths together.
    private func batched(_ items: [TokenizedItem]) -> [[Int]] {
        let order = items.indices.sorted { items[$0].longest < items[$1].longest }
        var batches: [[Int]] = [], current: [Int] = [], rows = 0, longest = 0
        for index in order {
            let item = items[index]
            let newLongest = max(longest, item.longest)
            if !current.isEmpty && (rows + item.sequences.count) * newLongest > tokensPerBatch {
                batches.append(current)
                (current, rows, longest) = ([], 0, 0)
            }
            current.append(index)
            rows += item.sequences.count
            longest = max(longest, item.longest)
        }
        if !current.isEmpty { batches.append(current) }
        return batches
    }

    /// The index of the first largest value.
    static func best(_ values: [Double]) -> Int {
        values.indices.reduce(0) { values[$1] > values[$0] ? $1 : $0 }
    }
}

/// An item's endings as token sequences, and where each way of counting starts.
private struct TokenizedItem {
    let source: String
    let label: Int
    let sequences: [[Int]]
    /// Tokens of the context alone: lm-evaluation-harness scores what follows.
    let contextLength: Int
    /// Tokens all endings share: llama-perplexity scores what follows.
    let sharedPrefix: Int
    let endingBytes: [Int]
    /// The first position scored either way (`start(for:after:)` of the earlier of the two prefixes).
    let firstScored: Int

    init(_ item: MultipleChoiceItem, tokenizer: any Tokenizer) {
        source = item.source
        label = item.label
        let sequences = item.endings.map { tokenizer.encode(item.context + " " + $0, addSpecial: true) }
        self.sequences = sequences
        contextLength = tokenizer.encode(item.context, addSpecial: true).count
        let shortest = sequences.map(\.count).min() ?? 0
        sharedPrefix = (0 ..< shortest).first { position in sequences.contains { $0[position] != sequences[0][position] } } ?? shortest
        endingBytes = item.endings.map { $0.utf8.count }
        let earlier = min(contextLength, sharedPrefix)
        firstScored = sequences.map { Self.start(for: $0, after: earlier) }.min() ?? 1
    }

    var longest: Int { sequences.map(\.count).max() ?? 0 }

    /// The first position scored either way: position 0 has nothing before it, and each ending keeps a token.
    static func start(for sequence: [Int], after prefix: Int) -> Int { max(1, min(prefix, sequence.count - 1)) }

    func score(_ logLikelihoods: [[Double]]) -> MultipleChoiceEvaluation.ItemScore {
        var sums: [Double] = [], counts: [Int] = [], means: [Double] = []
        for (sequence, values) in zip(sequences, logLikelihoods) {
            let afterContext = values[(Self.start(for: sequence, after: contextLength) - firstScored)...]
            let afterShared = values[(Self.start(for: sequence, after: sharedPrefix) - firstScored)...]
            sums.append(afterContext.reduce(0, +))
            counts.append(afterContext.count)
            means.append(afterShared.reduce(0, +) / Double(afterShared.count))
        }
        return .init(source: source, label: label, logLikelihoods: sums, tokenCounts: counts, meanLogLikelihoods: means,
                     endingBytes: endingBytes)
    }
}
