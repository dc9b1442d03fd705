import Foundation
import Graph
import Tensors

/// Runs a model on the CPU one block at a time: embed a batch, run block i on the hidden states of every
/// token, apply the head. Each block's weights are dequantized when it runs and freed after, so memory
/// holds the hidden states plus one block (and the output head while logits are computed).
///
/// The forward pass follows llama.cpp's graphs for the supported architectures, in Float throughout:
/// `runBlock` is attention then the feed-forward network (Attention.swift, FeedForward.swift), and the
/// final norm and output head are in OutputHead.swift.
public final class Engine: @unchecked Sendable {
    public let model: Model
    let config: EngineConfig
    let weights = BlockWeightCache()
    /// Activation buffers kept from block to block (see `ActivationBuffers`), moved out while a block runs.
    private var buffers = ActivationBuffers()
    var headWeights: PackedMatrix?

    public init(model: Model) throws {
        self.model = model
        config = try EngineConfig(model: model)
        // Fail before any work, not when the scoring pass reaches the block.
        for (name, tensor) in model.globalTensors.map({ ($0.name, $0) })
            + model.blocks.enumerated().flatMap({ index, block in block.tensors.map { ("blk.\(index).\($0.name)", $0) } })
            where !Dequantizer.supports(tensor.type) {
            throw TensorError.unsupportedType(tensor: name, type: tensor.type.name)
        }
    }

    public var blockCount: Int { model.blocks.count }
    /// Below this many rows, a block not kept decoded runs on its encoded matrices (`WeightMatrix`).
    static let encodedRowLimit = 64
    /// The epsilon of the model's RMS norms.
    public var rmsEpsilon: Float { config.rmsEpsilon }

    /// Runs `body` with dequantized blocks kept in memory up to `bytes`, and frees them after.
    public func keepingWeights<T>(upTo bytes: Int, _ body: () throws -> T) rethrows -> T {
        try weights.keeping(upTo: bytes, body)
    }

    func globalTensor(_ name: String) throws -> Tensor {
        guard let tensor = model.globalTensors.first(where: { $0.name == name }) else { throw EngineError.missingTensor(name) }
        return tensor
    }

    /// Embeddings of equally long token sequences.
    public func embed(_ sequences: [[Int]]) throws -> HiddenStates {
        let table = try globalTensor("token_embd.weight")
        let width = config.hiddenSize
        guard Dequantizer.supports(table.type) else {
            throw TensorError.unsupportedType(tensor: table.name, type: table.type.name)
        }
        let vocabulary = table.shape.count > 1 ? table.shape[1] : 1
        let length = sequences.first?.count ?? 0
        precondition(sequences.allSatisfy { $0.count == length }, "sequences must have equal length") // callers' duty
        if let token = sequences.joined().first(where: { !(0 ..< vocabulary).contains($0) }) {
            throw EngineError.tokenOutsideVocabulary(token: token, vocabulary: vocabulary)
        }
        let rowBytes = table.type.byteCount(elements: width)!
        var values = [Float](repeating: 0, count: sequences.count * length * width)
        let scale = config.architecture.scalesEmbeddings ? Float(width).squareRoot() : 1
        values.withUnsafeMutableBufferPointer { out in
            for (row, token) in sequences.joined().enumerated() {
                Dequantizer.decode(table.type, from: table.data.buffer.baseAddress! + token * rowBytes, count: width,
                                   into: out.baseAddress! + row * width)
                if scale != 1 { for i in 0 ..< width { out[row * width + i] *= scale } }
            }
        }
        return HiddenStates(values: values, sequenceCount: sequences.count, sequenceLength: length, width: width)
    }

    /// Runs block `index` on every token of `states`, in place. With a cache, `states` holds the tokens that
    /// follow the cached ones (positions continue from the cache), and their keys and values are appended to it.
    /// `skipping` leaves sub-layers out (as if removed); `afterAttention` sees the residual stream between the two.
    public func runBlock(_ index: Int, on states: inout HiddenStates, cache: KeyValueCache? = nil,
                         skipping skipped: SubLayers = [], afterAttention: ((UnsafeBufferPointer<Float>) -> Void)? = nil) throws {
        let layer = config.layers[index]
        // llama.cpp drops the output of a layer without a feed-forward network, its attention's included.
        guard layer.feedForwardSize > 0, skipped != [.attention, .feedForward] else {
            states.values.withUnsafeBufferPointer { afterAttention?($0) }
            return
        }
        // Few rows (generation) multiply through encoded matrices unless the decoded block is kept for reuse.
        let block = try weights.weights(of: index, encodedUnlessKept: states.tokenCount < Self.encodedRowLimit,
                                        decodedBytes: model.blocks[index].parameterCount * MemoryLayout<Float>.size) { spare, encoded in
            try BlockWeights(block: model.blocks[index], index: index, config: config, encoded: encoded, reusing: &spare)
        }
        defer { weights.finished(with: block, of: index) }
        let pass = BlockPass(rows: states.tokenCount, sequenceCount: states.sequenceCount,
                             sequenceLength: states.sequenceLength, past: cache?.length(of: index) ?? 0)
        var buffers = ActivationBuffers()
        swap(&buffers, &self.buffers)
        defer { swap(&buffers, &self.buffers) }
        buffers.prepare(for: pass, layer: layer, config: config, feedForwardSize: block.feedForwardSize)

        states.values.withUnsafeMutableBufferPointer { x in
            if !skipped.contains(.attention) {
                attention(x.baseAddress!, pass, weights: block, layer: layer, index: index, cache: cache, buffers: &buffers)
            }
            afterAttention?(UnsafeBufferPointer(x))
            if !skipped.contains(.feedForward) { feedForward(x.baseAddress!, pass, weights: block, buffers: &buffers) }
        }
    }
}

/// The two residual branches of a block, for running a block with one left out.
public struct SubLayers: OptionSet, Hashable, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public static let attention = SubLayers(rawValue: 1)
    public static let feedForward = SubLayers(rawValue: 2)
}

/// The shape of one block's run: `rows` tokens in `sequenceCount` sequences of `sequenceLength`, following
/// `past` cached tokens in each.
struct BlockPass {
    let rows: Int
    let sequenceCount: Int
    let sequenceLength: Int
    let past: Int

    /// Each row's position in its sequence, continuing from the cache.
    var positions: [Int] { (0 ..< rows).map { $0 % sequenceLength + past } }
}
