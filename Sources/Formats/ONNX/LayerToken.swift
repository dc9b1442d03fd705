/// The block numbers exporters write into names: `layers.N` as a path component (`/model/layers.3/attn/…`,
/// `model.layers.3.input_layernorm.weight`, torch's scope `model.layers.3.self_attn`), and the KV-cache
/// graph inputs and outputs `past_key_values.N.key|value` and `present.N.key|value`.
enum LayerToken {
    private static let word = Array("layers.".utf8)
    private static let before: Set<UInt8> = Set("/.'\" ".utf8)
    private static let after: Set<UInt8> = Set("/.:'\"]".utf8)

    /// Each `layers.N` of `text` that stands as a path component: at the start or after one of `/ . ' "` or a
    /// space, and followed by the end or one of `/ . : ' " ]`. (`removed_layers.N` does not count.)
    static func occurrences(in text: String) -> [(range: Range<Int>, number: Int)] {
        let bytes = Array(text.utf8)
        var found: [(range: Range<Int>, number: Int)] = []
        var start = 0
        while start + word.count < bytes.count {
            defer { start += 1 }
            guard bytes[start] == word[0], start == 0 || before.contains(bytes[start - 1]),
                  bytes[start ..< start + word.count].elementsEqual(word) else { continue }
            var end = start + word.count
            var number = 0
            while end < bytes.count, (48 ... 57).contains(bytes[end]), number < 1_000_000 {
                number = number * 10 + Int(bytes[end] - 48)
                end += 1
            }
            guard end > start + word.count, end == bytes.count || after.contains(bytes[end]) else { continue }
            found.append((start ..< end, number))
            start = end - 1
        }
        return found
    }

    static func first(in text: String) -> Int? { occurrences(in: text).first?.number }

    /// `text` with every `layers.N` token replaced by `replacement(N)` (a whole token such as `layers.2`).
    static func replacing(in text: String, _ replacement: (Int) -> String) -> String {
        let found = occurrences(in: text)
        guard !found.isEmpty else { return text }
        let bytes = Array(text.utf8)
        var result: [UInt8] = []
        var position = 0
        for (range, number) in found {
            result += bytes[position ..< range.lowerBound]
            result += Array(replacement(number).utf8)
            position = range.upperBound
        }
        result += bytes[position...]
        return String(decoding: result, as: UTF8.self)
    }

    /// The block of a KV-cache graph input (`past_key_values.N.key|value`) or output (`present.N.key|value`).
    static func cacheBlock(of name: String) -> (number: Int, prefix: String, kind: String)? {
        for prefix in ["past_key_values.", "present."] where name.hasPrefix(prefix) {
            let parts = name.dropFirst(prefix.count).split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 2, ["key", "value"].contains(parts[1]), let number = Int(parts[0]), number >= 0,
                  String(number) == parts[0] else { return nil }
            return (number, prefix, String(parts[1]))
        }
        return nil
    }
}
