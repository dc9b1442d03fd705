import Foundation
import Graph
import Testing
@testable import Engine
@testable import Formats
import TestSupport

/// Few-row products run on weight matrices left encoded (`WeightMatrix.encoded`, decoded a panel of rows at a
/// time); they must give what the decoded matrices give. tiny-llama mixes Q4_0, Q4_K, Q8_0, F16, BF16 and F32.
struct EncodedMatrixTests {
    @Test func fewRowsThroughEncodedMatricesEqualTheDecodedBlocks() throws {
        let engine = try Engine(model: GGUF.readModel(at: EngineGolden.modelFile("tiny-llama")))
        let tokens = EngineGolden.firstPromptTokens("tiny-llama")
        let sequences = [Array(tokens.prefix(5)), Array(tokens.suffix(5))] // 10 rows: below encodedRowLimit
        try #require(10 < Engine.encodedRowLimit)
        func forward() throws -> [Float] {
            var states = try engine.embed(sequences)
            for block in 0 ..< engine.blockCount { try engine.runBlock(block, on: &states) }
            return states.values
        }
        let encoded = try forward() // nothing kept: every block runs on its encoded matrices
        let decoded = try engine.keepingWeights(upTo: 1 << 30) { try forward() } // every block fits: decoded and kept
        #expect(encoded.count == decoded.count)
        let worst = zip(encoded, decoded).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
        #expect(worst < 1e-5, "largest relative difference \(worst)")
    }

    /// Panel boundaries inside the matrix, rows of A and W outside the 4×4 blocks, a row length with a tail after
    /// its 16-float vectors, and a product added to what C holds (beta 1), against a product in Double.
    @Test(arguments: [(3, 32), (9, 48), (4, 40), (1, 7)])
    func panelsCoverEveryRowAndAddWithBeta(m: Int, k: Int) throws {
        let n = WeightMatrix.panelRows(rowLength: k) * 2 + 5
        let weights = (0 ..< n * k).map { Float(($0 * 7) % 11) / 4 - 1.25 }
        let bytes = weights.withUnsafeBytes { Array($0) }
        let file = MappedFile(name: "weights", contents: bytes)
        let tensor = Tensor(name: "w", shape: [k, n], type: .f32, data: TensorBytes(file: file, offset: 0, count: bytes.count),
                            ordinal: 0)
        let a = (0 ..< m * k).map { Float($0 % 5) / 3 - 0.5 }
        var c = [Float](repeating: 1, count: m * n)
        WeightMatrix.encoded(tensor).multiply(a, into: &c, m: m, n: n, k: k, beta: 1)
        for i in 0 ..< m {
            for j in 0 ..< n {
                let expected = 1 + (0 ..< k).reduce(0.0) { $0 + Double(a[i * k + $1]) * Double(weights[j * k + $1]) }
                #expect(abs(Double(c[i * n + j]) - expected) <= 1e-5 * max(1, abs(expected)), "C[\(i)][\(j)]")
            }
        }
    }
}
