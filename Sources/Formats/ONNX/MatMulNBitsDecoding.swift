import Graph

/// A matrix of 4- or 8-bit integers with a scale (and a zero point) per block of `blockSize` elements of a row,
/// as onnxruntime's `MatMulNBits` (B: one row per output) and `GatherBlockQuantized` (data: one row per token)
/// hold it. Rows decode as onnxruntime dequantizes, bit for bit: (q − zero point) · scale in float.
/// Within a byte the low nibble is the even element. Every size is checked against the bytes on construction.
struct BlockQuantizedMatrix {
    let rows: Int
    let rowLength: Int
    let bits: Int
    let blockSize: Int
    let data: TensorBytes
    /// Elements from one row's start to the next's: MatMulNBits pads each row to whole blocks.
    let rowStride: Int
    /// 4-bit data typed int4 (two's complement nibbles) rather than uint4 or packed uint8.
    let signedData: Bool
    let scales: TensorBytes
    let scaleType: ElementType
    let zeroPoints: ZeroPoints

    enum ZeroPoints {
        /// No zero-point input: onnxruntime's default for the data type.
        case constant(Float)
        /// Integers of `bits` each, packed like the data. `rowStride` counts zero points from one row's first to
        /// the next's (MatMulNBits pads rows to whole bytes); nil when they run on across rows (GatherBlockQuantized).
        case integers(TensorBytes, rowStride: Int?, signed: Bool)
        /// One float per block, in the scales' type.
        case floats(TensorBytes)
    }

    var blocksPerRow: Int { (rowLength + blockSize - 1) / blockSize }

    /// Float values of row `row`, `rowLength` of them, into `out`.
    func decodeRow(_ row: Int, into out: UnsafeMutablePointer<Float>) {
        let dataBase = row * rowStride
        let data = data.buffer, scales = scales.buffer
        for block in 0 ..< blocksPerRow {
            let index = row * blocksPerRow + block
            let scale = Self.float(scales, index, scaleType)
            let zero = zeroPoint(row: row, block: block, index: index)
            for k in block * blockSize ..< min(rowLength, (block + 1) * blockSize) {
                let q = Self.integer(data, dataBase + k, bits: bits, signed: signedData)
                out[k] = (Float(q) - zero) * scale
            }
        }
    }

    private func zeroPoint(row: Int, block: Int, index: Int) -> Float {
        switch zeroPoints {
        case .constant(let value): value
        case .integers(let bytes, let rowStride, let signed):
            Float(Self.integer(bytes.buffer, rowStride.map { row * $0 + block } ?? index, bits: bits, signed: signed))
        case .floats(let bytes): Self.float(bytes.buffer, index, scaleType)
        }
    }

    @inline(__always)
    private static func integer(_ bytes: UnsafeRawBufferPointer, _ index: Int, bits: Int, signed: Bool) -> Int32 {
        guard bits == 4 else { return Int32(bytes[index]) }
        let nibble = Int32(index & 1 == 0 ? bytes[index >> 1] & 0x0F : bytes[index >> 1] >> 4)
        return signed && nibble >= 8 ? nibble - 16 : nibble
    }

    @inline(__always)
    private static func float(_ bytes: UnsafeRawBufferPointer, _ index: Int, _ type: ElementType) -> Float {
        type == .f16 ? Float(Float16(bitPattern: bytes.loadUnaligned(fromByteOffset: 2 * index, as: UInt16.self)))
            : bytes.loadUnaligned(fromByteOffset: 4 * index, as: Float.self)
    }
}

/// Reads the quantized matrices of `MatMulNBits` and `GatherBlockQuantized` nodes, checking each attribute
/// and input size against the others and against the bytes the file holds.
struct BlockQuantizedReader {
    let initializers: [String: Onnx_TensorProto]
    let tensorBytes: [String: TensorBytes]
    let file: String

    private func fail(_ node: Onnx_NodeProto, _ problem: String) -> FormatError {
        .onnx(file: file, problem: "\(node.opType) '\(node.name)': \(problem)")
    }

    /// B of a `MatMulNBits` node: N rows of K.
    func matMulNBits(_ node: Onnx_NodeProto) throws -> BlockQuantizedMatrix {
        let k = try positive(node, "K"), n = try positive(node, "N")
        let bits = try self.bits(node, allowed: [4, 8])
        let blockSize = try self.blockSize(node)
        let blocks = k / blockSize + (k % blockSize == 0 ? 0 : 1)
        let blob = blockSize * bits / 8
        let (weight, data) = try input(node, 1, types: [.uint8])
        let expected = try product(node, [n, blocks, blob])
        guard weight.dims.first == Int64(n), data.count == expected else {
            throw fail(node, "B has shape \(weight.dims); K \(k), N \(n), block_size \(blockSize) and \(bits) bits "
                + "need [\(n), \(blocks), \(blob)]")
        }
        let (scales, scaleType) = try self.scales(node, index: 2, count: try product(node, [n, blocks]))
        let zeroPoints: BlockQuantizedMatrix.ZeroPoints
        if node.input.count > 3, !node.input[3].isEmpty {
            let (zeroTensor, zeroBytes) = try input(node, 3, types: [.uint8, scaleType == .f16 ? .float16 : .float])
            if zeroTensor.dataType == Onnx_TensorProto.DataType.uint8.rawValue {
                let rowBytes = (blocks * bits + 7) / 8
                guard zeroBytes.count == (try product(node, [n, rowBytes])) else {
                    throw fail(node, "zero_points hold \(zeroBytes.count) bytes; \(n) rows of \(blocks) \(bits)-bit zero points "
                        + "need \(n * rowBytes)")
                }
                zeroPoints = .integers(zeroBytes, rowStride: rowBytes * 8 / bits, signed: false)
            } else {
                guard zeroBytes.count == scales.count else {
                    throw fail(node, "zero_points hold \(zeroBytes.count) bytes; the scales hold \(scales.count)")
                }
                zeroPoints = .floats(zeroBytes)
            }
        } else {
            zeroPoints = .constant(bits == 4 ? 8 : 128)
        }
        if node.input.count > 4, node.input[4...].contains(where: { !$0.isEmpty }) {
            throw fail(node, "g_idx and bias inputs are not supported")
        }
        return BlockQuantizedMatrix(rows: n, rowLength: k, bits: bits, blockSize: blockSize, data: data,
                                    rowStride: blocks * blockSize, signedData: false, scales: scales,
                                    scaleType: scaleType, zeroPoints: zeroPoints)
    }

    /// The table of a `GatherBlockQuantized` node (rows gathered, quantized along each row); `data` is its
    /// data initializer, given apart because exporters may reach it through a Reshape.
    func gatherBlockQuantized(_ node: Onnx_NodeProto, data: Onnx_TensorProto) throws -> BlockQuantizedMatrix {
        let bits = try self.bits(node, allowed: [4])
        let blockSize = try self.blockSize(node, defaultValue: 128)
        guard attribute(node, "gather_axis") ?? 0 == 0, [-1, 1].contains(attribute(node, "quantize_axis") ?? 1) else {
            throw fail(node, "only gather_axis 0 with quantize_axis 1 (the last) is supported")
        }
        guard let bytes = tensorBytes[data.name] else { throw fail(node, "data '\(data.name)' has no raw bytes") }
        let type = Onnx_TensorProto.DataType(rawValue: Int(data.dataType))
        let packed = type == .uint8
        guard packed || type == .int4 || type == .uint4 else {
            throw fail(node, "data has element type \(ONNXElementType.name(data.dataType)); uint8, int4 or uint4 expected")
        }
        // Packed uint8 holds two elements a byte; int4 and uint4 state their element count.
        let count = packed ? try product(node, [bytes.count, 2]) : ONNXElementType.elementCount(data.dims) ?? 0
        guard let rows = data.dims.first.flatMap({ Int(exactly: $0) }), rows > 0, count >= rows, count % rows == 0 else {
            throw fail(node, "data has shape \(data.dims); rows of elements expected")
        }
        let rowLength = count / rows
        let blocks = rowLength / blockSize + (rowLength % blockSize == 0 ? 0 : 1)
        let (scales, scaleType) = try self.scales(node, index: 2, count: try product(node, [rows, blocks]))
        var zeroPoints = BlockQuantizedMatrix.ZeroPoints.constant(packed ? 8 : 0)
        if node.input.count > 3, !node.input[3].isEmpty {
            let (_, zeroBytes) = try input(node, 3, types: [type!])
            guard zeroBytes.count == (rows * blocks + 1) / 2 else {
                throw fail(node, "zero_points hold \(zeroBytes.count) bytes; \(rows * blocks) 4-bit zero points "
                    + "need \((rows * blocks + 1) / 2)")
            }
            zeroPoints = .integers(zeroBytes, rowStride: nil, signed: type == .int4)
        }
        return BlockQuantizedMatrix(rows: rows, rowLength: rowLength, bits: bits, blockSize: blockSize, data: bytes,
                                    rowStride: rowLength, signedData: type == .int4, scales: scales,
                                    scaleType: scaleType, zeroPoints: zeroPoints)
    }

    // MARK: Attributes and inputs, checked

    func attribute(_ node: Onnx_NodeProto, _ name: String) -> Int? {
        node.attribute.first { $0.name == name }.flatMap { Int(exactly: $0.i) }
    }

    private func positive(_ node: Onnx_NodeProto, _ name: String) throws -> Int {
        guard let value = attribute(node, name), value > 0, value <= 1 << 24 else {
            throw fail(node, "attribute \(name) is missing or not a size from 1 to \(1 << 24)")
        }
        return value
    }

    private func bits(_ node: Onnx_NodeProto, allowed: [Int]) throws -> Int {
        let bits = attribute(node, "bits") ?? 4
        guard allowed.contains(bits) else {
            throw fail(node, "bits \(bits) is not supported (\(allowed.map(String.init).joined(separator: " or ")))")
        }
        return bits
    }

    private func blockSize(_ node: Onnx_NodeProto, defaultValue: Int? = nil) throws -> Int {
        guard let size = attribute(node, "block_size") ?? defaultValue, size >= 16, size <= 1 << 16, size & (size - 1) == 0 else {
            let stated = attribute(node, "block_size").map(String.init) ?? "(missing)"
            throw fail(node, "block_size \(stated) is not a power of 2 from 16 to 65536")
        }
        return size
    }

    private func input(_ node: Onnx_NodeProto, _ index: Int,
                       types: [Onnx_TensorProto.DataType]) throws -> (Onnx_TensorProto, TensorBytes) {
        guard node.input.count > index, let tensor = initializers[node.input[index]], let bytes = tensorBytes[tensor.name] else {
            throw fail(node, "input \(index) is not an initializer with raw data")
        }
        guard types.contains(where: { $0.rawValue == tensor.dataType }) else {
            throw fail(node, "input '\(tensor.name)' has element type \(ONNXElementType.name(tensor.dataType)); expected "
                + types.map { "\($0)" }.joined(separator: " or "))
        }
        return (tensor, bytes)
    }

    private func scales(_ node: Onnx_NodeProto, index: Int, count: Int) throws -> (TensorBytes, ElementType) {
        let (tensor, bytes) = try input(node, index, types: [.float, .float16])
        let type: ElementType = tensor.dataType == Onnx_TensorProto.DataType.float16.rawValue ? .f16 : .f32
        guard bytes.count == count * type.bytesPerBlock else {
            throw fail(node, "scales hold \(bytes.count / type.bytesPerBlock) values; \(count) blocks need one each")
        }
        return (bytes, type)
    }

    private func product(_ node: Onnx_NodeProto, _ factors: [Int]) throws -> Int {
        guard let count = ONNXElementType.elementCount(factors.map(Int64.init)) else {
            throw fail(node, "sizes \(factors) overflow")
        }
        return count
    }
}
