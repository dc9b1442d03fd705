import Graph

/// Gathers a reader's block tensors into the model's ordered blocks: as many as the tensors describe, never
/// as many as a count in the file claims (that count is checked against the result by `Model.validate()`).
struct BlockAssembly {
    private var tensorsByBlock: [Int: [Tensor]] = [:]

    mutating func add(_ tensor: Tensor, toBlock index: Int) {
        tensorsByBlock[index, default: []].append(tensor)
    }

    /// Blocks 0 through the highest index named; a gap (a block without tensors) is an error, so the count
    /// is bounded by the tensors the file holds.
    func blocks(file: String) throws -> [Block] {
        let count = (tensorsByBlock.keys.max() ?? -1) + 1
        guard tensorsByBlock.count == count else {
            let missing = (0 ..< count).first { tensorsByBlock[$0] == nil } ?? 0
            throw FormatError.malformedModel(file: file, problem: "tensors name block \(count - 1) but block \(missing) has none")
        }
        return (0 ..< count).map { Block(tensors: tensorsByBlock[$0] ?? []) }
    }
}

extension Model {
    /// `validate()`, its problem reported against `file`.
    func validated(file: String) throws -> Model {
        do {
            try validate()
        } catch let error as InconsistentModel {
            throw FormatError.malformedModel(file: file, problem: error.problem)
        }
        return self
    }
}
