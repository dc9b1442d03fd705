import Graph

/// Little-endian GGUF encoding of header fields, strings and metadata values into a byte buffer.
struct GGUFEncoder {
    private(set) var bytes: [UInt8] = []

    mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func append(bytes more: [UInt8]) {
        bytes.append(contentsOf: more)
    }

    mutating func append(string: [UInt8]) {
        append(UInt64(string.count))
        bytes.append(contentsOf: string)
    }

    mutating func append(key: String, value: MetadataValue) {
        append(string: Array(key.utf8))
        append(value.type.rawValue)
        append(value: value)
    }

    mutating func append(value: MetadataValue) {
        switch value {
        case .uint8(let v): append(v)
        case .int8(let v): append(v)
        case .uint16(let v): append(v)
        case .int16(let v): append(v)
        case .uint32(let v): append(v)
        case .int32(let v): append(v)
        case .uint64(let v): append(v)
        case .int64(let v): append(v)
        case .float32(let v): append(v.bitPattern)
        case .float64(let v): append(v.bitPattern)
        case .bool(let v): append(UInt8(v ? 1 : 0))
        case .string(let s): append(string: s.bytes)
        case .array(let elementType, let values):
            append(elementType.rawValue)
            append(UInt64(values.count))
            for element in values { append(value: element) }
        case .encodedArray(let encoded) where encoded.encoding == GGUFFile.encoding:
            append(encoded.elementType.rawValue)
            append(UInt64(encoded.count))
            bytes.append(contentsOf: encoded.bytes.buffer)
        case .encodedArray(let encoded):
            append(value: .array(encoded.elementType, encoded.values))
        }
    }

    mutating func pad(to alignment: Int) {
        bytes.append(contentsOf: repeatElement(0, count: GGUFFile.padded(bytes.count, to: alignment) - bytes.count))
    }
}
