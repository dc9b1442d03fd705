/// A piece of the model that removal takes out and recovery may replace.
public enum RemovalUnit: Hashable, Sendable, CustomStringConvertible {
    case blocks(Range<Int>)
    case attention(Int)
    case feedForward(Int)

    public var description: String {
        switch self {
        case .blocks(let range): range.count == 1 ? "block \(range.lowerBound)" : "blocks \(range.lowerBound)-\(range.upperBound - 1)"
        case .attention(let block): "attention \(block)"
        case .feedForward(let block): "ffn \(block)"
        }
    }
}

/// What takes a removed unit's place, fitted on calibration activations: x ↦ x + β, or x ↦ x + RMSNorm(x)·W
/// (W row-major, `width × width`, row i the weights of input i).
public enum Replacement: Sendable {
    case bias([Float])
    case linear([Float])
}
