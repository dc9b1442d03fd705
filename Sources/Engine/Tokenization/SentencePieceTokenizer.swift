import Graph

/// SentencePiece with scores (`tokenizer.ggml.model` "llama"), as llama.cpp's llm_tokenizer_spm: verbatim
/// tokens split out; in each remaining piece of text (a space first when add_space_prefix and the piece starts
/// the input or follows a verbatim token) spaces become '▁', the UTF-8 characters are merged pairwise into
/// tokens, highest score first (leftmost among equals), and a character that is no token falls back to its
/// bytes' <0xXX> tokens.
struct SentencePieceTokenizer: Tokenizer {
    let vocabulary: Vocabulary
    /// The token of each byte: <0xXX>, or the one-byte text where there is no such token.
    private let byteTokens: [Int?]

    init(metadata: Metadata) throws {
        let vocabulary = try Vocabulary(metadata: metadata, kind: .sentencePiece, defaultAddBOS: true)
        self.vocabulary = vocabulary
        let hex = Array("0123456789ABCDEF".utf8)
        byteTokens = (0 ..< 256).map { b in
            vocabulary.id(of: Array("<0x".utf8) + [hex[b >> 4], hex[b & 15], UInt8(ascii: ">")])
                ?? vocabulary.id(of: [UInt8(b)])
        }
    }

    var bosID: Int? { vocabulary.bos }
    var eosID: Int? { vocabulary.eos }
    var vocabularySize: Int { vocabulary.count }

    func encode(_ text: String, addSpecial: Bool) -> [Int] {
        let bytes = Array(text.utf8)
        var output: [Int] = []
        output.reserveCapacity(bytes.count / 3 + 2)
        if addSpecial, vocabulary.addBOS, let bos = vocabulary.bos { output.append(bos) }
        var session = Session(tokenizer: self)
        var previousIsToken = true
        for fragment in vocabulary.fragments(of: bytes) {
            switch fragment {
            case .token(let id):
                output.append(id)
                previousIsToken = true
            case .text(let range):
                var escaped: [UInt8] = []
                escaped.reserveCapacity(range.count + 8)
                if vocabulary.addSpacePrefix && previousIsToken { escaped += Self.spaceMark }
                for byte in bytes[range] {
                    if byte == 0x20 { escaped += Self.spaceMark } else { escaped.append(byte) }
                }
                session.tokenize(escaped, into: &output)
                previousIsToken = false
            }
        }
        if addSpecial, vocabulary.addEOS, let eos = vocabulary.eos { output.append(eos) }
        return output
    }

    func decode(_ ids: [Int]) -> String {
        vocabulary.detokenize(ids) { text in
            var out: [UInt8] = []
            out.reserveCapacity(text.count)
            var i = 0
            while i < text.count {
                if i + 2 < text.count, text[i] == 0xE2, text[i + 1] == 0x96, text[i + 2] == 0x81 {
                    out.append(0x20)
                    i += 3
                } else {
                    out.append(text[i])
                    i += 1
                }
            }
            return out
        }
    }

    /// U+2581 '▁', SentencePiece's space.
    static let spaceMark: [UInt8] = [0xE2, 0x96, 0x81]

    private struct Session {
        struct Symbol {
            var start: Int
            var length: Int
            var prev: Int
            var next: Int
        }

        struct Bigram: Comparable {
            let score: Float
            let left: Int32
            let right: Int32
            let size: Int32

            /// Higher score first, then the leftmost.
            static func < (a: Bigram, b: Bigram) -> Bool {
                a.score > b.score || (a.score == b.score && a.left < b.left)
            }
        }

        let tokenizer: SentencePieceTokenizer
        var symbols: [Symbol] = []
        var queue = MinHeap<Bigram>()

        init(tokenizer: SentencePieceTokenizer) { self.tokenizer = tokenizer }

        mutating func tokenize(_ text: [UInt8], into output: inout [Int]) {
            symbols.removeAll(keepingCapacity: true)
            queue.removeAll()
            var offset = 0
            while offset < text.count {
                let length = min(Self.utf8Length(text[offset]), text.count - offset)
                let index = symbols.count
                symbols.append(Symbol(
                    start: offset, length: length, prev: index - 1,
                    next: offset + length == text.count ? -1 : index + 1
                ))
                offset += length
            }
            text.withUnsafeBufferPointer { text in
                for i in symbols.indices.dropFirst() { addBigram(i - 1, i, text) }

                while let bigram = queue.pop() {
                    let left = Int(bigram.left), right = Int(bigram.right)
                    let leftLength = symbols[left].length, rightLength = symbols[right].length
                    guard leftLength > 0, rightLength > 0, Int32(leftLength + rightLength) == bigram.size else { continue }
                    symbols[left].length += rightLength
                    symbols[right].length = 0
                    symbols[left].next = symbols[right].next
                    if symbols[right].next >= 0 { symbols[symbols[right].next].prev = left }
                    addBigram(symbols[left].prev, left, text)
                    addBigram(left, symbols[left].next, text)
                }

                let vocabulary = tokenizer.vocabulary
                var i = symbols.isEmpty ? -1 : 0
                while i != -1 {
                    let symbol = symbols[i]
                    let piece = UnsafeBufferPointer(rebasing: text[symbol.start ..< symbol.start + symbol.length])
                    if let id = vocabulary.id(of: piece) {
                        output.append(id)
                    } else {
                        for byte in piece { if let id = tokenizer.byteTokens[Int(byte)] { output.append(id) } }
                    }
                    i = symbol.next
                }
            }
        }

        private mutating func addBigram(_ left: Int, _ right: Int, _ text: UnsafeBufferPointer<UInt8>) {
            guard left >= 0, right >= 0 else { return }
            let start = symbols[left].start
            let size = symbols[left].length + symbols[right].length
            let vocabulary = tokenizer.vocabulary
            guard let id = vocabulary.id(of: UnsafeBufferPointer(rebasing: text[start ..< start + size])) else { return }
            queue.push(Bigram(score: vocabulary.scores[id], left: Int32(left), right: Int32(right), size: Int32(size)))
        }

        /// llama.cpp's unicode_len_utf8: the sequence length a lead byte announces (1 for stray bytes).
        static func utf8Length(_ byte: UInt8) -> Int {
            switch byte >> 4 {
            case 0xC, 0xD: 2
            case 0xE: 3
            case 0xF: 4
            default: 1
            }
        }
    }
}
