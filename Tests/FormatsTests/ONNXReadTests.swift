import Foundation
import Graph
import Testing
@testable import Formats

/// The pieces of ONNX reading that follow a written rule: onnxruntime's MatMulNBits layout (its contrib op
/// documentation: `(q − zero point) · scale`, the even element in the low nibble, zero point 8 by default) and
/// the types of `modelsurgery.metadata` values. Bit-exactness against onnxruntime itself is checked in
/// Tests/interop/test_onnx_read.py.
struct ONNXReadTests {
    /// One row of 32 4-bit values in two blocks of 16, with explicit bytes.
    @Test func decodesFourBitRowsAsTheLayoutSays() throws {
        let data = MappedFile(name: "data", contents: [UInt8](repeating: 0x1F, count: 8) + [UInt8](repeating: 0x80, count: 8))
        let scales = [Float(0.5), -2].withUnsafeBytes { MappedFile(name: "scales", contents: Array($0)) }
        let matrix = BlockQuantizedMatrix(rows: 1, rowLength: 32, bits: 4, blockSize: 16,
                                          data: TensorBytes(file: data, offset: 0, count: 16), rowStride: 32,
                                          signedData: false, scales: TensorBytes(file: scales, offset: 0, count: 8),
                                          scaleType: .f32, zeroPoints: .constant(8))
        var row = [Float](repeating: .nan, count: 32)
        row.withUnsafeMutableBufferPointer { matrix.decodeRow(0, into: $0.baseAddress!) }
        // Block 0: bytes 0x1F → elements 15 (low nibble) then 1; block 1: bytes 0x80 → 0 then 8.
        let expected: [Float] = [7 * 0.5, -7 * 0.5, 16, 0]
        #expect([row[0], row[1], row[16], row[17]] == expected)
    }

    @Test func typesMetadataValuesByHowTheNumberIsWritten() throws {
        func value(_ json: String) throws -> MetadataValue? { ONNXMetadata.propertyValue(try JSONValue.parse(Array(json.utf8))) }
        #expect(try value("10000.0") == .float32(10000))
        #expect(try value("1e-06") == .float32(1e-6))
        #expect(try value("4") == .uint32(4))
        #expect(try value("-3") == .int32(-3))
        #expect(try value("5000000000") == .uint64(5_000_000_000))
        #expect(try value("[1, 2.5]") == .array(.float32, [.float32(1), .float32(2.5)]))
        #expect(try value("[\"a\", 1]") == nil)
        #expect(try value("{\"a\": 1}") == nil)
    }
}
