/// What kind of token an id is, as llama.cpp's llama_token_attr: set from `tokenizer.ggml.token_type`
/// (0 undefined, 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte) and then adjusted by
/// llama.cpp's rules for control-looking tokens.
struct TokenAttributes: OptionSet, Sendable, Hashable {
    let rawValue: UInt16

    static let unknown = TokenAttributes(rawValue: 1 << 0)
    static let unused = TokenAttributes(rawValue: 1 << 1)
    static let normal = TokenAttributes(rawValue: 1 << 2)
    static let control = TokenAttributes(rawValue: 1 << 3)
    static let userDefined = TokenAttributes(rawValue: 1 << 4)
    static let byte = TokenAttributes(rawValue: 1 << 5)

    /// The attributes of a GGUF token type; unknown numbers read as undefined (no attribute), as in llama.cpp.
    init(ggufTokenType type: Int) {
        switch type {
        case 1: self = .normal
        case 2: self = .unknown
        case 3: self = .control
        case 4: self = .userDefined
        case 5: self = .unused
        case 6: self = .byte
        default: self = []
        }
    }

    init(rawValue: UInt16) { self.rawValue = rawValue }
}
