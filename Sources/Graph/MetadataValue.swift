/// The type tags of model metadata values, numbered as GGUF numbers them.
public enum MetadataType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// GGUF's own names: UINT8, FLOAT32, STRING, ARRAY ...
    public var description: String {
        ["UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32", "BOOL", "STRING", "ARRAY", "UINT64", "INT64",
         "FLOAT64"][Int(rawValue)]
    }
}

/// A metadata string kept as its bytes, so a value that is not valid UTF-8 still round-trips exactly.
public struct MetadataString: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let bytes: [UInt8]
    public init(bytes: [UInt8]) { self.bytes = bytes }
    public init(_ text: String) { bytes = Array(text.utf8) }
    public init(stringLiteral text: String) { self.init(text) }
    public var description: String { String(decoding: bytes, as: UTF8.self) }
}

/// A long array left in its file's encoding until someone reads it: a tokenizer's 100k+ strings cost
/// nothing to carry through surgery, and a writer of the same format copies the bytes as they are.
public struct EncodedArray: Hashable, Sendable {
    public let elementType: MetadataType
    public let count: Int
    /// The format whose encoding `bytes` holds ("gguf").
    public let encoding: String
    /// The elements as stored in the source file, after the array's type and count.
    public let bytes: TensorBytes
    private let decoder: @Sendable (UnsafeRawBufferPointer) -> [MetadataValue]

    public init(elementType: MetadataType, count: Int, encoding: String, bytes: TensorBytes,
                decoder: @escaping @Sendable (UnsafeRawBufferPointer) -> [MetadataValue]) {
        self.elementType = elementType
        self.count = count
        self.encoding = encoding
        self.bytes = bytes
        self.decoder = decoder
    }

    public var values: [MetadataValue] { decoder(bytes.buffer) }

    public static func == (a: EncodedArray, b: EncodedArray) -> Bool {
        a.elementType == b.elementType && a.count == b.count && a.encoding == b.encoding
            && a.bytes.buffer.elementsEqual(b.bytes.buffer)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(elementType)
        hasher.combine(count)
    }
}

/// A typed metadata value. Arrays keep their element type even when empty.
public enum MetadataValue: Hashable, Sendable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool)
    case string(MetadataString)
    case array(MetadataType, [MetadataValue])
    case encodedArray(EncodedArray)

    public var type: MetadataType {
        switch self {
        case .uint8: .uint8
        case .int8: .int8
        case .uint16: .uint16
        case .int16: .int16
        case .uint32: .uint32
        case .int32: .int32
        case .uint64: .uint64
        case .int64: .int64
        case .float32: .float32
        case .float64: .float64
        case .bool: .bool
        case .string: .string
        case .array, .encodedArray: .array
        }
    }

    /// The value as an integer, for any integer type (nil for others or when it does not fit).
    public var int: Int? {
        switch self {
        case .uint8(let v): Int(v)
        case .int8(let v): Int(v)
        case .uint16(let v): Int(v)
        case .int16(let v): Int(v)
        case .uint32(let v): Int(v)
        case .int32(let v): Int(v)
        case .uint64(let v): Int(exactly: v)
        case .int64(let v): Int(v)
        default: nil
        }
    }

    public var double: Double? {
        switch self {
        case .float32(let v): Double(v)
        case .float64(let v): v
        default: int.map(Double.init)
        }
    }

    public var string: String? {
        if case .string(let s) = self { return s.description }
        return nil
    }

    public var bool: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// The elements of an array (decoding an encoded one), nil for other values.
    public var array: [MetadataValue]? {
        switch self {
        case .array(_, let values): values
        case .encodedArray(let encoded): encoded.values
        default: nil
        }
    }

    /// An array's length, without decoding it.
    public var arrayCount: Int? {
        switch self {
        case .array(_, let values): values.count
        case .encodedArray(let encoded): encoded.count
        default: nil
        }
    }

    public var arrayElementType: MetadataType? {
        switch self {
        case .array(let type, _): type
        case .encodedArray(let encoded): encoded.elementType
        default: nil
        }
    }

    /// An integer of the same type as `self`, for rewriting a count without changing its encoding.
    public func withInteger(_ value: Int) -> MetadataValue {
        switch self {
        case .uint8: .uint8(UInt8(value))
        case .int8: .int8(Int8(value))
        case .uint16: .uint16(UInt16(value))
        case .int16: .int16(Int16(value))
        case .uint32: .uint32(UInt32(value))
        case .int32: .int32(Int32(value))
        case .uint64: .uint64(UInt64(value))
        case .int64: .int64(Int64(value))
        default: .uint32(UInt32(value))
        }
    }
}

extension MetadataValue: CustomStringConvertible {
    public var description: String {
        switch self {
        case .uint8(let v): "\(v)"
        case .int8(let v): "\(v)"
        case .uint16(let v): "\(v)"
        case .int16(let v): "\(v)"
        case .uint32(let v): "\(v)"
        case .int32(let v): "\(v)"
        case .uint64(let v): "\(v)"
        case .int64(let v): "\(v)"
        case .float32(let v): "\(v)"
        case .float64(let v): "\(v)"
        case .bool(let v): "\(v)"
        case .string(let s): s.description
        case .array(let type, let values):
            values.count <= 8
                ? "[" + values.map(\.description).joined(separator: ", ") + "]"
                : "[\(values.count) × \(type)]"
        case .encodedArray(let encoded): "[\(encoded.count) × \(encoded.elementType)]"
        }
    }
}
