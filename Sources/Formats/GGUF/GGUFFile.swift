import Foundation
import Graph

/// One GGUF file as written: version, metadata in order, tensor infos and the mapped data.
/// Parsing is a single flat pass over the header; tensor data stays in the mapping.
public struct GGUFFile {
    public struct TensorInfo {
        public let name: String
        /// Dimensions innermost first (`ne`).
        public let shape: [Int]
        public let type: ElementType
        /// Offset of the data relative to the data section, as stored.
        public let relativeOffset: Int
        public let byteCount: Int
    }

    public static let magic: [UInt8] = Array("GGUF".utf8)
    public static let defaultAlignment = 32
    public static let alignmentKey = "general.alignment"
    /// The `EncodedArray.encoding` of arrays left as GGUF bytes.
    public static let encoding = "gguf"
    /// Arrays at least this long stay encoded until read (per-layer arrays, at most 512 long, never do).
    static let lazyArrayLength = 1024

    public let file: MappedFile
    public let version: UInt32
    public let metadata: Metadata
    public let tensors: [TensorInfo]
    public let alignment: Int
    /// Absolute offset where the tensor data section starts.
    public let dataStart: Int

    public var path: String { file.path }

    public init(url: URL) throws {
        try self.init(file: MappedFile(url: url))
    }

    public init(file: MappedFile) throws {
        self.file = file
        let path = file.path
        var cursor = ByteCursor(file.bytes, file: path)

        let magic = try cursor.take(4, "the magic number")
        guard Array(magic) == Self.magic else {
            throw FormatError.notGGUF(file: path, magic: Self.printable(magic))
        }
        version = try cursor.read(UInt32.self, "the version")
        guard version == 2 || version == 3 else {
            if (1 ... 3).contains(version.byteSwapped) { throw FormatError.bigEndian(file: path) }
            throw FormatError.unsupportedVersion(file: path, version: version)
        }
        // The smallest tensor info is a 1-character name, one dimension, type and offset; the smallest
        // key-value pair a 1-character key, its type and a one-byte value.
        let tensorCount = try cursor.readCount("tensor count", minimumSize: 8 + 1 + 4 + 8 + 4 + 8)
        let keyValueCount = try cursor.readCount("metadata key count", minimumSize: 8 + 1 + 4 + 1)

        var metadata = Metadata()
        for index in 0 ..< keyValueCount {
            let key = String(decoding: try cursor.readString("metadata key \(index)"), as: UTF8.self)
            guard !metadata.contains(key) else { throw FormatError.duplicateKey(file: path, key: key) }
            let typeID = try cursor.read(UInt32.self, "the type of '\(key)'")
            metadata[key] = try Self.readValue(typeID: typeID, key: key, from: &cursor, file: file)
        }
        self.metadata = metadata

        switch metadata[Self.alignmentKey] {
        case nil:
            alignment = Self.defaultAlignment
        case .uint32(let value) where value > 0 && value & (value - 1) == 0:
            alignment = Int(value)
        case let other?:
            throw FormatError.badAlignment(file: path, value: "\(other.type) \(other)")
        }

        var tensors: [TensorInfo] = []
        tensors.reserveCapacity(tensorCount)
        var names = Set<String>()
        for index in 0 ..< tensorCount {
            let name = String(decoding: try cursor.readString("the name of tensor \(index)"), as: UTF8.self)
            guard names.insert(name).inserted else { throw FormatError.duplicateTensor(file: path, tensor: name) }
            let dimensionCount = try cursor.read(UInt32.self, "the dimensions of '\(name)'")
            guard dimensionCount <= 4 else {
                throw FormatError.tooManyDimensions(file: path, tensor: name, count: dimensionCount)
            }
            var shape: [Int64] = []
            for _ in 0 ..< dimensionCount { shape.append(try cursor.read(Int64.self, "the shape of '\(name)'")) }
            let typeID = try cursor.read(UInt32.self, "the type of '\(name)'")
            let offset = try cursor.read(UInt64.self, "the offset of '\(name)'")

            guard let type = ElementType(id: typeID), type.existsInGGUF else {
                throw FormatError.unknownTensorType(file: path, tensor: name, id: typeID)
            }
            guard let elements = Self.elementCount(shape) else {
                throw FormatError.badDimension(file: path, tensor: name, shape: shape)
            }
            let rowLength = Int(shape.first ?? 1)
            guard rowLength % type.blockSize == 0, let byteCount = type.byteCount(elements: elements) else {
                throw FormatError.partialBlock(file: path, tensor: name, rowLength: rowLength, type: type.name,
                                               blockSize: type.blockSize)
            }
            guard offset % UInt64(alignment) == 0 else {
                throw FormatError.misalignedTensor(file: path, tensor: name, offset: offset, alignment: alignment)
            }
            guard offset <= UInt64(Int.max / 2) else {
                throw FormatError.tensorOutsideFile(file: path, tensor: name, start: offset, byteCount: byteCount,
                                                    fileSize: file.size)
            }
            tensors.append(TensorInfo(name: name, shape: shape.map { Int($0) }, type: type,
                                      relativeOffset: Int(offset), byteCount: byteCount))
        }
        self.tensors = tensors

        dataStart = Self.padded(cursor.offset, to: alignment)
        for tensor in tensors {
            let start = dataStart + tensor.relativeOffset
            // An empty tensor may sit at the end of the file, not past it.
            guard start <= file.size, tensor.byteCount <= file.size - start else {
                throw FormatError.tensorOutsideFile(file: path, tensor: tensor.name, start: UInt64(start),
                                                    byteCount: tensor.byteCount, fileSize: file.size)
            }
        }
    }

    /// The bytes of one tensor, as a view into the mapping.
    public func data(of tensor: TensorInfo) -> TensorBytes {
        TensorBytes(file: file, offset: dataStart + tensor.relativeOffset, count: tensor.byteCount)
    }

    public static func padded(_ offset: Int, to alignment: Int) -> Int {
        (offset + alignment - 1) / alignment * alignment
    }

    private static func elementCount(_ shape: [Int64]) -> Int? {
        var product: Int64 = 1
        for dimension in shape {
            guard dimension >= 0 else { return nil }
            let (next, overflow) = product.multipliedReportingOverflow(by: dimension)
            guard !overflow else { return nil }
            product = next
        }
        return Int(exactly: product)
    }

    private static func printable(_ bytes: UnsafeRawBufferPointer) -> String {
        let text = bytes.map { (0x20 ..< 0x7F).contains($0) ? String(UnicodeScalar($0)) : "." }.joined()
        return "\"\(text)\""
    }

    private static func readValue(typeID: UInt32, key: String, from cursor: inout ByteCursor,
                                  file: MappedFile? = nil) throws -> MetadataValue {
        guard let type = MetadataType(rawValue: typeID) else {
            throw FormatError.unknownValueType(file: cursor.file, key: key, id: typeID)
        }
        let what = "the value of '\(key)'"
        switch type {
        case .uint8: return .uint8(try cursor.read(UInt8.self, what))
        case .int8: return .int8(try cursor.read(Int8.self, what))
        case .uint16: return .uint16(try cursor.read(UInt16.self, what))
        case .int16: return .int16(try cursor.read(Int16.self, what))
        case .uint32: return .uint32(try cursor.read(UInt32.self, what))
        case .int32: return .int32(try cursor.read(Int32.self, what))
        case .uint64: return .uint64(try cursor.read(UInt64.self, what))
        case .int64: return .int64(try cursor.read(Int64.self, what))
        case .float32: return .float32(Float(bitPattern: try cursor.read(UInt32.self, what)))
        case .float64: return .float64(Double(bitPattern: try cursor.read(UInt64.self, what)))
        case .bool: return .bool(try cursor.read(UInt8.self, what) != 0)
        case .string: return .string(MetadataString(bytes: try cursor.readString(what)))
        case .array:
            let elementTypeID = try cursor.read(UInt32.self, "the element type of '\(key)'")
            guard let elementType = MetadataType(rawValue: elementTypeID) else {
                throw FormatError.unknownValueType(file: cursor.file, key: key, id: elementTypeID)
            }
            let count = try cursor.readCount("array length of '\(key)'", minimumSize: Self.minimumSize(elementType))
            if let file, count >= lazyArrayLength {
                // Walk the elements to validate them and find the end; decode only when asked.
                let start = cursor.offset
                for _ in 0 ..< count { try skipValue(elementType, key: key, in: &cursor) }
                let path = cursor.file
                return .encodedArray(EncodedArray(
                    elementType: elementType, count: count, encoding: encoding,
                    bytes: TensorBytes(file: file, offset: start, count: cursor.offset - start)
                ) { raw in
                    var elements = ByteCursor(raw, file: path)
                    // skipValue validated these very bytes above, so decoding them again cannot fail.
                    return (0 ..< count).map { _ in try! readValue(typeID: elementTypeID, key: key, from: &elements) }
                })
            }
            var values: [MetadataValue] = []
            values.reserveCapacity(count)
            for _ in 0 ..< count {
                values.append(try readValue(typeID: elementTypeID, key: key, from: &cursor))
            }
            return .array(elementType, values)
        }
    }

    /// Moves past one value, checking it lies inside the file, without building it.
    private static func skipValue(_ type: MetadataType, key: String, in cursor: inout ByteCursor) throws {
        switch type {
        case .string:
            let length = try cursor.read(UInt64.self, "the value of '\(key)'")
            guard length <= UInt64(cursor.remaining) else {
                throw FormatError.truncated(file: cursor.file, offset: cursor.bytes.count,
                                            reading: "the value of '\(key)' (length \(length))")
            }
            _ = try cursor.take(Int(length), "the value of '\(key)'")
        case .array:
            let elementTypeID = try cursor.read(UInt32.self, "the element type of '\(key)'")
            guard let elementType = MetadataType(rawValue: elementTypeID) else {
                throw FormatError.unknownValueType(file: cursor.file, key: key, id: elementTypeID)
            }
            let count = try cursor.readCount("array length of '\(key)'", minimumSize: minimumSize(elementType))
            for _ in 0 ..< count { try skipValue(elementType, key: key, in: &cursor) }
        default:
            _ = try cursor.take(minimumSize(type), "the value of '\(key)'")
        }
    }

    private static func minimumSize(_ type: MetadataType) -> Int {
        switch type {
        case .uint8, .int8, .bool: 1
        case .uint16, .int16: 2
        case .uint32, .int32, .float32: 4
        case .uint64, .int64, .float64, .string: 8
        case .array: 12
        }
    }
}
