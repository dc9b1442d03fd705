import Foundation
import Graph

/// The hyper-parameters a decoder graph states by itself, for exports that come without a config (torch's
/// dynamo writes a bare `.onnx`): attention nodes' head counts, the KV-cache inputs' shapes, norms' epsilon,
/// and the RoPE base recovered from an `inv_freq` constant or a `cos_cache`/`sin_cache` pair.
struct ONNXGraphFacts {
    var headCount: Int?
    var kvHeadCount: Int?
    var headSize: Int?
    var rotaryDimensions: Int?
    var ropeBase: Double?
    var contextLength: Int?
    var epsilon: Double?
    /// RoPE on adjacent pairs (`rotary_interleaved`/`interleaved` = 1) rather than on halves.
    var interleavedRope = false

    init(decoder: DecoderGraph, tensorBytes: [String: TensorBytes]) {
        let graph = decoder.graph
        // Initializers and Constant nodes' values: exporters keep small constants either way.
        var constants = Dictionary(graph.initializer.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for node in graph.node where node.opType == "Constant" && node.output.count == 1 {
            if let value = node.attribute.first(where: { $0.name == "value" && $0.hasT }) { constants[node.output[0]] = value.t }
        }
        func floats(_ name: String) -> [Float]? {
            guard let tensor = constants[name], tensor.dataType == Onnx_TensorProto.DataType.float.rawValue,
                  let count = ONNXElementType.elementCount(tensor.dims), count <= 1 << 16 else { return nil }
            func decoded(_ bytes: UnsafeRawBufferPointer) -> [Float]? {
                bytes.count == count * 4 ? (0 ..< count).map { bytes.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) } : nil
            }
            if let bytes = tensorBytes[name] { return decoded(bytes.buffer) }
            if !tensor.rawData.isEmpty { return tensor.rawData.withUnsafeBytes(decoded) }
            return tensor.floatData.count == count ? tensor.floatData : nil
        }
        for name in constants.keys.sorted() where ropeBase == nil {
            if let values = floats(name) { readInverseFrequencies(values) }
        }
        for node in graph.node {
            switch node.opType {
            case "GroupQueryAttention":
                headCount = headCount ?? Self.attribute(node, "num_heads")
                kvHeadCount = kvHeadCount ?? Self.attribute(node, "kv_num_heads")
                interleavedRope = interleavedRope || Self.attribute(node, "rotary_interleaved") == 1
                if ropeBase == nil, node.input.count > 8, let cos = floats(node.input[7]), let sin = floats(node.input[8]),
                   let rows = constants[node.input[7]]?.dims.first {
                    readCaches(cos: cos, sin: sin, rows: Int(rows))
                }
            case "Attention" where node.domain.isEmpty || node.domain == "ai.onnx":
                headCount = headCount ?? Self.attribute(node, "q_num_heads")
                kvHeadCount = kvHeadCount ?? Self.attribute(node, "kv_num_heads")
            case "RotaryEmbedding":
                interleavedRope = interleavedRope || Self.attribute(node, "interleaved") == 1
            case _ where ONNXWeightSources.normOps.contains(node.opType) || ONNXWeightSources.skipNormOps.contains(node.opType):
                epsilon = epsilon ?? node.attribute.first { $0.name == "epsilon" }.map { Double($0.f) }
            case "Sqrt":
                // A decomposed RMSNorm: sqrt(mean(x²) + ε), ε a scalar initializer.
                if epsilon == nil, let add = node.input.first.flatMap(decoder.producer(of:)), graph.node[add].opType == "Add" {
                    epsilon = graph.node[add].input.lazy.compactMap(floats).first { $0.count == 1 }.map { Double($0[0]) }
                }
            default:
                break
            }
        }
        readCacheInputs(graph)
    }

    private static func attribute(_ node: Onnx_NodeProto, _ name: String) -> Int? {
        node.attribute.first { $0.name == name }.flatMap { Int(exactly: $0.i) }.flatMap { $0 > 0 ? $0 : nil }
    }

    /// The past key inputs `[batch, kv heads, past, head size]`, where the two sizes are fixed numbers.
    private mutating func readCacheInputs(_ graph: Onnx_GraphProto) {
        guard let key = graph.input.first(where: { LayerToken.cacheBlock(of: $0.name)?.kind == "key" }) else { return }
        let dims = key.type.tensorType.shape.dim
        guard dims.count == 4 else { return }
        func fixed(_ index: Int) -> Int? { dims[index].dimValue > 0 ? Int(exactly: dims[index].dimValue) : nil }
        kvHeadCount = kvHeadCount ?? fixed(1)
        headSize = headSize ?? fixed(3)
    }

    /// transformers' `inv_freq[i] = base^(−2i/d)`, i < d/2: 1 first, then falling geometrically (which tells it
    /// from other constants).
    private mutating func readInverseFrequencies(_ values: [Float]) {
        guard values.count >= 2, values[0] == 1, values[1] > 0, values[1] < 1 else { return }
        let ratio = Double(values[1])
        let geometric = zip(values, values.dropFirst()).allSatisfy { $1 > 0 && abs(Double($1) / Double($0) - ratio) <= 1e-4 * ratio }
        guard geometric else { return }
        let dimensions = 2 * values.count
        rotaryDimensions = dimensions
        // The last, smallest frequency gives the base with the least relative error.
        ropeBase = Self.rounded(pow(Double(values[values.count - 1]), -Double(dimensions) / Double(2 * (values.count - 1))))
    }

    /// `cos_cache[p, i] = cos(p · θᵢ)` and `sin_cache` alike, θᵢ = base^(−2i/d): θ₁ from position 1.
    private mutating func readCaches(cos: [Float], sin: [Float], rows: Int) {
        guard rows >= 2, cos.count == sin.count, cos.count % rows == 0 else { return }
        let half = cos.count / rows
        guard half >= 2 else { return }
        let theta = atan2(Double(sin[half + 1]), Double(cos[half + 1]))
        guard theta > 0, theta < 1 else { return }
        rotaryDimensions = 2 * half
        ropeBase = Self.rounded(pow(theta, -Double(half)))
        contextLength = rows
    }

    /// A base recovered from float32 values is a whole number (10000, 1000000) give or take their rounding.
    private static func rounded(_ base: Double) -> Double? {
        guard base.isFinite, base > 1 else { return nil }
        return abs(base - base.rounded()) <= base * 1e-5 ? base.rounded() : base
    }
}
