/// Hidden states of a batch of equally long sequences: `sequenceCount × sequenceLength` rows of `width` values,
/// sequence after sequence. Scoring keeps one of these for every calibration token between blocks.
public struct HiddenStates: Sendable {
    public var values: [Float]
    public let sequenceCount: Int
    public let sequenceLength: Int
    public let width: Int

    public init(values: [Float], sequenceCount: Int, sequenceLength: Int, width: Int) {
        precondition(values.count == sequenceCount * sequenceLength * width) // built by the engine from validated sizes
        self.values = values
        self.sequenceCount = sequenceCount
        self.sequenceLength = sequenceLength
        self.width = width
    }

    public var tokenCount: Int { sequenceCount * sequenceLength }
}
