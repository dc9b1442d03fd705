import Foundation
import Graph
import Testing
@testable import Formats
@testable import Engine
import Surgery
import TestSupport

/// One model pruned in each of its forms gives the same logits. TestModels/onnx/hf/llama is the model that
/// torch, optimum and onnxruntime-genai exported to ONNX; golden.npz holds transformers' logits with the same
/// decoder layers deleted, which onnxruntime reproduces from the ONNX exports we prune within 1e-4
/// (Tests/interop/test_onnx.py). Here our engine runs the folder and the GGUF we convert it to, pruned alike.
struct CrossFormatTests {
    static func expectReferenceLogits(of model: Model, removal: String, form: String) throws {
        let worst = try ONNXEngineTests.worstDifference(model, fixture: "dynamo-llama", removal: removal)
        #expect(worst < 1e-4, "\(form) without blocks \(removal): logits differ by up to \(worst)")
    }

    @Test(arguments: ["0", "2", "1,2", "3"])
    func prunedFolderGivesTheReferenceLogits(removal: String) throws {
        let folder = try HuggingFace.readModel(at: Repository.testModel("onnx/hf/llama"))
        try Self.expectReferenceLogits(of: folder, removal: removal, form: "folder")
    }

    @Test(arguments: ["0", "2", "1,2", "3"])
    func prunedGGUFGivesTheReferenceLogits(removal: String) throws {
        let folder = try HuggingFace.readModel(at: Repository.testModel("onnx/hf/llama"))
        let directory = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("llama.gguf")
        var converted = folder
        converted.layout = .llamaCpp
        let conversion = TensorConversion(model: folder, to: .llamaCpp, matrixType: .f32, vectorsInF32: true)
        try GGUF.write(converted, to: file, encoder: conversion.encoder)
        try Self.expectReferenceLogits(of: GGUF.readModel(at: file), removal: removal, form: "GGUF")
    }
}
