import Foundation

/// The float32 arrays of an uncompressed `.npz` (numpy's savez into a ZIP_STORED archive), as the ONNX goldens
/// are written: member `NAME.npy` → shape and values.
public struct NumpyArchive {
    public struct Array {
        public let shape: [Int]
        public let values: [Float]
    }

    public let arrays: [String: Array]

    public init(url: URL) throws {
        let bytes = [UInt8](try Data(contentsOf: url))
        func integer(_ offset: Int, _ width: Int) -> Int {
            (0 ..< width).reduce(0) { $0 | Int(bytes[offset + $1]) << (8 * $1) }
        }
        var arrays: [String: Array] = [:]
        var offset = 0
        while offset + 30 <= bytes.count, integer(offset, 4) == 0x0403_4B50 {
            guard integer(offset + 8, 2) == 0 else { throw Malformed("member at \(offset) is compressed") }
            let size = integer(offset + 18, 4), nameLength = integer(offset + 26, 2), extra = integer(offset + 28, 2)
            let name = String(decoding: bytes[offset + 30 ..< offset + 30 + nameLength], as: UTF8.self)
            let start = offset + 30 + nameLength + extra
            arrays[String(name.dropLast(".npy".count))] = try Self.npy(bytes[start ..< start + size])
            offset = start + size
        }
        self.arrays = arrays
    }

    public subscript(name: String) -> Array? { arrays[name] }

    /// A version 1 or 2 `.npy` of little-endian float32 in C order.
    private static func npy(_ bytes: ArraySlice<UInt8>) throws -> Array {
        let base = bytes.startIndex
        guard bytes.count > 10, Swift.Array(bytes[base ..< base + 6]) == [0x93] + Swift.Array("NUMPY".utf8) else {
            throw Malformed("not an .npy member")
        }
        let version = bytes[base + 6]
        let lengthWidth = version == 1 ? 2 : 4
        let headerLength = (0 ..< lengthWidth).reduce(0) { $0 | Int(bytes[base + 8 + $1]) << (8 * $1) }
        let headerStart = base + 8 + lengthWidth
        let header = String(decoding: bytes[headerStart ..< headerStart + headerLength], as: UTF8.self)
        guard header.contains("'descr': '<f4'"), header.contains("'fortran_order': False"),
              let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
            throw Malformed("not a C-order float32 array: \(header)")
        }
        let shape = header[open.upperBound ..< close].split(separator: ",").compactMap {
            Int($0.trimmingCharacters(in: .whitespaces))
        }
        let data = bytes[(headerStart + headerLength)...]
        let values = stride(from: data.startIndex, to: data.endIndex, by: 4).map { index in
            Float(bitPattern: (0 ..< 4).reduce(UInt32(0)) { $0 | UInt32(data[index + $1]) << (8 * UInt32($1)) })
        }
        guard values.count == shape.reduce(1, *) else { throw Malformed("\(values.count) values for shape \(shape)") }
        return Array(shape: shape, values: values)
    }

    struct Malformed: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
