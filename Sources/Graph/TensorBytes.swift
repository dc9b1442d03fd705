/// A tensor's encoded bytes: a range of a mapped file, read only when someone asks.
public struct TensorBytes: Sendable {
    public let file: MappedFile
    public let offset: Int
    public let count: Int

    public init(file: MappedFile, offset: Int, count: Int) {
        // Readers check every range against the file before making one (FormatError.tensorOutsideFile).
        precondition(offset >= 0 && count >= 0 && offset + count <= file.size, "tensor range outside \(file.path)")
        self.file = file
        self.offset = offset
        self.count = count
    }

    /// The bytes as a view into the mapping; valid while `file` lives.
    public var buffer: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: file.bytes[offset ..< offset + count])
    }
}

/// One tensor of the model. Inside a `Block`, `name` is the role within the block (`attn_q.weight`);
/// writers add the block prefix of the format they write.
public struct Tensor: Sendable {
    public var name: String
    /// Dimensions innermost first, as ggml counts them (`ne[0]` is the row length).
    public var shape: [Int]
    public var type: ElementType
    public var data: TensorBytes
    /// Position in the source file(s), so a writer can keep the original order after surgery.
    public var ordinal: Int

    public init(name: String, shape: [Int], type: ElementType, data: TensorBytes, ordinal: Int) {
        self.name = name
        self.shape = shape
        self.type = type
        self.data = data
        self.ordinal = ordinal
    }

    public var elementCount: Int { shape.reduce(1, *) }
    public var byteCount: Int { data.count }
}
