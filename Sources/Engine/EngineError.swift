/// What stops the engine from running a model. Each description is one line naming what to fix.
public enum EngineError: Error, CustomStringConvertible, Equatable {
    case unsupportedArchitecture(String, supported: [String])
    case unsupportedTokenizer(model: String)
    case unsupportedPreTokenizer(String)
    case missingTensor(String)
    case missingMetadata(String)
    case badShape(tensor: String, expected: [Int], found: [Int])
    case badElementCount(tensor: String, expected: Int, found: Int)
    case badHeadCounts(block: Int, heads: Int, kvHeads: Int)
    case textTooShort(tokens: Int, needed: Int)
    case tokenOutsideVocabulary(token: Int, vocabulary: Int)

    public var description: String {
        switch self {
        case let .unsupportedArchitecture(name, supported):
            "architecture '\(name)' is not supported by the engine (supported: \(supported.joined(separator: ", ")))"
        case let .unsupportedTokenizer(model):
            "tokenizer model '\(model)' is not supported (supported: gpt2, llama)"
        case let .unsupportedPreTokenizer(name):
            "pre-tokenizer '\(name)' (tokenizer.ggml.pre) is not supported; llama.cpp refuses unknown ones too"
        case let .missingTensor(name):
            "tensor '\(name)' is missing"
        case let .missingMetadata(key):
            "metadata key '\(key)' is missing"
        case let .badShape(tensor, expected, found):
            "tensor '\(tensor)' has shape \(found), expected \(expected)"
        case let .badElementCount(tensor, expected, found):
            "tensor '\(tensor)' has \(found) elements, but the model's sizes imply \(expected)"
        case let .badHeadCounts(block, heads, kvHeads):
            "block \(block) has \(heads) attention heads and \(kvHeads) key/value heads: not a valid grouping"
        case let .tokenOutsideVocabulary(token, vocabulary):
            "token \(token) is outside the embedding's \(vocabulary) rows"
        case let .textTooShort(tokens, needed):
            "the text has \(tokens) tokens, fewer than the \(needed) needed"
        }
    }
}
