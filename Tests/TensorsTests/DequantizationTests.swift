import Foundation
import Testing
@testable import Tensors
import Formats
import Graph
import TestSupport

/// `TestModels/quants.gguf` (one 4 × 256 tensor per type, named after it) and the float32 values
/// gguf-py's `gguf.quants.dequantize` gives for them (`quants-expected.bin`), both written by
/// `TestModels/generate_quants.py`.
private enum QuantFixture {
    /// Read only after it is opened.
    nonisolated(unsafe) static let file: GGUFFile = try! GGUFFile(url: Repository.testModel("quants.gguf"))

    static let expected: [Float] = {
        let data = try! Data(contentsOf: Repository.testModel("quants-expected.bin"))
        return data.withUnsafeBytes { raw in
            (0 ..< data.count / 4).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
    }()

    /// Tensor names in file order; also the parameters of the per-type test.
    static let names = ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K",
                        "Q5_K", "Q6_K", "Q8_K", "IQ4_NL", "IQ4_XS", "TQ1_0", "TQ2_0", "MXFP4"]

    static func tensor(_ name: String) -> Tensor {
        let index = file.tensors.firstIndex { $0.name == name }!
        let info = file.tensors[index]
        return Tensor(name: info.name, shape: info.shape, type: info.type, data: file.data(of: info), ordinal: index)
    }

    /// The reference values of one tensor: its slice of the expected file.
    static func expected(_ name: String) -> ArraySlice<Float> {
        var start = 0
        for info in file.tensors {
            let count = info.shape.reduce(1, *)
            if info.name == name { return expected[start ..< start + count] }
            start += count
        }
        fatalError("no tensor \(name)")
    }
}

/// The index and both bit patterns of the first element that differs, or nil when all are identical.
private func firstMismatch(_ actual: [Float], _ expected: ArraySlice<Float>) -> String? {
    guard actual.count == expected.count else { return "\(actual.count) values, expected \(expected.count)" }
    for (index, (a, e)) in zip(actual, expected).enumerated() where a.bitPattern != e.bitPattern {
        let hex = { (x: Float) in "0x" + String(x.bitPattern, radix: 16) }
        return "element \(index): \(a) (\(hex(a))), expected \(e) (\(hex(e)))"
    }
    return nil
}

struct DequantizationTests {
    @Test(arguments: QuantFixture.names)
    func matchesTheReferenceBitForBit(_ name: String) throws {
        let tensor = QuantFixture.tensor(name)
        #expect(tensor.type.name == name)
        #expect(Dequantizer.supports(tensor.type))
        let expected = QuantFixture.expected(name)

        let serial = try Dequantizer.floats(of: tensor, name: name)
        #expect(firstMismatch(serial, expected) == nil, "\(name): \(firstMismatch(serial, expected) ?? "")")

        // The parallel path (one chunk per row here) gives the same values.
        let parallel = try Dequantizer.floats(of: tensor, name: name, parallelFrom: 0)
        #expect(firstMismatch(parallel, expected) == nil, "\(name) in parallel: \(firstMismatch(parallel, expected) ?? "")")

        // decode(_:from:count:into:) on one row.
        let rowLength = tensor.shape[0]
        var row = [Float](repeating: .nan, count: rowLength)
        row.withUnsafeMutableBufferPointer { output in
            Dequantizer.decode(tensor.type, from: tensor.data.buffer.baseAddress!, count: rowLength, into: output.baseAddress!)
        }
        let firstRow = expected.prefix(rowLength)
        #expect(firstMismatch(row, firstRow) == nil, "\(name) first row: \(firstMismatch(row, firstRow) ?? "")")
    }

    @Test func everySupportedTypeIsInTheFixture() {
        let fixtureTypes = Set(QuantFixture.file.tensors.map(\.type.name))
        #expect(fixtureTypes == Set(QuantFixture.names))
        for type in Dequantizer.supportedTypes {
            #expect(fixtureTypes.contains(type.name), "\(type.name) is supported but not in quants.gguf")
        }
        for name in QuantFixture.names {
            #expect(Dequantizer.supports(ElementType(name: name)!), "\(name) is in quants.gguf but not supported")
        }
    }

    @Test func theFixtureHoldsSubnormalAndNegativeValues() {
        // Rows of 1e-6 give f16 subnormal block scales; the test would miss a wrong conversion otherwise.
        let q4 = QuantFixture.expected("Q4_0")
        #expect(q4.contains { $0 != 0 && abs($0) < 1e-5 })
        #expect(QuantFixture.expected("F16").contains { $0 != 0 && abs($0) < 6.1e-5 })
        #expect(QuantFixture.expected("Q4_K").contains { $0 < 0 })
    }

    @Test func halfConversionIsExactForEveryBitPattern() {
        for bits in 0 ... UInt16.max {
            let value = QuantizationTables.float(half: bits)
            let exponent = bits >> 10 & 0x1F
            if exponent == 0x1F {
                #expect(bits & 0x3FF == 0 ? value.isInfinite : value.isNaN)
                continue
            }
            let magnitude = Double(bits & 0x3FF) / 1024
            let exact = exponent == 0 ? magnitude * 0x1p-14 : (1 + magnitude) * pow(2, Double(Int(exponent) - 15))
            #expect(Double(value) == (bits & 0x8000 == 0 ? exact : -exact))
            #expect(value.sign == (bits & 0x8000 == 0 ? .plus : .minus))
        }
    }

    @Test func unsupportedTypesThrowNamingTheTensor() {
        let bytes = QuantFixture.tensor("Q4_0").data
        // Any bytes will do: one IQ2_XXS block's worth of the Q4_0 tensor.
        let data = TensorBytes(file: bytes.file, offset: bytes.offset, count: ElementType.iq2_XXS.bytesPerBlock)
        let tensor = Tensor(name: "ffn_down.weight", shape: [256, 1], type: .iq2_XXS, data: data, ordinal: 0)
        #expect(!Dequantizer.supports(.iq2_XXS))
        #expect(throws: TensorError.unsupportedType(tensor: "blk.3.ffn_down.weight", type: "IQ2_XXS")) {
            try Dequantizer.floats(of: tensor, name: "blk.3.ffn_down.weight")
        }
        #expect(!Dequantizer.supports(.i32))
        #expect(!Dequantizer.supports(.q8_1))
    }
}

/// Q8_0 quantization of values a stranger's file may hold: NaN and infinities become code 0 instead of trapping.
struct Q8EncodingTests {
    @Test func nonFiniteValuesBecomeZero() {
        var values = [Float](repeating: 0.5, count: 32)
        values[0] = .nan
        values[1] = .infinity
        values[2] = -.infinity
        let bytes = ElementEncoding.q8_0(values)
        #expect(bytes.count == ElementType.q8_0.bytesPerBlock)
        #expect(bytes[2 ... 4].allSatisfy { $0 == 0 })
    }
}
