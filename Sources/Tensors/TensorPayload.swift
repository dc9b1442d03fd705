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
