import Graph
import Tensors

/// Converting a model's tensors to another element type and value layout as a writer streams them:
/// dequantize, move between llama.cpp's and transformers' conventions, encode. Tensors whose values do not
/// change layout go in chunks of rows, so memory holds one chunk, not one tensor.
public struct TensorConversion {
    /// The element type of matrices; nil keeps float matrices as they are and makes quantized ones F32.
    public let matrixType: ElementType?
    /// Vectors (norms, biases) as llama.cpp's converter writes them: F32 for GGUF, the matrix type otherwise.
    public let vectorsInF32: Bool
    public let model: Model
    public let target: WeightLayout
    /// Vectors follow the matrices in a folder, whose config states one dtype for the model.
    private let folderVectorType: ElementType

    public static let supportedTypes: [ElementType] = [.f32, .f16, .bf16, .q8_0]
    private static let chunkElements = 1 << 20

    public init(model: Model, to target: WeightLayout, matrixType: ElementType?, vectorsInF32: Bool) {
        self.model = model
        self.target = target
        self.matrixType = matrixType
        self.vectorsInF32 = vectorsInF32
        folderVectorType = model.allTensors.first { $0.shape.count >= 2 }
            .map { Self.matrixOutputType(of: $0, matrixType: matrixType) } ?? .f32
    }

    /// The type a tensor is written as.
    public func outputType(of tensor: Tensor) -> ElementType {
        if tensor.shape.count < 2 { return vectorsInF32 ? .f32 : folderVectorType }
        return Self.matrixOutputType(of: tensor, matrixType: matrixType)
    }

    private static func matrixOutputType(of tensor: Tensor, matrixType: ElementType?) -> ElementType {
        let floats: Set<ElementType> = [.f32, .f16, .bf16]
        let type = matrixType ?? (floats.contains(tensor.type) ? tensor.type : .f32)
        // Q8_0 needs whole blocks per row; llama.cpp's converter falls back to F16 otherwise.
        return type == .q8_0 && tensor.shape[0] % ElementType.q8_0.blockSize != 0 ? .f16 : type
    }

    public var encoder: TensorEncoder {
        { tensor, block in try self.encode(tensor, block: block) }
    }

    private func encode(_ tensor: Tensor, block: Int?) throws -> (type: ElementType, payload: TensorPayload)? {
        let type = outputType(of: tensor)
        let changesLayout = model.layout != target && WeightLayout.differs(role: tensor.name, architecture: model.architecture)
        if type == tensor.type && !changesLayout { return nil }
        guard Dequantizer.supports(tensor.type) else {
            throw SurgeryError.cannotConvert(tensor: tensor.name, type: tensor.type.name)
        }
        let rowLength = tensor.shape.first ?? 1
        let byteCount = type.byteCount(elements: tensor.elementCount)!
        if changesLayout {
            let heads = try headCount(for: tensor, block: block)
            return (type, .produced(byteCount: byteCount) { append in
                var values = try Dequantizer.floats(of: tensor, name: tensor.name)
                model.layout.convert(&values, role: tensor.name, architecture: model.architecture,
                                     rowLength: WeightLayout.rowLength(of: tensor.shape),
                                     heads: heads, to: target)
                try ElementEncoding.encode(values, as: type, append: append)
            })
        }
        let rowBytes = tensor.type.byteCount(elements: rowLength)!
        let rowsPerChunk = max(1, Self.chunkElements / max(rowLength, 1))
        return (type, .produced(byteCount: byteCount) { append in
            let rows = tensor.elementCount / max(rowLength, 1)
            var values = [Float](repeating: 0, count: min(rows, rowsPerChunk) * rowLength)
            for first in stride(from: 0, to: rows, by: rowsPerChunk) {
                let count = min(rowsPerChunk, rows - first)
                values.withUnsafeMutableBufferPointer { out in
                    Dequantizer.decode(tensor.type, from: tensor.data.buffer.baseAddress! + first * rowBytes,
                                       count: count * rowLength, into: out.baseAddress!)
                }
                try ElementEncoding.encode(values[0 ..< count * rowLength], as: type, append: append)
            }
        })
    }

    /// The head count that splits a Q or K projection's rows: query heads for Q, key/value heads for K.
    private func headCount(for tensor: Tensor, block: Int?) throws -> Int {
        let parameters = model.hyperParameters
        let counts = tensor.name.hasPrefix("attn_k") ? parameters.headCountKV : parameters.headCount
        guard let count = block.flatMap({ counts[$0] }) ?? counts.values.first, count > 0 else {
            throw SurgeryError.missingHeadCount(tensor: tensor.name)
        }
        return count
    }
}
