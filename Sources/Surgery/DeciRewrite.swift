import Graph
import Tensors

/// Writes a sub-layer removal, and the replacements recovery fitted, as llama.cpp's `deci` architecture
/// (Nemotron-51B's llama with per-layer shapes), which llama.cpp runs unchanged. Per layer, from
/// `deci.attention.head_count`, `head_count_kv` and `feed_forward_length`:
///
/// - attention removed: 0 heads, no attention tensors (no K/V cache);
/// - a linear replacement x + RMSNorm(x)·W: heads > 0 with 0 key/value heads ("linear attention"), only
///   `attn_norm` (ones) and an n_embd × n_embd `attn_output` (F16), stored rows = outputs (Wᵀ);
/// - feed-forward removed: a width-1 FFN of zeros, because llama.cpp skips the whole layer, attention
///   included, when `feed_forward_length` is 0;
/// - a bias β: added to the `ffn_down.bias` of the layer before the removed piece (llama.cpp's linear
///   attention has no bias), in a layer of its own only when nothing precedes it.
///
/// A run of removed blocks replaced by W becomes one linear-attention layer in place of the run. Layer 0 must
/// keep heads (llama.cpp derives the head size from it), so an attention-free first layer gets W = 0.
public struct DeciRewrite: Sendable {
    public static let coveredArchitectures = ["llama", "deci"]
    public let removal: SubLayerRemoval
    public let replacements: [RemovalUnit: Replacement]

    public init(removal: SubLayerRemoval, replacements: [RemovalUnit: Replacement] = [:]) {
        self.removal = removal
        self.replacements = replacements
    }

    private enum Attention { case kept, none, linear([Float]) }

    private struct Layer {
        var source: Int?
        var attention: Attention
        var keepsFeedForward: Bool
        var outputBias: [Float]?
    }

    public func apply(to input: Model) throws -> BlockRemoval.Result {
        guard Self.coveredArchitectures.contains(input.architecture) else {
            throw SurgeryError.subLayersUnsupported(architecture: input.architecture)
        }
        let parameters = input.hyperParameters
        guard let width = parameters.hiddenSize, let firstHeads = parameters.headCount[0], firstHeads > 0 else {
            throw SurgeryError.missingHeadCount(tensor: "blk.0.attn_q.weight")
        }
        var warnings: [String] = []
        var layers = plannedLayers(feedForwardWidth: { parameters.feedForwardLength[$0] ?? 1 })
        guard !layers.isEmpty else { throw SurgeryError.removesEveryBlock(blockCount: input.blocks.count) }
        if case .none = layers[0].attention {
            layers[0].attention = .linear([Float](repeating: 0, count: width * width))
            warnings.append("llama.cpp takes the head size from layer 0, so the first layer keeps a zero linear attention (\(width * width) parameters)")
        }

        var model = input
        Self.relabel(&model, as: "deci")
        model.blocks = try layers.map { try block(for: $0, in: input, width: width) }
        let heads = layers.map { layer -> (Int, Int) in
            switch layer.attention {
            case .kept: (parameters.headCount[layer.source!] ?? firstHeads, parameters.headCountKV[layer.source!] ?? 0)
            case .none: (0, 0)
            case .linear: (firstHeads, 0)
            }
        }
        let widths = layers.map { $0.keepsFeedForward ? parameters.feedForwardLength[$0.source!] ?? 1 : 1 }
        func int32s(_ values: [Int]) -> MetadataValue { .array(.int32, values.map { .int32(Int32($0)) }) }
        let otherArrays = input.perBlockKeys.map { "deci." + $0.dropFirst(input.architecture.count + 1) }
        for key in otherArrays {
            guard case .array(let type, let values)? = model.metadata[key] else { continue }
            model.metadata[key] = .array(type, layers.indices.map { values[Self.nearestSource(layers, $0) ?? 0] })
        }
        model.metadata["deci.attention.head_count"] = int32s(heads.map(\.0))
        model.metadata["deci.attention.head_count_kv"] = int32s(heads.map(\.1))
        model.metadata["deci.feed_forward_length"] = int32s(widths)
        model.metadata["deci.block_count"] = .uint32(UInt32(layers.count))
        recordProvenance(in: &model)
        Self.renumberOrdinals(&model, original: input)
        return BlockRemoval.Result(model: model, warnings: warnings)
    }

    /// The output's layers in order, before layer 0's fix-up.
    private func plannedLayers(feedForwardWidth: (Int) -> Int) -> [Layer] {
        var layers: [Layer] = []
        func addToStream(_ beta: [Float]) {
            if layers.isEmpty {
                layers.append(Layer(source: nil, attention: .none, keepsFeedForward: false, outputBias: beta))
            } else {
                layers[layers.count - 1].outputBias = Self.sum(layers[layers.count - 1].outputBias, beta)
            }
        }
        func replace(_ unit: RemovalUnit, inPlace: (([Float]) -> Void)? = nil) {
            switch replacements[unit] {
            case .bias(let beta)?: addToStream(beta)
            case .linear(let weights)?:
                if let inPlace { inPlace(weights) } else {
                    layers.append(Layer(source: nil, attention: .linear(weights), keepsFeedForward: false, outputBias: nil))
                }
            case nil: break
            }
        }
        var runs: [Int: RemovalUnit] = [:]
        for unit in removal.units {
            if case .blocks(let run) = unit { runs[run.lowerBound] = unit }
        }
        for block in 0 ..< removal.blockCount {
            if let keeps = removal.keeps(block: block) {
                // A layer without a feed-forward network is already a no-op in llama.cpp.
                guard feedForwardWidth(block) > 0 else { continue }
                var layer = Layer(source: block, attention: keeps.attention ? .kept : .none,
                                  keepsFeedForward: keeps.feedForward, outputBias: nil)
                if !keeps.attention { replace(.attention(block)) { layer.attention = .linear($0) } }
                layers.append(layer)
                // A bias lands on this layer's own (zero) FFN, the last layer so far; a map follows it.
                if !keeps.feedForward { replace(.feedForward(block)) }
            } else if let run = runs[block] {
                replace(run)
            }
        }
        return layers
    }
}

extension DeciRewrite {
    public static let removedAttentionKey = "modelsurgery.removed_attention"
    public static let removedFeedForwardKey = "modelsurgery.removed_ffn"

    /// The output layer's tensors: its source block's, less what was removed, plus what replaces it.
    private func block(for layer: Layer, in input: Model, width: Int) throws -> Block {
        let source = layer.source.map { input.blocks[$0].tensors } ?? []
        let name = "blk.\(layer.source.map(String.init) ?? "new")"
        var tensors = source.filter { tensor in
            if tensor.name.hasPrefix("attn_") { if case .kept = layer.attention { return true } else { return false } }
            if tensor.name.hasPrefix("ffn_") { return layer.keepsFeedForward && tensor.name != "ffn_down.bias" }
            return true
        }
        if case .linear(let weights) = layer.attention {
            tensors.append(Self.tensor("attn_norm.weight", shape: [width], .f32, [Float](repeating: 1, count: width)))
            tensors.append(Self.tensor("attn_output.weight", shape: [width, width], .f16, Self.transposed(weights, width)))
        }
        if !layer.keepsFeedForward {
            let zeros = [Float](repeating: 0, count: width)
            tensors.append(Self.tensor("ffn_norm.weight", shape: [width], .f32, [Float](repeating: 1, count: width)))
            tensors.append(Self.tensor("ffn_gate.weight", shape: [width, 1], .f32, zeros))
            tensors.append(Self.tensor("ffn_up.weight", shape: [width, 1], .f32, zeros))
            tensors.append(Self.tensor("ffn_down.weight", shape: [1, width], .f32, zeros))
        }
        let existingBias = try source.first { $0.name == "ffn_down.bias" && layer.keepsFeedForward }
            .map { try Dequantizer.floats(of: $0, name: "\(name).ffn_down.bias") }
        if let bias = Self.sum(existingBias, layer.outputBias) {
            guard bias.count == width else { throw SurgeryError.missingTensor("\(name).ffn_down.bias of \(width) values") }
            tensors.append(Self.tensor("ffn_down.bias", shape: [width], .f32, bias))
        }
        return Block(tensors: tensors)
    }

    /// A tensor whose bytes are made here (kept in memory until written).
    static func tensor(_ name: String, shape: [Int], _ type: ElementType, _ values: [Float]) -> Tensor {
        var bytes: [UInt8] = []
        try! ElementEncoding.encode(values, as: type) { bytes += $0 } // appending to memory cannot fail
        return Tensor(name: name, shape: shape, type: type,
                      data: TensorBytes(file: MappedFile(name: name, contents: bytes), offset: 0, count: bytes.count),
                      ordinal: 0)
    }

    static func transposed(_ matrix: [Float], _ width: Int) -> [Float] {
        var result = [Float](repeating: 0, count: matrix.count)
        for row in 0 ..< width { for column in 0 ..< width { result[column * width + row] = matrix[row * width + column] } }
        return result
    }

    static func sum(_ a: [Float]?, _ b: [Float]?) -> [Float]? {
        guard let a else { return b }
        guard let b else { return a }
        return zip(a, b).map(+)
    }

    /// The source block of layer `index`, or of the nearest layer before it that has one (after it at the start).
    private static func nearestSource(_ layers: [Layer], _ index: Int) -> Int? {
        layers[...index].last { $0.source != nil }?.source ?? layers.first { $0.source != nil }?.source
    }

    /// Moves every `{architecture}.*` key to `{name}.*`: deci reads llama's keys under its own name.
    static func relabel(_ model: inout Model, as name: String) {
        let prefix = model.architecture + "."
        guard model.architecture != name else { return }
        for (key, value) in model.metadata.entries where key.hasPrefix(prefix) {
            model.metadata[key] = nil
            model.metadata[name + "." + key.dropFirst(prefix.count)] = value
        }
        model.metadata["general.architecture"] = .string(MetadataString(name))
    }

    private func recordProvenance(in model: inout Model) {
        RemovalProvenance.record(removing: removal.blocks, blockCount: removal.blockCount, in: &model.metadata)
        func list(_ values: [Int]) -> MetadataValue { .array(.uint32, values.map { .uint32(UInt32($0)) }) }
        if !removal.attention.isEmpty { model.metadata[Self.removedAttentionKey] = list(removal.attention) }
        if !removal.feedForward.isEmpty { model.metadata[Self.removedFeedForwardKey] = list(removal.feedForward) }
    }

    /// File order: the global tensors that led the input, the layers in order, then the other globals.
    private static func renumberOrdinals(_ model: inout Model, original: Model) {
        let firstBlockTensor = original.blocks.flatMap(\.tensors).map(\.ordinal).min() ?? Int.max
        let globals = model.globalTensors.sorted { $0.ordinal < $1.ordinal }
        var next = 0
        func number(_ tensor: inout Tensor) {
            tensor.ordinal = next
            next += 1
        }
        var leading = globals.filter { $0.ordinal < firstBlockTensor }, trailing = globals.filter { $0.ordinal >= firstBlockTensor }
        for index in leading.indices { number(&leading[index]) }
        for block in model.blocks.indices {
            model.blocks[block].tensors.sort { $0.ordinal < $1.ordinal }
            for index in model.blocks[block].tensors.indices { number(&model.blocks[block].tensors[index]) }
        }
        for index in trailing.indices { number(&trailing[index]) }
        model.globalTensors = leading + trailing
    }
}
