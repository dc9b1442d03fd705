import Engine
import Foundation

/// The token sequences a model is scored on: `count` sequences of `length` tokens each.
public struct Calibration: Sendable {
    public let sequences: [[Int]]
    /// Where they came from, for reports and provenance: file names, or "self-generated".
    public let source: String

    public init(sequences: [[Int]], source: String) {
        self.sequences = sequences
        self.source = source
    }

    public var tokenCount: Int { sequences.reduce(0) { $0 + $1.count } }

    /// Consecutive, non-overlapping pieces of the texts, as many as fit up to `count`; BOS first when the
    /// model adds one. Fails when not even one sequence fits.
    public static func fromTexts(_ texts: [(name: String, text: String)], tokenizer: any Tokenizer, count: Int,
                                 length: Int) throws -> Calibration {
        let bos = tokenizer.addsBOS ? tokenizer.bosID : nil
        let body = bos == nil ? length : length - 1
        var stream: [Int] = []
        for (_, text) in texts { stream += tokenizer.encode(text, addSpecial: false) }
        let fitting = min(count, stream.count / body)
        guard fitting > 0 else { throw EngineError.textTooShort(tokens: stream.count, needed: body) }
        let sequences = (0 ..< fitting).map { index in
            (bos.map { [$0] } ?? []) + stream[index * body ..< (index + 1) * body]
        }
        return Calibration(sequences: sequences, source: texts.map(\.name).joined(separator: ", "))
    }

    /// Self-calibration: text sampled from the model itself, starting at BOS, so scoring needs no data set
    /// (Williams et al., "Self-calibration for language model quantization and pruning", 2024). Sampling
    /// uses temperature `temperature` over the `topK` most likely tokens, with a fixed seed.
    public static func selfGenerated(engine: Engine, tokenizer: any Tokenizer, count: Int, length: Int,
                                     temperature: Float = 1.0, topK: Int = 50, seed: UInt64 = 0x5EED,
                                     progress: ((Int, Int) -> Void)? = nil) throws -> Calibration {
        var sampling = SelfSampling(count: count, length: length, temperature: temperature, topK: topK, seed: seed)
        return try sampling.run(engine: engine, tokenizer: tokenizer, progress: progress)
    }

    static func sample(_ logits: UnsafeBufferPointer<Float>, temperature: Float, topK: Int,
                               using generator: inout SplitMix64) -> Int {
        let candidates = topIndices(logits, count: topK)
        let top = logits[candidates[0]]
        let weights = candidates.map { Double(exp((logits[$0] - top) / temperature)) }
        var threshold = Double(generator.next() >> 11) / Double(1 << 53) * weights.reduce(0, +)
        for (candidate, weight) in zip(candidates, weights) {
            threshold -= weight
            if threshold <= 0 { return candidate }
        }
        return candidates.last!
    }
}

/// Indices of the `count` largest values, largest first, in one pass.
func topIndices(_ values: UnsafeBufferPointer<Float>, count: Int) -> [Int] {
    var best: [Int] = [] // ascending by value
    for index in values.indices where best.count < count || values[index] > values[best[0]] {
        if best.count == count { best.removeFirst() }
        let position = best.firstIndex { values[$0] > values[index] } ?? best.count
        best.insert(index, at: position)
    }
    return best.reversed()
}

/// A small, fast, seedable generator, so self-calibration is reproducible.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
