/// Reads little-endian values from a buffer, each read checked against the end of the file.
struct ByteCursor {
    let bytes: UnsafeRawBufferPointer
    let file: String
    var offset = 0

    init(_ bytes: UnsafeRawBufferPointer, file: String) {
        self.bytes = bytes
        self.file = file
    }

    var remaining: Int { bytes.count - offset }

    mutating func take(_ count: Int, _ what: @autoclosure () -> String) throws -> UnsafeRawBufferPointer {
        guard count >= 0, count <= remaining else {
            throw FormatError.truncated(file: file, offset: bytes.count, reading: what())
        }
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: bytes[offset ..< offset + count])
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        let raw = try take(MemoryLayout<T>.size, what())
        return T(littleEndian: raw.loadUnaligned(as: T.self))
    }

    /// A count that must leave room for `count × minimumSize` more bytes, so a corrupt count fails
    /// here instead of in an allocation of petabytes.
    mutating func readCount(_ what: String, minimumSize: Int) throws -> Int {
        let count = try read(UInt64.self, what)
        guard count <= UInt64(remaining / max(minimumSize, 1)) else {
            throw FormatError.implausibleCount(file: file, what: what, count: count, room: remaining)
        }
        return Int(count)
    }

    mutating func readString(_ what: @autoclosure () -> String) throws -> [UInt8] {
        let length = try read(UInt64.self, what())
        guard length <= UInt64(remaining) else {
            throw FormatError.truncated(file: file, offset: bytes.count, reading: "\(what()) (length \(length))")
        }
        return Array(try take(Int(length), what()))
    }
}
