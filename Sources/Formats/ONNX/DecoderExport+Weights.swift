import Foundation
import Graph
import Tensors

extension DecoderExport {
    /// `RMSNormalization` over the last axis, named `node/RMSNormalization`.
    func rmsNorm(_ input: String, _ weight: Tensor?, name: String, node: String, graph: inout ONNXGraphBuilder) throws -> String {
        let scale = try vectorOrTable(weight, name: name, graph: &graph)
        return graph.apply("RMSNormalization", [input, scale], name: "\(node)/RMSNormalization",
                           attributes: [.int("axis", -1), .float("epsilon", shape.rmsEpsilon)])
    }

    /// input · W (+ bias): `node/MatMul` with W as [in, out] in the chosen precision, or `node/MatMulNBits`.
    func project(_ input: String, _ weight: Tensor?, bias: Tensor? = nil, name: String, node: String,
                 graph: inout ONNXGraphBuilder) throws -> String {
        guard let weight else { throw FormatError.onnx(file: model.sourcePath, problem: "a weight of '\(name)' is missing") }
        let (inputs, outputs) = (weight.shape[0], weight.shape[1])
        var product: String
        switch options.precision {
        case .int4 where MatMulNBitsEncoder.fits(weight.shape):
            let (packed, scales) = try blockQuantized(weight, name: name, graph: &graph)
            product = graph.apply("MatMulNBits", [input, packed, scales], name: "\(node)/MatMulNBits", domain: "com.microsoft",
                                  attributes: [.int("K", inputs), .int("N", outputs), .int("bits", 4),
                                               .int("block_size", MatMulNBitsEncoder.blockSize),
                                               .int("accuracy_level", MatMulNBitsEncoder.accuracyLevel)])
        case .f16:
            let stored = try transposedMatrix(weight, name: name, type: .f16, graph: &graph)
            let widened = graph.apply("Cast", [stored], name: "\(node)/Cast", attributes: [.int("to", Int(Onnx_TensorProto.DataType.float.rawValue))])
            product = graph.apply("MatMul", [input, widened], name: "\(node)/MatMul")
        default:
            product = graph.apply("MatMul", [input, try transposedMatrix(weight, name: name, type: .f32, graph: &graph)],
                                  name: "\(node)/MatMul")
        }
        if let bias {
            let biasName = String(name.dropLast("weight".count)) + "bias"
            product = graph.apply("Add", [product, try vectorOrTable(bias, name: biasName, graph: &graph)], name: "\(node)/Add")
        }
        return product
    }

    /// A vector or the embedding table as f32, in ggml's order (so [rows, row length] in ONNX's).
    func vectorOrTable(_ tensor: Tensor?, name: String, graph: inout ONNXGraphBuilder) throws -> String {
        guard let tensor else { throw FormatError.onnx(file: model.sourcePath, problem: "tensor '\(name)' is missing") }
        let values = { try self.floats(of: tensor) }
        return graph.initializer(name, type: .float, dims: tensor.shape.reversed(),
                                 payload: .produced(byteCount: tensor.elementCount * 4) { append in
                                     try values().withUnsafeBytes(append)
                                 })
    }

    private static let transposeChunkElements = 1 << 20

    /// A ggml matrix [K, N] (N rows of K) as MatMul's B, [K, N] with N innermost: the rows become columns.
    private func transposedMatrix(_ tensor: Tensor, name: String, type: ElementType, graph: inout ONNXGraphBuilder) throws -> String {
        let (inputs, outputs) = (tensor.shape[0], tensor.shape[1])
        let byteCount = try checkedByteCount(tensor.elementCount, type.bytesPerBlock, name: name)
        return graph.initializer(name, type: type == .f16 ? .float16 : .float, dims: [inputs, outputs],
                                 payload: .produced(byteCount: byteCount) { append in
            let rows = try self.floats(of: tensor)
            // Output rows (source columns) in chunks, so memory holds the source and one chunk.
            let chunkRows = max(1, Self.transposeChunkElements / outputs)
            var chunk = [Float](repeating: 0, count: min(chunkRows, inputs) * outputs)
            for first in stride(from: 0, to: inputs, by: chunkRows) {
                let count = min(chunkRows, inputs - first)
                for column in first ..< first + count {
                    let base = (column - first) * outputs
                    for row in 0 ..< outputs { chunk[base + row] = rows[row * inputs + column] }
                }
                try ElementEncoding.encode(chunk[0 ..< count * outputs], as: type, append: append)
            }
        })
    }

    /// MatMulNBits' packed weight and scales: Q4_0 blocks repacked as they are, anything else quantized.
    private func blockQuantized(_ tensor: Tensor, name: String, graph: inout ONNXGraphBuilder) throws -> (String, String) {
        let (inputs, outputs) = (tensor.shape[0], tensor.shape[1])
        let blocks = inputs / MatMulNBitsEncoder.blockSize
        let encoded = EncodedOnce {
            tensor.type == .q4_0 ? MatMulNBitsEncoder.repackQ4_0(tensor.data.buffer) : MatMulNBitsEncoder.quantize(try self.floats(of: tensor))
        }
        let packedBytes = try checkedByteCount(outputs * blocks, MatMulNBitsEncoder.bytesPerBlock, name: name)
        let packed = graph.initializer(name, type: .uint8, dims: [outputs, blocks, MatMulNBitsEncoder.bytesPerBlock],
                                       payload: .produced(byteCount: packedBytes) { append in
                                           try encoded.take(\.packed).withUnsafeBytes(append)
                                       })
        let scalesName = String(name.dropLast("weight".count)) + "scales"
        let scales = graph.initializer(scalesName, type: .float, dims: [outputs * blocks],
                                       payload: .produced(byteCount: outputs * blocks * 4) { append in
                                           try encoded.take(\.scales).withUnsafeBytes(append)
                                       })
        return (packed, scales)
    }

    /// A tensor's values in the graph's conventions: llama.cpp's norms (gemma's +1 included); Q/K rows as they
    /// are, the rotary op's `interleaved` following them.
    private func floats(of tensor: Tensor) throws -> [Float] {
        var values = try Dequantizer.floats(of: tensor, name: tensor.name)
        if tensor.name.hasSuffix("norm.weight") {
            model.layout.convert(&values, role: tensor.name, architecture: model.architecture,
                                 rowLength: WeightLayout.rowLength(of: tensor.shape), heads: 1, to: .llamaCpp)
        }
        return values
    }

    private func checkedByteCount(_ count: Int, _ bytesPerElement: Int, name: String) throws -> Int {
        let (bytes, overflow) = count.multipliedReportingOverflow(by: bytesPerElement)
        guard !overflow else { throw FormatError.onnx(file: model.sourcePath, problem: "tensor '\(name)' is too large") }
        return bytes
    }
}

/// A matrix's MatMulNBits encoding, made once for its two initializers (packed weight, scales) and dropped once
/// both have been written.
private final class EncodedOnce {
    private let encode: () throws -> (packed: [UInt8], scales: [Float])
    private var encoded: (packed: [UInt8], scales: [Float])?
    private var parts = 0

    init(_ encode: @escaping () throws -> (packed: [UInt8], scales: [Float])) { self.encode = encode }

    func take<Part>(_ part: KeyPath<(packed: [UInt8], scales: [Float]), Part>) throws -> Part {
        let value = try encoded ?? encode()
        parts += 1
        encoded = parts < 2 ? value : nil
        return value[keyPath: part]
    }
}
