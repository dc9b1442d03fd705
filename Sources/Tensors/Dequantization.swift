import CKernels
import Foundation
import Graph

/// ggml tensor encodings decoded to Float, bit for bit what gguf-py's `gguf.quants.dequantize` gives
/// (and ggml's `dequantize_row_*`): every kernel follows the reference's order of float operations,
/// so `d * sc * q` is `(d * sc) * q` and `d * q - m` is never fused into one rounding.
///
/// Block layouts are ggml's (`ggml-common.h`); all multi-byte fields are little-endian and read
/// unaligned, because blocks of 18 or 110 bytes put them anywhere.
public enum Dequantizer {
    /// Decodes `blocks` whole blocks from `source` into `destination`.
    typealias Kernel = (_ source: UnsafeRawPointer, _ blocks: Int, _ destination: UnsafeMutablePointer<Float>) -> Void

    /// Types this engine can decode.
    public static func supports(_ type: ElementType) -> Bool {
        kernel(for: type) != nil
    }

    /// Every type `supports` accepts, in `ElementType.all` order.
    static var supportedTypes: [ElementType] { ElementType.all.filter(supports) }

    /// Decodes `count` elements (a whole number of blocks of `type`) from `source` into `destination`.
    /// Precondition: supports(type) and count % type.blockSize == 0.
    public static func decode(_ type: ElementType, from source: UnsafeRawPointer, count: Int,
                              into destination: UnsafeMutablePointer<Float>) {
        guard let kernel = kernel(for: type) else { preconditionFailure("cannot dequantize \(type.name)") }
        precondition(count >= 0 && count % type.blockSize == 0, "\(count) is not a whole number of \(type.name) blocks")
        kernel(source, count / type.blockSize, destination)
    }

    /// The whole tensor as Float in ggml memory order (row after row, ne[0] elements per row).
    /// Throws TensorError.unsupportedType(tensor: name, type: type.name) for types it cannot decode.
    /// Large tensors are decoded in parallel over rows (DispatchQueue.concurrentPerform), using both cores.
    public static func floats(of tensor: Tensor, name: String) throws -> [Float] {
        try floats(of: tensor, name: name, parallelFrom: 1 << 16)
    }

    /// `floats(of:name:)`, decoding in parallel once the tensor has `parallelFrom` elements.
    static func floats(of tensor: Tensor, name: String, parallelFrom threshold: Int) throws -> [Float] {
        var spare: [[Float]] = []
        return try floats(of: tensor, name: name, parallelFrom: threshold, reusing: &spare)
    }

    /// `floats(of:name:)`, decoded into an array taken from `spare` when one of the right count is there
    /// (removed from it, so uniquely owned): weights that stream block after block then land in memory that
    /// is already mapped instead of fresh pages, whose faults cost more than the decoding.
    package static func floats(of tensor: Tensor, name: String, parallelFrom threshold: Int = 1 << 16,
                       reusing spare: inout [[Float]]) throws -> [Float] {
        let type = tensor.type
        guard supports(type) else {
            throw TensorError.unsupportedType(tensor: name, type: type.name)
        }
        let count = tensor.elementCount
        let rowLength = tensor.shape.first ?? 1
        // Readers refuse partial blocks (FormatError.partialBlock) and byte counts that disagree with the
        // shape (.sizeMismatch), so these hold for every tensor a reader made; a failure is a programming error.
        precondition(rowLength % type.blockSize == 0, "'\(name)': rows of \(rowLength) are not whole \(type.name) blocks")
        let source = tensor.data.buffer
        precondition(source.count == type.byteCount(elements: count), "'\(name)': \(source.count) bytes for \(count) elements")
        guard count > 0, let base = source.baseAddress else { return [] }

        let rows = count / rowLength
        let rowBytes = rowLength / type.blockSize * type.bytesPerBlock
        let rowBlocks = rowLength / type.blockSize
        let chunks = count >= threshold ? min(rows, 4 * Cores.count) : 1
        // Each chunk reads and writes its own rows only.
        func decode(into output: UnsafeMutablePointer<Float>) {
            nonisolated(unsafe) let source = base, destination = output
            let decodeChunk: @Sendable (Int) -> Void = { chunk in
                let first = rows * chunk / chunks
                let end = rows * (chunk + 1) / chunks
                kernel(for: type)!(source + first * rowBytes, (end - first) * rowBlocks, destination + first * rowLength)
            }
            if chunks == 1 {
                decodeChunk(0)
            } else {
                DispatchQueue.concurrentPerform(iterations: chunks, execute: decodeChunk)
            }
        }
        return [Float](count: count, reusing: &spare, filledBy: decode)
    }

    static func kernel(for type: ElementType) -> Kernel? {
        switch type.id {
        case ElementType.f32.id: f32
        case ElementType.f16.id: f16
        case ElementType.bf16.id: bf16
        case ElementType.q4_0.id: q4_0
        case ElementType.q4_1.id: q4_1
        case ElementType.q5_0.id: q5_0
        case ElementType.q5_1.id: q5_1
        case ElementType.q8_0.id: q8_0
        case ElementType.q2_K.id: q2_K
        case ElementType.q3_K.id: q3_K
        case ElementType.q4_K.id: q4_K
        case ElementType.q5_K.id: q5_K
        case ElementType.q6_K.id: q6_K
        case ElementType.q8_K.id: q8_K
        case ElementType.iq4_NL.id: iq4_NL
        case ElementType.iq4_XS.id: iq4_XS
        case ElementType.tq1_0.id: tq1_0
        case ElementType.tq2_0.id: tq2_0
        case ElementType.mxfp4.id: mxfp4
        default: nil
        }
    }
}

// MARK: - Field access

private extension UnsafeRawPointer {
    @inline(__always) func byte(_ offset: Int) -> UInt8 { load(fromByteOffset: offset, as: UInt8.self) }
    @inline(__always) func signedByte(_ offset: Int) -> Int8 { load(fromByteOffset: offset, as: Int8.self) }
    @inline(__always) func uint16(_ offset: Int) -> UInt16 {
        UInt16(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }
    @inline(__always) func uint32(_ offset: Int) -> UInt32 {
        UInt32(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }
    /// A binary16 field.
    @inline(__always) func half(_ offset: Int) -> Float { QuantizationTables.float(half: uint16(offset)) }
}

// MARK: - Scalar types

extension Dequantizer {
    static func f32(_ source: UnsafeRawPointer, _ count: Int, _ y: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(y).copyMemory(from: source, byteCount: count * 4)
        #if _endian(big)
        for i in 0 ..< count { y[i] = Float(bitPattern: UInt32(littleEndian: y[i].bitPattern)) }
        #endif
    }

    static func f16(_ source: UnsafeRawPointer, _ count: Int, _ y: UnsafeMutablePointer<Float>) {
        for i in 0 ..< count { y[i] = source.half(2 * i) }
    }

    static func bf16(_ source: UnsafeRawPointer, _ count: Int, _ y: UnsafeMutablePointer<Float>) {
        for i in 0 ..< count { y[i] = QuantizationTables.float(bfloat16: source.uint16(2 * i)) }
    }
}

// MARK: - 32-element blocks

extension Dequantizer {
    /// Q4_0: d (f16), qs[16]; x = d · (q − 8), low nibbles first.
    /// In C (CKernels), vectorized: generation decodes every weight for every token, and Q4_0 is the common case.
    static func q4_0(_ source: UnsafeRawPointer, _ blocks: Int, _ destination: UnsafeMutablePointer<Float>) {
        modelsurgery_decode_q4_0(source.assumingMemoryBound(to: UInt8.self), blocks, destination)
    }

    /// Q4_1: d, m (f16), qs[16]; x = d · q + m.
    static func q4_1(_ source: UnsafeRawPointer, _ blocks: Int, _ destination: UnsafeMutablePointer<Float>) {
        for b in 0 ..< blocks {
            let x = source + b * 20, y = destination + b * 32
            let d = x.half(0), m = x.half(2)
            for j in 0 ..< 16 {
                let q = x.byte(4 + j)
                y[j] = d * Float(q & 0x0F) + m
                y[j + 16] = d * Float(q >> 4) + m
            }
        }
    }

    /// Q5_0: d (f16), qh (32 fifth bits), qs[16]; x = d · (q − 16).
    static func q5_0(_ source: UnsafeRawPointer, _ blocks: Int, _ destination: UnsafeMutablePointer<Float>) {
        for b in 0 ..< blocks {
            let x = source + b * 22, y = destination + b * 32
            let d = x.half(0), qh = x.uint32(2)
            var lowBits = qh, highBits = qh >> 16
            for j in 0 ..< 16 {
                let q = UInt32(x.byte(6 + j))
                let low = q & 0x0F | (lowBits & 1) << 4
                let high = q >> 4 | (highBits & 1) << 4
                lowBits >>= 1
                highBits >>= 1
                y[j] = d * Float(Int32(low) - 16)
                y[j + 16] = d * Float(Int32(high) - 16)
            }
        }
    }

    /// Q5_1: d, m (f16), qh, qs[16]; x = d · q + m.
    static func q5_1(_ source: UnsafeRawPointer, _ blocks: Int, _ destination: UnsafeMutablePointer<Float>) {
        for b in 0 ..< blocks {
            let x = source + b * 24, y = destination + b * 32
            let d = x.half(0), m = x.half(2), qh = x.uint32(4)
            var lowBits = qh, highBits = qh >> 16
            for j in 0 ..< 16 {
                let q = UInt32(x.byte(8 + j))
                let low = q & 0x0F | (lowBits & 1) << 4
                let high = q >> 4 | (highBits & 1) << 4
                lowBits >>= 1
                highBits >>= 1
                y[j] = d * Float(low) + m
                y[j + 16] = d * Float(high) + m
            }
        }
    }

    /// Q8_0: d (f16), qs[32] (int8); x = q · d.
    static func q8_0(_ source: UnsafeRawPointer, _ blocks: Int, _ destination: UnsafeMutablePointer<Float>) {
        for b in 0 ..< blocks {
            let x = source + b * 34, y = destination + b * 32
            let d = x.half(0)
            for j in 0 ..< 32 { y[j] = Float(x.signedByte(2 + j)) * d }
        }
    }

    /// IQ4_NL: d (f16), qs[16]; x = d · kvalues[q].
    static func iq4_NL(_ source: UnsafeRawPointer, _ blocks: Int, _ destination: UnsafeMutablePointer<Float>) {
        QuantizationTables.iq4nl.withUnsafeBufferPointer { values in
            let values = values.baseAddress!
            for b in 0 ..< blocks {
                let x = source + b * 18, y = destination + b * 32
                let d = x.half(0)
                for j in 0 ..< 16 {
                    let q = x.byte(2 + j)
                    y[j] = d * Float(values[Int(q & 0x0F)])
                    y[j + 16] = d * Float(values[Int(q >> 4)])
                }
            }
        }
    }

    /// MXFP4: e (e8m0), qs[16]; x = (2^(e−127) / 2) · kvalues[q].
    static func mxfp4(_ source: UnsafeRawPointer, _ blocks: Int, _ destination: UnsafeMutablePointer<Float>) {
        QuantizationTables.mxfp4.withUnsafeBufferPointer { values in
            let values = values.baseAddress!
            for b in 0 ..< blocks {
                let x = source + b * 17, y = destination + b * 32
                let d = QuantizationTables.float(e8m0Half: x.byte(0))
                for j in 0 ..< 16 {
                    let q = x.byte(1 + j)
                    y[j] = d * Float(values[Int(q & 0x0F)])
                    y[j + 16] = d * Float(values[Int(q >> 4)])
                }
            }
        }
    }
}

// MARK: - 256-element super-blocks

extension Dequantizer {
    /// The 6-bit scale and min of sub-block `j` (0..<8) of Q4_K and Q5_K (`get_scale_min_k4`).
    @inline(__always)
    private static func scaleMin(_ j: Int, _ scales: UnsafeRawPointer) -> (scale: Float, min: Float) {
        if j < 4 {
            return (Float(scales.byte(j) & 63), Float(scales.byte(j + 4) & 63))
        }
        let scale = scales.byte(j + 4) & 0x0F | (scales.byte(j - 4) >> 6) << 4
        let min = scales.byte(j + 4) >> 4 | (scales.byte(j) >> 6) << 4
        return (Float(scale), Float(min))
    }

    /// Q2_K: scales[16] (4-bit scale, 4-bit min), qs[64], d, dmin (f16); x = (d·sc) · q − (dmin·m).
    static func q2_K(_ source: UnsafeRawPointer, _ blocks: Int, _ destination: UnsafeMutablePointer<Float>) {
        for b in 0 ..< blocks {
            let x = source + b * 84, y = destination + b * 256
            let scales = x, qs = x + 16
            let d = x.half(80), dmin = x.half(82)
            for half in 0 ..< 2 {
                for shift in 0 ..< 4 {
                    for part in 0 ..< 2 {
                        let sc = scales.byte(half * 8 + shift * 2 + part)
                        let dl = d * Float(sc & 0x0F), ml = dmin * Float(sc >> 4)
                        let q = qs + half * 32 + part * 16
                        let out = y + half * 128 + shift * 32 + part * 16
                        for l in 0 ..< 16 {
                            out[l] = dl * Float(q.byte(l) >> UInt8(2 * shift) & 3) - ml
                        }
                    }
                }
            }
        }
    }

    /// Q3_K: hmask[32], qs[64], scales[12] (16 six-bit scales), d (f16); x = (d·(sc − 32)) · (q − 4·!h).
    static func q3_K(_ source: UnsafeRawPointer, _ blocks: Int, _ destination: UnsafeMutablePointer<Float>) {
        for b in 0 ..< blocks {
            let x = source + b * 110, y = destination + b * 256
            let hmask = x, qs = x + 32, scales = x + 96
            let d = x.half(108)
            for half in 0 ..< 2 {
                for shift in 0 ..< 4 {
                    let bit = UInt8(4 * half + shift)
                    for part in 0 ..< 2 {
                        let i = half * 8 + shift * 2 + part
                        let low = (i < 8 ? scales.byte(i) : scales.byte(i - 8) >> 4) & 0x0F
                        let high = scales.byte(8 + i % 4) >> UInt8(2 * (i / 4)) & 3
                        let dl = d * Float(Int32(low | high << 4) - 32)
                        let out = y + half * 128 + shift * 32 + part * 16
                        for l in 0 ..< 16 {
                            let k = part * 16 + l
                            let low2 = Int32(qs.byte(half * 32 + k) >> UInt8(2 * shift) & 3)
                            let offset: Int32 = hmask.byte(k) >> bit & 1 == 0 ? 4 : 0
                            out[l] = dl * Float(low2 - offset)
                        }
                    }
                }
            }
        }
    }

    /// Q4_K: d, dmin (f16), scales[12] (8 six-bit scales and mins), qs[128]; x = (d·sc) · q − (dmin·m).
    static func q4_K(_ source: UnsafeRawPointer, _ blocks: Int, _ destination: UnsafeMutablePointer<Float>) {
        for b in 0 ..< blocks {
            let x = source + b * 144, y = destination + b * 256
            let d = x.half(0), dmin = x.half(2)
            let scales = x + 4, qs = x + 16
            for group in 0 ..< 4 {
                let (sc1, m1) = scaleMin(2 * group, scales), (sc2, m2) = scaleMin(2 * group + 1, scales)
                let d1 = d * sc1, min1 = dmin * m1
                let d2 = d * sc2, min2 = dmin * m2
                let q = qs + 32 * group, out = y + 64 * group
                for l in 0 ..< 32 {
                    let byte = q.byte(l)
                    out[l] = d1 * Float(byte & 0x0F) - min1
                    out[l + 32] = d2 * Float(byte >> 4) - min2
                }
            }
        }
    }

    /// Q5_K: d, dmin (f16), scales[12], qh[32], qs[128]; x = (d·sc) · q − (dmin·m), q with a fifth bit.
    static func q5_K(_ source: UnsafeRawPointer, _ blocks: Int, _ destination: UnsafeMutablePointer<Float>) {
        for b in 0 ..< blocks {
            let x = source + b * 176, y = destination + b * 256
            let d = x.half(0), dmin = x.half(2)
            let scales = x + 4, qh = x + 16, qs = x + 48
            for group in 0 ..< 4 {
                let (sc1, m1) = scaleMin(2 * group, scales), (sc2, m2) = scaleMin(2 * group + 1, scales)
                let d1 = d * sc1, min1 = dmin * m1
                let d2 = d * sc2, min2 = dmin * m2
                let bit = UInt8(2 * group)
                let q = qs + 32 * group, out = y + 64 * group
                for l in 0 ..< 32 {
                    let byte = q.byte(l), high = qh.byte(l) >> bit
                    out[l] = d1 * Float(byte & 0x0F | (high & 1) << 4) - min1
                    out[l + 32] = d2 * Float(byte >> 4 | (high & 2) << 3) - min2
                }
            }
        }
    }

    /// Q6_K: ql[128], qh[64], scales[16] (int8), d (f16); x = (d·sc) · (q − 32).
    static func q6_K(_ source: UnsafeRawPointer, _ blocks: Int, _ destination: UnsafeMutablePointer<Float>) {
        for b in 0 ..< blocks {
            let x = source + b * 210, y = destination + b * 256
            let d = x.half(208)
            for half in 0 ..< 2 {
                let ql = x + 64 * half, qh = x + 128 + 32 * half, sc = x + 192 + 8 * half
                let out = y + 128 * half
                for s in 0 ..< 2 {
                    let dl1 = d * Float(sc.signedByte(s)), dl2 = d * Float(sc.signedByte(s + 2))
                    let dl3 = d * Float(sc.signedByte(s + 4)), dl4 = d * Float(sc.signedByte(s + 6))
                    for l in 16 * s ..< 16 * s + 16 {
                        let low = ql.byte(l), low32 = ql.byte(l + 32), high = qh.byte(l)
                        out[l] = dl1 * Float(Int32(low & 0x0F | (high & 3) << 4) - 32)
                        out[l + 32] = dl2 * Float(Int32(low32 & 0x0F | (high >> 2 & 3) << 4) - 32)
                        out[l + 64] = dl3 * Float(Int32(low >> 4 | (high >> 4 & 3) << 4) - 32)
                        out[l + 96] = dl4 * Float(Int32(low32 >> 4 | (high >> 6 & 3) << 4) - 32)
                    }
                }
            }
        }
    }

    /// Q8_K: d (f32), qs[256] (int8), bsums[16] (unused here); x = d · q.
    static func q8_K(_ source: UnsafeRawPointer, _ blocks: Int, _ destination: UnsafeMutablePointer<Float>) {
        for b in 0 ..< blocks {
            let x = source + b * 292, y = destination + b * 256
            let d = Float(bitPattern: x.uint32(0))
            for j in 0 ..< 256 { y[j] = d * Float(x.signedByte(4 + j)) }
        }
    }

    /// IQ4_XS: d (f16), scales_h (u16), scales_l[4], qs[128]; x = (d·(ls − 32)) · kvalues[q].
    static func iq4_XS(_ source: UnsafeRawPointer, _ blocks: Int, _ destination: UnsafeMutablePointer<Float>) {
        QuantizationTables.iq4nl.withUnsafeBufferPointer { values in
            let values = values.baseAddress!
            for b in 0 ..< blocks {
                let x = source + b * 136, y = destination + b * 256
                let d = x.half(0), scalesHigh = x.uint16(2)
                for group in 0 ..< 8 {
                    let low = x.byte(4 + group / 2) >> UInt8(4 * (group % 2)) & 0x0F
                    let high = UInt8(truncatingIfNeeded: scalesHigh >> UInt16(2 * group)) & 3
                    let dl = d * Float(Int32(low | high << 4) - 32)
                    let q = x + 8 + 16 * group, out = y + 32 * group
                    for j in 0 ..< 16 {
                        let byte = q.byte(j)
                        out[j] = dl * Float(values[Int(byte & 0x0F)])
                        out[j + 16] = dl * Float(values[Int(byte >> 4)])
                    }
                }
            }
        }
    }

    /// TQ1_0: qs[48], qh[4] (five and four base-3 digits per byte), d (f16); x = (t − 1) · d.
    static func tq1_0(_ source: UnsafeRawPointer, _ blocks: Int, _ destination: UnsafeMutablePointer<Float>) {
        QuantizationTables.powersOfThree.withUnsafeBufferPointer { pow3 in
            @inline(__always) func trit(_ byte: UInt8, _ n: Int) -> Float {
                let rotated = byte &* pow3[n]
                return Float(Int32((UInt16(rotated) * 3) >> 8) - 1)
            }
            for b in 0 ..< blocks {
                let x = source + b * 54
                var y = destination + b * 256
                let d = x.half(52)
                // qs[0..<32] and qs[32..<48] hold five digits per byte, written digit by digit.
                for part in 0 ..< 2 {
                    let start = 32 * part, width = 32 >> part
                    for n in 0 ..< 5 {
                        for m in 0 ..< width { y[m] = trit(x.byte(start + m), n) * d }
                        y += width
                    }
                }
                for n in 0 ..< 4 {
                    for j in 0 ..< 4 { y[j] = trit(x.byte(48 + j), n) * d }
                    y += 4
                }
            }
        }
    }

    /// TQ2_0: qs[64] (four 2-bit values per byte), d (f16); x = (q − 1) · d.
    static func tq2_0(_ source: UnsafeRawPointer, _ blocks: Int, _ destination: UnsafeMutablePointer<Float>) {
        for b in 0 ..< blocks {
            let x = source + b * 66, y = destination + b * 256
            let d = x.half(64)
            for chunk in 0 ..< 2 {
                for shift in 0 ..< 4 {
                    let out = y + chunk * 128 + shift * 32
                    for m in 0 ..< 32 {
                        out[m] = Float(Int32(x.byte(chunk * 32 + m) >> UInt8(2 * shift) & 3) - 1) * d
                    }
                }
            }
        }
    }
}

extension Array where Element == Float {
    /// `count` floats written by `fill`, in an array taken from `spare` when one of that count is there (removed
    /// from it, so uniquely owned), else in a new one.
    package init(count: Int, reusing spare: inout [[Float]], filledBy fill: (UnsafeMutablePointer<Float>) -> Void) {
        if let index = spare.firstIndex(where: { $0.count == count }) {
            self = spare.remove(at: index)
            withUnsafeMutableBufferPointer { fill($0.baseAddress!) }
            return
        }
        self.init(unsafeUninitializedCapacity: count) { output, initialized in
            fill(output.baseAddress!)
            initialized = count
        }
    }
}
