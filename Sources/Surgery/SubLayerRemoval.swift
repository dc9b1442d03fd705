import Graph

/// What to remove from a model at the finer grain: whole blocks, and the attention or the feed-forward
/// sub-layer of others (Siddiqui et al., "A deeper look at depth pruning of LLMs", 2024). A block that loses
/// both sub-layers is a removed block.
public struct SubLayerRemoval: Equatable, Sendable {
    public let blockCount: Int
    /// Ascending, each set disjoint from the others.
    public let blocks: [Int]
    public let attention: [Int]
    public let feedForward: [Int]

    public init(blockCount: Int, blocks: [Int] = [], attention: [Int] = [], feedForward: [Int] = []) throws {
        if let bad = (blocks + attention + feedForward).first(where: { $0 < 0 || $0 >= blockCount }) {
            throw SurgeryError.blockOutOfRange(index: bad, blockCount: blockCount)
        }
        let both = Set(attention).intersection(feedForward)
        let removedBlocks = Set(blocks).union(both)
        self.blockCount = blockCount
        self.blocks = removedBlocks.sorted()
        self.attention = Set(attention).subtracting(removedBlocks).sorted()
        self.feedForward = Set(feedForward).subtracting(removedBlocks).sorted()
        guard self.blocks.count < blockCount else { throw SurgeryError.removesEveryBlock(blockCount: blockCount) }
        guard self.blocks.count + self.attention.count < blockCount else {
            throw SurgeryError.removesEveryAttention(blockCount: blockCount)
        }
    }

    /// Parses `attn:3,7 ffn:12 block:20-21` (any order, each part optional).
    public init(parsing text: String, blockCount: Int) throws {
        var lists: [String: [Int]] = [:]
        for part in text.split(whereSeparator: { $0 == " " || $0 == ";" }) {
            let pieces = part.split(separator: ":", maxSplits: 1)
            guard pieces.count == 2, ["attn", "ffn", "block"].contains(pieces[0]) else {
                throw SurgeryError.badDropList(text: text, part: String(part))
            }
            lists[String(pieces[0]), default: []] += try LayerSelection(parsing: String(pieces[1]), limit: blockCount).indices
        }
        try self.init(blockCount: blockCount, blocks: lists["block"] ?? [], attention: lists["attn"] ?? [],
                      feedForward: lists["ffn"] ?? [])
    }

    /// The pieces removed, in model order: each maximal run of removed blocks is one unit (one replacement
    /// when recovering), each removed sub-layer another.
    public var units: [RemovalUnit] {
        var units: [RemovalUnit] = []
        var runStart: Int?
        for block in 0 ... blockCount {
            if block < blockCount, blocks.contains(block) {
                runStart = runStart ?? block
                continue
            }
            if let start = runStart { units.append(.blocks(start ..< block)) }
            runStart = nil
            if attention.contains(block) { units.append(.attention(block)) }
            if feedForward.contains(block) { units.append(.feedForward(block)) }
        }
        return units
    }

    /// The sub-layers each block still runs (nil for removed blocks), for running the plan in the engine.
    public func keeps(block: Int) -> (attention: Bool, feedForward: Bool)? {
        blocks.contains(block) ? nil : (!attention.contains(block), !feedForward.contains(block))
    }
}

