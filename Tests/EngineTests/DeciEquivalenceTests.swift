import Foundation
import Graph
import Testing
@testable import Engine
@testable import Formats
import Surgery
import TestSupport

/// What the deci rewrite writes, run by the engine, against the same removals done other ways.
struct DeciEquivalenceTests {
    static let tokens = [1, 5, 9, 2, 33, 17, 4, 60, 8, 21, 3, 44, 12, 7]

    static func tinyLlama() throws -> Model { try GGUF.readModel(at: Repository.testModel("tiny-llama.gguf")) }

    /// Every position's logits, with block i skipping `skipping[i]`.
    static func logits(_ model: Model, skipping: [Int: SubLayers] = [:]) throws -> [Float] {
        let engine = try Engine(model: model)
        var states = try engine.embed([tokens])
        for block in 0 ..< engine.blockCount { try engine.runBlock(block, on: &states, skipping: skipping[block] ?? []) }
        var result: [Float] = []
        try engine.forEachLogits(of: states, rows: Array(tokens.indices)) { _, row in result += row }
        return result
    }

    static func largestDifference(_ a: [Float], _ b: [Float]) -> Float {
        #expect(a.count == b.count)
        return zip(a, b).map { abs($0 - $1) }.max() ?? .infinity
    }

    @Test func zeroRecoveryEqualsPlainPruning() throws {
        let input = try Self.tinyLlama()
        let plain = try Self.logits(BlockRemoval(removing: LayerSelection(indices: [1, 2]), blockCount: 4).apply(to: input).model)
        let removal = try SubLayerRemoval(blockCount: 4, blocks: [1, 2])
        for zero in [Replacement.linear([Float](repeating: 0, count: 256 * 256)), .bias([Float](repeating: 0, count: 256))] {
            let recovered = try DeciRewrite(removal: removal, replacements: [.blocks(1 ..< 3): zero]).apply(to: input).model
            #expect(Self.largestDifference(try Self.logits(recovered), plain) == 0)
        }
    }

    /// Sub-layers removed in the file (deci layers without attention, zero FFNs) against the unchanged model
    /// with the same sub-layers skipped by the engine; written to GGUF and read back, so the computed tensors
    /// go through the writer too.
    @Test func removedSubLayersMatchSkippedOnes() throws {
        let input = try Self.tinyLlama()
        let removal = try SubLayerRemoval(blockCount: 4, attention: [1, 3], feedForward: [2])
        let skipped = try Self.logits(input, skipping: [1: .attention, 3: .attention, 2: .feedForward])
        let written = try Repository.temporaryDirectory().appendingPathComponent("deci.gguf")
        try GGUF.write(DeciRewrite(removal: removal).apply(to: input).model, to: written)
        let reread = try GGUF.readModel(at: written)
        #expect(reread.architecture == "deci")
        let difference = Self.largestDifference(try Self.logits(reread), skipped)
        #expect(difference < 1e-4, "largest logit difference \(difference)")
    }
}
