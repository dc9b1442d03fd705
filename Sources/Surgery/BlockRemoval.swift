import Graph

/// Removing blocks from a model: the blocks go, the rest are renumbered, and every piece of metadata
/// that counts or describes blocks is brought in line so the result is a valid, smaller model.
public struct BlockRemoval: Sendable {
    public static let originalBlockCountKey = RemovalProvenance.originalBlockCountKey
    public static let removedBlocksKey = RemovalProvenance.removedBlocksKey

    /// Indices of the blocks to remove, ascending.
    public let removed: [Int]
    public let blockCount: Int

    public init(removing selection: LayerSelection, blockCount: Int) throws {
        if let bad = selection.indices.first(where: { $0 >= blockCount }) {
            throw SurgeryError.blockOutOfRange(index: bad, blockCount: blockCount)
        }
        guard selection.indices.count < blockCount else { throw SurgeryError.removesEveryBlock(blockCount: blockCount) }
        removed = selection.indices
        self.blockCount = blockCount
    }

    public init(keeping selection: LayerSelection, blockCount: Int) throws {
        if let bad = selection.indices.first(where: { $0 >= blockCount }) {
            throw SurgeryError.blockOutOfRange(index: bad, blockCount: blockCount)
        }
        try self.init(removing: selection.complement(in: blockCount), blockCount: blockCount)
    }

    public var kept: [Int] {
        let gone = Set(removed)
        return (0 ..< blockCount).filter { !gone.contains($0) }
    }

    public struct Result: Sendable {
        public let model: Model
        /// Behaviour of kept blocks that the output format cannot preserve.
        public let warnings: [String]

        public init(model: Model, warnings: [String]) {
            self.model = model
            self.warnings = warnings
        }
    }

    public func apply(to input: Model) -> Result {
        // Plans are made from the same model they are applied to (a programming error otherwise).
        precondition(input.blocks.count == blockCount, "plan made for \(blockCount) blocks, model has \(input.blocks.count)")
        guard !removed.isEmpty else { return Result(model: input, warnings: []) }
        var model = input
        let kept = kept
        LayerRoles.makeSlidingWindowExplicit(in: &model)

        slice(model.perBlockKeys, to: kept, in: &model)
        // Some arrays skip the trailing multi-token-prediction blocks (llama.cpp's n_layer()).
        if let predictionBlocks = model.metadata[model.key("nextn_predict_layers")]?.int, predictionBlocks > 0 {
            let mainBlocks = blockCount - predictionBlocks
            slice(model.architectureArrayKeys(ofLength: mainBlocks), to: kept.filter { $0 < mainBlocks }, in: &model)
        }
        model.blocks = kept.map { model.blocks[$0] }
        setCount(model.key("block_count"), in: &model) { _ in kept.count }
        // Dense blocks lead and multi-token-prediction blocks trail; their counts shrink by those removed.
        setCount(model.key("leading_dense_block_count"), in: &model) { count in kept.filter { $0 < count }.count }
        setCount(model.key("nextn_predict_layers"), in: &model) { count in kept.filter { $0 >= blockCount - count }.count }
        RemovalProvenance.record(removing: removed, blockCount: blockCount, in: &model.metadata)
        return Result(model: model, warnings: IndexTiedRoles.warnings(for: input, keeping: kept))
    }

    private func slice(_ keys: [String], to kept: [Int], in model: inout Model) {
        for key in keys {
            if case .array(let type, let values)? = model.metadata[key] {
                model.metadata[key] = .array(type, kept.map { values[$0] })
            }
        }
    }

    private func setCount(_ key: String, in model: inout Model, _ newValue: (Int) -> Int) {
        guard let value = model.metadata[key], let count = value.int else { return }
        model.metadata[key] = value.withInteger(newValue(count))
    }
}
