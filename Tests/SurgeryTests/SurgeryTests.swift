import Foundation
import Graph
import Testing
@testable import Formats
@testable import Surgery
import TestSupport

private func fixture(_ name: String) throws -> Model {
    try GGUF.readModel(at: Repository.testModel(name))
}

struct LayerSelectionTests {
    @Test func parsesIndicesAndRanges() throws {
        #expect(try LayerSelection(parsing: "3,5,20-23").indices == [3, 5, 20, 21, 22, 23])
        #expect(try LayerSelection(parsing: "7, 2-3 ,2").indices == [2, 3, 7])
    }

    @Test(arguments: ["", "a", "5-3", "-1", "1,,2", "1-2-3", "3-"])
    func rejectsMalformedLists(text: String) {
        #expect(throws: SurgeryError.self) { try LayerSelection(parsing: text) }
    }

    @Test func rejectsOutOfRangeAndRemovingEverything() throws {
        #expect(throws: SurgeryError.blockOutOfRange(index: 4, blockCount: 4)) {
            try BlockRemoval(removing: LayerSelection(parsing: "1,4"), blockCount: 4)
        }
        #expect(throws: SurgeryError.removesEveryBlock(blockCount: 4)) {
            try BlockRemoval(removing: LayerSelection(parsing: "0-3"), blockCount: 4)
        }
        #expect(throws: SurgeryError.removesEveryBlock(blockCount: 4)) {
            try BlockRemoval(keeping: LayerSelection(indices: []), blockCount: 4)
        }
        #expect(try BlockRemoval(keeping: LayerSelection(parsing: "0,2"), blockCount: 4).removed == [1, 3])
    }
}

struct BlockRemovalTests {
    @Test func removesRenumbersAndSlicesPerBlockArrays() throws {
        let input = try fixture("tiny-qwen2.gguf")
        let result = try BlockRemoval(removing: LayerSelection(parsing: "1"), blockCount: 4).apply(to: input)
        let model = result.model
        #expect(model.blocks.count == 3)
        #expect(model.metadata["qwen2.block_count"] == .uint32(3))
        #expect(model.metadata["qwen2.feed_forward_length"] == .array(.int32, [.int32(64), .int32(128), .int32(160)]))
        #expect(model.metadata["qwen2.attention.head_count_kv"] == .array(.int32, [.int32(2), .int32(2), .int32(4)]))
        #expect(model.metadata["qwen2.attention.head_count"] == .uint32(4))
        #expect(model.metadata[BlockRemoval.originalBlockCountKey] == .uint32(4))
        #expect(model.metadata[BlockRemoval.removedBlocksKey] == .array(.uint32, [.uint32(1)]))
        // Kept blocks are the input's blocks 0, 2, 3 with the very same bytes.
        for (newIndex, oldIndex) in [0, 2, 3].enumerated() {
            let kept = model.blocks[newIndex].tensors, original = input.blocks[oldIndex].tensors
            #expect(kept.map(\.name) == original.map(\.name))
            for (a, b) in zip(kept, original) {
                #expect(a.data.offset == b.data.offset && a.data.file === b.data.file)
            }
        }
        // Every other key is unchanged and in its place.
        let untouched = input.metadata.entries.filter { !$0.key.hasPrefix("qwen2.") }
        #expect(model.metadata.entries.filter { !$0.key.hasPrefix("qwen2.") && !$0.key.hasPrefix("modelsurgery.") }
            .map(\.key) == untouched.map(\.key))
        #expect(Array(model.metadata.keys.prefix(input.metadata.count)) == input.metadata.keys)
    }

    @Test func gemma3KeepsEachBlocksSlidingWindowRole() throws {
        let input = try fixture("tiny-gemma3.gguf")
        #expect(input.metadata["gemma3.attention.sliding_window_pattern"] == nil)
        let model = try BlockRemoval(removing: LayerSelection(parsing: "1,2"), blockCount: 8).apply(to: input).model
        // Original roles: layer 5 global (5 % 6 == 5), the rest sliding; kept 0,3,4,5,6,7.
        let expected: [Bool] = [true, true, true, false, true, true]
        #expect(model.metadata["gemma3.attention.sliding_window_pattern"] == .array(.bool, expected.map { .bool($0) }))
    }

    @Test func periodOverrideBecomesExplicitPattern() throws {
        var input = try fixture("tiny-gemma3.gguf")
        input.metadata["gemma3.attention.sliding_window_pattern"] = .uint32(2)
        let model = try BlockRemoval(removing: LayerSelection(parsing: "0"), blockCount: 8).apply(to: input).model
        let expected: [Bool] = [false, true, false, true, false, true, false]
        #expect(model.metadata["gemma3.attention.sliding_window_pattern"] == .array(.bool, expected.map { .bool($0) }))
    }

    @Test func provenanceComposesAcrossRepeatedSurgery() throws {
        let input = try fixture("tiny-gemma3.gguf")
        let once = try BlockRemoval(removing: LayerSelection(parsing: "1,2"), blockCount: 8).apply(to: input).model
        // Block 3 of the pruned model is original block 5.
        let twice = try BlockRemoval(removing: LayerSelection(parsing: "3"), blockCount: 6).apply(to: once).model
        #expect(twice.metadata[BlockRemoval.originalBlockCountKey] == .uint32(8))
        #expect(twice.metadata[BlockRemoval.removedBlocksKey] == .array(.uint32, [1, 2, 5].map { .uint32($0) }))
        #expect(twice.metadata["gemma3.attention.sliding_window_pattern"]?.array?.count == 5)
    }

    /// A llama query bias is permuted per head like the rows of its matrix (llama.cpp's `LlamaModel.permute`
    /// reshapes it to heads × 2 × half and swaps the last two axes), one value per row.
    @Test func aQueryBiasIsPermutedLikeItsRows() {
        var values: [Float] = (0 ..< 8).map(Float.init)
        WeightLayout.transformers.convert(&values, role: "attn_q.bias", architecture: "llama",
                                          rowLength: WeightLayout.rowLength(of: [8]), heads: 2, to: .llamaCpp)
        #expect(values == [0, 2, 1, 3, 4, 6, 5, 7])
        WeightLayout.llamaCpp.convert(&values, role: "attn_q.bias", architecture: "llama",
                                      rowLength: WeightLayout.rowLength(of: [8]), heads: 2, to: .transformers)
        #expect(values == (0 ..< 8).map(Float.init))
    }

    /// A record the model contradicts (a claimed 2^40 original blocks, repeated or out-of-range indices) is
    /// started afresh instead of trusted (or allocated).
    @Test func aContradictedProvenanceStartsAfresh() {
        for earlier in [RemovalProvenance(originalBlockCount: 1 << 40, removedBlocks: [1]),
                        RemovalProvenance(originalBlockCount: 5, removedBlocks: [1, 1]),
                        RemovalProvenance(originalBlockCount: 5, removedBlocks: [9, 1])] {
            #expect(RemovalProvenance.after(removing: [0], blockCount: 4, earlier: earlier)
                == RemovalProvenance(originalBlockCount: 4, removedBlocks: [0]))
        }
        #expect(RemovalProvenance.after(removing: [0], blockCount: 4, earlier: RemovalProvenance(originalBlockCount: 5, removedBlocks: [0]))
            == RemovalProvenance(originalBlockCount: 5, removedBlocks: [0, 1]))
    }

    @Test func leadingDenseAndPredictionBlockCountsFollowTheRemoval() throws {
        var input = try fixture("tiny-llama.gguf")
        input.metadata["llama.leading_dense_block_count"] = .uint32(2)
        input.metadata["llama.nextn_predict_layers"] = .uint32(1)
        input.metadata["llama.xielu.beta"] = .array(.float32, [0.5, 1.5, 2.5].map { .float32($0) })
        let model = try BlockRemoval(removing: LayerSelection(parsing: "1,3"), blockCount: 4).apply(to: input).model
        #expect(model.metadata["llama.leading_dense_block_count"] == .uint32(1))
        #expect(model.metadata["llama.nextn_predict_layers"] == .uint32(0))
        #expect(model.metadata["llama.xielu.beta"] == .array(.float32, [.float32(0.5), .float32(2.5)]))
    }

    @Test func warnsWhenIndexTiedRolesChange() throws {
        var input = try fixture("tiny-llama.gguf")
        input.metadata["general.architecture"] = .string("llama4")
        let warnings = try BlockRemoval(removing: LayerSelection(parsing: "0"), blockCount: 4).apply(to: input).warnings
        #expect(warnings.count == 1 && warnings[0].contains("RoPE"))
        // Removing the last block shifts no index, so no role changes.
        #expect(try BlockRemoval(removing: LayerSelection(parsing: "3"), blockCount: 4).apply(to: input).warnings.isEmpty)
    }

    @Test func prunedFileRoundTripsThroughTheWriter() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("surgery-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let input = try fixture("tiny-llama.gguf")
        let pruned = try BlockRemoval(removing: LayerSelection(parsing: "2"), blockCount: 4).apply(to: input).model
        let url = directory.appendingPathComponent("out.gguf")
        try GGUF.write(pruned, to: url)
        let reread = try GGUF.readModel(at: url)
        #expect(reread.blocks.count == 3)
        #expect(GGUF.namedTensors(of: reread).map(\.name) == GGUF.namedTensors(of: pruned).map(\.name))
        for (a, b) in zip(reread.blocks[2].tensors, input.blocks[3].tensors) {
            #expect(Array(a.data.buffer) == Array(b.data.buffer))
        }
    }
}
