import Foundation
import Graph
import Testing
@testable import Formats
@testable import Scoring
import Engine
import TestSupport

struct BlockMeasurementTests {
    let rows = 3, width = 4
    let x: [Float] = [1, -2, 3, 0.5, 0, 1, 0, -1, 2, 2, -2, 2]

    @Test func identityBlockChangesNothing() {
        let m = BlockMeasurement.measure(block: 0, input: x, output: x, rows: rows, width: width)
        #expect(abs(m.cosine - 1) < 1e-12 && m.angular < 1e-6 && m.mssd == 0 && m.masd == 0)
    }

    @Test func doublingBlockHasKnownDifferences() {
        let y = x.map { 2 * $0 }
        let m = BlockMeasurement.measure(block: 0, input: x, output: y, rows: rows, width: width)
        // y − x = x: ‖x‖²/‖x‖² = 1 and ‖x‖₁/‖x‖₁ = 1, with no change of direction.
        #expect(abs(m.cosine - 1) < 1e-12 && abs(m.mssd - 1) < 1e-12 && abs(m.masd - 1) < 1e-12)
    }

    @Test func oppositeBlockIsMaximallyDissimilar() {
        let m = BlockMeasurement.measure(block: 0, input: x, output: x.map { -$0 }, rows: rows, width: width)
        #expect(abs(m.cosine + 1) < 1e-12 && abs(m.angular - 1) < 1e-6 && abs(m.mssd - 4) < 1e-12 && abs(m.masd - 2) < 1e-12)
        #expect(abs(m.blockInfluence - 2) < 1e-12)
    }

    /// One token's metrics by hand: x = (3, 4), y = (3, 0): cos 0.6, ‖y−x‖² = 16 over 25, ‖y−x‖₁ = 4 over 7.
    @Test func singleTokenByHand() {
        let m = BlockMeasurement.measure(block: 0, input: [3, 4], output: [3, 0], rows: 1, width: 2)
        #expect(abs(m.cosine - 0.6) < 1e-9 && abs(m.mssd - 16.0 / 25) < 1e-9 && abs(m.masd - 4.0 / 7) < 1e-9)
        #expect(abs(m.angular - acos(0.6) / .pi) < 1e-9)
    }
}

struct SelectionTests {
    static func measurement(_ block: Int, cosine: Double, mssd: Double, masd: Double) -> BlockMeasurement {
        BlockMeasurement(block: block, cosine: cosine, angular: acos(cosine) / .pi, mssd: mssd, masd: masd)
    }

    static let scores = CalibrationScores(
        blocks: [measurement(0, cosine: 0.2, mssd: 300, masd: 12), measurement(1, cosine: 0.97, mssd: 0.06, masd: 0.4),
                 measurement(2, cosine: 0.96, mssd: 220, masd: 0.6), measurement(3, cosine: 0.98, mssd: 0.05, masd: 0.35),
                 measurement(4, cosine: 0.8, mssd: 0.5, masd: 0.9)],
        runAngular: [0.3, 0.1, 0.2, 0.4], runLength: 2, baselineNLL: 2, leaveOneOutNLL: [9, 2.1, 2.5, 2.05, 3], tokens: 10)

    @Test func ranksShareTies() {
        #expect(SimDiff.ranks([3, 1, 2, 1]) == [3, 0.5, 2, 0.5])
    }

    @Test func eachCriterionRemovesItsLeastImportantBlocks() {
        let selector = BlockSelector(count: 2, protected: [])
        #expect(selector.select(.cosine, scores: Self.scores)?.removed == [1, 3])
        #expect(selector.select(.loo, scores: Self.scores)?.removed == [1, 3])
        #expect(selector.select(.mssd, scores: Self.scores)?.removed == [1, 3])
        #expect(selector.select(.angular, scores: Self.scores)?.removed == [1, 2])
        // Block 2 is as similar as block 1 but makes an outlier correction: SimDiff keeps it.
        #expect(selector.select(.simdiff, scores: Self.scores)?.removed == [1, 3])
        #expect(SimDiff().importance(Self.scores.blocks)[2] > SimDiff().importance(Self.scores.blocks)[1])
    }

    @Test func protectedBlocksAreNeverChosen() {
        let selector = BlockSelector(count: 2, protected: [1])
        #expect(selector.select(.cosine, scores: Self.scores)?.removed == [2, 3])
        #expect(selector.select(.angular, scores: Self.scores)?.removed == [2, 3])
    }

    @Test func lambdaZeroIsCosineRanking() {
        let importance = SimDiff(lambda: 0).importance(Self.scores.blocks)
        #expect(importance == SimDiff.ranks(Self.scores.blocks.map(\.blockInfluence)).map { $0 / 4 })
    }

    @Test func simDiffFormula() {
        // Ranks (0 = smallest): BI [4,1,2,0,3], MSSD [4,1,3,0,2], MASD [4,1,2,0,3]; λ = 1, ε = 0.1, n − 1 = 4.
        let importance = SimDiff().importance(Self.scores.blocks)
        let expected = [(4.0, 4.0, 4.0), (1, 1, 1), (2, 3, 2), (0, 0, 0), (3, 2, 3)].map { bi, mssd, masd in
            (bi + (mssd + 0.1 * masd)) / (4 * 2.1)
        }
        for (a, b) in zip(importance, expected) { #expect(abs(a - b) < 1e-12) }
    }
}

/// Streaming one block at a time gives the same final states as any other order of the same work, and
/// its measurements agree with the per-block inputs and outputs it reports.
struct BlockStreamingTests {
    @Test func streamingMeasurementsMatchAFullPass() throws {
        let engine = try tinyLlama()
        let tokens = EngineGolden.firstPromptTokens("tiny-llama")
        let calibration = Calibration(sequences: [Array(tokens.prefix(16)), Array(tokens.suffix(16))], source: "test")
        let scores = try BlockScorer(engine: engine, calibration: calibration).measure(runLength: 2, leaveOneOut: true)

        var states = try engine.embed(calibration.sequences)
        for block in 0 ..< engine.blockCount {
            let input = states.values
            try engine.runBlock(block, on: &states)
            let direct = BlockMeasurement.measure(block: block, input: input, output: states.values,
                                                  rows: states.tokenCount, width: states.width)
            #expect(abs(direct.cosine - scores.blocks[block].cosine) < 1e-5)
            #expect(abs(direct.mssd - scores.blocks[block].mssd) < 1e-5 * max(1, direct.mssd))
        }
        #expect(scores.runAngular.count == engine.blockCount - 1)
        #expect(scores.leaveOneOutNLL?.count == engine.blockCount)
        #expect(scores.baselineNLL.isFinite && scores.baselineNLL > 0)
    }

    @Test func selfCalibrationIsReproducible() throws {
        let engine = try tinyLlama()
        let tokenizer = try Tokenizers.make(from: engine.model.metadata)
        let a = try Calibration.selfGenerated(engine: engine, tokenizer: tokenizer, count: 2, length: 12)
        let b = try Calibration.selfGenerated(engine: engine, tokenizer: tokenizer, count: 2, length: 12)
        #expect(a.sequences == b.sequences && a.sequences.allSatisfy { $0.count == 12 })
    }

    /// Scoring while sampling samples the same tokens as self-calibration, and measures what a streaming pass
    /// over them measures: the same block, branch and run metrics, NLL and kept inputs, up to the rounding of
    /// one position at a time through the cache against every position at once.
    @Test func scoringWhileSamplingEqualsSamplingThenAPass() throws {
        let engine = try tinyLlama()
        let tokenizer = try Tokenizers.make(from: engine.model.metadata)
        let fused = try BlockScorer.selfCalibrated(engine: engine, tokenizer: tokenizer, count: 3, length: 16, runLength: 2,
                                                   keepingInputs: true)
        let calibration = try Calibration.selfGenerated(engine: engine, tokenizer: tokenizer, count: 3, length: 16)
        #expect(fused.scorer.calibration.sequences == calibration.sequences)
        let pass = BlockScorer(engine: engine, calibration: calibration)
        let scores = try pass.measure(runLength: 2, keepingInputs: true)
        func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-5 * max(1, abs(b)) }
        for (ours, theirs) in zip(fused.scores.blocks + fused.scores.attention + fused.scores.feedForward,
                                  scores.blocks + scores.attention + scores.feedForward) {
            #expect(close(ours.cosine, theirs.cosine) && close(ours.angular, theirs.angular), "block \(ours.block)")
            #expect(close(ours.mssd, theirs.mssd) && close(ours.masd, theirs.masd), "block \(ours.block)")
        }
        #expect(fused.scores.runAngular.count == scores.runAngular.count)
        for (ours, theirs) in zip(fused.scores.runAngular, scores.runAngular) { #expect(close(ours, theirs)) }
        #expect(close(fused.scores.baselineNLL, scores.baselineNLL), "\(fused.scores.baselineNLL) vs \(scores.baselineNLL)")
        #expect(fused.scores.tokens == scores.tokens)
        let kept = try #require(fused.scorer.unpruned.inputs), reference = try #require(pass.unpruned.inputs)
        #expect(kept.count == reference.count)
        for (ours, theirs) in zip(kept, reference) {
            #expect(ours.count == theirs.count)
            #expect(zip(ours, theirs).allSatisfy { abs($0 - $1) <= 1e-4 * max(1, abs($1)) })
        }
    }
}

/// The streaming scorer against block metrics from an independent float64 numpy forward
/// (TestModels/generate_metrics_golden.py, itself checked against llama.cpp's logits).
struct MetricsGoldenTests {
    @Test func streamingMetricsMatchNumpy() throws {
        let url = Repository.testModel("metrics-golden.json")
        let golden = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        let engine = try tinyLlama()
        let calibration = Calibration(sequences: golden["sequences"] as! [[Int]], source: "golden")
        let scores = try BlockScorer(engine: engine, calibration: calibration)
            .measure(runLength: golden["runLength"] as! Int)
        // Float32 against float64 through every block: agreement to 1e-5 of each value (plus 1e-7 absolute).
        func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-5 * abs(b) + 1e-7 }
        for (ours, reference) in zip(scores.blocks, golden["blocks"] as! [[String: Double]]) {
            #expect(close(ours.cosine, reference["cosine"]!), "block \(ours.block) cosine \(ours.cosine) vs \(reference["cosine"]!)")
            #expect(close(ours.angular, reference["angular"]!), "block \(ours.block) angular")
            #expect(close(ours.mssd, reference["mssd"]!), "block \(ours.block) mssd \(ours.mssd) vs \(reference["mssd"]!)")
            #expect(close(ours.masd, reference["masd"]!), "block \(ours.block) masd")
        }
        for (ours, reference) in zip(scores.runAngular, golden["runAngular"] as! [Double]) {
            #expect(close(ours, reference), "run angular \(ours) vs \(reference)")
        }
        #expect(scores.runAngular.count == (golden["runAngular"] as! [Double]).count)
    }
}

/// The set search reuses the hidden states before the first block a swap changes; every NLL it reports must
/// equal a fresh pass over the pruned model, and it must find the best set where it can see them all.
struct SetRefinementTests {
    static func scorer() throws -> BlockScorer {
        let engine = try tinyLlama()
        let tokens = EngineGolden.firstPromptTokens("tiny-llama")
        let calibration = Calibration(sequences: [Array(tokens.prefix(16)), Array(tokens.suffix(16))], source: "test")
        return BlockScorer(engine: engine, calibration: calibration)
    }

    @Test func findsTheBestSingleBlockFromTheWorstStart() throws {
        let scorer = try Self.scorer()
        let loo = try scorer.measure(runLength: 1, leaveOneOut: true).leaveOneOutNLL!
        let blocks = Array(loo.indices)
        let worst = blocks.max { loo[$0] < loo[$1] }!, best = blocks.min { loo[$0] < loo[$1] }!
        let result = try SetRefinement(extra: blocks.count, budget: 100)
            .run(start: [worst], importance: loo, scorer: scorer, protected: [])
        #expect(result.removed == [best])
        #expect(abs(result.startNLL - loo[worst]) < 1e-9)
        #expect(abs(result.calibrationNLL - loo[best]) < 1e-9)
    }

    /// With the whole model as pool and budget enough, the swap search ends at a set no single swap improves.
    /// tiny-llama's three unprotected blocks make three pairs, each one swap from the others: it must end at the best.
    @Test func reportedNLLIsAFreshPassOfTheBestPair() throws {
        let scorer = try Self.scorer()
        let blockCount = scorer.engine.blockCount
        let importance = (0 ..< blockCount).map { Double(blockCount - $0) } // the last blocks look least important
        let start = [blockCount - 2, blockCount - 1]
        let result = try SetRefinement(extra: blockCount, budget: 50)
            .run(start: start, importance: importance, scorer: scorer, protected: [0])
        let fresh = try scorer.negativeLogLikelihood(keeping: (0 ..< blockCount).filter { !result.removed.contains($0) })
        #expect(abs(result.calibrationNLL - fresh) < 1e-9)
        #expect(result.removed.count == 2 && !result.removed.contains(0))
        try #require(blockCount == 4, "the test relies on three unprotected blocks")
        let candidates = Array(1 ..< blockCount)
        let pairs = candidates.flatMap { a in candidates.filter { $0 > a }.map { [a, $0] } }
        let best = try pairs.map { pair in
            (pair, try scorer.negativeLogLikelihood(keeping: (0 ..< blockCount).filter { !pair.contains($0) }))
        }.min { $0.1 < $1.1 }!
        #expect(result.removed == best.0, "found \(result.removed) (NLL \(result.calibrationNLL)), best \(best.0) (NLL \(best.1))")
        let startFresh = try scorer.negativeLogLikelihood(keeping: Array(0 ..< blockCount - 2))
        #expect(abs(result.startNLL - startFresh) < 1e-9)
    }

    /// Seeded with the unpruned states of the scoring pass, the start set's evaluation skips the blocks before
    /// its first removed one and gives the same NLL as a fresh pass; the work counted is exactly the blocks
    /// and head it ran, and a work budget stops the search before an evaluation that would exceed it.
    @Test func seededStartAndWorkBudget() throws {
        let scorer = try Self.scorer()
        let blockCount = scorer.engine.blockCount
        _ = try scorer.measure(runLength: 1, keepingInputs: true)
        try #require(scorer.unpruned.inputs?.count == blockCount)
        let importance = (0 ..< blockCount).map { Double(blockCount - $0) }
        let start = [blockCount - 1]
        let cost = PassCost(model: scorer.engine.model, calibration: scorer.calibration)
        let startWork = cost.evaluation(from: blockCount - 1) { $0 == blockCount - 1 ? [.attention, .feedForward] : [] }
        let onlyStart = try SetRefinement(extra: blockCount, budget: 50, work: startWork)
            .run(start: start, importance: importance, scorer: scorer, protected: [0])
        let fresh = try scorer.negativeLogLikelihood(keeping: Array(0 ..< blockCount - 1))
        #expect(abs(onlyStart.startNLL - fresh) < 1e-9)
        #expect(onlyStart.evaluations == 1 && onlyStart.removed == start)
        #expect(abs(onlyStart.passes - startWork / cost.pass) < 1e-12)
        // The head alone is less than a pass; a pass is every block plus the head.
        #expect(startWork < cost.pass && cost.evaluation(from: 0) { _ in [] } == cost.pass)

        let unbounded = try SetRefinement(extra: blockCount, budget: 50)
            .run(start: start, importance: importance, scorer: scorer, protected: [0])
        #expect(unbounded.evaluations > 1 && unbounded.passes > onlyStart.passes)
    }
}

/// The engine on TestModels/tiny-llama.gguf, the model the scoring goldens were made with.
func tinyLlama() throws -> Engine {
    try Engine(model: GGUF.readModel(at: EngineGolden.modelFile("tiny-llama")))
}
