import Graph

/// Where a tensor's bytes come from when it is written.
public enum TensorPayload {
    /// Bytes of a mapped input, copied as they are (inside the kernel where it can).
    case bytes(TensorBytes)
    /// Bytes made while writing (a conversion, row by row): `produce` hands them to `append` in chunks of any
    /// size, `byteCount` in all, so only one chunk is ever in memory.
    case produced(byteCount: Int, produce: (_ append: (UnsafeRawBufferPointer) throws -> Void) throws -> Void)

    public var byteCount: Int {
        switch self {
        case .bytes(let bytes): bytes.count
        case .produced(let byteCount, _): byteCount
        }
    }
}

/// How a writer encodes each tensor of a model (`block` is its block index, nil for a global tensor):
/// a new element type and the bytes, or nil to keep the tensor's own bytes.
public typealias TensorEncoder = (_ tensor: Tensor, _ block: Int?) throws -> (type: ElementType, payload: TensorPayload)?

extension OutputFile {
    /// Appends a tensor's bytes: copied from its mapping, or taken from its producer and counted.
    func write(_ payload: TensorPayload, of tensor: String, through buffer: UnsafeMutableRawBufferPointer) throws {
        switch payload {
        case .bytes(let bytes):
            try copy(bytes, through: buffer)
        case .produced(let byteCount, let produce):
            var written = 0
            func mismatch(_ count: String) -> FormatError {
                .output(file: target.path, problem: "tensor '\(tensor)' produced \(count) bytes, expected \(byteCount)")
            }
            try produce { chunk in
                guard written + chunk.count <= byteCount else { throw mismatch("more than \(byteCount)") }
                try write(chunk)
                written += chunk.count
            }
            guard written == byteCount else { throw mismatch("\(written)") }
        }
    }
}
