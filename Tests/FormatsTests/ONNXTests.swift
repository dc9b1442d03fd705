import Foundation
import Testing
@testable import Formats
import TestSupport

struct LayerTokenTests {
    @Test func findsBlockNumbersAsPathComponentsOnly() {
        #expect(LayerToken.first(in: "/model/layers.12/attn/qkv_proj/MatMul") == 12)
        #expect(LayerToken.first(in: "model.layers.3.input_layernorm.weight") == 3)
        #expect(LayerToken.first(in: "['', 'model', 'model.layers.7', 'model.layers.7.self_attn']") == 7)
        #expect(LayerToken.first(in: "/model/removed_layers.0/attn/MatMul") == nil)
        #expect(LayerToken.first(in: "sublayers.2/x") == nil)
        #expect(LayerToken.first(in: "/model/layers.x/y") == nil)
        #expect(LayerToken.first(in: "layers.5") == 5)
    }

    @Test func replacesEveryTokenAndKeepsTheRest() {
        let renamed = LayerToken.replacing(in: "/model/layers.3/mlp/layers.3x/layers.10") { "layers.\($0 - 1)" }
        #expect(renamed == "/model/layers.2/mlp/layers.3x/layers.9")
    }

    @Test func readsCacheNames() {
        #expect(LayerToken.cacheBlock(of: "past_key_values.11.value")?.number == 11)
        #expect(LayerToken.cacheBlock(of: "present.0.key")?.kind == "key")
        #expect(LayerToken.cacheBlock(of: "present.01.key") == nil)
        #expect(LayerToken.cacheBlock(of: "past_key_values.1.keys") == nil)
    }

    @Test func renumbersKeptBlocksAndMarksSurvivorsOfRemovedOnes() {
        let number = [1: 0, 3: 1, 4: 2]
        #expect(DecoderGraph.renumbered("past_key_values.3.key", number, removed: [0, 2]) == "past_key_values.1.key")
        #expect(DecoderGraph.renumbered("/model/layers.3/attn/o_proj", number, removed: [0, 2]) == "/model/layers.1/attn/o_proj")
        #expect(DecoderGraph.renumbered("/model/layers.0/self_attn/Unsqueeze_6", number, removed: [0, 2])
            == "/model/removed_layers.0/self_attn/Unsqueeze_6")
    }
}

struct ProtobufWireTests {
    static func fields(_ bytes: [UInt8]) throws -> [ProtobufField] {
        try bytes.withUnsafeBytes { try ProtobufWire.fields(of: $0, in: 0 ..< $0.count) }
    }

    @Test func walksEachWireType() throws {
        // 1: varint 150, 2: "hi", 3: fixed32, 4: fixed64
        let bytes: [UInt8] = [0x08, 0x96, 0x01, 0x12, 0x02, 0x68, 0x69, 0x1D, 1, 2, 3, 4, 0x21] + [UInt8](repeating: 7, count: 8)
        let found = try Self.fields(bytes)
        #expect(found.map(\.number) == [1, 2, 3, 4])
        #expect(found[0].varint == 150)
        #expect(found[1].payload == 5 ..< 7)
        #expect(found[3].range == 12 ..< 21)
    }

    @Test(arguments: [
        [0x12, 0x05, 0x68] as [UInt8],               // length past the end
        [0x08] + [UInt8](repeating: 0xFF, count: 11), // varint longer than 10 bytes
        [0x0B, 0x00],                                  // group wire type
        [0x00, 0x00],                                  // field number 0
        [0x1D, 1, 2],                                  // fixed32 cut short
    ])
    func refusesMalformedInput(bytes: [UInt8]) {
        #expect(throws: ProtobufWireError.self) { try Self.fields(bytes) }
    }

    @Test func headerRoundTrips() throws {
        let header = ProtobufWire.lengthDelimitedHeader(number: 7, length: 300)
        let found = try Self.fields(header + [UInt8](repeating: 0, count: 300))
        #expect(found.count == 1 && found[0].number == 7 && found[0].payload.count == 300)
    }
}

/// The reader keeps weights where they are: inline raw_data as ranges of the mapped model file, external data
/// as ranges of the mapped data file, and parses only the rest.
struct ONNXFileTests {
    @Test(arguments: ["onnx/torch-dynamo/qwen2/model.onnx", "onnx/torch-dynamo/llama/model.onnx"])
    func everyRawInitializerIsAMappedRange(path: String) throws {
        let file = try ONNXFile(url: Repository.testModel(path))
        let raw = file.model.graph.initializer.filter { file.tensorBytes[$0.name] != nil }
        #expect(!raw.isEmpty && raw.allSatisfy { !$0.hasRawData })
        // onnx.save keeps tensors under 1 KB inline when it writes external data (the llama export).
        let external = raw.filter { $0.dataLocation == .external }
        #expect(external.allSatisfy { file.tensorBytes[$0.name]!.file !== file.file })
        #expect(external.isEmpty == path.contains("qwen2"))
        #expect(raw.filter { $0.dataLocation != .external }.allSatisfy { file.tensorBytes[$0.name]!.file === file.file })
    }
}
