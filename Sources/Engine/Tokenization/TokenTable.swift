/// Token text → id, looked up from borrowed bytes without allocating (open addressing, FNV-1a hashes).
/// A text listed twice maps to its last id, as llama.cpp's token_to_id.
struct TokenTable: Sendable {
    private let bytes: [UInt8]
    private let offsets: [Int]
    private let slots: [Int32]
    private let mask: Int

    init(_ texts: [[UInt8]]) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(texts.reduce(0) { $0 + $1.count })
        var offsets = [0]
        offsets.reserveCapacity(texts.count + 1)
        for text in texts {
            bytes += text
            offsets.append(bytes.count)
        }
        var capacity = 16
        while capacity < texts.count * 2 { capacity <<= 1 }
        var slots = [Int32](repeating: -1, count: capacity)
        let mask = capacity - 1
        bytes.withUnsafeBufferPointer { all in
            for id in texts.indices {
                let text = UnsafeBufferPointer(rebasing: all[offsets[id] ..< offsets[id + 1]])
                var slot = Int(truncatingIfNeeded: Self.hash(text)) & mask
                while slots[slot] >= 0 {
                    let other = Int(slots[slot])
                    if text.elementsEqual(all[offsets[other] ..< offsets[other + 1]]) { break }
                    slot = (slot + 1) & mask
                }
                slots[slot] = Int32(id)
            }
        }
        self.bytes = bytes
        self.offsets = offsets
        self.slots = slots
        self.mask = mask
    }

    func id(_ text: UnsafeBufferPointer<UInt8>) -> Int? {
        var slot = Int(truncatingIfNeeded: Self.hash(text)) & mask
        return bytes.withUnsafeBufferPointer { all in
            while true {
                let id = Int(slots[slot])
                if id < 0 { return nil }
                let start = offsets[id], end = offsets[id + 1]
                if end - start == text.count {
                    var equal = true
                    var i = 0
                    while i < text.count {
                        if all[start + i] != text[i] { equal = false; break }
                        i += 1
                    }
                    if equal { return id }
                }
                slot = (slot + 1) & mask
            }
        }
    }

    @inline(__always) private static func hash(_ text: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text {
            h ^= UInt64(byte)
            h &*= 0x0000_0100_0000_01B3
        }
        return h ^ (h >> 29)
    }
}
