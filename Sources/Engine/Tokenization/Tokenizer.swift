import Graph

/// Turns text into the token ids a model was trained on, and back.
///
/// The ids equal llama.cpp's for the same GGUF metadata: `encode(text, addSpecial: true)` gives what
/// `llama_tokenize(add_special: true, parse_special: false)` gives.
public protocol Tokenizer: Sendable {
    /// Token ids for `text`; with `addSpecial`, the BOS token first when the model's add_bos_token says so
    /// (llama.cpp's defaults per tokenizer type when the key is absent), as llama.cpp's llama_tokenize(add_special: true, parse_special: false).
    /// Like llama.cpp, `addSpecial` also appends EOS where the model's add_eos_token asks for it.
    func encode(_ text: String, addSpecial: Bool) -> [Int]
    /// The text of `ids`, as llama.cpp renders pieces without special tokens: control and unknown tokens
    /// vanish, byte tokens become their byte, and the space a SentencePiece model prefixes is removed.
    /// (llama.cpp's optional clean-up of spaces before punctuation is not applied.)
    func decode(_ ids: [Int]) -> String
    var bosID: Int? { get }
    var eosID: Int? { get }
    var vocabularySize: Int { get }
}

public enum Tokenizers {
    /// Builds the tokenizer the metadata describes (tokenizer.ggml.model, .pre, .tokens, .scores, .token_type, .merges, bos/eos ids, add_bos_token ...).
    /// Throws EngineError.unsupportedTokenizer(model:) for other models.
    public static func make(from metadata: Metadata) throws -> any Tokenizer {
        guard let model = metadata["tokenizer.ggml.model"]?.string else {
            throw EngineError.missingMetadata("tokenizer.ggml.model")
        }
        switch model {
        case "gpt2":
            return try BPETokenizer(metadata: metadata)
        case "llama":
            return try SentencePieceTokenizer(metadata: metadata)
        default:
            throw EngineError.unsupportedTokenizer(model: model)
        }
    }
}

extension Tokenizer {
    /// Whether `encode(_, addSpecial: true)` starts with BOS, as llama.cpp's llama_vocab_get_add_bos.
    public var addsBOS: Bool { bosID != nil && encode("", addSpecial: true).first == bosID }
}
