/// ONNX's tensor element types (`TensorProto.DataType`) as far as byte counts go: bits per element, with
/// sub-byte types packed (4-bit and 2-bit elements share bytes, the last byte padded).
enum ONNXElementType {
    /// Bits per element of each data type id; nil for strings and ids this reader does not know.
    static func bits(_ id: Int32) -> Int? {
        switch Onnx_TensorProto.DataType(rawValue: Int(id)) {
        case .float, .int32, .uint32: 32
        case .uint8, .int8, .bool, .float8E4M3Fn, .float8E4M3Fnuz, .float8E5M2, .float8E5M2Fnuz, .float8E8M0: 8
        case .uint16, .int16, .float16, .bfloat16: 16
        case .int64, .uint64, .double, .complex64: 64
        case .complex128: 128
        case .uint4, .int4, .float4E2M1: 4
        case .uint2, .int2: 2
        case .float6E2M3, .float6E3M2: 6
        default: nil
        }
    }

    static func name(_ id: Int32) -> String {
        Onnx_TensorProto.DataType(rawValue: Int(id)).map { "\($0)" } ?? "type \(id)"
    }

    /// The element count of `dims`, or nil when a dimension is negative or the product overflows.
    static func elementCount(_ dims: [Int64]) -> Int? {
        var count = 1
        for dimension in dims {
            guard dimension >= 0, let value = Int(exactly: dimension) else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: value)
            guard !overflow else { return nil }
            count = product
        }
        return count
    }

    /// Bytes of `elements` packed elements of `bits` each (the last byte padded), or nil on overflow.
    static func byteCount(elements: Int, bits: Int) -> Int? {
        let (totalBits, overflow) = elements.multipliedReportingOverflow(by: bits)
        return overflow ? nil : totalBits / 8 + (totalBits % 8 == 0 ? 0 : 1)
    }

    /// The bytes `tensor`'s shape and type take as raw data.
    static func byteCount(of tensor: Onnx_TensorProto, file: String) throws -> Int {
        guard let count = elementCount(tensor.dims) else {
            throw FormatError.onnx(file: file, problem: "initializer '\(tensor.name)' has an impossible shape \(tensor.dims)")
        }
        guard let bits = bits(tensor.dataType) else {
            throw FormatError.onnx(file: file, problem: "initializer '\(tensor.name)' has element type \(name(tensor.dataType)), "
                + "which has no fixed size")
        }
        guard let bytes = byteCount(elements: count, bits: bits) else {
            throw FormatError.onnx(file: file, problem: "initializer '\(tensor.name)' has an impossible shape \(tensor.dims)")
        }
        return bytes
    }

    /// Data in the typed repeated fields (`float_data`, …) must hold one value per element (two floats per
    /// complex element); 16-bit and sub-byte types are stored in `int32_data`.
    static func checkTypedData(of tensor: Onnx_TensorProto, file: String) throws {
        guard let count = elementCount(tensor.dims) else {
            throw FormatError.onnx(file: file, problem: "initializer '\(tensor.name)' has an impossible shape \(tensor.dims)")
        }
        let stored = [tensor.floatData.count, tensor.int32Data.count, tensor.int64Data.count, tensor.doubleData.count,
                      tensor.uint64Data.count, tensor.stringData.count].max() ?? 0
        let type = Onnx_TensorProto.DataType(rawValue: Int(tensor.dataType))
        let perElement = type == .complex64 || type == .complex128 ? 2 : 1
        guard let bits = bits(tensor.dataType), bits < 8 else {
            guard stored == count * perElement else {
                throw FormatError.onnx(file: file, problem: "initializer '\(tensor.name)' holds \(stored) values; "
                    + "its shape \(tensor.dims) needs \(count * perElement)")
            }
            return
        }
        // One packed byte per int32, or (as some writers do) one element per int32.
        guard stored == (count * bits + 7) / 8 || stored == count else {
            throw FormatError.onnx(file: file, problem: "initializer '\(tensor.name)' holds \(stored) values for \(count) "
                + "\(bits)-bit elements")
        }
    }
}
