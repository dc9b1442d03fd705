/// Keys and values of the tokens seen so far, per block and sequence, so generation runs one new token
/// through each block instead of the whole prefix.
public final class KeyValueCache {
    private let capacity: Int
    private var keys: [[Float]]
    private var values: [[Float]]
    private var lengths: [Int]

    /// Room for `capacity` tokens in each of `sequenceCount` sequences, for `blockCount` blocks.
    public init(blockCount: Int, sequenceCount: Int, capacity: Int) {
        self.capacity = capacity
        keys = Array(repeating: [], count: blockCount)
        values = Array(repeating: [], count: blockCount)
        lengths = Array(repeating: 0, count: blockCount)
        self.sequenceCount = sequenceCount
    }

    private let sequenceCount: Int

    func length(of layer: Int) -> Int { lengths[layer] }

    /// Appends `length` new rows per sequence (`sequenceCount × length` rows of keys and values).
    func append(layer: Int, keys newKeys: [Float], values newValues: [Float], sequenceCount: Int, length: Int,
                keyWidth: Int, valueWidth: Int) {
        // The cache is sized by its one caller for the tokens it will run: an overflow is a programming error.
        precondition(sequenceCount == self.sequenceCount && lengths[layer] + length <= capacity, "KV cache overflow")
        if keys[layer].isEmpty {
            keys[layer] = [Float](repeating: 0, count: sequenceCount * capacity * keyWidth)
            values[layer] = [Float](repeating: 0, count: sequenceCount * capacity * valueWidth)
        }
        let past = lengths[layer]
        for sequence in 0 ..< sequenceCount {
            for row in 0 ..< length {
                let source = sequence * length + row, target = sequence * capacity + past + row
                keys[layer].replaceSubrange(target * keyWidth ..< (target + 1) * keyWidth,
                                            with: newKeys[source * keyWidth ..< (source + 1) * keyWidth])
                values[layer].replaceSubrange(target * valueWidth ..< (target + 1) * valueWidth,
                                              with: newValues[source * valueWidth ..< (source + 1) * valueWidth])
            }
        }
        lengths[layer] += length
    }

    /// The layer's keys and values, `capacity` rows per sequence.
    func withLayer<T>(_ layer: Int, _ body: (UnsafePointer<Float>, UnsafePointer<Float>, Int) -> T) -> T {
        keys[layer].withUnsafeBufferPointer { k in
            values[layer].withUnsafeBufferPointer { v in body(k.baseAddress!, v.baseAddress!, capacity) }
        }
    }
}
