import Foundation
import Graph

/// tokenizer.json (+ tokenizer_config.json, config.json) → GGUF tokenizer.* keys, as convert_hf_to_gguf.py writes them.
struct TokenizerImport {
    let tokenizerJSON: JSONValue
    let tokenizerConfig: JSONValue?
    let modelConfig: JSONValue?
    let chatTemplate: String?
    /// The most token ids the model can hold (its embedding's rows, when known): a vocabulary claimed larger
    /// is an error, not an allocation.
    let idLimit: Int
    let file: String

    private enum Kind { case byteLevel, sentencePiece }

    private struct AddedToken {
        let id: Int
        let content: String
        let special: Bool
    }

    func fail(_ problem: String) -> FormatError { .tokenizer(file: file, problem: "tokenizer.json: " + problem) }

    func metadata() throws -> [(key: String, value: MetadataValue)] {
        guard let model = tokenizerJSON["model"], model.members != nil else { throw fail("no \"model\" object") }
        guard let type = model["type"]?.string, type == "BPE" else {
            throw fail("model type \(model["type"]?.string ?? "(none)") is not supported (BPE only)")
        }
        let kind: Kind
        if model["byte_fallback"]?.boolValue == true {
            kind = .sentencePiece
        } else if tokenizerJSON["decoder"]?["type"]?.string == "ByteLevel" {
            kind = .byteLevel
        } else {
            throw fail("a BPE model needs a ByteLevel decoder (GPT-2 style) or byte_fallback (SentencePiece style)")
        }

        let vocab = try vocabulary(model)
        let added = try addedTokens()
        var idOfText = vocab
        for token in added where idOfText[TokenText(token.content)] == nil { idOfText[TokenText(token.content)] = token.id }
        let addedByText = Dictionary(added.map { (TokenText($0.content), $0) }, uniquingKeysWith: { first, _ in first })

        let largestID = idOfText.values.max() ?? -1
        let count = modelConfig.flatMap(Self.vocabularySize) ?? largestID + 1
        guard largestID < count else {
            throw fail("token id \(largestID) is not below config.json's vocab_size \(count)")
        }
        guard count <= idLimit else {
            throw fail("a vocabulary of \(count) token ids exceeds the \(idLimit) the model's embeddings hold")
        }
        var textOfID = [TokenText?](repeating: nil, count: count)
        for (text, id) in idOfText where textOfID[id] == nil || vocab[text] == id { textOfID[id] = text }

        // get_vocab_base / LlamaHfVocab: gaps become unused [PAD{i}]; added tokens control or user-defined.
        var tokens: [String] = []
        var types: [GGUFTokenType] = []
        for (id, key) in textOfID.enumerated() {
            guard let key else {
                tokens.append("[PAD\(id)]")
                types.append(.unused)
                continue
            }
            let text = key.string
            if let token = addedByText[key], token.id == id {
                if token.special || looksSpecial(text) {
                    tokens.append(text)
                    types.append(.control)
                } else {
                    tokens.append(text.replacingOccurrences(of: "\u{2581}", with: " "))  // pre-normalize user-defined spaces
                    types.append(.userDefined)
                }
            } else if kind == .sentencePiece && text == "\t" && vocab[TokenText("<0x09>")] == nil {
                // transformers' GemmaConverter renames SentencePiece's byte token <0x09> to a tab.
                tokens.append("<0x09>")
                types.append(.byte)
            } else {
                tokens.append(text)
                types.append(kind == .sentencePiece && isByteToken(text) ? .byte : .normal)
            }
        }

        let merges = try mergeList(model)
        var keys: [(key: String, value: MetadataValue)] = []
        switch kind {
        case .byteLevel:
            keys.append(("tokenizer.ggml.model", .string("gpt2")))
            keys.append(("tokenizer.ggml.pre", .string(MetadataString(try preTokenizerName(model)))))
            keys.append(("tokenizer.ggml.tokens", .array(.string, tokens.map { .string(MetadataString($0)) })))
            keys.append(("tokenizer.ggml.token_type", .array(.int32, types.map { .int32($0.rawValue) })))
            if !merges.isEmpty {
                // As SpecialVocab does, a space inside a part is written as U+0120 so "a b" stays splittable.
                func escaped(_ part: String) -> String { part.replacingOccurrences(of: " ", with: "\u{0120}") }
                let texts = merges.map { MetadataValue.string(MetadataString(escaped($0.0) + " " + escaped($0.1))) }
                keys.append(("tokenizer.ggml.merges", .array(.string, texts)))
            }
        case .sentencePiece:
            keys.append(("tokenizer.ggml.model", .string("llama")))
            keys.append(("tokenizer.ggml.pre", .string("default")))
            keys.append(("tokenizer.ggml.tokens", .array(.string, tokens.map { .string(MetadataString($0)) })))
            let scores = Self.scores(types: types, texts: tokens, merges: merges)
            keys.append(("tokenizer.ggml.scores", .array(.float32, scores.map { .float32($0) })))
            keys.append(("tokenizer.ggml.token_type", .array(.int32, types.map { .int32($0.rawValue) })))
            keys.append(("tokenizer.ggml.add_space_prefix", .bool(prependsSpace())))
        }
        keys += try specialVocabulary(added: added, count: kind == .sentencePiece ? count : nil)
        return keys
    }

    private static func vocabularySize(_ config: JSONValue) -> Int? {
        (config["vocab_size"] ?? config["text_config"]?["vocab_size"])?.uint32.map(Int.init)
    }

    private func vocabulary(_ model: JSONValue) throws -> [TokenText: Int] {
        guard let members = model["vocab"]?.members else { throw fail("model has no \"vocab\" object") }
        var vocab = [TokenText: Int](minimumCapacity: members.count)
        for (text, value) in members {
            guard let id = value.unsignedInteger, id < 1 << 31 else { throw fail("vocab entry \"\(text)\" has no valid id") }
            vocab[TokenText(text)] = Int(id)
        }
        return vocab
    }

    private func addedTokens() throws -> [AddedToken] {
        try (tokenizerJSON["added_tokens"]?.array ?? []).map { item in
            guard let id = item["id"]?.unsignedInteger, id < 1 << 31, let content = item["content"]?.string else {
                throw fail("an added_tokens entry lacks an id or content")
            }
            return AddedToken(id: Int(id), content: content, special: item["special"]?.boolValue ?? false)
        }
    }

    /// Merges as pairs, from either the "a b" strings of older files or the [a, b] pairs of newer ones.
    private func mergeList(_ model: JSONValue) throws -> [(String, String)] {
        guard let items = model["merges"]?.array else { return [] }
        return try items.map { item in
            if let text = item.string {
                let parts = text.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw fail("merge \"\(text)\" is not two tokens separated by a space") }
                return (String(parts[0]), String(parts[1]))
            }
            guard let pair = item.array, pair.count == 2, let left = pair[0].string, let right = pair[1].string else {
                throw fail("a merge is neither \"a b\" nor a pair of strings")
            }
            return (left, right)
        }
    }

    /// llama.cpp names the pre-tokenizer by hashing Hugging Face's tokens for a fixed text; without running
    /// Hugging Face's tokenizer we identify it from the pre_tokenizer's regex passes instead.
    private func preTokenizerName(_ model: JSONValue) throws -> String {
        let ignoresMerges = model["ignore_merges"]?.boolValue ?? false
        guard let passes = regexPasses(tokenizerJSON["pre_tokenizer"] ?? .null),
              let known = PreTokenizerRegexes.family(matching: passes, ignoresMerges: ignoresMerges)
        else {
            let summary = (tokenizerJSON["pre_tokenizer"] ?? .null).serialized()
            throw fail("pre_tokenizer not recognized as one of \(PreTokenizerFamily.supportedNames) (ignore_merges \(ignoresMerges)): \(summary.prefix(300))")
        }
        return known.names[0]
    }

    /// The regex passes a byte-level pre_tokenizer makes, or nil for a form we cannot state as passes.
    private func regexPasses(_ node: JSONValue) -> [String]? {
        switch node["type"]?.string {
        case "Sequence":
            var passes: [String] = []
            for item in node["pretokenizers"]?.array ?? [] {
                guard let more = regexPasses(item) else { return nil }
                passes += more
            }
            return passes
        case "ByteLevel":
            guard node["add_prefix_space"]?.boolValue != true else { return nil }
            return node["use_regex"]?.boolValue == false ? [] : [PreTokenizerRegexes.gpt2Regex]
        case "Digits":
            return [node["individual_digits"]?.boolValue == true ? #"\p{N}"# : #"\p{N}+"#]
        case "Split":
            guard node["behavior"]?.string == "Isolated", node["invert"]?.boolValue != true,
                  let regex = node["pattern"]?["Regex"]?.string
            else { return nil }
            return [regex]
        default:
            return nil
        }
    }

    /// Whether the normalizer or pre-tokenizer puts a ▁ before the text (Llama 2's Prepend, Metaspace's
    /// prepend_scheme), which llama.cpp states as add_space_prefix.
    private func prependsSpace() -> Bool {
        func prepends(_ node: JSONValue?) -> Bool {
            guard let node else { return false }
            switch node["type"]?.string {
            case "Sequence":
                return (node["normalizers"]?.array ?? node["pretokenizers"]?.array ?? []).contains { prepends($0) }
            case "Prepend": return node["prepend"]?.string == "\u{2581}"
            case "Metaspace":
                if let scheme = node["prepend_scheme"]?.string { return scheme != "never" }
                return node["add_prefix_space"]?.boolValue ?? true
            default: return false
            }
        }
        return prepends(tokenizerJSON["normalizer"]) || prepends(tokenizerJSON["pre_tokenizer"])
    }

    /// SentencePiece scores that make llama.cpp's merge order (highest score first) the BPE merge order: a token
    /// scores minus the rank of the first merge that makes it. llama.cpp's converter writes a placeholder -1000
    /// for every token here, with which llama.cpp cannot tokenize; control and user-defined tokens keep -1000 and
    /// byte tokens 0, as the SentencePiece path writes them.
    private static func scores(types: [GGUFTokenType], texts: [String], merges: [(String, String)]) -> [Float] {
        var rankOfText = [TokenText: Int](minimumCapacity: merges.count)
        for (rank, (left, right)) in merges.enumerated() {
            let text = TokenText(left + right)
            if rankOfText[text] == nil { rankOfText[text] = rank }
        }
        return zip(types, texts).map { type, text in
            switch type {
            case .byte: 0
            case .normal: -Float(rankOfText[TokenText(text)] ?? merges.count)
            default: -1000
            }
        }
    }

    // MARK: - gguf-py's SpecialVocab

    private static func content(_ value: JSONValue?) -> String? { value?.string ?? value?["content"]?.string }

    private func specialVocabulary(added: [AddedToken], count: Int?) throws -> [(key: String, value: MetadataValue)] {
        var ids: [(key: String, id: Int)] = []
        var flags: [(key: String, value: Bool)] = []
        func setID(_ key: String?, _ id: Int?) {
            guard let key, let id, count.map({ id < $0 }) ?? true, !ids.contains(where: { $0.key == key }) else { return }
            ids.append((key, id))
        }
        func setFlag(_ key: String?, _ value: Bool, replacing: Bool = true) {
            guard let key else { return }
            if let index = flags.firstIndex(where: { $0.key == key }) {
                if replacing { flags[index].value = value }
            } else {
                flags.append((key, value))
            }
        }

        let config = tokenizerConfig
        var named: [String: String] = [:]
        for role in SpecialTokenRole.allCases { named[role.rawValue] = Self.content(config?["\(role.rawValue)_token"]) }
        if named["bos"] == nil, let cls = named["cls"], config != nil { named["bos"] = cls }
        if named["eos"] == nil, let sep = named["sep"], config != nil { named["eos"] = sep }
        var extraRoles: [(key: String, content: String)] = []

        // The post-processor, read as SpecialVocab reads it (crudely: simple templates only).
        let postProcessor = tokenizerJSON["post_processor"]
        let processors = postProcessor?["processors"]?.array ?? postProcessor.map { [$0] } ?? []
        for processor in processors {
            switch processor["type"]?.string {
            case "ByteLevel":
                setFlag(SpecialTokenRole.bos.addKey, false, replacing: false)
                setFlag(SpecialTokenRole.eos.addKey, false, replacing: false)
            case "RobertaProcessing":
                setFlag(SpecialTokenRole.bos.addKey, true)
                setFlag(SpecialTokenRole.eos.addKey, true)
                setFlag(SpecialTokenRole.sep.addKey, true)
            case "TemplateProcessing":
                readTemplate(processor, hasConfig: config != nil, named: &named, extraRoles: &extraRoles) { setFlag($0.addKey, $1) }
            default:
                continue
            }
        }

        var templates: [(key: String, value: MetadataValue)] = []
        if let config {
            templates = try chatTemplates(config["chat_template"])
            for role in SpecialTokenRole.allCases {
                // The post-processor's word wins over tokenizer_config's.
                if let flag = config["add_\(role.rawValue)_token"]?.boolValue { setFlag(role.addKey, flag, replacing: false) }
                guard let content = named[role.rawValue] else { continue }
                setID(role.idKey, added.first { TokenText($0.content) == TokenText(content) }?.id)
            }
            for (key, content) in extraRoles { setID(key, added.first { TokenText($0.content) == TokenText(content) }?.id) }
        }
        for role in SpecialTokenRole.allCases {
            let value = modelConfig?["\(role.rawValue)_token_id"] ?? modelConfig?["text_config"]?["\(role.rawValue)_token_id"]
            setID(role.idKey, value?.uint32.map(Int.init))
        }
        // Every id came from a UInt32 or from the vocabulary (below 2^31).
        return ids.compactMap { id in UInt32(exactly: id.id).map { (id.key, .uint32($0)) } } + flags.map { ($0.key, .bool($0.value)) } + templates
    }

    /// SpecialVocab's reading of a TemplateProcessing: a special token first in the single template means
    /// add_bos, last means add_eos (a last token other than eos_token becomes eos, the old one eot); a special
    /// token between A and B in the pair template that is sep or eos means add_sep.
    private func readTemplate(_ processor: JSONValue, hasConfig: Bool, named: inout [String: String],
                              extraRoles: inout [(key: String, content: String)],
                              setFlag: (SpecialTokenRole, Bool) -> Void) {
        func specialID(_ item: JSONValue?) -> String? { item?["SpecialToken"]?["id"]?.string }
        let single = processor["single"]?.array ?? []
        var first: String?, last: String?
        if single.count > 1 {
            first = specialID(single.first)
            if let first {
                if !hasConfig {
                    named["bos"] = first
                } else if first != named["bos"] && first != named["cls"] {
                    if named["bos"] == nil { named["bos"] = first }
                    if named["cls"] == nil { named["cls"] = first }
                }
                setFlag(.bos, first == named["bos"] || first == named["cls"])
            }
            last = specialID(single.last)
            if let last {
                if !hasConfig {
                    named["eos"] = last
                } else if last != named["eos"] {
                    if let eos = named["eos"] {
                        extraRoles.append((extraRoles.isEmpty ? "tokenizer.ggml.eot_token_id" : "tokenizer.ggml.eom_token_id", eos))
                    }
                    named["eos"] = last
                }
                setFlag(.eos, true)
            }
        }
        var pair = processor["pair"]?.array ?? []
        if let first, specialID(pair.first) == first { pair.removeFirst() }
        if let last, !pair.isEmpty, specialID(pair.last) == last { pair.removeLast() }
        guard pair.count > 2, pair.first?["Sequence"]?["id"]?.string == "A", pair.last?["Sequence"]?["id"]?.string == "B"
        else { return }
        let middle = Array(pair.dropFirst().dropLast())
        let separators = [named["sep"], named["eos"]]
        var addsSeparator = false
        if let entry = specialID(middle.first), separators.contains(entry), last == nil { addsSeparator = true }
        if middle.count == 2, let entry = specialID(middle.last), separators.contains(entry) { addsSeparator = true }
        setFlag(.sep, addsSeparator)
        if addsSeparator, named["sep"] == nil, hasConfig { named["sep"] = named["eos"] }
    }

    /// tokenizer_config.json's chat_template (a string, or a list of {name, template}), else chat_template.jinja.
    private func chatTemplates(_ value: JSONValue?) throws -> [(key: String, value: MetadataValue)] {
        if let text = value?.string { return [("tokenizer.chat_template", .string(MetadataString(text)))] }
        guard let choices = value?.array else {
            return chatTemplate.map { [("tokenizer.chat_template", .string(MetadataString($0)))] } ?? []
        }
        var keys: [(key: String, value: MetadataValue)] = []
        var names: [String] = []
        var defaultTemplate: String?
        for choice in choices {
            guard let name = choice["name"]?.string, !name.isEmpty, let template = choice["template"]?.string else { continue }
            let safeName = String(name.map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" })
            if safeName == "default" {
                defaultTemplate = template
            } else {
                keys.append(("tokenizer.chat_template.\(safeName)", .string(MetadataString(template))))
                if !names.contains(safeName) { names.append(safeName) }
            }
        }
        if !names.isEmpty { keys.append(("tokenizer.chat_templates", .array(.string, names.map { .string(MetadataString($0)) }))) }
        if let defaultTemplate { keys.append(("tokenizer.chat_template", .string(MetadataString(defaultTemplate)))) }
        return keys
    }
}
