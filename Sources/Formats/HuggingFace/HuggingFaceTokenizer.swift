import Graph

/// Conversion between a Hugging Face folder's tokenizer files (tokenizer.json, tokenizer_config.json) and the
/// GGUF `tokenizer.*` keys the IR carries. Byte-level BPE tokenizers become `tokenizer.ggml.model = "gpt2"`;
/// BPE tokenizers with byte fallback over `▁`-escaped text (Llama 2, Gemma) become `"llama"` (SentencePiece).
///
/// Reading follows llama.cpp's convert_hf_to_gguf.py (`get_vocab_base`, `_set_vocab_llama_hf`) and gguf-py's
/// `SpecialVocab`; writing produces files the `tokenizers` library loads and that encode as llama.cpp does.
public enum HuggingFaceTokenizer {
    /// The tokenizer.* keys llama.cpp's convert_hf_to_gguf.py would write for a folder, in its order.
    /// - Parameters:
    ///   - tokenizerJSON: tokenizer.json.
    ///   - tokenizerConfig: tokenizer_config.json, if the folder has one (special tokens, add_bos_token, chat_template).
    ///   - modelConfig: config.json, if known (vocab_size, and `*_token_id` where tokenizer_config names none).
    ///   - chatTemplate: chat_template.jinja's text, used when tokenizer_config.json has no chat_template.
    ///   - file: the folder, named in errors.
    /// Token ids allowed when the embedding's rows are not known: more than any published vocabulary.
    static let unknownRowsLimit = 1 << 22

    public static func ggufMetadata(
        tokenizerJSON: JSONValue, tokenizerConfig: JSONValue?, modelConfig: JSONValue? = nil,
        chatTemplate: String? = nil, embeddingRows: Int? = nil, file: String
    ) throws -> [(key: String, value: MetadataValue)] {
        try TokenizerImport(tokenizerJSON: tokenizerJSON, tokenizerConfig: tokenizerConfig, modelConfig: modelConfig,
                            chatTemplate: chatTemplate, idLimit: embeddingRows ?? unknownRowsLimit, file: file).metadata()
    }

    /// tokenizer.json and tokenizer_config.json (file name → bytes) rebuilt from a model's GGUF tokenizer.* keys;
    /// `file` names the model in errors.
    public static func files(from metadata: Metadata, file: String) throws -> [(name: String, contents: [UInt8])] {
        try TokenizerExport(metadata: metadata, file: file).files()
    }
}

/// GGUF token types (gguf-py's TokenType).
enum GGUFTokenType: Int32 {
    case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
}

/// The special-token roles gguf-py's SpecialVocab reads, in its order, with their GGUF key names
/// (gguf spells the separator "seperator"). cls has no GGUF key; it stands in for bos when bos is absent.
enum SpecialTokenRole: String, CaseIterable {
    case bos, eos, unk, sep, pad, cls, mask

    var idKey: String? {
        switch self {
        case .bos: "tokenizer.ggml.bos_token_id"
        case .eos: "tokenizer.ggml.eos_token_id"
        case .unk: "tokenizer.ggml.unknown_token_id"
        case .sep: "tokenizer.ggml.seperator_token_id"
        case .pad: "tokenizer.ggml.padding_token_id"
        case .mask: "tokenizer.ggml.mask_token_id"
        case .cls: nil
        }
    }

    /// Only these add_* flags have a GGUF key.
    var addKey: String? {
        switch self {
        case .bos: "tokenizer.ggml.add_bos_token"
        case .eos: "tokenizer.ggml.add_eos_token"
        case .sep: "tokenizer.ggml.add_sep_token"
        default: nil
        }
    }
}

/// The regexes of each byte-level pre-tokenizer family (`PreTokenizerFamily`): the passes llama-vocab.cpp runs
/// for it, written as Hugging Face Split patterns (Oniguruma syntax).
enum PreTokenizerRegexes {
    static let gpt2Regex = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    static let llama3Regex =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2Regex =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// Other spellings of the same patterns: llama.cpp's own (GPT-2's without the final `|\s+`, which matches
    /// only what the pass keeps as a gap anyway; Llama 3's contractions as character classes).
    static let equivalentSpellings: [String: String] = [
        #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"#: gpt2Regex,
        #"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#:
            llama3Regex,
        #"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#:
            qwen2Regex,
    ]

    static func of(_ splitting: PreTokenizerFamily.Splitting) -> [String] {
        switch splitting {
        case .llamaCppDefault: [#"[\p{P}\$\+<=>\^~\|]+"#, gpt2Regex, #"\p{N}+"#, "[0-9][0-9][0-9]"]
        case .gpt2: [gpt2Regex]
        case .eachNumberThenGPT2: [#"\p{N}"#, gpt2Regex]
        case .llama3: [llama3Regex]
        case .qwen2: [qwen2Regex]
        }
    }

    /// The family whose regexes and ignore_merges these are, the first in `PreTokenizerFamily.all` order.
    static func family(matching regexes: [String], ignoresMerges: Bool) -> PreTokenizerFamily? {
        let canonical = regexes.map { equivalentSpellings[$0] ?? $0 }
        return PreTokenizerFamily.all.first { of($0.splitting) == canonical && $0.ignoresMerges == ignoresMerges }
    }
}

/// Texts that convert_hf_to_gguf.py's does_token_look_special treats as control tokens even when an added
/// token is not marked special.
func looksSpecial(_ text: String) -> Bool {
    ["<pad>", "<mask>", "<2mass>", "[@BOS@]"].contains(text)
        || (text.hasPrefix("<|") && text.hasSuffix("|>"))
        || (text.hasPrefix("<｜") && text.hasSuffix("｜>"))
        || (text.hasPrefix("<unused") && text.hasSuffix(">"))
}

/// `<0x00>` … `<0xFF>`: SentencePiece's byte-fallback tokens.
func isByteToken(_ text: String) -> Bool {
    let bytes = Array(text.utf8)
    guard bytes.count == 6, bytes[0 ... 2] == [0x3C, 0x30, 0x78], bytes[5] == 0x3E else { return false }
    return bytes[3 ... 4].allSatisfy { (0x30 ... 0x39).contains($0) || (0x41 ... 0x46).contains($0) || (0x61 ... 0x66).contains($0) }
}

/// A token's text compared by its bytes: Swift's String equality is canonical equivalence, under which distinct
/// tokens (য় U+09DF and য় U+09AF U+09BC) would be one.
struct TokenText: Hashable {
    let bytes: [UInt8]
    init(_ text: String) { bytes = Array(text.utf8) }
    init<S: Sequence>(bytes: S) where S.Element == UInt8 { self.bytes = Array(bytes) }
    var string: String { String(decoding: bytes, as: UTF8.self) }
}
