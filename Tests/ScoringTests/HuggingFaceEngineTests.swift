import Foundation
import Graph
import Testing
@testable import Formats
@testable import Scoring
import Surgery

/// The engine on Hugging Face folders against transformers' own logits (TestModels/hf/golden.json, made by
/// TestModels/hf/generate_hf.py): whole models, and models pruned by us, written as a folder and read back.
struct HuggingFaceEngineTests {
    static let fixtures = EngineParityTests.root.appendingPathComponent("TestModels/hf")
    nonisolated(unsafe) static let golden: [String: Any] = {
        let data = try! Data(contentsOf: fixtures.appendingPathComponent("golden.json"))
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }()

    /// Both sides compute in float32 from the same weights, so only summation order differs: errors are
    /// measured relative to each sequence's logit spread, at most 1e-5 on average and 1e-4 at worst (measured: about 1e-7 and 7e-7).
    func expectLogits(of model: Model, match variant: String, of name: String) throws {
        let engine = try Engine(model: model)
        let reference = (Self.golden["models"] as! [String: [String: Any]])[name]!
        var errors: [Double] = []
        var topAgreements = 0, positions = 0
        for sequence in reference["sequences"] as! [[String: Any]] {
            let ids = sequence["ids"] as! [Int]
            let expected = sequence[variant] as! [String: Any]
            let spread = expected["spread"] as! Double
            var states = try engine.embed([ids])
            for block in 0 ..< engine.blockCount { try engine.runBlock(block, on: &states) }
            let rows = expected["positions"] as! [[String: Any]]
            try engine.forEachLogits(of: states, rows: Array(ids.indices)) { row, logits in
                let position = rows[row]
                for (id, value) in zip(position["ids"] as! [Int], position["logits"] as! [Double]) {
                    errors.append(abs(Double(logits[id]) - value) / spread)
                }
                let logSumExp = Kernels.logSumExp(logits.baseAddress!, count: logits.count)
                errors.append(abs(logSumExp - (position["logSumExp"] as! Double)) / spread)
                let best = logits.indices.max { logits[$0] < logits[$1] }!
                if best == (position["top"] as! [Int])[0] { topAgreements += 1 }
                positions += 1
            }
        }
        let mean = errors.reduce(0, +) / Double(errors.count), worst = errors.max()!
        #expect(mean <= 1e-5, "\(name) \(variant): mean error \(mean) of the spread")
        #expect(worst <= 1e-4, "\(name) \(variant): worst error \(worst) of the spread")
        #expect(topAgreements == positions, "\(name) \(variant): top-1 agrees at \(topAgreements)/\(positions)")
        print("\(name) \(variant): mean error \(mean), worst \(worst) of the spread; top-1 \(topAgreements)/\(positions)")
    }

    @Test(arguments: ["tiny-llama-hf", "tiny-qwen2-hf", "tiny-gemma3-hf"])
    func wholeFolderMatchesTransformers(name: String) throws {
        let model = try HuggingFace.readModel(at: Self.fixtures.appendingPathComponent(name))
        #expect(model.layout == .transformers)
        try expectLogits(of: model, match: "whole", of: name)
    }

    @Test(arguments: ["tiny-llama-hf", "tiny-qwen2-hf", "tiny-gemma3-hf"])
    func prunedFolderMatchesTransformers(name: String) throws {
        let source = try HuggingFace.readModel(at: Self.fixtures.appendingPathComponent(name))
        let removed = Self.golden["removed"] as! [Int]
        let pruned = try BlockRemoval(removing: LayerSelection(indices: removed), blockCount: source.blocks.count)
            .apply(to: source).model
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("pruned-\(name)-\(getpid())")
        defer { try? FileManager.default.removeItem(at: folder) }
        try HuggingFace.write(pruned, to: folder)
        try expectLogits(of: HuggingFace.readModel(at: folder), match: "pruned", of: name)
    }

    /// A GGUF written by llama.cpp's converter from the same folder gives the folder's logits: the engine
    /// undoes exactly what the converter did (Q/K permutation, Gemma's +1).
    @Test(arguments: ["tiny-llama-hf.f32", "tiny-qwen2-hf.f32", "tiny-gemma3-hf.bf16"])
    func converterGGUFMatchesTransformers(file: String) throws {
        let model = try GGUF.readModel(at: Self.fixtures.appendingPathComponent("\(file).gguf"))
        try expectLogits(of: model, match: "whole", of: String(file.prefix { $0 != "." }))
    }
}
