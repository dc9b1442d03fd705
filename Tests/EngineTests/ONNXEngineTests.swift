import Foundation
import Graph
import Testing
@testable import Formats
@testable import Engine
import Surgery
import TestSupport

/// The ONNX exports of TestModels/onnx (torch dynamo, optimum, onnxruntime-genai) read into the common model
/// and run by our engine give transformers' logits (golden.npz, TestModels/onnx/README.md), whole and with
/// blocks removed from the common model. The int4 fixtures' goldens come from onnxruntime with int8
/// activations (accuracy_level 4), so the int4 exports are compared with onnxruntime run with float
/// activations instead (Tests/interop/onnxruntime_logits.py).
struct ONNXEngineTests {
    static let folder = Repository.testModel("onnx")
    nonisolated(unsafe) static let golden = try! NumpyArchive(url: folder.appendingPathComponent("golden.npz"))
    nonisolated(unsafe) static let fixtures: [String: [String: Any]] = {
        let data = try! Data(contentsOf: folder.appendingPathComponent("golden.json"))
        return (try! JSONSerialization.jsonObject(with: data) as! [String: Any])["fixtures"] as! [String: [String: Any]]
    }()
    static let ids = [1, 17, 42, 99, 123, 250]
    static let floatFixtures = ["dynamo-llama", "dynamo-qwen2", "dynamo-qwen2-nokv", "optimum-llama", "genai-llama-fp32"]

    static func read(_ fixture: String) throws -> Model {
        let path = try #require(fixtures[fixture]?["path"] as? String)
        return try ONNXModel(path: folder.appendingPathComponent(path).path).commonModel()
    }

    /// The largest |our logit − reference| over the prefill ids, with `removal` ("0", "1,2" or "unpruned").
    static func worstDifference(_ model: Model, fixture: String, removal: String) throws -> Float {
        let pruned = removal == "unpruned" ? model
            : try BlockRemoval(removing: LayerSelection(parsing: removal), blockCount: model.blocks.count).apply(to: model).model
        let engine = try Engine(model: pruned)
        var states = try engine.embed([ids])
        for block in 0 ..< engine.blockCount { try engine.runBlock(block, on: &states) }
        let reference = try #require(golden["\(fixture)/prefill/\(removal)"])
        let vocabulary = reference.shape[1]
        var worst: Float = 0
        try engine.forEachLogits(of: states, rows: Array(ids.indices)) { row, logits in
            for (column, value) in logits.enumerated() {
                worst = max(worst, abs(value - reference.values[row * vocabulary + column]))
            }
        }
        return worst
    }

    @Test(arguments: floatFixtures)
    func floatExportsGiveTheReferenceLogits(fixture: String) throws {
        let model = try Self.read(fixture)
        for removal in ["unpruned", "0", "2", "1,2", "3"] {
            let worst = try Self.worstDifference(model, fixture: fixture, removal: removal)
            #expect(worst < 1e-4, "\(fixture) without blocks \(removal): logits differ by up to \(worst)")
            print("\(fixture) \(removal): max |Δlogit| \(worst)")
        }
    }

    @Test(arguments: ["genai-llama-int4", "genai-qwen2-int4"])
    func int4ExportsGiveOnnxruntimesLogits(fixture: String) throws {
        let path = try #require(Self.fixtures[fixture]?["path"] as? String)
        let reference = try ONNXRuntime.logits(of: Self.folder.appendingPathComponent(path), ids: Self.ids)
        let engine = try Engine(model: try Self.read(fixture))
        var states = try engine.embed([Self.ids])
        for block in 0 ..< engine.blockCount { try engine.runBlock(block, on: &states) }
        var worst: Float = 0
        try engine.forEachLogits(of: states, rows: Array(Self.ids.indices)) { row, logits in
            #expect(logits.count == reference[row].count)
            for (ours, theirs) in zip(logits, reference[row]) { worst = max(worst, abs(ours - theirs)) }
        }
        #expect(worst < 1e-4, "\(fixture): logits differ from onnxruntime's by up to \(worst)")
        print("\(fixture) against onnxruntime (float activations): max |Δlogit| \(worst)")
    }

    /// What each export states about itself reaches the metadata: rotate-half RoPE is transformers' layout.
    @Test(arguments: floatFixtures)
    func hyperParametersAndLayout(fixture: String) throws {
        let model = try Self.read(fixture)
        let sizes = model.hyperParameters
        #expect(model.origin.format == ONNXModel.format)
        #expect(model.layout == .transformers)
        #expect(sizes.blockCount == 4 && sizes.hiddenSize == 64 && sizes.headSize == 16)
        #expect(sizes.headCount[0] == 4 && sizes.headCountKV[0] == 2 && sizes.feedForwardLength[0] == 128)
        #expect(sizes.rope.base == 10000 && sizes.rmsEpsilon.map { abs($0 - 1e-6) < 1e-12 } == true)
        #expect(model.architecture == (fixture.contains("qwen2") ? "qwen2" : "llama"))
    }

    /// Decoded and transposed weights live in an unlinked scratch file, not in anonymous memory; tied int4
    /// embeddings (genai qwen2's GatherBlockQuantized reads lm_head's MatMulNBits weight) give no output.weight.
    @Test func computedWeightsAreInAnUnlinkedFile() throws {
        let model = try Self.read("genai-qwen2-int4")
        let computed = model.allTensors.filter { $0.data.file.url.lastPathComponent.hasPrefix("modelsurgery-onnx") }
        #expect(computed.count == 1 + 4 * 7, "embeddings and the seven projections of each block")
        #expect(computed.allSatisfy { !$0.data.file.isInMemory && $0.type == .f32 })
        #expect(computed.allSatisfy { !FileManager.default.fileExists(atPath: $0.data.file.path) })
        #expect(model.globalTensors.map(\.name).sorted() == ["output_norm.weight", "token_embd.weight"])
    }
}
