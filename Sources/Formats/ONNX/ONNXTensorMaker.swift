import Foundation
import Graph

/// Makes the common model's tensors from weight sources, in llama.cpp's shape conventions (innermost first,
/// matrices in out rows): initializers already in out rows stay where they are in the file; B matrices stored
/// [in, out] are transposed, keeping their element type, and block-quantized ones decoded to F32, both into
/// an unlinked scratch file, never into anonymous memory.
struct ONNXTensorMaker {
    /// A made tensor's bytes: in an input file, or at a range of the scratch file (mapped once all is written).
    enum Placement {
        case source(TensorBytes)
        case scratch(offset: Int, count: Int)
    }

    struct Made {
        var shape: [Int]
        var type: ElementType
        var placement: Placement
    }

    let initializers: [String: Onnx_TensorProto]
    let tensorBytes: [String: TensorBytes]
    let graph: Onnx_GraphProto
    let file: String
    let scratch: ScratchFile
    private var quantized: BlockQuantizedReader {
        BlockQuantizedReader(initializers: initializers, tensorBytes: tensorBytes, file: file)
    }

    init(source: ONNXFile, graph: Onnx_GraphProto, scratch: ScratchFile) {
        initializers = Dictionary(graph.initializer.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        tensorBytes = source.tensorBytes
        self.graph = graph
        file = source.path
        self.scratch = scratch
    }

    private func fail(_ problem: String) -> FormatError { .onnx(file: file, problem: problem) }

    /// The shape a source's tensor has, innermost first, without decoding anything.
    func shape(of source: ONNXWeightSources.Source) throws -> [Int] {
        switch source {
        case .plain(let name):
            return try floatInitializer(name).dims.reversed().map { Int($0) }
        case .transposed(let name):
            let tensor = try floatInitializer(name)
            guard tensor.dims.count == 2 else { throw fail("MatMul weight '\(name)' has shape \(tensor.dims); [in, out] expected") }
            return tensor.dims.map { Int($0) }
        case .matMulNBits(let node):
            let matrix = try quantized.matMulNBits(graph.node[node])
            return [matrix.rowLength, matrix.rows]
        case .gatherBlockQuantized(let node, let data):
            let matrix = try quantized.gatherBlockQuantized(graph.node[node], data: try initializer(data))
            return [matrix.rowLength, matrix.rows]
        }
    }

    func make(_ source: ONNXWeightSources.Source) throws -> Made {
        switch source {
        case .plain(let name):
            let tensor = try floatInitializer(name)
            let shape = tensor.dims.reversed().map { Int($0) }
            if let bytes = tensorBytes[name] { return Made(shape: shape, type: try elementType(tensor), placement: .source(bytes)) }
            // Small constants may sit in float_data instead of raw bytes.
            guard tensor.dataType == Onnx_TensorProto.DataType.float.rawValue else {
                throw fail("initializer '\(name)' keeps its \(ONNXElementType.name(tensor.dataType)) values in typed fields")
            }
            let offset = try tensor.floatData.withUnsafeBytes { try scratch.append($0) }
            return Made(shape: shape, type: .f32, placement: .scratch(offset: offset, count: tensor.floatData.count * 4))
        case .transposed(let name):
            let tensor = try floatInitializer(name)
            let shape = try self.shape(of: source)
            guard let bytes = tensorBytes[name] else { throw fail("MatMul weight '\(name)' has no raw data") }
            let type = try elementType(tensor)
            let offset = try transpose(bytes.buffer, rows: shape[0], columns: shape[1], elementSize: type.bytesPerBlock)
            return Made(shape: shape, type: type, placement: .scratch(offset: offset, count: bytes.count))
        case .matMulNBits(let node):
            return try decode(quantized.matMulNBits(graph.node[node]))
        case .gatherBlockQuantized(let node, let data):
            return try decode(quantized.gatherBlockQuantized(graph.node[node], data: try initializer(data)))
        }
    }

    /// `made` cut into consecutive runs of `counts` rows (or elements, for a vector): fused Q/K/V, gate and up.
    func split(_ made: Made, into counts: [Int], role: String) throws -> [Made] {
        let rows = made.shape.count == 1 ? made.shape[0] : made.shape[1]
        let rowBytes = made.shape.count == 1 ? made.type.bytesPerBlock : made.shape[0] * made.type.bytesPerBlock
        // Each count at most `rows`, so their sum cannot overflow.
        guard made.shape.count <= 2, counts.allSatisfy({ $0 > 0 && $0 <= rows }), counts.reduce(0, +) == rows else {
            throw fail("\(role) has \(rows) rows, which do not split into \(counts.map(String.init).joined(separator: " + "))")
        }
        var start = 0
        return counts.map { count in
            defer { start += count }
            var part = made
            if made.shape.count == 1 { part.shape = [count] } else { part.shape[1] = count }
            switch made.placement {
            case .source(let bytes):
                part.placement = .source(TensorBytes(file: bytes.file, offset: bytes.offset + start * rowBytes,
                                                     count: count * rowBytes))
            case .scratch(let offset, _):
                part.placement = .scratch(offset: offset + start * rowBytes, count: count * rowBytes)
            }
            return part
        }
    }

    // MARK: Computing bytes

    /// Appends the transpose of a row-major `rows` × `columns` matrix (`columns` rows of `rows`), a band of
    /// output rows at a time; returns where it starts in the scratch file.
    private func transpose(_ input: UnsafeRawBufferPointer, rows: Int, columns: Int, elementSize: Int) throws -> Int {
        switch elementSize {
        case 4: try transpose(input, rows: rows, columns: columns, as: UInt32.self)
        default: try transpose(input, rows: rows, columns: columns, as: UInt16.self)
        }
    }

    private func transpose<Element: FixedWidthInteger>(_ input: UnsafeRawBufferPointer, rows: Int, columns: Int,
                                                        as _: Element.Type) throws -> Int {
        let band = max(1, min(columns, (1 << 20) / rows))
        var output = [Element](repeating: 0, count: band * rows)
        let start = scratch.size
        for first in stride(from: 0, to: columns, by: band) {
            let count = min(band, columns - first)
            output.withUnsafeMutableBufferPointer { out in
                for row in 0 ..< rows {
                    let inputRow = (row * columns + first) * MemoryLayout<Element>.size
                    for column in 0 ..< count {
                        let offset = inputRow + column * MemoryLayout<Element>.size
                        out[column * rows + row] = input.loadUnaligned(fromByteOffset: offset, as: Element.self)
                    }
                }
            }
            try output.withUnsafeBytes {
                try scratch.append(UnsafeRawBufferPointer(rebasing: $0[0 ..< count * rows * MemoryLayout<Element>.size]))
            }
        }
        return start
    }

    private func decode(_ matrix: BlockQuantizedMatrix) throws -> Made {
        let band = max(1, (1 << 20) / matrix.rowLength)
        var values = [Float](repeating: 0, count: min(band, matrix.rows) * matrix.rowLength)
        let start = scratch.size
        for first in stride(from: 0, to: matrix.rows, by: band) {
            let count = min(band, matrix.rows - first)
            values.withUnsafeMutableBufferPointer { out in
                for row in 0 ..< count { matrix.decodeRow(first + row, into: out.baseAddress! + row * matrix.rowLength) }
            }
            try values.withUnsafeBytes {
                try scratch.append(UnsafeRawBufferPointer(rebasing: $0[0 ..< count * matrix.rowLength * 4]))
            }
        }
        return Made(shape: [matrix.rowLength, matrix.rows], type: .f32,
                    placement: .scratch(offset: start, count: matrix.rows * matrix.rowLength * 4))
    }

    // MARK: Initializers

    private func initializer(_ name: String) throws -> Onnx_TensorProto {
        guard let tensor = initializers[name] else { throw fail("no initializer '\(name)'") }
        return tensor
    }

    private func floatInitializer(_ name: String) throws -> Onnx_TensorProto {
        let tensor = try initializer(name)
        _ = try elementType(tensor)
        guard !tensor.dims.isEmpty, tensor.dims.count <= 2, tensor.dims.allSatisfy({ $0 > 0 }) else {
            throw fail("weight '\(name)' has shape \(tensor.dims); a vector or a matrix expected")
        }
        return tensor
    }

    private func elementType(_ tensor: Onnx_TensorProto) throws -> ElementType {
        switch Onnx_TensorProto.DataType(rawValue: Int(tensor.dataType)) {
        case .float: .f32
        case .float16: .f16
        case .bfloat16: .bf16
        default: throw fail("weight '\(tensor.name)' has element type \(ONNXElementType.name(tensor.dataType)); float expected")
        }
    }
}
