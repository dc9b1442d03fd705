/// GPT-2's byte-to-unicode table: byte-level BPE vocabularies spell every byte as a printable code point
/// (printable Latin-1 as itself, the other 68 bytes as U+0100 onwards), so 'Ġ' (U+0120) is the space.
enum ByteLevelEncoding {
    /// The code point standing for each byte.
    static let codepoints: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for byte in 0 ..< 256 {
            if (0x21 ... 0x7E).contains(byte) || (0xA1 ... 0xAC).contains(byte) || (0xAE ... 0xFF).contains(byte) {
                table[byte] = UInt32(byte)
            } else {
                table[byte] = next
                next += 1
            }
        }
        return table
    }()

    /// The UTF-8 bytes of each byte's code point.
    static let utf8: [[UInt8]] = codepoints.map { Array(String(Unicode.Scalar($0)!).utf8) }

    /// The byte each table code point stands for.
    static let bytes: [UInt32: UInt8] = Dictionary(
        uniqueKeysWithValues: codepoints.enumerated().map { ($1, UInt8($0)) }
    )

    /// The byte-level spelling of raw bytes.
    static func encode<C: Sequence>(_ raw: C) -> [UInt8] where C.Element == UInt8 {
        var out: [UInt8] = []
        for byte in raw { out += utf8[Int(byte)] }
        return out
    }

    /// Raw bytes of a byte-level token text, as llama.cpp's llama_decode_text (including its marker for a
    /// code point outside the table).
    static func decode(_ text: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        for c in DecodedText(text).codepoints {
            if let byte = bytes[c] {
                out.append(byte)
            } else {
                out += Array("[UNK_BYTE_0x".utf8)
                for b in String(Unicode.Scalar(c) ?? "\u{FFFD}").utf8 { out += Array(hex(b).utf8) }
                out += text
                out += Array("]".utf8)
            }
        }
        return out
    }

    private static func hex(_ b: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[Int(b >> 4)], digits[Int(b & 15)]])
    }
}
