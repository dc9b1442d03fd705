import Graph

/// genai_config.json for an exported decoder, as onnxruntime-genai's model builder writes it, with separate
/// past and present buffers (the graph concatenates the cache itself).
enum GenAIConfig {
    static func config(for export: DecoderExport) -> JSONValue {
        let model = export.model, shape = export.shape
        let tokens = HuggingFaceConfig.specialTokenIDs(of: model)
        func token(_ name: String) -> JSONValue? { tokens.first { $0.key == name }?.value }
        var inputs: [(key: String, value: JSONValue)] = [
            ("input_ids", .string("input_ids")), ("attention_mask", .string("attention_mask")),
            ("position_ids", .string("position_ids")),
        ]
        var outputs: [(key: String, value: JSONValue)] = [("logits", .string("logits"))]
        if export.options.keyValueCache {
            inputs += [("past_key_names", .string("past_key_values.%d.key")), ("past_value_names", .string("past_key_values.%d.value"))]
            outputs += [("present_key_names", .string("present.%d.key")), ("present_value_names", .string("present.%d.value"))]
        }
        let decoder: JSONValue = .object([
            ("session_options", .object([("log_id", .string("onnxruntime-genai")), ("provider_options", .array([]))])),
            ("filename", .string(ONNXExport.modelFileName)),
            ("head_size", .integer(shape.headSize)),
            ("hidden_size", .integer(shape.hiddenSize)),
            ("inputs", .object(inputs)),
            ("outputs", .object(outputs)),
            ("num_attention_heads", .integer(shape.layers.first?.heads ?? 0)),
            ("num_hidden_layers", .integer(shape.layers.count)),
            ("num_key_value_heads", .integer(shape.layers.first?.kvHeads ?? 0)),
        ])
        let modelMembers: [(key: String, value: JSONValue)] = [
            ("bos_token_id", token("bos_token_id") ?? .null),
            ("context_length", .integer(shape.maxPositions)),
            ("decoder", decoder),
            ("eos_token_id", token("eos_token_id") ?? .null),
            ("pad_token_id", token("pad_token_id") ?? token("eos_token_id") ?? .integer(0)),
            ("type", .string(modelTypes[model.architecture] ?? model.architecture)),
            ("vocab_size", .integer(shape.vocabularySize)),
        ]
        return .object([("model", .object(modelMembers)), ("search", search(maxLength: shape.maxPositions))])
    }

    /// onnxruntime-genai's name for an architecture where it differs from GGUF's.
    private static let modelTypes = ["gemma3": "gemma3_text"]

    private static func search(maxLength: Int) -> JSONValue {
        .object([
            ("diversity_penalty", .number("0.0")), ("do_sample", .bool(false)), ("early_stopping", .bool(true)),
            ("length_penalty", .number("1.0")), ("max_length", .integer(maxLength)), ("min_length", .integer(0)),
            ("no_repeat_ngram_size", .integer(0)), ("num_beams", .integer(1)), ("num_return_sequences", .integer(1)),
            ("past_present_share_buffer", .bool(false)), ("repetition_penalty", .number("1.0")),
            ("temperature", .number("1.0")), ("top_k", .integer(50)), ("top_p", .number("1.0")),
        ])
    }
}
