import Foundation

/// A list of block indices as users write them: `3,5,20-23`.
public struct LayerSelection: Equatable, Sendable {
    public let indices: [Int]

    public init(indices: [Int]) { self.indices = Array(Set(indices)).sorted() }

    /// With a `limit` (the block count), an index at or past it is refused before any list is built.
    public init(parsing text: String, limit: Int? = nil) throws {
        var indices: [Int] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = part.trimmingCharacters(in: .whitespaces).split(separator: "-", omittingEmptySubsequences: false)
            guard (1 ... 2).contains(bounds.count), let low = Int(bounds[0]), let high = Int(bounds[bounds.count - 1]),
                  low >= 0, low <= high else {
                throw SurgeryError.badLayerList(text: text, part: String(part))
            }
            if let limit, high >= limit { throw SurgeryError.blockOutOfRange(index: high, blockCount: limit) }
            indices += Array(low ... high)
        }
        self.init(indices: indices)
    }

    /// Blocks in `0..<count` that are not selected.
    public func complement(in count: Int) -> LayerSelection {
        let selected = Set(indices)
        return LayerSelection(indices: (0 ..< count).filter { !selected.contains($0) })
    }
}
