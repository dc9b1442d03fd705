import Foundation
import Graph
import Testing
@testable import Formats
@testable import Engine
import TestSupport

/// What the exporter writes computes what our engine computes: onnxruntime on the ONNX export of each tiny GGUF
/// gives the engine's logits on the GGUF itself, over the model's first golden prompt (longer than tiny-gemma3's
/// sliding window). llama.cpp is the reference of Tests/interop/test_onnx_export.py; this closes the triangle
/// for gemma3, where llama.cpp's f16 GELU table keeps it 5e-4 away from both.
struct ONNXExportEngineTests {
    @Test(arguments: ["tiny-llama", "tiny-qwen2", "tiny-qwen3", "tiny-gemma3"])
    func onnxruntimeOnTheExportGivesTheEnginesLogits(model name: String) throws {
        let model = try GGUF.readModel(at: EngineGolden.modelFile(name))
        let tokens = EngineGolden.firstPromptTokens(name)
        let folder = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let exported = folder.appendingPathComponent("model.onnx")
        _ = try ONNXExport.write(model, to: exported, options: ONNXExport.Options())
        let reference = try ONNXRuntime.logits(of: exported, ids: tokens)

        let engine = try Engine(model: model)
        var states = try engine.embed([tokens])
        for block in 0 ..< engine.blockCount { try engine.runBlock(block, on: &states) }
        var worst: Float = 0
        try engine.forEachLogits(of: states, rows: Array(tokens.indices)) { row, logits in
            #expect(logits.count == reference[row].count)
            for (ours, theirs) in zip(logits, reference[row]) { worst = max(worst, abs(ours - theirs)) }
        }
        #expect(worst < 1e-4, "\(name): onnxruntime on the export differs from the engine by up to \(worst)")
        print("\(name): \(tokens.count) tokens, onnxruntime on the export vs the engine: max |Δlogit| \(worst)")
    }
}

/// onnxruntime's prefill logits of an ONNX decoder (Tests/interop/onnxruntime_logits.py, every MatMulNBits with
/// float activations), one row per id.
enum ONNXRuntime {
    static func logits(of model: URL, ids: [Int]) throws -> [[Float]] {
        let output = try Repository.runPython("Tests/interop/onnxruntime_logits.py", [model.path] + ids.map(String.init))
        return try JSONDecoder().decode([[Float]].self, from: output)
    }
}
