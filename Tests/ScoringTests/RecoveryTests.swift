import Foundation
import Graph
import Testing
@testable import Engine
@testable import Formats
@testable import Scoring
import Surgery
import TestSupport

/// Closed-form recovery on spans whose answer is known: a layer that is exactly x + RMSNorm(x)·W.
struct RecoveryTests {
    static let width = 64

    /// tiny-llama-align64 (2 blocks, 64 wide) with block 1 replaced by an exactly linear layer of weights `w`.
    static func modelWithLinearLayer(_ w: [Float]) throws -> Model {
        let input = try GGUF.readModel(at: Repository.testModel("tiny-llama-align64.gguf"))
        return try DeciRewrite(removal: SubLayerRemoval(blockCount: 2, blocks: [1]), replacements: [.blocks(1 ..< 2): .linear(w)])
            .apply(to: input).model
    }

    /// Random token sequences: what matters is that the layer's inputs span every direction.
    static func calibration(vocabulary: Int) -> Calibration {
        var generator = SplitMix64(seed: 7)
        let sequences = (0 ..< 12).map { _ in (0 ..< 48).map { _ in Int(generator.next() % UInt64(vocabulary)) } }
        return Calibration(sequences: sequences, source: "random")
    }

    /// W as F16 holds it (the file stores it so), with entries of a size a trained layer might have.
    static func weights(rank: Int? = nil) -> [Float] {
        var generator = SplitMix64(seed: 11)
        func uniform() -> Float { Float(Double(generator.next() >> 11) / Double(1 << 53)) - 0.5 }
        let n = width
        guard let rank else { return (0 ..< n * n).map { _ in Float(Float16(uniform() * 0.2)) } }
        let a = (0 ..< n * rank).map { _ in uniform() }, b = (0 ..< rank * n).map { _ in uniform() }
        return (0 ..< n * n).map { index in
            let (i, o) = (index / n, index % n)
            return Float(Float16((0 ..< rank).reduce(0) { $0 + a[i * rank + $1] * b[$1 * n + o] } * 0.1))
        }
    }

    static func fit(_ kind: RecoveryFit.Kind, on model: Model) throws -> ([Float], RecoveryFit.Fitted) {
        let engine = try Engine(model: model)
        let vocabulary = model.globalTensors.first { $0.name == "token_embd.weight" }!.shape[1]
        let (replacements, report) = try RecoveryFit(kind: kind).fit([.blocks(1 ..< 2)], engine: engine,
                                                                     calibration: calibration(vocabulary: vocabulary))
        guard case .linear(let fitted)? = replacements[.blocks(1 ..< 2)] else { throw TestFailure("no linear fit") }
        return (fitted, report[0])
    }

    struct TestFailure: Error { let message: String; init(_ message: String) { self.message = message } }

    @Test func linearFitReproducesAnExactlyLinearSpan() throws {
        let w = Self.weights()
        let (fitted, report) = try Self.fit(.linear, on: Self.modelWithLinearLayer(w))
        let worst = zip(fitted, w).map { abs($0 - $1) }.max()!
        #expect(worst < 1e-4, "largest weight error \(worst) (weights up to 0.1)")
        #expect(report.heldOutError < 1e-5 && report.ridge == RecoveryFit.ridgeScales.first)
    }

    @Test func lowRankFitReproducesALowRankSpan() throws {
        let w = Self.weights(rank: 4)
        let (fitted, report) = try Self.fit(.lowRank(4), on: Self.modelWithLinearLayer(w))
        let worst = zip(fitted, w).map { abs($0 - $1) }.max()!
        #expect(worst < 1e-4, "largest weight error \(worst)")
        #expect(report.heldOutError < 1e-5)
        // One rank short cannot be exact.
        let (_, short) = try Self.fit(.lowRank(3), on: Self.modelWithLinearLayer(w))
        #expect(short.heldOutError > 1e-3)
    }

    @Test func parsesKinds() {
        #expect(RecoveryFit.Kind(parsing: "lowrank:64") == .lowRank(64))
        #expect(RecoveryFit.Kind(parsing: "bias") == .bias && RecoveryFit.Kind(parsing: "linear") == .linear)
        for bad in ["lowrank:0", "lowrank:", "lowrank:-3", "Linear", "affine"] { #expect(RecoveryFit.Kind(parsing: bad) == nil) }
    }
}

/// Shapley estimates against identities that hold whatever the model.
struct ShapleyTests {
    static func scorer() throws -> BlockScorer {
        let model = try GGUF.readModel(at: Repository.testModel("tiny-llama.gguf"))
        return BlockScorer(engine: try Engine(model: model), calibration: RecoveryTests.calibration(vocabulary: 64))
    }

    /// Walking every candidate, each permutation's marginals sum to NLL(all removed) − NLL(none), so the
    /// values do too (Shapley's efficiency).
    @Test func valuesSumToTheWholeRemoval() throws {
        let scorer = try Self.scorer()
        let candidates = [1, 2, 3]
        let result = try ShapleyEstimate(permutations: 5, depth: 3).run(candidates: candidates, scorer: scorer, space: .blocks)
        let whole = try scorer.negativeLogLikelihood(keeping: [0]) - scorer.negativeLogLikelihood(keeping: [0, 1, 2, 3])
        let sum = candidates.reduce(0) { $0 + result.values[$1]! }
        #expect(abs(sum - whole) < 1e-9 * max(1, abs(whole)), "sum \(sum), whole removal \(whole)")
        #expect(result.samples == [0, 5, 5, 5] && result.values[0] == nil && result.evaluations == 20)
    }

    /// One step deep, every value is a leave-one-out rise, measured here on the block list directly.
    @Test func firstStepsAreLeaveOneOut() throws {
        let scorer = try Self.scorer()
        let result = try ShapleyEstimate(permutations: 12, depth: 1).run(candidates: [1, 2, 3], scorer: scorer, space: .blocks)
        let baseline = try scorer.negativeLogLikelihood(keeping: [0, 1, 2, 3])
        for block in 1 ... 3 where result.samples[block] > 0 {
            let loo = try scorer.negativeLogLikelihood(keeping: [0, 1, 2, 3].filter { $0 != block }) - baseline
            #expect(abs(result.values[block]! - loo) < 1e-9, "block \(block)")
            #expect(result.standardErrors[block] == nil || result.standardErrors[block]! < 1e-9)
        }
        #expect(result.samples.reduce(0, +) == 12)
    }
}
