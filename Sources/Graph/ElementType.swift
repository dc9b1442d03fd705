/// The element encodings of tensors: the one table every reader, writer and kernel consults.
///
/// ggml's types keep their GGUF ids and gguf-py's `GGML_QUANT_SIZES`; the encodings only safetensors has
/// (unsigned integers, booleans, 8/6/4-bit floats) get ids outside ggml's range, which a GGUF writer refuses.
/// A tensor of a type we cannot compute with is still carried exactly, because its byte length follows
/// from `blockSize` and `bytesPerBlock` alone.
public struct ElementType: Hashable, Sendable, CustomStringConvertible {
    /// The GGUF type id for ggml's types; `safetensorsOnlyIDs` for the rest.
    public let id: UInt32
    public let name: String
    /// Elements per quantization block (1 for plain scalar types).
    public let blockSize: Int
    public let bytesPerBlock: Int

    public var description: String { name }

    private init(_ id: UInt32, _ name: String, _ blockSize: Int, _ bytesPerBlock: Int) {
        self.id = id
        self.name = name
        self.blockSize = blockSize
        self.bytesPerBlock = bytesPerBlock
    }

    private static let qkK = 256

    public static let f32 = ElementType(0, "F32", 1, 4)
    public static let f16 = ElementType(1, "F16", 1, 2)
    public static let q4_0 = ElementType(2, "Q4_0", 32, 2 + 16)
    public static let q4_1 = ElementType(3, "Q4_1", 32, 2 + 2 + 16)
    public static let q5_0 = ElementType(6, "Q5_0", 32, 2 + 4 + 16)
    public static let q5_1 = ElementType(7, "Q5_1", 32, 2 + 2 + 4 + 16)
    public static let q8_0 = ElementType(8, "Q8_0", 32, 2 + 32)
    public static let q8_1 = ElementType(9, "Q8_1", 32, 4 + 4 + 32)
    public static let q2_K = ElementType(10, "Q2_K", qkK, 2 + 2 + qkK / 16 + qkK / 4)
    public static let q3_K = ElementType(11, "Q3_K", qkK, 2 + qkK / 4 + qkK / 8 + 12)
    public static let q4_K = ElementType(12, "Q4_K", qkK, 2 + 2 + qkK / 2 + 12)
    public static let q5_K = ElementType(13, "Q5_K", qkK, 2 + 2 + qkK / 2 + qkK / 8 + 12)
    public static let q6_K = ElementType(14, "Q6_K", qkK, 2 + qkK / 2 + qkK / 4 + qkK / 16)
    public static let q8_K = ElementType(15, "Q8_K", qkK, 4 + qkK + qkK / 8)
    public static let iq2_XXS = ElementType(16, "IQ2_XXS", qkK, 2 + qkK / 4)
    public static let iq2_XS = ElementType(17, "IQ2_XS", qkK, 2 + qkK / 4 + qkK / 32)
    public static let iq3_XXS = ElementType(18, "IQ3_XXS", qkK, 2 + qkK / 4 + qkK / 8)
    public static let iq1_S = ElementType(19, "IQ1_S", qkK, 2 + qkK / 8 + qkK / 16)
    public static let iq4_NL = ElementType(20, "IQ4_NL", 32, 2 + 16)
    public static let iq3_S = ElementType(21, "IQ3_S", qkK, 2 + qkK / 4 + qkK / 8 + qkK / 32 + 4)
    public static let iq2_S = ElementType(22, "IQ2_S", qkK, 2 + qkK / 4 + qkK / 16)
    public static let iq4_XS = ElementType(23, "IQ4_XS", qkK, 2 + 2 + qkK / 2 + qkK / 64)
    public static let i8 = ElementType(24, "I8", 1, 1)
    public static let i16 = ElementType(25, "I16", 1, 2)
    public static let i32 = ElementType(26, "I32", 1, 4)
    public static let i64 = ElementType(27, "I64", 1, 8)
    public static let f64 = ElementType(28, "F64", 1, 8)
    public static let iq1_M = ElementType(29, "IQ1_M", qkK, qkK / 8 + qkK / 16 + qkK / 32)
    public static let bf16 = ElementType(30, "BF16", 1, 2)
    public static let tq1_0 = ElementType(34, "TQ1_0", qkK, 2 + 4 * 13)
    public static let tq2_0 = ElementType(35, "TQ2_0", qkK, 2 + 64)
    public static let mxfp4 = ElementType(39, "MXFP4", 32, 1 + 16)
    public static let nvfp4 = ElementType(40, "NVFP4", 64, 4 + 32)
    public static let q1_0 = ElementType(41, "Q1_0", 128, 2 + 16)

    private static let safetensorsOnlyIDs: ClosedRange<UInt32> = 0x1_0000 ... 0x1_FFFF
    public static let bool = ElementType(0x1_0000, "BOOL", 1, 1)
    public static let u8 = ElementType(0x1_0001, "U8", 1, 1)
    public static let u16 = ElementType(0x1_0002, "U16", 1, 2)
    public static let u32 = ElementType(0x1_0003, "U32", 1, 4)
    public static let u64 = ElementType(0x1_0004, "U64", 1, 8)
    public static let f8_E4M3 = ElementType(0x1_0005, "F8_E4M3", 1, 1)
    public static let f8_E5M2 = ElementType(0x1_0006, "F8_E5M2", 1, 1)
    public static let f8_E8M0 = ElementType(0x1_0007, "F8_E8M0", 1, 1)
    /// AMD's FP8 variants (no infinities, one NaN, "negative zero" is the NaN).
    public static let f8_E4M3FNUZ = ElementType(0x1_000C, "F8_E4M3FNUZ", 1, 1)
    public static let f8_E5M2FNUZ = ElementType(0x1_000D, "F8_E5M2FNUZ", 1, 1)
    /// Sub-byte floats, packed: safetensors requires whole bytes, so 4 six-bit or 2 four-bit values per block.
    public static let f6_E2M3 = ElementType(0x1_0008, "F6_E2M3", 4, 3)
    public static let f6_E3M2 = ElementType(0x1_0009, "F6_E3M2", 4, 3)
    public static let f4 = ElementType(0x1_000A, "F4", 2, 1)
    public static let c64 = ElementType(0x1_000B, "C64", 1, 8)

    public static let all: [ElementType] = [
        f32, f16, q4_0, q4_1, q5_0, q5_1, q8_0, q8_1, q2_K, q3_K, q4_K, q5_K, q6_K, q8_K,
        iq2_XXS, iq2_XS, iq3_XXS, iq1_S, iq4_NL, iq3_S, iq2_S, iq4_XS, i8, i16, i32, i64, f64,
        iq1_M, bf16, tq1_0, tq2_0, mxfp4, nvfp4, q1_0,
        bool, u8, u16, u32, u64, f8_E4M3, f8_E5M2, f8_E8M0, f8_E4M3FNUZ, f8_E5M2FNUZ, f6_E2M3, f6_E3M2, f4, c64,
    ]

    /// Whether GGUF can store this encoding.
    public var existsInGGUF: Bool { !Self.safetensorsOnlyIDs.contains(id) }

    private static let byID: [UInt32: ElementType] = Dictionary(uniqueKeysWithValues: all.map { ($0.id, $0) })
    private static let byName: [String: ElementType] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })

    public init?(id: UInt32) {
        guard let known = Self.byID[id] else { return nil }
        self = known
    }

    public init?(name: String) {
        guard let known = Self.byName[name.uppercased()] else { return nil }
        self = known
    }

    /// Bytes holding `elements` values, or nil when the count is not a whole number of blocks.
    public func byteCount(elements: Int) -> Int? {
        guard elements % blockSize == 0 else { return nil }
        let (bytes, overflow) = (elements / blockSize).multipliedReportingOverflow(by: bytesPerBlock)
        return overflow ? nil : bytes
    }
}
