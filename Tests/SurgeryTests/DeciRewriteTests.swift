import Foundation
import Graph
import Testing
@testable import Formats
@testable import Surgery
import Tensors
import TestSupport

/// The deci rewrite against what llama.cpp's loader (src/models/deci.cpp) demands of each layer.
struct DeciRewriteTests {
    static func tinyLlama() throws -> Model { try GGUF.readModel(at: Repository.testModel("tiny-llama.gguf")) }

    static func ints(_ model: Model, _ key: String) -> [Int]? { model.metadata[key]?.array?.compactMap(\.int) }
    static func roles(_ block: Block) -> Set<String> { Set(block.tensors.map(\.name)) }
    static func floats(_ block: Block, _ role: String) throws -> [Float] {
        try Dequantizer.floats(of: #require(block.tensor(role)), name: role)
    }

    @Test func layersCarryExactlyTheTensorsTheirCountsImply() throws {
        let input = try Self.tinyLlama()
        let removal = try SubLayerRemoval(blockCount: 4, blocks: [2], attention: [1], feedForward: [3])
        let output = try DeciRewrite(removal: removal).apply(to: input).model
        #expect(output.architecture == "deci")
        #expect(!output.metadata.entries.contains { $0.key.hasPrefix("llama.") })
        #expect(output.metadata["deci.block_count"]?.int == 3)
        #expect(Self.ints(output, "deci.attention.head_count") == [4, 0, 4])
        #expect(Self.ints(output, "deci.attention.head_count_kv") == [2, 0, 2])
        #expect(Self.ints(output, "deci.feed_forward_length") == [64, 64, 1])
        let attention: Set = ["attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight"]
        let ffn: Set = ["ffn_norm.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight"]
        #expect(Self.roles(output.blocks[0]) == attention.union(ffn))
        #expect(Self.roles(output.blocks[1]) == ffn)
        #expect(Self.roles(output.blocks[2]) == attention.union(ffn))
        // The FFN llama.cpp needs to keep layer 2's attention: width 1, all zero.
        #expect(output.blocks[2].tensor("ffn_gate.weight")?.shape == [256, 1])
        #expect(output.blocks[2].tensor("ffn_down.weight")?.shape == [1, 256])
        #expect(try Self.floats(output.blocks[2], "ffn_down.weight").allSatisfy { $0 == 0 })
        // Kept tensors keep their bytes: the layer-1 FFN is block 1's.
        #expect(output.blocks[1].tensor("ffn_up.weight")?.data.offset == input.blocks[1].tensor("ffn_up.weight")?.data.offset)
        #expect(Self.ints(output, RemovalProvenance.removedBlocksKey) == [2])
        #expect(Self.ints(output, DeciRewrite.removedAttentionKey) == [1])
        #expect(Self.ints(output, DeciRewrite.removedFeedForwardKey) == [3])
    }

    @Test func replacementsTakeTheirPlaces() throws {
        let width = 256
        let w = (0 ..< width * width).map { Float($0 % 7) - 3 }
        let beta = (0 ..< width).map { Float($0) / 8 }
        let removal = try SubLayerRemoval(blockCount: 4, blocks: [1, 2], attention: [3])
        let output = try DeciRewrite(removal: removal, replacements: [.blocks(1 ..< 3): .linear(w), .attention(3): .bias(beta)])
            .apply(to: Self.tinyLlama()).model
        // Layer 0 (block 0), the run's linear layer, layer 2 (block 3) without attention.
        #expect(Self.ints(output, "deci.attention.head_count") == [4, 4, 0])
        #expect(Self.ints(output, "deci.attention.head_count_kv") == [2, 0, 0])
        #expect(Self.ints(output, "deci.feed_forward_length") == [64, 1, 64])
        #expect(Self.roles(output.blocks[1]) == ["attn_norm.weight", "attn_output.weight", "ffn_norm.weight",
                                                 "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight", "ffn_down.bias"])
        // llama.cpp multiplies x·Wᵀ by its rows: row o holds output o's weights.
        let stored = try Self.floats(output.blocks[1], "attn_output.weight")
        #expect(stored[1 * width + 2] == w[2 * width + 1] && stored[5 * width + 3] == w[3 * width + 5])
        #expect(try Self.floats(output.blocks[1], "attn_norm.weight").allSatisfy { $0 == 1 })
        // The bias of the removed attention enters the stream before layer 2: the linear layer's output bias.
        #expect(try Self.floats(output.blocks[1], "ffn_down.bias") == beta)
    }

    @Test func firstLayerKeepsHeads() throws {
        let removal = try SubLayerRemoval(blockCount: 4, attention: [0])
        let result = try DeciRewrite(removal: removal).apply(to: Self.tinyLlama())
        #expect(Self.ints(result.model, "deci.attention.head_count")?.first == 4)
        #expect(Self.ints(result.model, "deci.attention.head_count_kv")?.first == 0)
        #expect(try Self.floats(result.model.blocks[0], "attn_output.weight").allSatisfy { $0 == 0 })
        #expect(result.warnings.count == 1)
    }

    @Test func refusesWhatDeciCannotHold() throws {
        #expect(throws: SurgeryError.removesEveryAttention(blockCount: 4)) {
            try SubLayerRemoval(blockCount: 4, blocks: [0], attention: [1, 2, 3])
        }
        #expect(throws: SurgeryError.blockOutOfRange(index: 9, blockCount: 4)) { try SubLayerRemoval(parsing: "ffn:9", blockCount: 4) }
        #expect(throws: SurgeryError.self) { try SubLayerRemoval(parsing: "attn3", blockCount: 4) }
        #expect(throws: SurgeryError.self) { try SubLayerRemoval(parsing: "mlp:1", blockCount: 4) }
        #expect(throws: SurgeryError.blockOutOfRange(index: 99_999_999_999, blockCount: 4)) {
            try SubLayerRemoval(parsing: "attn:1-99999999999", blockCount: 4)
        }
        let gemma = try GGUF.readModel(at: Repository.testModel("tiny-gemma3.gguf"))
        #expect(throws: SurgeryError.subLayersUnsupported(architecture: "gemma3")) {
            try DeciRewrite(removal: SubLayerRemoval(blockCount: gemma.blocks.count, attention: [1])).apply(to: gemma)
        }
    }

    @Test func parsesDropLists() throws {
        let removal = try SubLayerRemoval(parsing: "attn:1,3 ffn:2 block:0", blockCount: 4)
        #expect(removal.blocks == [0] && removal.attention == [1, 3] && removal.feedForward == [2])
        // Both sub-layers of a block are the block.
        let both = try SubLayerRemoval(parsing: "attn:2 ffn:2", blockCount: 4)
        #expect(both.blocks == [2] && both.attention.isEmpty && both.feedForward.isEmpty)
        #expect(try SubLayerRemoval(parsing: "block:1-2 attn:3", blockCount: 4).units == [.blocks(1 ..< 3), .attention(3)])
    }
}
