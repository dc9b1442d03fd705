/// Decodes UTF-8 as llama.cpp's unicode_cpts_from_utf8: a byte that does not start a valid sequence
/// becomes U+FFFD and decoding resumes at the next byte. `starts[i]` is the byte offset of code point i.
struct DecodedText {
    var codepoints: [UInt32] = []
    var starts: [Int] = []

    init<C: RandomAccessCollection>(_ bytes: C) where C.Element == UInt8, C.Index == Int {
        codepoints.reserveCapacity(bytes.count)
        starts.reserveCapacity(bytes.count + 1)
        var i = bytes.startIndex
        let end = bytes.endIndex
        @inline(__always) func continuation(_ k: Int) -> UInt32? {
            k < end && bytes[k] & 0xC0 == 0x80 ? UInt32(bytes[k] & 0x3F) : nil
        }
        while i < end {
            let b = bytes[i]
            starts.append(i)
            if b & 0x80 == 0 {
                codepoints.append(UInt32(b))
                i += 1
                continue
            }
            var decoded: (UInt32, Int)?
            if b & 0x40 == 0 {
                decoded = nil
            } else if b & 0x20 == 0 {
                if let c1 = continuation(i + 1) { decoded = ((UInt32(b & 0x1F) << 6) | c1, 2) }
            } else if b & 0x10 == 0 {
                if let c1 = continuation(i + 1), let c2 = continuation(i + 2) {
                    decoded = ((UInt32(b & 0x0F) << 12) | (c1 << 6) | c2, 3)
                }
            } else if b & 0x08 == 0 {
                if let c1 = continuation(i + 1), let c2 = continuation(i + 2), let c3 = continuation(i + 3) {
                    decoded = ((UInt32(b & 0x07) << 18) | (c1 << 12) | (c2 << 6) | c3, 4)
                }
            }
            if let (c, length) = decoded {
                codepoints.append(c)
                i += length
            } else {
                codepoints.append(0xFFFD)
                i += 1
            }
        }
        starts.append(end)
    }
}
