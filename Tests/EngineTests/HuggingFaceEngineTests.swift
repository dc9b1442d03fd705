import Foundation
import Graph
import Testing
@testable import Formats
@testable import Engine
import Surgery
import TestSupport

/// The engine on Hugging Face folders against transformers' own logits (TestModels/hf/golden.json, made by
/// TestModels/hf/generate_hf.py): whole models, and models pruned by us, written as a folder and read back.
struct HuggingFaceEngineTests {
    static let fixtures = Repository.testModel("hf")
    nonisolated(unsafe) static let golden: [String: Any] = {
        let data = try! Data(contentsOf: fixtures.appendingPathComponent("golden.json"))
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }()

    /// Both sides compute in float32 from the same weights, so only summation order differs: errors are
    /// measured relative to each sequence's logit spread, at most 1e-5 on average and 1e-4 at worst (measured: about 1e-7 and 7e-7).
    func expectLogits(of model: Model, match variant: String, of name: String) throws {
        let engine = try Engine(model: model)
        let reference = (Self.golden["models"] as! [String: [String: Any]])[name]!
        var agreement = LogitAgreement()
        for sequence in reference["sequences"] as! [[String: Any]] {
            let expected = sequence[variant] as! [String: Any]
            let spread = expected["spread"] as! Double
            try agreement.compare(engine: engine, tokens: sequence["ids"] as! [Int],
                                  with: expected["positions"] as! [[String: Any]]) { _ in spread }
        }
        #expect(agreement.mean <= 1e-5, "\(name) \(variant): mean error \(agreement.mean) of the spread")
        #expect(agreement.worst <= 1e-4, "\(name) \(variant): worst error \(agreement.worst) of the spread")
        #expect(agreement.topAgreements == agreement.positions, "\(name) \(variant): \(agreement)")
        print("\(name) \(variant): \(agreement)")
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
