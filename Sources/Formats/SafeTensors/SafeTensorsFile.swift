import Foundation
import Graph

/// One `.safetensors` file: an 8-byte little-endian header length, a JSON header, then the tensor data.
/// The file stays mapped; entries are views into it. Validation follows the reference implementation
/// (huggingface/safetensors `SafeTensors::read_metadata`): the tensors must tile the data section exactly.
public struct SafeTensorsFile: Sendable {
    public struct Entry: Sendable {
        public let name: String
        public let type: ElementType
        /// Dimensions outermost first, as the header writes them (the reverse of `Tensor.shape`).
        public let shape: [Int]
        public let data: TensorBytes
    }

    /// The reference's `MAX_HEADER_SIZE`.
    public static let maximumHeaderLength = 100_000_000
    public static let metadataKey = "__metadata__"

    /// The reference's `Dtype` enum in its order, which is also the order its writer sorts by (descending).
    public static let dtypes: [ElementType] = [
        .bool, .f4, .f6_E2M3, .f6_E3M2, .u8, .i8, .f8_E5M2, .f8_E4M3, .f8_E8M0, .f8_E4M3FNUZ, .f8_E5M2FNUZ,
        .i16, .u16, .f16, .bf16, .i32, .u32, .f32, .c64, .f64, .i64, .u64,
    ]
    private static let dtypesByName = Dictionary(uniqueKeysWithValues: dtypes.map { ($0.name, $0) })

    public let file: MappedFile
    /// `__metadata__`, in header order.
    public let metadata: [(key: String, value: String)]
    /// Sorted by data offset.
    public let tensors: [Entry]
    /// Absolute offset of the data section (8 + header length).
    public let dataStart: Int

    public var path: String { file.path }

    public init(path: String) throws {
        try self.init(file: MappedFile(url: URL(fileURLWithPath: path)))
    }

    public init(url: URL) throws {
        try self.init(file: MappedFile(url: url))
    }

    public init(file: MappedFile) throws {
        self.file = file
        let path = file.path
        var cursor = ByteCursor(file.bytes, file: path)
        let headerLength = try cursor.read(UInt64.self, "the header length")
        guard headerLength <= UInt64(Self.maximumHeaderLength) else {
            throw FormatError.headerTooLarge(file: path, length: headerLength, limit: Self.maximumHeaderLength)
        }
        let headerBytes = try cursor.take(Int(headerLength), "the \(headerLength)-byte JSON header")
        dataStart = cursor.offset

        guard String(validating: headerBytes, as: UTF8.self) != nil else {
            throw FormatError.malformedHeader(file: path, problem: "not valid UTF-8")
        }
        let header: JSONValue
        do {
            header = try JSONValue.parse(headerBytes)
        } catch {
            throw FormatError.malformedHeader(file: path, problem: "\(error)")
        }
        guard let members = header.members else {
            throw FormatError.malformedHeader(file: path, problem: "not a JSON object")
        }

        var metadata: [(key: String, value: String)] = []
        var declared: [(name: String, type: ElementType, shape: [UInt64], start: UInt64, end: UInt64)] = []
        var names = Set<String>()
        for (key, value) in members {
            if key == Self.metadataKey {
                metadata = try Self.metadata(value, file: path)
                continue
            }
            guard names.insert(key).inserted else { throw FormatError.duplicateTensor(file: path, tensor: key) }
            let (type, shape, offsets) = try Self.tensorInfo(key, value, file: path)
            declared.append((key, type, shape, offsets.0, offsets.1))
        }
        self.metadata = metadata

        declared.sort { ($0.start, $0.end, $0.name) < ($1.start, $1.end, $1.name) }
        var tensors: [Entry] = []
        tensors.reserveCapacity(declared.count)
        let dataBytes = file.size - dataStart
        var end: UInt64 = 0
        for tensor in declared {
            guard tensor.start == end, tensor.end >= tensor.start else {
                throw FormatError.badOffsets(file: path, tensor: tensor.name, start: tensor.start, end: tensor.end,
                                             expectedStart: Int(end))
            }
            end = tensor.end
            let shape = tensor.shape.map { Int64(clamping: $0) }
            guard let elements = Self.elementCount(tensor.shape) else {
                throw FormatError.badDimension(file: path, tensor: tensor.name, shape: shape)
            }
            guard elements % tensor.type.blockSize == 0 else {
                throw FormatError.partialBytes(file: path, tensor: tensor.name, elements: elements, type: tensor.type.name)
            }
            guard let byteCount = tensor.type.byteCount(elements: elements) else {
                throw FormatError.badDimension(file: path, tensor: tensor.name, shape: shape)
            }
            guard tensor.end - tensor.start == UInt64(byteCount) else {
                throw FormatError.sizeMismatch(file: path, tensor: tensor.name, type: tensor.type.name,
                                               shape: tensor.shape.map { Int($0) }, byteCount: byteCount,
                                               span: tensor.end - tensor.start)
            }
            guard tensor.end <= UInt64(dataBytes) else {
                throw FormatError.tensorOutsideFile(file: path, tensor: tensor.name,
                                                    start: UInt64(dataStart) + tensor.start, byteCount: byteCount,
                                                    fileSize: file.size)
            }
            tensors.append(Entry(name: tensor.name, type: tensor.type, shape: tensor.shape.map { Int($0) },
                                 data: TensorBytes(file: file, offset: dataStart + Int(tensor.start), count: byteCount)))
        }
        guard end == UInt64(dataBytes) else {
            throw FormatError.uncoveredData(file: path, tensorsEnd: Int(end), dataBytes: dataBytes)
        }
        self.tensors = tensors
    }

    /// `__metadata__`: null or an object of strings; a repeated key keeps its last value, as serde's map does.
    private static func metadata(_ value: JSONValue, file: String) throws -> [(key: String, value: String)] {
        if case .null = value { return [] }
        guard let members = value.members else {
            throw FormatError.malformedHeader(file: file, problem: "\(metadataKey) is not an object")
        }
        var entries: [(key: String, value: String)] = []
        var positions: [String: Int] = [:]
        for (key, item) in members {
            guard let text = item.string else {
                throw FormatError.malformedHeader(file: file, problem: "\(metadataKey) value of '\(key)' is not a string")
            }
            if let position = positions[key] {
                entries[position].value = text
            } else {
                positions[key] = entries.count
                entries.append((key, text))
            }
        }
        return entries
    }

    private static func tensorInfo(_ name: String, _ value: JSONValue, file: String) throws
        -> (ElementType, [UInt64], (UInt64, UInt64)) {
        func malformed(_ problem: String) -> FormatError {
            .malformedHeader(file: file, problem: "tensor '\(name)' \(problem)")
        }
        guard value.members != nil else { throw malformed("is not an object") }
        guard let dtype = value["dtype"] else { throw malformed("has no dtype") }
        guard let dtypeName = dtype.string else { throw malformed("has a dtype that is not a string") }
        guard let type = dtypesByName[dtypeName] else {
            throw FormatError.unknownDtype(file: file, tensor: name, dtype: dtypeName)
        }
        guard let shapeValue = value["shape"] else { throw malformed("has no shape") }
        guard let dimensions = shapeValue.array, case let shape = dimensions.compactMap(\.unsignedInteger),
              shape.count == dimensions.count else {
            throw malformed("shape is not a list of non-negative integers")
        }
        guard let offsetsValue = value["data_offsets"] else { throw malformed("has no data_offsets") }
        guard let items = offsetsValue.array, case let offsets = items.compactMap(\.unsignedInteger),
              items.count == 2, offsets.count == 2 else {
            throw malformed("data_offsets is not a pair of non-negative integers")
        }
        return (type, shape, (offsets[0], offsets[1]))
    }

    private static func elementCount(_ shape: [UInt64]) -> Int? {
        var product = 1
        for dimension in shape {
            guard let size = Int(exactly: dimension) else { return nil }
            let (next, overflow) = product.multipliedReportingOverflow(by: size)
            guard !overflow else { return nil }
            product = next
        }
        return product
    }
}
