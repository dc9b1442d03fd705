/// Dequantized block weights between runs. A streamed block's arrays become the next block's (`spare`), so its
/// weights land in memory that is already mapped; whole blocks are kept while they fit a budget, which is none
/// by default (scoring streams each block once) and set by generation, which runs every block for every token.
final class BlockWeightCache {
    private var budget = 0
    private var kept: [Int: BlockWeights] = [:]
    private var keptBytes = 0
    private var spare: [[Float]] = []

    /// Block `index`'s weights: kept ones, or `load`ed into the spare arrays (and kept if they fit). With
    /// `encodedUnlessKept`, a block whose `decodedBytes` would not fit is loaded with its matrices encoded
    /// (`load`'s flag) and not kept.
    func weights(of index: Int, encodedUnlessKept: Bool = false, decodedBytes: Int = 0,
                 load: (inout [[Float]], _ encoded: Bool) throws -> BlockWeights) rethrows -> BlockWeights {
        if let weights = kept[index] { return weights }
        if encodedUnlessKept && keptBytes + decodedBytes > budget {
            var none: [[Float]] = []
            return try load(&none, true)
        }
        let weights = try load(&spare, false)
        if keptBytes + weights.byteCount <= budget {
            kept[index] = weights
            keptBytes += weights.byteCount
        }
        return weights
    }

    /// Hands a streamed block's arrays to the next block.
    func finished(with weights: BlockWeights, of index: Int) {
        if kept[index] == nil && !weights.encodedMatrices { spare = weights.arrays }
    }

    /// Runs `body` with blocks kept up to `bytes`, and frees them after.
    func keeping<T>(upTo bytes: Int, _ body: () throws -> T) rethrows -> T {
        budget = bytes
        defer {
            budget = 0
            kept = [:]
            keptBytes = 0
        }
        return try body()
    }
}
