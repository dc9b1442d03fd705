import Graph

/// Byte-level BPE (`tokenizer.ggml.model` "gpt2"), as llama.cpp's llm_tokenizer_bpe: verbatim tokens split
/// out, the pre-tokenizer `tokenizer.ggml.pre` names splits the rest into words, each word's bytes are
/// spelled with GPT-2's byte table and merged pairwise, lowest merge rank first (leftmost among equals).
struct BPETokenizer: Tokenizer {
    let vocabulary: Vocabulary
    let preTokenizer: PreTokenizer

    /// What a pair of adjacent symbols merges into. Symbols are interned texts: a token's symbol is its
    /// token id; texts that are no token (a merge result missing from the list) get ids from the vocabulary
    /// size upwards.
    private struct Merge {
        let rank: Int32
        let result: Int32
    }

    private let merges: [UInt64: Merge]
    /// The symbol of each raw byte's byte-level character.
    private let byteSymbols: [Int32]

    init(metadata: Metadata) throws {
        let pre = metadata["tokenizer.ggml.pre"]?.string
        guard let preTokenizer = PreTokenizer(named: pre) else {
            throw EngineError.unsupportedPreTokenizer(pre ?? "")
        }
        guard let mergeValues = metadata["tokenizer.ggml.merges"]?.array else {
            throw EngineError.missingMetadata("tokenizer.ggml.merges")
        }
        let vocabulary = try Vocabulary(metadata: metadata, kind: .bpe, defaultAddBOS: preTokenizer.addsBOSByDefault)
        self.vocabulary = vocabulary
        self.preTokenizer = preTokenizer

        var extraIDs: [[UInt8]: Int32] = [:]
        func symbol<C: Collection>(_ text: C) -> Int32 where C.Element == UInt8 {
            if let id = vocabulary.id(of: text) { return Int32(id) }
            let bytes = Array(text)
            if let id = extraIDs[bytes] { return id }
            let id = Int32(vocabulary.count + extraIDs.count)
            extraIDs[bytes] = id
            return id
        }

        var merges: [UInt64: Merge] = [:]
        merges.reserveCapacity(mergeValues.count)
        for (rank, value) in mergeValues.enumerated() {
            guard case .string(let s) = value else { continue }
            let line = s.bytes
            // Split at the first space after the first byte, as llama.cpp does ("a b" → "a", "b").
            guard line.count > 1, let space = line[1...].firstIndex(of: 0x20) else { continue }
            let left = symbol(line[..<space])
            let right = symbol(line[(space + 1)...])
            let key = UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
            if merges[key] == nil {  // the first line for a pair wins
                merges[key] = Merge(rank: Int32(rank), result: symbol(line[..<space] + line[(space + 1)...]))
            }
        }
        self.merges = merges
        byteSymbols = ByteLevelEncoding.utf8.map { symbol($0) }
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
        for fragment in vocabulary.fragments(of: bytes) {
            switch fragment {
            case .token(let id):
                output.append(id)
            case .text(let range):
                let decoded = DecodedText(bytes[range])
                var start = 0
                for length in preTokenizer.split(decoded.codepoints) {
                    let words = decoded.starts[start] ..< decoded.starts[start + length]
                    session.tokenize(word: bytes[words], into: &output)
                    start += length
                }
            }
        }
        if addSpecial, vocabulary.addEOS, let eos = vocabulary.eos { output.append(eos) }
        return output
    }

    func decode(_ ids: [Int]) -> String {
        vocabulary.detokenize(ids, normalPiece: ByteLevelEncoding.decode)
    }

    /// The merge state of one word, kept between words to reuse its storage.
    private struct Session {
        struct Symbol {
            var start: Int
            var length: Int
            var prev: Int
            var next: Int
            var id: Int32
        }

        struct Bigram: Comparable {
            let rank: Int32
            let left: Int32
            let right: Int32
            let size: Int32
            let result: Int32

            static func < (a: Bigram, b: Bigram) -> Bool { (a.rank, a.left) < (b.rank, b.left) }
        }

        let tokenizer: BPETokenizer
        var symbols: [Symbol] = []
        var queue = MinHeap<Bigram>()

        init(tokenizer: BPETokenizer) { self.tokenizer = tokenizer }

        mutating func tokenize(word: ArraySlice<UInt8>, into output: inout [Int]) {
            let vocabulary = tokenizer.vocabulary
            if tokenizer.preTokenizer.ignoreMerges, let id = vocabulary.id(of: ByteLevelEncoding.encode(word)) {
                output.append(id)
                return
            }
            symbols.removeAll(keepingCapacity: true)
            queue.removeAll()
            var index = 0
            for position in word.indices {
                symbols.append(Symbol(
                    start: position, length: 1, prev: index - 1, next: position + 1 == word.endIndex ? -1 : index + 1,
                    id: tokenizer.byteSymbols[Int(word[position])]
                ))
                index += 1
            }
            for i in symbols.indices.dropFirst() { addBigram(i - 1, i) }

            while let bigram = queue.pop() {
                let left = Int(bigram.left), right = Int(bigram.right)
                let leftLength = symbols[left].length, rightLength = symbols[right].length
                // Skip pairs a merge has already consumed or changed.
                guard leftLength > 0, rightLength > 0, Int32(leftLength + rightLength) == bigram.size else { continue }
                symbols[left].length += rightLength
                symbols[left].id = bigram.result
                symbols[right].length = 0
                symbols[left].next = symbols[right].next
                if symbols[right].next >= 0 { symbols[symbols[right].next].prev = left }
                addBigram(symbols[left].prev, left)
                addBigram(left, symbols[left].next)
            }

            for symbol in symbols where symbol.length > 0 {
                if Int(symbol.id) < vocabulary.count {
                    output.append(Int(symbol.id))
                } else {
                    // Not a token: each byte of its byte-level spelling as a one-byte token, where there is one.
                    for byte in ByteLevelEncoding.encode(word[symbol.start ..< symbol.start + symbol.length]) {
                        if let id = vocabulary.id(of: CollectionOfOne(byte)) { output.append(id) }
                    }
                }
            }
        }

        @inline(__always) static func key(_ left: Int32, _ right: Int32) -> UInt64 {
            UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
        }

        private mutating func addBigram(_ left: Int, _ right: Int) {
            guard left >= 0, right >= 0,
                  let merge = tokenizer.merges[Self.key(symbols[left].id, symbols[right].id)]
            else { return }
            queue.push(Bigram(
                rank: merge.rank, left: Int32(left), right: Int32(right),
                size: Int32(symbols[left].length + symbols[right].length), result: merge.result
            ))
        }
    }
}
