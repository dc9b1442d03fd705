/// The protobuf wire format at the level the ONNX reader needs: a flat walk over one message's fields, each
/// with its number, wire type and the byte range it occupies, so that large `raw_data` fields can be located
/// in the mapped file and left out of what swift-protobuf parses. Every length is checked against the bytes
/// that remain.
struct ProtobufField {
    enum WireType: UInt64 {
        case varint = 0, fixed64 = 1, lengthDelimited = 2, fixed32 = 5
    }

    let number: UInt64
    let wireType: WireType
    /// The whole field, tag included, as offsets into the walked buffer.
    let range: Range<Int>
    /// The payload of a length-delimited field (after its length prefix); empty for other types.
    let payload: Range<Int>
    /// The value of a varint field.
    let varint: UInt64
}

struct ProtobufWireError: Error {
    let offset: Int
    let problem: String
}

enum ProtobufWire {
    /// The fields of the message in `bytes[range]`, in order.
    static func fields(of bytes: UnsafeRawBufferPointer, in range: Range<Int>) throws -> [ProtobufField] {
        var fields: [ProtobufField] = []
        var offset = range.lowerBound
        while offset < range.upperBound {
            let start = offset
            let tag = try varint(bytes, at: &offset, end: range.upperBound)
            guard let wireType = ProtobufField.WireType(rawValue: tag & 7), tag >> 3 > 0 else {
                throw ProtobufWireError(offset: start, problem: "field tag \(tag) has no valid number and wire type")
            }
            var payload = offset ..< offset
            var value: UInt64 = 0
            switch wireType {
            case .varint:
                value = try varint(bytes, at: &offset, end: range.upperBound)
            case .fixed64, .fixed32:
                let width = wireType == .fixed64 ? 8 : 4
                guard range.upperBound - offset >= width else {
                    throw ProtobufWireError(offset: offset, problem: "a \(width)-byte field runs past the end")
                }
                offset += width
            case .lengthDelimited:
                let length = try varint(bytes, at: &offset, end: range.upperBound)
                guard length <= UInt64(range.upperBound - offset) else {
                    throw ProtobufWireError(offset: offset, problem: "a field of \(length) bytes runs past the end")
                }
                payload = offset ..< offset + Int(length)
                offset = payload.upperBound
            }
            fields.append(ProtobufField(number: tag >> 3, wireType: wireType, range: start ..< offset, payload: payload,
                                        varint: value))
        }
        return fields
    }

    static func varint(_ bytes: UnsafeRawBufferPointer, at offset: inout Int, end: Int) throws -> UInt64 {
        var value: UInt64 = 0
        for shift in stride(from: 0, to: 70, by: 7) {
            guard offset < end else { throw ProtobufWireError(offset: offset, problem: "a varint runs past the end") }
            let byte = bytes[offset]
            offset += 1
            guard shift < 63 || byte <= 1 else { throw ProtobufWireError(offset: offset - 1, problem: "a varint overflows 64 bits") }
            value |= UInt64(byte & 0x7F) << UInt64(shift)
            if byte & 0x80 == 0 { return value }
        }
        throw ProtobufWireError(offset: offset, problem: "a varint is longer than 10 bytes")
    }

    /// A length-delimited field's tag and length prefix, for rebuilding a message around a changed payload.
    static func lengthDelimitedHeader(number: UInt64, length: Int) -> [UInt8] {
        appendingVarint(appendingVarint([], number << 3 | ProtobufField.WireType.lengthDelimited.rawValue), UInt64(length))
    }

    static func appendingVarint(_ bytes: [UInt8], _ value: UInt64) -> [UInt8] {
        var bytes = bytes, value = value
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
        return bytes
    }
}
