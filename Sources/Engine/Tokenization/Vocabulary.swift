import Graph

/// The token list of a GGUF model with what llama.cpp derives from it: text → id lookup, scores,
/// attributes, special ids and the add-BOS/EOS flags. Token texts are kept as bytes.
struct Vocabulary: Sendable {
    enum Kind: Sendable { case bpe, sentencePiece }

    /// A piece of input: raw text (a byte range of the input) or a token found verbatim in it.
    enum Fragment: Equatable {
        case text(Range<Int>)
        case token(Int)
    }

    let texts: [[UInt8]]
    let scores: [Float]
    let attributes: [TokenAttributes]
    private let table: TokenTable
    let bos: Int?
    let eos: Int?
    let addBOS: Bool
    let addEOS: Bool
    let addSpacePrefix: Bool
    /// User-defined tokens split out of raw text before tokenizing (llama.cpp's special-token cache with
    /// parse_special = false: control and unknown tokens are left in the text), longest first.
    private let verbatimTokens: [Int]

    var count: Int { texts.count }

    /// Reads tokens, scores, token types and the special-token keys, with llama.cpp's per-type defaults
    /// where a key is absent (`defaultAddBOS` depends on the pre-tokenizer too).
    init(metadata: Metadata, kind: Kind, defaultAddBOS: Bool) throws {
        guard let tokenValues = metadata["tokenizer.ggml.tokens"]?.array else {
            throw EngineError.missingMetadata("tokenizer.ggml.tokens")
        }
        let texts: [[UInt8]] = tokenValues.enumerated().map { id, value in
            if case .string(let s) = value, !s.bytes.isEmpty { return s.bytes }
            return Array("[EMPTY_\(id)]".utf8)  // as llama.cpp names empty tokens
        }
        let table = TokenTable(texts)
        let n = texts.count

        var scores = [Float](repeating: 0, count: n)
        if let values = metadata["tokenizer.ggml.scores"]?.array {
            for i in 0 ..< min(n, values.count) { scores[i] = Float(values[i].double ?? 0) }
        }
        var attributes = [TokenAttributes](repeating: .normal, count: n)
        if let values = metadata["tokenizer.ggml.token_type"]?.array {
            for i in 0 ..< min(n, values.count) { attributes[i] = TokenAttributes(ggufTokenType: values[i].int ?? 0) }
        }

        // Special ids: llama.cpp's defaults per type (dropped when out of range), then the keys (ignored when out of range).
        func special(_ key: String, _ fallback: Int?) -> Int? {
            var id = fallback.flatMap { $0 < n ? $0 : nil }
            if let value = metadata[key]?.int, value >= 0, value < n { id = value }
            return id
        }
        bos = special("tokenizer.ggml.bos_token_id", kind == .bpe ? 11 : 1)
        eos = special("tokenizer.ggml.eos_token_id", kind == .bpe ? 11 : 2)
        addBOS = metadata["tokenizer.ggml.add_bos_token"]?.bool ?? defaultAddBOS
        addEOS = metadata["tokenizer.ggml.add_eos_token"]?.bool ?? false
        addSpacePrefix = metadata["tokenizer.ggml.add_space_prefix"]?.bool ?? (kind == .sentencePiece)

        Self.applyLlamaCppOverrides(&attributes, table: table, metadata: metadata)

        self.texts = texts
        self.scores = scores
        self.attributes = attributes
        self.table = table
        verbatimTokens = (0 ..< n)
            .filter { attributes[$0].contains(.userDefined) && attributes[$0].isDisjoint(with: [.control, .unknown]) }
            .sorted { (texts[$0].count, $1) > (texts[$1].count, $0) }
    }

    /// llama.cpp marks tokens by their text after reading the types: end-of-generation and fill-in-the-middle
    /// texts become control tokens, a few gpt-oss texts (and <|end|> next to <|return|>/<|call|>) become
    /// user-defined, and `</s>` is normal where the
    /// vocabulary also has Gemma 4's or PLaMo 2's end marker. Only what changes plain-text tokenizing matters here.
    private static func applyLlamaCppOverrides(
        _ attributes: inout [TokenAttributes], table: TokenTable, metadata: Metadata
    ) {
        func id(_ text: String) -> Int? { Array(text.utf8).withUnsafeBufferPointer(table.id) }
        let endOfGeneration = [
            "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
            "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
            "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
            "<｜end▁of▁sentence｜>", "[e~[",
        ]
        // Fill-in-the-middle texts count only while the model's own key for that role is absent.
        let fillInTheMiddle: [(keys: [String], texts: [String])] = [
            (["tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.prefix_token_id"], ["<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>"]),
            (["tokenizer.ggml.fim_suf_token_id", "tokenizer.ggml.suffix_token_id"], ["<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>"]),
            (["tokenizer.ggml.fim_mid_token_id", "tokenizer.ggml.middle_token_id"], ["<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>"]),
            (["tokenizer.ggml.fim_pad_token_id"], ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"]),
            (["tokenizer.ggml.fim_rep_token_id"], ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"]),
            (["tokenizer.ggml.fim_sep_token_id"], ["<|file_sep|>"]),
        ]
        var controlTexts = endOfGeneration
        for (keys, texts) in fillInTheMiddle where !keys.contains(where: metadata.contains) { controlTexts += texts }
        for text in controlTexts { if let i = id(text) { attributes[i].insert(.control) } }
        for text in ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"] {
            if let i = id(text) { attributes[i] = .userDefined }
        }
        if let end = id("<|end|>"),
           (id("<|return|>") != nil && id("<|call|>") != nil) || (id("<|calls|>") != nil && id("<|flush|>") != nil) {
            attributes[end] = .userDefined  // o200k_harmony and solar-open: <|end|> does not end generation
        }
        if let s = id("</s>"), id("<|tool_response>") != nil || id("<|plamo:eos|>") != nil {
            attributes[s] = .normal
        }
    }

    func id(of text: UnsafeBufferPointer<UInt8>) -> Int? { table.id(text) }

    func id<C: Collection>(of text: C) -> Int? where C.Element == UInt8 {
        if let found = text.withContiguousStorageIfAvailable(table.id) { return found }
        return Array(text).withUnsafeBufferPointer(table.id)
    }

    /// The text of `ids` as llama.cpp's detokenize(remove_special: true, unparse_special: false) without its
    /// optional space clean-up: a leading BOS / trailing EOS the model adds is dropped, control and unknown
    /// tokens give nothing, user-defined tokens their text, byte tokens (<0xXX>) their byte, normal tokens
    /// `normalPiece` of their text; with add_space_prefix the first piece loses one leading space.
    func detokenize(_ ids: [Int], normalPiece: ([UInt8]) -> [UInt8]) -> String {
        var ids = ids[...]
        var removeSpace = addSpacePrefix
        if addBOS, let bos, ids.first == bos {
            removeSpace = false
            ids = ids.dropFirst()
        }
        if addEOS, let eos, ids.last == eos { ids = ids.dropLast() }
        var out: [UInt8] = []
        for id in ids {
            defer { removeSpace = false }
            guard id >= 0, id < count else { continue }
            let attributes = attributes[id]
            var piece: [UInt8]
            if !attributes.isDisjoint(with: [.control, .unknown]) {
                continue
            } else if attributes.contains(.userDefined) {
                piece = texts[id]
            } else if attributes.contains(.normal) {
                piece = normalPiece(texts[id])
            } else if attributes.contains(.byte) {
                let text = texts[id]
                let hex = text.count >= 5 ? String(decoding: text[3 ..< 5], as: UTF8.self) : ""
                piece = [UInt8(hex, radix: 16) ?? 0]
            } else {
                continue
            }
            if removeSpace, piece.first == 0x20 { piece.removeFirst() }
            out += piece
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Splits `text` around verbatim (user-defined) tokens, longest tokens first, as llama.cpp's
    /// tokenizer_st_partition does.
    func fragments(of text: [UInt8]) -> [Fragment] {
        guard !text.isEmpty else { return [] }
        var fragments: [Fragment] = [.text(0 ..< text.count)]
        for token in verbatimTokens {
            let needle = texts[token]
            var result: [Fragment] = []
            var changed = false
            for fragment in fragments {
                guard case .text(let range) = fragment else {
                    result.append(fragment)
                    continue
                }
                var start = range.lowerBound
                while let match = Self.find(needle, in: text, from: start, to: range.upperBound) {
                    if match > start { result.append(.text(start ..< match)) }
                    result.append(.token(token))
                    start = match + needle.count
                    changed = true
                }
                if start < range.upperBound { result.append(.text(start ..< range.upperBound)) }
            }
            if changed { fragments = result }
        }
        return fragments
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int, to end: Int) -> Int? {
        let count = needle.count
        guard count > 0, end - start >= count else { return nil }
        return haystack.withUnsafeBufferPointer { h in
            needle.withUnsafeBufferPointer { n in
                let first = n[0]
                var i = start
                let last = end - count
                while i <= last {
                    if h[i] == first {
                        var j = 1
                        while j < count && h[i + j] == n[j] { j += 1 }
                        if j == count { return i }
                    }
                    i += 1
                }
                return nil
            }
        }
    }
}
