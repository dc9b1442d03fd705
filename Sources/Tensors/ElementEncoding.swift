import Graph

/// Float values encoded as F32, F16, BF16 or Q8_0, bit for bit as the reference tools encode them:
/// numpy's `astype(float16)`, torch's round-to-nearest-even bfloat16, and gguf-py's Q8_0 quantizer.
package enum ElementEncoding {
    package static func encode(_ values: some Collection<Float>, as type: ElementType,
                       append: (UnsafeRawBufferPointer) throws -> Void) throws {
        switch type {
        case .f32:
            try Array(values).withUnsafeBytes(append)
        case .f16:
            try values.map { Float16($0) }.withUnsafeBytes(append)
        case .bf16:
            try values.map(bfloat16Bits).withUnsafeBytes(append)
        case .q8_0:
            try q8_0(Array(values)).withUnsafeBytes(append)
        default:
            // Callers offer only TensorConversion.supportedTypes: another type here is a programming error.
            preconditionFailure("no encoder for \(type)")
        }
    }

    /// Round to nearest even on the upper 16 bits; NaN stays a quiet NaN.
    package static func bfloat16Bits(_ value: Float) -> UInt16 {
        if value.isNaN { return 0x7FC0 }
        let bits = value.bitPattern
        return UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
    }

    /// gguf-py's `Q8_0.quantize_blocks`: d = max|x| / 127 stored as F16, q = x · (1/d) rounded half away from zero.
    package static func q8_0(_ values: [Float]) -> [UInt8] {
        let blockSize = ElementType.q8_0.blockSize
        precondition(values.count % blockSize == 0) // readers refuse rows that are not whole blocks
        var bytes = [UInt8]()
        bytes.reserveCapacity(values.count / blockSize * ElementType.q8_0.bytesPerBlock)
        for start in stride(from: 0, to: values.count, by: blockSize) {
            let block = values[start ..< start + blockSize]
            let d = block.reduce(Float(0)) { max($0, abs($1)) } / 127
            let inverse: Float = d == 0 ? 0 : 1 / d
            withUnsafeBytes(of: Float16(d).bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
            for x in block {
                let scaled = x * inverse
                let magnitude = abs(scaled)
                let floored = magnitude.rounded(.down)
                // A NaN or infinite weight (a stranger's file) has no Q8_0 code: it becomes 0, never a trap.
                let rounded = magnitude.isFinite ? min(127, floored + (2 * (magnitude - floored)).rounded(.down)) : 0
                bytes.append(UInt8(bitPattern: Int8(scaled < 0 ? -rounded : rounded)))
            }
        }
        return bytes
    }
}
