import Foundation

/// llama.cpp's naming and keys for models split over several GGUF files (`gguf-split`).
enum GGUFSplit {
    static let numberKey = "split.no"
    static let countKey = "split.count"
    static let tensorCountKey = "split.tensors.count"
    static let keys: Set<String> = [numberKey, countKey, tensorCountKey]

    /// `dir/name.gguf` → `dir/name-00002-of-00004.gguf`, as `llama_split_path` names shard 2 of 4.
    static func shardURL(for target: URL, index: Int, count: Int) -> URL {
        var stem = target.lastPathComponent
        if stem.hasSuffix(".gguf") { stem.removeLast(5) }
        let name = String(format: "%@-%05d-of-%05d.gguf", stem, index + 1, count)
        return target.deletingLastPathComponent().appendingPathComponent(name)
    }

    /// The shard files of a split model, given its first shard's path.
    static func shardURLs(firstShard: URL, count: Int) throws -> [URL] {
        let name = firstShard.lastPathComponent
        let suffix = String(format: "-00001-of-%05d.gguf", count)
        guard name.hasSuffix(suffix) else {
            throw FormatError.split(file: firstShard.path,
                                    problem: "is the first of \(count) shards but is not named like NAME\(suffix)")
        }
        let target = firstShard.deletingLastPathComponent()
            .appendingPathComponent(String(name.dropLast(suffix.count)) + ".gguf")
        return (0 ..< count).map { shardURL(for: target, index: $0, count: count) }
    }
}
