import Foundation
import Graph
import Testing
@testable import Formats
@testable import Engine
import TestSupport

/// The engine against llama.cpp's own outputs (TestModels/engine-golden.json, made by generate_engine_golden.py).
struct EngineParityTests {
    static func engine(_ name: String) throws -> Engine {
        try Engine(model: GGUF.readModel(at: EngineGolden.modelFile(name)))
    }

    /// llama.cpp multiplies quantized weights with activations quantized to 8 bits (and takes GELU from an
    /// f16 table), so its logits differ from a float computation by that rounding. Errors are measured
    /// relative to the spread of the reference logits at each position: at most 1% on average, 5% at worst,
    /// and the same top-1 token at 90% of positions.
    @Test(arguments: ["tiny-llama", "tiny-gemma3", "tiny-qwen2", "tiny-qwen3", "tiny-deci", "smollm2", "gemma3"])
    func logitsMatchLlamaCpp(model name: String) throws {
        let engine = try Self.engine(name)
        var agreement = LogitAgreement()
        for prompt in EngineGolden.models[name]!["prompts"] as! [[String: Any]] {
            let positions = prompt["positions"] as! [[String: Any]]
            try agreement.compare(engine: engine, tokens: prompt["tokens"] as! [Int], with: positions) { position in
                let values = position["logits"] as! [Double]
                return values.max()! - values.min()!
            }
        }
        #expect(agreement.mean <= 0.01, "\(name): mean error \(agreement.mean) of the logit spread")
        #expect(agreement.worst <= 0.05, "\(name): worst error \(agreement.worst) of the logit spread")
        #expect(Double(agreement.topAgreements) >= 0.9 * Double(agreement.positions),
                "\(name): top-1 agrees at \(agreement.topAgreements)/\(agreement.positions)")
        print("\(name): \(agreement)")
    }

    /// Same windows, same tokens: our perplexity within 1% of llama.cpp's.
    @Test(arguments: ["smollm2", "gemma3"])
    func perplexityMatchesLlamaCpp(model name: String) throws {
        let engine = try Self.engine(name)
        let reference = EngineGolden.models[name]!["perplexity"] as! [String: Any]
        let tokens = reference["tokens"] as! [Int]
        let bos = engine.model.metadata["tokenizer.ggml.add_bos_token"]?.bool == true
            ? engine.model.metadata["tokenizer.ggml.bos_token_id"]?.int : nil
        let result = try PerplexityEvaluation(context: reference["ctx"] as! Int).run(engine: engine, tokens: tokens, bos: bos)
        let expected = reference["perplexity"] as! Double
        #expect(result.scoredTokens == reference["scored"] as! Int)
        #expect(abs(result.perplexity - expected) / expected < 0.01, "\(name): ours \(result.perplexity), llama.cpp \(expected)")
        print("\(name): perplexity \(result.perplexity), llama.cpp \(expected)")
    }
}

/// Our logits against a reference's at each position: errors relative to a spread of the reference logits,
/// the log-sum-exp over the vocabulary included, and how often the top-1 token agrees.
struct LogitAgreement: CustomStringConvertible {
    private(set) var errors: [Double] = []
    private(set) var topAgreements = 0, positions = 0

    var mean: Double { errors.reduce(0, +) / Double(errors.count) }
    var worst: Double { errors.max() ?? 0 }
    var description: String { "logits mean error \(mean), worst \(worst) of the spread; top-1 \(topAgreements)/\(positions)" }

    /// `positions[i]` holds the reference's `ids`, their `logits`, `logSumExp` and `top` ids for token i.
    mutating func compare(engine: Engine, tokens: [Int], with positions: [[String: Any]],
                          spread: ([String: Any]) -> Double) throws {
        var states = try engine.embed([tokens])
        for block in 0 ..< engine.blockCount { try engine.runBlock(block, on: &states) }
        try engine.forEachLogits(of: states, rows: Array(tokens.indices)) { row, logits in
            let reference = positions[row]
            let scale = spread(reference)
            for (id, value) in zip(reference["ids"] as! [Int], reference["logits"] as! [Double]) {
                errors.append(abs(Double(logits[id]) - value) / scale)
            }
            let logSumExp = Kernels.logSumExp(logits.baseAddress!, count: logits.count)
            errors.append(abs(logSumExp - (reference["logSumExp"] as! Double)) / scale)
            let best = logits.indices.max { logits[$0] < logits[$1] }!
            if best == (reference["top"] as! [Int])[0] { topAgreements += 1 }
            self.positions += 1
        }
    }
}

/// Running tokens one at a time through the key/value cache gives the same logits as one full pass.
struct KeyValueCacheTests {
    @Test(arguments: ["tiny-llama", "tiny-gemma3"])
    func incrementalRunMatchesFullPass(model name: String) throws {
        let engine = try EngineParityTests.engine(name)
        let tokens = EngineGolden.firstPromptTokens(name)
        func logits(of states: HiddenStates, rows: [Int]) throws -> [[Float]] {
            var all: [[Float]] = []
            try engine.forEachLogits(of: states, rows: rows) { _, row in all.append(Array(row)) }
            return all
        }
        var full = try engine.embed([tokens])
        for block in 0 ..< engine.blockCount { try engine.runBlock(block, on: &full) }
        let expected = try logits(of: full, rows: Array(tokens.indices))

        let cache = KeyValueCache(blockCount: engine.blockCount, sequenceCount: 1, capacity: tokens.count)
        var incremental: [[Float]] = []
        let prefix = 5
        for piece in [Array(tokens[..<prefix])] + tokens[prefix...].map({ [$0] }) {
            var states = try engine.embed([piece])
            for block in 0 ..< engine.blockCount { try engine.runBlock(block, on: &states, cache: cache) }
            incremental += try logits(of: states, rows: Array(piece.indices))
        }
        #expect(tokens.count > 20, "long enough to cross tiny-gemma3's sliding window")
        for (position, (a, b)) in zip(expected, incremental).enumerated() {
            let worst = zip(a, b).map { abs($0 - $1) }.max()!
            #expect(worst < 1e-3, "\(name) position \(position): \(worst)")
        }
    }
}
