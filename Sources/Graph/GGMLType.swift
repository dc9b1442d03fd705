/// The element encodings of ggml tensors: the one table every reader, writer and kernel consults.
///
/// Sizes follow gguf-py's `GGML_QUANT_SIZES`. A tensor of a type we cannot compute with is still
/// carried exactly, because its byte length follows from `blockSize` and `bytesPerBlock` alone.
public struct GGMLType: Hashable, Sendable, CustomStringConvertible {
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

    public static let f32 = GGMLType(0, "F32", 1, 4)
    public static let f16 = GGMLType(1, "F16", 1, 2)
    public static let q4_0 = GGMLType(2, "Q4_0", 32, 2 + 16)
    public static let q4_1 = GGMLType(3, "Q4_1", 32, 2 + 2 + 16)
    public static let q5_0 = GGMLType(6, "Q5_0", 32, 2 + 4 + 16)
    public static let q5_1 = GGMLType(7, "Q5_1", 32, 2 + 2 + 4 + 16)
    public static let q8_0 = GGMLType(8, "Q8_0", 32, 2 + 32)
    public static let q8_1 = GGMLType(9, "Q8_1", 32, 4 + 4 + 32)
    public static let q2_K = GGMLType(10, "Q2_K", qkK, 2 + 2 + qkK / 16 + qkK / 4)
    public static let q3_K = GGMLType(11, "Q3_K", qkK, 2 + qkK / 4 + qkK / 8 + 12)
    public static let q4_K = GGMLType(12, "Q4_K", qkK, 2 + 2 + qkK / 2 + 12)
    public static let q5_K = GGMLType(13, "Q5_K", qkK, 2 + 2 + qkK / 2 + qkK / 8 + 12)
    public static let q6_K = GGMLType(14, "Q6_K", qkK, 2 + qkK / 2 + qkK / 4 + qkK / 16)
    public static let q8_K = GGMLType(15, "Q8_K", qkK, 4 + qkK + qkK / 8)
    public static let iq2_XXS = GGMLType(16, "IQ2_XXS", qkK, 2 + qkK / 4)
    public static let iq2_XS = GGMLType(17, "IQ2_XS", qkK, 2 + qkK / 4 + qkK / 32)
    public static let iq3_XXS = GGMLType(18, "IQ3_XXS", qkK, 2 + qkK / 4 + qkK / 8)
    public static let iq1_S = GGMLType(19, "IQ1_S", qkK, 2 + qkK / 8 + qkK / 16)
    public static let iq4_NL = GGMLType(20, "IQ4_NL", 32, 2 + 16)
    public static let iq3_S = GGMLType(21, "IQ3_S", qkK, 2 + qkK / 4 + qkK / 8 + qkK / 32 + 4)
    public static let iq2_S = GGMLType(22, "IQ2_S", qkK, 2 + qkK / 4 + qkK / 16)
    public static let iq4_XS = GGMLType(23, "IQ4_XS", qkK, 2 + 2 + qkK / 2 + qkK / 64)
    public static let i8 = GGMLType(24, "I8", 1, 1)
    public static let i16 = GGMLType(25, "I16", 1, 2)
    public static let i32 = GGMLType(26, "I32", 1, 4)
    public static let i64 = GGMLType(27, "I64", 1, 8)
    public static let f64 = GGMLType(28, "F64", 1, 8)
    public static let iq1_M = GGMLType(29, "IQ1_M", qkK, qkK / 8 + qkK / 16 + qkK / 32)
    public static let bf16 = GGMLType(30, "BF16", 1, 2)
    public static let tq1_0 = GGMLType(34, "TQ1_0", qkK, 2 + 4 * 13)
    public static let tq2_0 = GGMLType(35, "TQ2_0", qkK, 2 + 64)
    public static let mxfp4 = GGMLType(39, "MXFP4", 32, 1 + 16)
    public static let nvfp4 = GGMLType(40, "NVFP4", 64, 4 + 32)
    public static let q1_0 = GGMLType(41, "Q1_0", 128, 2 + 16)

    public static let all: [GGMLType] = [
        f32, f16, q4_0, q4_1, q5_0, q5_1, q8_0, q8_1, q2_K, q3_K, q4_K, q5_K, q6_K, q8_K,
        iq2_XXS, iq2_XS, iq3_XXS, iq1_S, iq4_NL, iq3_S, iq2_S, iq4_XS, i8, i16, i32, i64, f64,
        iq1_M, bf16, tq1_0, tq2_0, mxfp4, nvfp4, q1_0,
    ]

    private static let byID: [UInt32: GGMLType] = Dictionary(uniqueKeysWithValues: all.map { ($0.id, $0) })
    private static let byName: [String: GGMLType] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })

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
