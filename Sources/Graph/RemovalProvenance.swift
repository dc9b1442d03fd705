/// What a pruned model records about its removed blocks, by their indices in the very first model, so that
/// surgery on an already pruned model composes with the earlier record.
public struct RemovalProvenance: Equatable, Sendable {
    public static let originalBlockCountKey = "modelsurgery.original_block_count"
    public static let removedBlocksKey = "modelsurgery.removed_blocks"

    public let originalBlockCount: Int
    /// Indices in the original model, ascending.
    public let removedBlocks: [Int]

    public init(originalBlockCount: Int, removedBlocks: [Int]) {
        self.originalBlockCount = originalBlockCount
        self.removedBlocks = removedBlocks
    }

    /// Records `removed` (indices in `metadata`'s model of `blockCount` blocks) in `metadata`, composing with
    /// the record already there.
    public static func record(removing removed: [Int], blockCount: Int, in metadata: inout Metadata) {
        let earlier = metadata[originalBlockCountKey]?.int.map { original in
            RemovalProvenance(originalBlockCount: original,
                              removedBlocks: metadata[removedBlocksKey]?.array?.compactMap(\.int) ?? [])
        }
        let record = after(removing: removed, blockCount: blockCount, earlier: earlier)
        metadata[originalBlockCountKey] = .uint32(UInt32(record.originalBlockCount))
        metadata[removedBlocksKey] = .array(.uint32, record.removedBlocks.map { .uint32(UInt32($0)) })
    }

    /// The record after removing `removed` (indices in the current model of `blockCount` blocks) from a model
    /// whose earlier record is `earlier`; an earlier record that does not fit the model is started afresh.
    public static func after(removing removed: [Int], blockCount: Int, earlier: RemovalProvenance?) -> RemovalProvenance {
        var previous = RemovalProvenance(originalBlockCount: blockCount, removedBlocks: [])
        // The file's record counts only when it describes this model: distinct indices of its original blocks,
        // exactly as many blocks left as the model has (which also bounds the original count).
        if let earlier, Set(earlier.removedBlocks).count == earlier.removedBlocks.count,
           earlier.removedBlocks.allSatisfy({ (0 ..< earlier.originalBlockCount).contains($0) }),
           earlier.originalBlockCount - earlier.removedBlocks.count == blockCount {
            previous = earlier
        }
        let removedBefore = Set(previous.removedBlocks)
        let originalIndex = (0 ..< previous.originalBlockCount).filter { !removedBefore.contains($0) }
        return RemovalProvenance(originalBlockCount: previous.originalBlockCount,
                                 removedBlocks: (previous.removedBlocks + removed.map { originalIndex[$0] }).sorted())
    }
}
