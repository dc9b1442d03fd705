/// Value tables and scalar conversions shared by the dequantization kernels, as ggml defines them
/// (`ggml-common.h`, `ggml-impl.h`) and gguf-py mirrors them (`gguf/quants.py`).
enum QuantizationTables {
    /// IQ4_NL and IQ4_XS: the non-linear 4-bit code book (`kvalues_iq4nl`).
    static let iq4nl: [Int8] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]

    /// MXFP4: e2m1 values, doubled (`kvalues_mxfp4`); the block scale is halved to compensate.
    static let mxfp4: [Int8] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12]

    /// TQ1_0: powers of three that rotate each base-3 digit to the top of a byte.
    static let powersOfThree: [UInt8] = [1, 3, 9, 27, 81, 243]

    /// IEEE 754 binary16 bits to Float, exactly (every half value is a float): what numpy's
    /// `astype(np.float32)` and ggml's `GGML_FP16_TO_FP32` give. NaN payloads are kept.
    @inline(__always)
    static func float(half bits: UInt16) -> Float {
        let sign = UInt32(bits & 0x8000) << 16
        let exponent = UInt32(bits >> 10) & 0x1F
        let mantissa = UInt32(bits & 0x03FF)
        if exponent == 0 {
            // Zero or subnormal: mantissa × 2⁻²⁴, exact in Float.
            let magnitude = Float(mantissa) * 0x1p-24
            return Float(bitPattern: magnitude.bitPattern | sign)
        }
        if exponent == 0x1F {
            return Float(bitPattern: sign | 0x7F80_0000 | mantissa << 13)
        }
        return Float(bitPattern: sign | (exponent + (127 - 15)) << 23 | mantissa << 13)
    }

    /// bfloat16 bits to Float: the top half of the float's bits.
    @inline(__always)
    static func float(bfloat16 bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// An e8m0 exponent to 2^(e-127) / 2, as `ggml_e8m0_to_fp32_half` (subnormal below e = 2).
    @inline(__always)
    static func float(e8m0Half e: UInt8) -> Float {
        let bits: UInt32 = e < 2 ? 0x0020_0000 << UInt32(e) : UInt32(e - 1) << 23
        return Float(bitPattern: bits)
    }
}
