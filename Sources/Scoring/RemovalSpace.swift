import Engine

/// What a set of indices removes: whole blocks, or one sub-layer of each block named, on top of removals
/// already decided (`fixed`, e.g. the blocks chosen before their sub-layers are).
public struct RemovalSpace: Sendable {
    /// What each index removes from its block: both sub-layers (the block) or one.
    public let part: SubLayers
    public let fixed: [Int: SubLayers]

    public init(part: SubLayers, fixed: [Int: SubLayers] = [:]) {
        self.part = part
        self.fixed = fixed
    }

    public static let blocks = RemovalSpace(part: [.attention, .feedForward])

    /// What block `block` leaves out when the indices `removed` are removed.
    func skipped(by block: Int, removing removed: Set<Int>) -> SubLayers {
        (fixed[block] ?? []).union(removed.contains(block) ? part : [])
    }

    public var name: String { part == .attention ? "attention" : part == .feedForward ? "ffn" : "block" }
}
