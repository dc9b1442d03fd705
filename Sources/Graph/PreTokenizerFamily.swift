/// The `tokenizer.ggml.pre` values llama.cpp splits text the same way for, with the flags that go with each
/// (llama-vocab.cpp). The one table of these names: the engine's tokenizer maps a family's splitting to its
/// passes, the Hugging Face tokenizer conversion to regexes.
public struct PreTokenizerFamily: Sendable, Equatable {
    /// How text is cut into words before BPE merges.
    public enum Splitting: Sendable, Equatable {
        /// llama.cpp's 'default': punctuation runs, GPT-2's regex, number runs, ASCII digit triples.
        case llamaCppDefault
        /// GPT-2's regex.
        case gpt2
        /// Every number on its own, then GPT-2's regex.
        case eachNumberThenGPT2
        /// Llama 3's regex, numbers in pieces of up to three digits.
        case llama3
        /// Qwen2's variant of Llama 3's regex: one digit per piece.
        case qwen2
    }

    /// The first name is the one written when a name must be chosen.
    public let names: [String]
    public let splitting: Splitting
    /// llama.cpp's ignore_merges: a word that is a token as a whole is taken as that token.
    public let ignoresMerges: Bool
    /// llama.cpp's add_bos default for this pre-tokenizer when tokenizer.ggml.add_bos_token is absent.
    public let addsBOSByDefault: Bool

    public static let all: [PreTokenizerFamily] = [
        .init(names: ["default", ""], splitting: .llamaCppDefault),
        .init(names: ["gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum",
                      "modern-bert", "jina-v1-en", "jina-v2-code", "roberta-bpe", "exaone4", "mpt", "olmo", "jais",
                      "trillion", "granite-docling"],
              splitting: .gpt2),
        .init(names: ["smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b", "mellum2"],
              splitting: .eachNumberThenGPT2),
        .init(names: ["llama-bpe", "llama3", "llama-v3", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano"],
              splitting: .llama3, ignoresMerges: true, addsBOSByDefault: true),
        .init(names: ["smaug-bpe", "dbrx"], splitting: .llama3),
        .init(names: ["qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez", "stablelm2", "hunyuan", "solar-open",
                      "grok-2"],
              splitting: .qwen2),
    ]

    init(names: [String], splitting: Splitting, ignoresMerges: Bool = false, addsBOSByDefault: Bool = false) {
        self.names = names
        self.splitting = splitting
        self.ignoresMerges = ignoresMerges
        self.addsBOSByDefault = addsBOSByDefault
    }

    /// The family of a `tokenizer.ggml.pre` value (nil: absent, llama.cpp's 'default'); nil for values not
    /// covered here (llama.cpp knows more, and refuses unknown ones).
    public static func named(_ name: String?) -> PreTokenizerFamily? {
        let name = name ?? "default"
        return all.first { $0.names.contains(name) }
    }

    /// Each family's first name, for messages.
    public static var supportedNames: String { all.map { $0.names[0] }.joined(separator: ", ") }
}
