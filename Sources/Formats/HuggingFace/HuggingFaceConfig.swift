import Graph

/// config.json and the GGUF keys llama.cpp's converter writes for it, in both directions.
enum HuggingFaceConfig {
    struct Architecture {
        let className: String
        let gguf: String
        let modelType: String
    }

    static let architectures = [
        Architecture(className: "LlamaForCausalLM", gguf: "llama", modelType: "llama"),
        Architecture(className: "MistralForCausalLM", gguf: "llama", modelType: "mistral"),
        Architecture(className: "Qwen2ForCausalLM", gguf: "qwen2", modelType: "qwen2"),
        Architecture(className: "Qwen3ForCausalLM", gguf: "qwen3", modelType: "qwen3"),
        Architecture(className: "Gemma3ForCausalLM", gguf: "gemma3", modelType: "gemma3_text"),
    ]

    /// config.json fields that are one GGUF key each (`{arch}.suffix`), unsigned integers unless `isFloat`.
    private static let scalarFields: [(config: String, gguf: String, isFloat: Bool)] = [
        ("max_position_embeddings", "context_length", false),
        ("hidden_size", "embedding_length", false),
        ("intermediate_size", "feed_forward_length", false),
        ("num_hidden_layers", "block_count", false),
        ("num_attention_heads", "attention.head_count", false),
        ("num_key_value_heads", "attention.head_count_kv", false),
        ("rms_norm_eps", "attention.layer_norm_rms_epsilon", true),
        ("head_dim", "attention.key_length", false),
        ("head_dim", "attention.value_length", false),
        ("sliding_window", "attention.sliding_window", false),
    ]

    static let provenanceKey = "modelsurgery"

    // MARK: config.json → GGUF keys

    /// The model's metadata from its config.json; an architecture we do not know keeps its `model_type`, so
    /// its blocks can still be counted and removed.
    static func metadata(from config: JSONValue, file: String) throws -> Metadata {
        guard config.members != nil else { throw FormatError.huggingFace(file: file, problem: "config.json is not a JSON object") }
        let className = config["architectures"]?.array?.first?.string
        let known = architectures.first { $0.className == className }
        guard let architecture = known?.gguf ?? config["model_type"]?.string else {
            throw FormatError.huggingFace(file: file, problem: "config.json names neither architectures nor model_type")
        }
        guard let blockCount = config["num_hidden_layers"]?.uint32 else {
            throw FormatError.huggingFace(file: file, problem: "config.json has no num_hidden_layers from 0 to \(UInt32.max)")
        }
        var metadata = Metadata()
        metadata["general.architecture"] = .string(MetadataString(architecture))
        if let name = config["_name_or_path"]?.string, !name.isEmpty {
            metadata["general.name"] = .string(MetadataString(name.split(separator: "/").last.map(String.init) ?? name))
        }
        let key = { (suffix: String) in "\(architecture).\(suffix)" }
        for field in scalarFields {
            guard let value = config[field.config], !value.isNull,
                  field.config != "sliding_window" || usesSlidingWindow(config) else { continue }
            if field.isFloat, let number = value.double {
                metadata[key(field.gguf)] = .float32(Float(number))
            } else if let number = value.uint32 {
                metadata[key(field.gguf)] = .uint32(number)
            } else if !field.isFloat, let number = value.double {
                throw FormatError.huggingFace(file: file, problem: "config.json's \(field.config) = \(number) "
                                              + "is not an integer from 0 to \(UInt32.max)")
            }
        }
        metadata[key("block_count")] = .uint32(blockCount)
        if metadata[key("attention.head_count_kv")] == nil, let heads = metadata[key("attention.head_count")] {
            metadata[key("attention.head_count_kv")] = heads
        }
        let rope = RopeSettings(config: config)
        if let base = rope.base { metadata[key("rope.freq_base")] = .float32(Float(base)) }
        if let base = rope.slidingBase { metadata[key("rope.freq_base_swa")] = .float32(Float(base)) }
        if let factor = rope.linearFactor {
            metadata[key("rope.scaling.type")] = .string("linear")
            metadata[key("rope.scaling.factor")] = .float32(Float(factor))
        }
        if architecture == "llama" {
            if let vocabulary = config["vocab_size"]?.uint32 { metadata[key("vocab_size")] = .uint32(vocabulary) }
            if let width = config["hidden_size"]?.uint32, let heads = config["num_attention_heads"]?.uint32, heads > 0 {
                metadata[key("rope.dimension_count")] = .uint32(config["head_dim"]?.uint32 ?? width / heads)
            }
        }
        // One flag per block even when none slides, so that surgery slices layer_types with the blocks.
        if let types = config["layer_types"]?.array?.compactMap(\.string), types.count == blockCount {
            metadata[key(SlidingWindowRule.patternKey)] = .array(.bool, types.map { .bool($0 == "sliding_attention") })
        }
        for (name, value) in config[provenanceKey]?.members ?? [] {
            if let converted = metadataValue(value) { metadata["\(provenanceKey).\(name)"] = converted }
        }
        return metadata
    }

    /// Sliding-window attention is on unless the config turns it off (Qwen2's `use_sliding_window`).
    private static func usesSlidingWindow(_ config: JSONValue) -> Bool {
        config["use_sliding_window"]?.boolValue ?? true
    }

    /// RoPE settings, written as `rope_theta`/`rope_scaling` before transformers 5 and as `rope_parameters`
    /// (one set, or one per attention type) after.
    struct RopeSettings {
        var base: Double?
        var slidingBase: Double?
        var linearFactor: Double?

        init(config: JSONValue) {
            let parameters = config["rope_parameters"]
            let full = parameters?["full_attention"] ?? parameters
            base = full?["rope_theta"]?.double ?? config["rope_theta"]?.double
            slidingBase = parameters?["sliding_attention"]?["rope_theta"]?.double ?? config["rope_local_base_freq"]?.double
            let scaling = config["rope_scaling"].flatMap { $0.isNull ? nil : $0 } ?? full
            let type = scaling?["rope_type"]?.string ?? scaling?["type"]?.string
            if type == "linear", let factor = scaling?["factor"]?.double { linearFactor = factor }
        }
    }

    private static func metadataValue(_ value: JSONValue) -> MetadataValue? {
        switch value {
        case .string(let text): return .string(MetadataString(text))
        case .bool(let flag): return .bool(flag)
        case .number:
            if let number = value.uint32 { return .uint32(number) }
            return value.double.map { .float32(Float($0)) }
        case .array(let items):
            let values = items.compactMap(metadataValue)
            guard values.count == items.count, let first = values.first, values.allSatisfy({ $0.type == first.type }) else { return nil }
            return .array(first.type, values)
        case .null, .object: return nil
        }
    }

    // MARK: GGUF keys → config.json

    /// The source's config.json after surgery: block count, per-layer attention types and provenance.
    static func updated(_ config: JSONValue, for model: Model) -> JSONValue {
        var config = config.setting("num_hidden_layers", .integer(model.blocks.count))
        if let types = layerTypes(of: model) {
            config = config.setting("layer_types", .array(types.map { .string($0) }))
            // Qwen2 derives sliding layers from max_window_layers: those from that index on slide.
            if config["max_window_layers"] != nil {
                let firstSliding = types.firstIndex(of: "sliding_attention") ?? types.count
                config = config.setting("max_window_layers", .integer(firstSliding))
            }
        }
        return config.setting(provenanceKey, provenance(of: model))
    }

    /// A config.json for a model that has none (one read from GGUF).
    static func config(for model: Model, dtype: String) throws -> JSONValue {
        let arch = model.architecture
        guard let architecture = architectures.first(where: { $0.gguf == arch }) else {
            throw FormatError.huggingFace(file: model.origin.files.first?.path ?? "model",
                                          problem: "cannot write a transformers config for architecture '\(arch)' "
                                              + "(supported: \(Set(architectures.map(\.gguf)).sorted().joined(separator: ", ")))")
        }
        let parameters = model.hyperParameters
        var members: [(key: String, value: JSONValue)] = [
            ("architectures", .array([.string(architecture.className)])),
            ("model_type", .string(architecture.modelType)),
            ("dtype", .string(dtype)),
            ("tie_word_embeddings", .bool(!model.globalTensors.contains { $0.name == "output.weight" })),
            ("num_hidden_layers", .integer(model.blocks.count)),
        ]
        func add(_ field: String, _ value: Int?) {
            if let value { members.append((field, .integer(value))) }
        }
        /// transformers' config has one value for all layers.
        func add(_ field: String, _ value: HyperParameters.PerBlock, key suffix: String) throws {
            guard let first = value.values.first else { return }
            guard value.values.allSatisfy({ $0 == first }) else {
                throw FormatError.huggingFace(file: model.origin.files.first?.path ?? "model",
                                              problem: "\(model.key(suffix)) differs between blocks (\(value.values.map(String.init).joined(separator: ","))), "
                                                  + "which \(architecture.className)'s config.json cannot state")
            }
            members.append((field, .integer(first)))
        }
        add("max_position_embeddings", parameters.contextLength)
        add("hidden_size", parameters.hiddenSize)
        try add("intermediate_size", parameters.feedForwardLength, key: "feed_forward_length")
        try add("num_attention_heads", parameters.headCount, key: "attention.head_count")
        try add("num_key_value_heads", parameters.headCountKV, key: "attention.head_count_kv")
        if let epsilon = parameters.rmsEpsilon { members.append(("rms_norm_eps", .float(Float(epsilon)))) }
        add("head_dim", parameters.headSize)
        add("sliding_window", parameters.slidingWindow)
        members.append(("rope_theta", .float(Float(parameters.rope.base ?? 10000))))
        if let factor = parameters.rope.linearFactor {
            members.append(("rope_scaling", .object([("factor", .float(Float(factor))), ("rope_type", .string("linear"))])))
        } else {
            members.append(("rope_scaling", .null))
        }
        members.append(("vocab_size", .integer(parameters.vocabularySize ?? 0)))
        members += specialTokenIDs(of: model)
        if let name = model.metadata["general.name"]?.string { members.append(("_name_or_path", .string(name))) }
        let hasQueryBias = model.blocks.first?.tensor("attn_q.bias") != nil
        switch arch {
        case "gemma3":
            members += [
                ("hidden_activation", .string("gelu_pytorch_tanh")),
                ("query_pre_attn_scalar", .integer(parameters.headSize ?? 0)),
                ("rope_local_base_freq", .float(Float(parameters.rope.slidingBase ?? 10000))),
                ("final_logit_softcapping", .null),
                ("attn_logit_softcapping", .null),
            ]
            if let types = layerTypes(of: model) { members.append(("layer_types", .array(types.map { .string($0) }))) }
        case "qwen2":
            members += [("hidden_act", .string("silu")), ("use_sliding_window", .bool(false)),
                        ("max_window_layers", .integer(model.blocks.count))]
        default:
            members += [("hidden_act", .string("silu")), ("attention_bias", .bool(hasQueryBias)), ("mlp_bias", .bool(false))]
        }
        let config = JSONValue.object(members.sorted { $0.key < $1.key })
        return config.setting(provenanceKey, provenance(of: model))
    }

    /// `bos_token_id`, `eos_token_id` and `pad_token_id` from the GGUF tokenizer keys, where present.
    static func specialTokenIDs(of model: Model) -> [(key: String, value: JSONValue)] {
        [("bos_token_id", "bos_token_id"), ("eos_token_id", "eos_token_id"), ("pad_token_id", "padding_token_id")]
            .compactMap { name, suffix in model.metadata["tokenizer.ggml.\(suffix)"]?.int.map { (name, .integer($0)) } }
    }

    /// `sliding_attention`/`full_attention` per block, for models whose blocks differ.
    private static func layerTypes(of model: Model) -> [String]? {
        guard let flags = model.metadata[model.key(SlidingWindowRule.patternKey)]?.array, flags.count == model.blocks.count else {
            return nil
        }
        return flags.map { $0.bool == true ? "sliding_attention" : "full_attention" }
    }

    /// The `modelsurgery.*` keys as one object, or nil when there are none.
    private static func provenance(of model: Model) -> JSONValue? {
        let prefix = provenanceKey + "."
        let members = model.metadata.entries.compactMap { key, value -> (key: String, value: JSONValue)? in
            guard key.hasPrefix(prefix), let json = jsonValue(value) else { return nil }
            return (String(key.dropFirst(prefix.count)), json)
        }
        return members.isEmpty ? nil : .object(members)
    }

    private static func jsonValue(_ value: MetadataValue) -> JSONValue? {
        switch value {
        case .bool(let flag): return .bool(flag)
        case .string(let text): return .string(text.description)
        case .float32(let number): return .float(number)
        case .float64(let number): return .number("\(number)")
        case .array, .encodedArray: return value.array.map { .array($0.compactMap(jsonValue)) }
        default: return value.int.map { .integer($0) }
        }
    }
}
