import Graph

/// GGUF tokenizer.* keys → tokenizer.json + tokenizer_config.json that the `tokenizers` library loads and that
/// encode as llama.cpp does (llama_tokenize with add_special, without parse_special, whose counterpart is the
/// library's `encode_special_tokens = True`).
struct TokenizerExport {
    let metadata: Metadata
    let file: String

    private enum Kind { case byteLevel(PreTokenizerFamily), sentencePiece }

    private struct Vocabulary {
        let texts: [String]
        let types: [GGUFTokenType?]
        /// Each text's first id.
        let idOfText: [TokenText: Int]
    }

    func fail(_ problem: String) -> FormatError { .tokenizer(file: file, problem: problem) }

    func files() throws -> [(name: String, contents: [UInt8])] {
        guard let model = metadata["tokenizer.ggml.model"]?.string else { throw fail("no tokenizer.ggml.model") }
        let kind: Kind
        switch model {
        case "gpt2":
            let pre = metadata["tokenizer.ggml.pre"]?.string ?? "default"
            guard let known = PreTokenizerFamily.named(pre) else {
                throw fail("tokenizer.ggml.pre \"\(pre)\" has no known regex (known: \(PreTokenizerFamily.supportedNames))")
            }
            kind = .byteLevel(known)
        case "llama":
            kind = .sentencePiece
        default:
            throw fail("tokenizer.ggml.model \"\(model)\" cannot be written as tokenizer.json (gpt2 and llama only)")
        }
        let vocabulary = try readVocabulary()
        let isSentencePiece = if case .sentencePiece = kind { true } else { false }
        let addsBOSByDefault = if case .byteLevel(let pre) = kind { pre.addsBOSByDefault } else { false }
        let special = SpecialTokens(metadata: metadata, count: vocabulary.texts.count, isSentencePiece: isSentencePiece,
                                    addsBOSByDefault: addsBOSByDefault)

        var tokenizer: [(key: String, value: JSONValue)] = [
            ("version", .string("1.0")), ("truncation", .null), ("padding", .null),
            ("added_tokens", .array(addedTokens(vocabulary).map { Self.addedToken(id: $0, text: vocabulary.texts[$0], type: vocabulary.types[$0]) })),
        ]
        let template = special.templateProcessing(texts: vocabulary.texts)
        switch kind {
        case .byteLevel(let pre):
            let splits: [JSONValue] = PreTokenizerRegexes.of(pre.splitting).map { regex in
                .object([("type", .string("Split")), ("pattern", .object([("Regex", .string(regex))])),
                         ("behavior", .string("Isolated")), ("invert", .bool(false))])
            }
            let byteLevel = { (addPrefixSpace: Bool, trimOffsets: Bool, useRegex: Bool) -> JSONValue in
                .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(addPrefixSpace)),
                         ("trim_offsets", .bool(trimOffsets)), ("use_regex", .bool(useRegex))])
            }
            tokenizer += [
                ("normalizer", .null),
                ("pre_tokenizer", .object([("type", .string("Sequence")),
                                           ("pretokenizers", .array(splits + [byteLevel(false, true, false)]))])),
                ("post_processor", .object([("type", .string("Sequence")),
                                            ("processors", .array([byteLevel(true, false, true)] + (template.map { [$0] } ?? [])))])),
                ("decoder", byteLevel(true, true, true)),
                ("model", bpeModel(vocabulary, merges: try ggufMerges(), byteFallback: false, unknown: nil,
                                   ignoresMerges: pre.ignoresMerges)),
            ]
        case .sentencePiece:
            let replaceSpace = Self.replace(" ", "\u{2581}")
            var decoders = [Self.replace("\u{2581}", " "), .object([("type", .string("ByteFallback"))]), .object([("type", .string("Fuse"))])]
            if special.addsSpacePrefix {
                decoders.append(.object([("type", .string("Strip")), ("content", .string(" ")), ("start", .integer(1)), ("stop", .integer(0))]))
            }
            tokenizer += [
                ("normalizer", special.addsSpacePrefix
                    ? .object([("type", .string("Sequence")), ("normalizers", .array([
                        .object([("type", .string("Prepend")), ("prepend", .string("\u{2581}"))]), replaceSpace]))])
                    : replaceSpace),
                ("pre_tokenizer", .null),
                ("post_processor", template ?? .null),
                ("decoder", .object([("type", .string("Sequence")), ("decoders", .array(decoders))])),
                ("model", bpeModel(vocabulary, merges: try sentencePieceMerges(vocabulary), byteFallback: true,
                                   unknown: special.id(.unk).map { vocabulary.texts[$0] }, ignoresMerges: false)),
            ]
        }
        let config = special.tokenizerConfig(texts: vocabulary.texts, types: vocabulary.types, addedIDs: addedTokens(vocabulary))
        return [
            ("tokenizer.json", Array(JSONValue.object(tokenizer).serialized().utf8)),
            ("tokenizer_config.json", Array((config.serialized(.pythonIndented) + "\n").utf8)),
        ]
    }

    private func readVocabulary() throws -> Vocabulary {
        guard let tokenValues = metadata["tokenizer.ggml.tokens"]?.array else { throw fail("no tokenizer.ggml.tokens") }
        let texts = try tokenValues.enumerated().map { id, value in
            guard case .string(let string) = value else { throw fail("tokenizer.ggml.tokens[\(id)] is not a string") }
            let text = string.description
            guard text.utf8.elementsEqual(string.bytes) else { throw fail("tokenizer.ggml.tokens[\(id)] is not valid UTF-8") }
            return text
        }
        let typeValues = metadata["tokenizer.ggml.token_type"]?.array ?? []
        let types = texts.indices.map { id in
            id < typeValues.count ? typeValues[id].int.flatMap { Int32(exactly: $0).flatMap(GGUFTokenType.init) } : .normal
        }
        var idOfText = [TokenText: Int](minimumCapacity: texts.count)
        for (id, text) in texts.enumerated() where types[id] != .unused && idOfText[TokenText(text)] == nil {
            idOfText[TokenText(text)] = id
        }
        return Vocabulary(texts: texts, types: types, idOfText: idOfText)
    }

    /// Control, unknown and user-defined tokens: what Hugging Face keeps as added tokens.
    private func addedTokens(_ vocabulary: Vocabulary) -> [Int] {
        vocabulary.types.indices.filter { id in
            [.control, .unknown, .userDefined].contains(vocabulary.types[id]) && vocabulary.idOfText[TokenText(vocabulary.texts[id])] == id
        }
    }

    static func addedToken(id: Int, text: String, type: GGUFTokenType?) -> JSONValue {
        .object([("id", .integer(id)), ("content", .string(text)), ("single_word", .bool(false)), ("lstrip", .bool(false)),
                 ("rstrip", .bool(false)), ("normalized", .bool(false)), ("special", .bool(type != .userDefined))])
    }

    private static func replace(_ pattern: String, _ content: String) -> JSONValue {
        .object([("type", .string("Replace")), ("pattern", .object([("String", .string(pattern))])), ("content", .string(content))])
    }

    private func bpeModel(_ vocabulary: Vocabulary, merges: [(String, String)], byteFallback: Bool, unknown: String?,
                          ignoresMerges: Bool) -> JSONValue {
        let vocab = vocabulary.idOfText.sorted { $0.value < $1.value }.map { (key: $0.key.string, value: JSONValue.integer($0.value)) }
        return .object([
            ("type", .string("BPE")), ("dropout", .null), ("unk_token", unknown.map { .string($0) } ?? .null),
            ("continuing_subword_prefix", .null), ("end_of_word_suffix", .null), ("fuse_unk", .bool(byteFallback)),
            ("byte_fallback", .bool(byteFallback)), ("ignore_merges", .bool(ignoresMerges)),
            ("vocab", .object(vocab)),
            ("merges", .array(merges.map { .array([.string($0.0), .string($0.1)]) })),
        ])
    }

    private func ggufMerges() throws -> [(String, String)] {
        guard let values = metadata["tokenizer.ggml.merges"]?.array else { throw fail("a gpt2 tokenizer without tokenizer.ggml.merges") }
        return try values.enumerated().map { index, value in
            let parts = (value.string ?? "").split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw fail("tokenizer.ggml.merges[\(index)] is not two tokens separated by one space") }
            return (String(parts[0]), String(parts[1]))
        }
    }

    /// The merges llama.cpp's SentencePiece tokenizer effectively applies, as transformers' SentencePiece→BPE
    /// converters derive them: every split of a token into two tokens, ordered by the token's score (highest
    /// first), then by the ids of the two parts.
    private func sentencePieceMerges(_ vocabulary: Vocabulary) throws -> [(String, String)] {
        let scoreValues = metadata["tokenizer.ggml.scores"]?.array ?? []
        let scores = vocabulary.texts.indices.map { $0 < scoreValues.count ? scoreValues[$0].double ?? 0 : 0 }
        let order = vocabulary.idOfText.values.sorted { (scores[$0], -$0) > (scores[$1], -$1) }
        var merges: [(String, String)] = []
        for id in order {
            let bytes = Array(vocabulary.texts[id].utf8)
            var splits: [(left: Int, right: Int, texts: (String, String))] = []
            for cut in bytes.indices.dropFirst() where bytes[cut] & 0xC0 != 0x80 {  // at code point boundaries
                let left = TokenText(bytes: bytes[..<cut]), right = TokenText(bytes: bytes[cut...])
                if let leftID = vocabulary.idOfText[left], let rightID = vocabulary.idOfText[right] {
                    splits.append((leftID, rightID, (left.string, right.string)))
                }
            }
            merges += splits.sorted { ($0.left, $0.right) < ($1.left, $1.right) }.map(\.texts)
        }
        return merges
    }
}

/// The special tokens, add-BOS/EOS flags and chat template of GGUF metadata, with llama.cpp's defaults where
/// keys are absent, and how Hugging Face states them.
private struct SpecialTokens {
    var ids: [(role: SpecialTokenRole, id: Int)] = []
    let addsBOS: Bool
    let addsEOS: Bool
    let addsSpacePrefix: Bool
    let metadata: Metadata

    init(metadata: Metadata, count: Int, isSentencePiece: Bool, addsBOSByDefault: Bool) {
        for role in SpecialTokenRole.allCases {
            if let key = role.idKey, let id = metadata[key]?.int, id >= 0, id < count { ids.append((role, id)) }
        }
        addsBOS = metadata["tokenizer.ggml.add_bos_token"]?.bool ?? (isSentencePiece || addsBOSByDefault)
        addsEOS = metadata["tokenizer.ggml.add_eos_token"]?.bool ?? false
        addsSpacePrefix = isSentencePiece && (metadata["tokenizer.ggml.add_space_prefix"]?.bool ?? true)
        self.metadata = metadata
    }

    func id(_ role: SpecialTokenRole) -> Int? { ids.first { $0.role == role }?.id }

    /// TemplateProcessing adding BOS and EOS as the flags ask (nil when neither is added).
    func templateProcessing(texts: [String]) -> JSONValue? {
        let bos = addsBOS ? id(.bos) : nil
        let eos = addsEOS ? id(.eos) : nil
        guard bos != nil || eos != nil else { return nil }
        func special(_ id: Int?, _ typeID: Int) -> [JSONValue] {
            id.map { [.object([("SpecialToken", .object([("id", .string(texts[$0])), ("type_id", .integer(typeID))]))])] } ?? []
        }
        func sequence(_ name: String, _ typeID: Int) -> JSONValue {
            .object([("Sequence", .object([("id", .string(name)), ("type_id", .integer(typeID))]))])
        }
        let single = special(bos, 0) + [sequence("A", 0)] + special(eos, 0)
        let pair = single + special(bos, 1) + [sequence("B", 1)] + special(eos, 1)
        var tokens: [(key: String, value: JSONValue)] = []
        for id in [bos, eos].compactMap({ $0 }) where !tokens.contains(where: { $0.key == texts[id] }) {
            tokens.append((texts[id], .object([("id", .string(texts[id])), ("ids", .array([.integer(id)])),
                                               ("tokens", .array([.string(texts[id])]))])))
        }
        return .object([("type", .string("TemplateProcessing")), ("single", .array(single)), ("pair", .array(pair)),
                         ("special_tokens", .object(tokens))])
    }

    /// tokenizer_config.json as transformers writes it (keys sorted).
    func tokenizerConfig(texts: [String], types: [GGUFTokenType?], addedIDs: [Int]) -> JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            ("add_bos_token", .bool(addsBOS)), ("add_eos_token", .bool(addsEOS)),
            ("added_tokens_decoder", .object(addedIDs.map { id in
                (String(id), TokenizerExport.addedToken(id: id, text: texts[id], type: types[id]).removing("id"))
            })),
            ("clean_up_tokenization_spaces", .bool(false)),
            ("tokenizer_class", .string("PreTrainedTokenizerFast")),
        ]
        for (role, id) in ids { members.append(("\(role.rawValue)_token", .string(texts[id]))) }
        if let template = metadata["tokenizer.chat_template"]?.string { members.append(("chat_template", .string(template))) }
        if let architecture = metadata["general.architecture"]?.string,
           let length = metadata["\(architecture).context_length"]?.int {
            members.append(("model_max_length", .integer(length)))
        }
        return .object(members.sorted { $0.key < $1.key })
    }
}

extension JSONValue {
    fileprivate func removing(_ key: String) -> JSONValue {
        guard let members else { return self }
        return .object(members.filter { $0.key != key })
    }
}
