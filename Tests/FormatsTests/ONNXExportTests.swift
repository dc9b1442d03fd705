import Foundation
import Graph
import Tensors
import Testing
@testable import Formats

/// The ONNX export's pieces that need no onnxruntime: MatMulNBits encodings and the refusals of models the
/// graph cannot be built for (Tests/interop/test_onnx_export.py checks what the graphs compute).
struct ONNXExportTests {
    @Test func q4_0BlocksRepackToTheSameValues() throws {
        let model = try GGUF.readModel(at: Fixtures.url("tiny-llama.gguf"))
        let tensor = try #require(model.blocks[0].tensor("attn_v.weight"))
        #expect(tensor.type == .q4_0)
        let (packed, scales) = MatMulNBitsEncoder.repackQ4_0(tensor.data.buffer)
        let values = packed.enumerated().flatMap { index, byte in
            let scale = scales[index / MatMulNBitsEncoder.bytesPerBlock]
            return [(Float(byte & 0x0F) - 8) * scale, (Float(byte >> 4) - 8) * scale]
        }
        #expect(values == (try Dequantizer.floats(of: tensor, name: tensor.name)))
    }

    /// Levels onnxruntime's `quantize_matmul_4bits` gives this block (scale −8 / −8 = 1): halves round up.
    @Test func quantizingRoundsHalvesUpAsOnnxruntimeDoes() {
        var block: [Float] = [-8, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5]
        block += [Float](repeating: 0, count: 24)
        let (packed, scales) = MatMulNBitsEncoder.quantize(block)
        #expect(scales == [1])
        let levels = packed.prefix(4).flatMap { [Int($0 & 0x0F) - 8, Int($0 >> 4) - 8] }
        #expect(levels == [-8, 1, 2, 3, 0, -1, -2, 4])
    }

    @Test(arguments: [
        ("llama.attention.head_count_kv", MetadataValue.uint32(3), "do not split into groups of 3"),
        ("llama.embedding_length", .uint32(128), "token_embd.weight"),
        ("llama.feed_forward_length", .uint32(65), "blk.0.ffn_gate.weight"),
        ("llama.rope.dimension_count", .uint32(18), "rope.dimension_count 18"),
        ("llama.context_length", .uint32(0), "llama.context_length"),
        ("general.architecture", .string("deci"), "architecture 'deci'"),
    ])
    func inconsistentModelsAreRefused(key: String, value: MetadataValue, fragment: String) throws {
        var model = try GGUF.readModel(at: Fixtures.url("tiny-llama.gguf"))
        model.metadata[key] = value
        do {
            try ONNXExport.check(model)
            Issue.record("\(key) = \(value) was accepted")
        } catch let error as FormatError {
            #expect("\(error)".contains(fragment), "\(error)")
        }
    }
}
