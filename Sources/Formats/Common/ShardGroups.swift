/// Consecutive groups of `items`, one per output file, as gguf-split and transformers' `max_shard_size`
/// group tensors: a new group starts when the next item would take the current one past `maxBytes`, and no
/// group is left empty (an item larger than the limit fills a group of its own). One group without a limit.
func shardGroups<Item>(_ items: [Item], maxBytes: Int?, byteCount: (Item) -> Int) -> [[Item]] {
    var groups: [[Item]] = [[]]
    var groupBytes = 0
    for item in items {
        let bytes = byteCount(item)
        if let maxBytes, !groups[groups.count - 1].isEmpty, groupBytes + bytes > maxBytes {
            groups.append([])
            groupBytes = 0
        }
        groups[groups.count - 1].append(item)
        groupBytes += bytes
    }
    return groups
}
