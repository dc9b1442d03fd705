import ArgumentParser
import Formats
import Foundation
import Graph
import Surgery

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rewrite a model in another format, element type or sharding: GGUF ↔ Hugging Face safetensors folder, or → ONNX.",
        discussion: """
        GGUF → folder dequantizes to --dtype (default: float tensors keep their type, quantized ones become f32), \
        undoes llama.cpp's Q/K row permutation (llama) and the +1 on Gemma norms, and rebuilds config.json and the \
        tokenizer files. Folder → GGUF does the reverse, with metadata and tokenizer keys as llama.cpp's converter \
        writes them; vectors are F32 there, and --dtype q8_0 quantizes matrices as the gguf package does.

        GGUF or folder → ONNX (llama, mistral, qwen2, qwen3, gemma3): `out.onnx` (+ out.onnx.data) is one opset-23 \
        decoder graph with a KV cache (--no-kv-cache leaves it out); any other name with --to onnx is a folder \
        onnxruntime-genai generates from (model.onnx, genai_config.json, tokenizer files). --dtype f32 (default), \
        f16, or int4 (MatMulNBits, block 32: Q4_0 blocks repacked as they are, other weights quantized as \
        onnxruntime's quantizer does); embeddings and norms stay f32.
        """)

    @Argument(help: "The model to read: a GGUF file (for a split one, its first shard), a Hugging Face folder or an ONNX model.")
    var input: String

    @Argument(help: "Where to write: a GGUF file, a folder for safetensors, an .onnx file, or a folder for onnxruntime-genai (--to onnx).")
    var output: String

    @Option(help: "Output format: gguf, safetensors or onnx (default: by the output's extension, else safetensors).")
    var to: OutputFormat?

    @Option(help: "Element type of the converted weights: f32, f16, bf16 or q8_0 (GGUF only); for ONNX f32, f16 or int4.")
    var dtype: String?

    @Option(name: [.customLong("split-max-size"), .customLong("max-shard-size")],
            help: "Split the output into shards of at most this much tensor data (e.g. 500M, 4G).")
    var splitMaxSize: String?

    @Flag(name: .customLong("no-kv-cache"), help: "ONNX: no past_key_values inputs and present outputs.")
    var noKeyValueCache = false

    @Flag(help: "Replace an existing output folder (the old one goes only once the new one is complete).")
    var force = false

    private var format: OutputFormat {
        to ?? (output.lowercased().hasSuffix(".gguf") ? .gguf : output.lowercased().hasSuffix(".onnx") ? .onnx : .safetensors)
    }

    private var elementType: ElementType? { dtype.flatMap { ElementType(name: $0) } }

    @OptionGroup var progressOptions: ProgressOptions

    func validate() throws {
        if format == .onnx { return try validateONNX() }
        if noKeyValueCache { throw ValidationError("--no-kv-cache applies to ONNX outputs only") }
        try OutputName.check(output, writing: format.fileExtension, command: "convert")
        if let splitMaxSize, Format.parseSize(splitMaxSize) == nil {
            throw ValidationError("--split-max-size '\(splitMaxSize)' is not a size like 500M or 4G")
        }
        if let dtype {
            guard let type = elementType, TensorConversion.supportedTypes.contains(type) else {
                throw ValidationError("--dtype \(dtype): choose f32, f16, bf16 or q8_0")
            }
            if type == .q8_0 && format == .safetensors { throw ValidationError("--dtype q8_0 needs --to gguf") }
        }
    }

    private func validateONNX() throws {
        let isFile = output.lowercased().hasSuffix(".onnx")
        try OutputName.check(output, writing: isFile ? "onnx" : nil, command: "convert --to onnx",
                             folder: "an onnxruntime-genai folder")
        // Usage errors, not ValidationErrors: one line, without the usage text.
        if let splitMaxSize {
            throw UsageError(file: "--split-max-size \(splitMaxSize)", problem: "an ONNX output keeps its weights in one .data file")
        }
        if let dtype, ONNXExport.Precision(rawValue: dtype.lowercased()) == nil {
            throw UsageError(file: "--dtype \(dtype)", problem: "an ONNX output takes f32, f16 or int4")
        }
    }

    private var onnxOptions: ONNXExport.Options {
        ONNXExport.Options(precision: dtype.flatMap { ONNXExport.Precision(rawValue: $0.lowercased()) } ?? .f32,
                           keyValueCache: !noKeyValueCache)
    }

    func run() throws {
        progressOptions.apply()
        let model = try ModelFiles.read(input, output: output)
        if format == .onnx {
            let written = try ModelFiles.naming(input) {
                try ModelFiles.write(model, to: output, as: .onnx, maxShardBytes: nil, onnx: onnxOptions, replacing: force)
            }
            return print("wrote \(written.map(\.path).joined(separator: ", "))")
        }
        let target: WeightLayout = format == .gguf ? .llamaCpp : .transformers
        var converted = model
        // transformers states each layer's attention type; llama.cpp may derive it from a period.
        if format == .safetensors { LayerRoles.makeSlidingWindowExplicit(in: &converted) } else { LayerRoles.removeSlidingWindowIfDefault(in: &converted) }
        var conversion: TensorConversion?
        if model.layout != target || elementType != nil || (format == .safetensors && OutputFormat(of: model) == .gguf) {
            conversion = TensorConversion(model: model, to: target, matrixType: elementType, vectorsInF32: format == .gguf)
            converted.layout = target
            if format == .gguf, let conversion { converted.metadata.recordFileType(of: conversion, model: model) }
        }
        let written = try ModelFiles.naming(input) {
            try ModelFiles.write(converted, to: output, as: format, maxShardBytes: splitMaxSize.flatMap(Format.parseSize),
                                 conversion: conversion, replacing: force)
        }
        print("wrote \(written.map(\.path).joined(separator: ", "))")
    }
}

extension Metadata {
    /// `general.file_type` (llama.cpp's LLAMA_FTYPE of the dominant type) and the quantization version,
    /// as llama.cpp's converter writes them.
    mutating func recordFileType(of conversion: TensorConversion, model: Model) {
        let fileTypes: [ElementType: UInt32] = [.f32: 0, .f16: 1, .q8_0: 7, .bf16: 32]
        let matrix = model.allTensors.first { $0.shape.count >= 2 }.map(conversion.outputType) ?? .f32
        if let fileType = fileTypes[matrix] { self["general.file_type"] = .uint32(fileType) }
        self["general.quantization_version"] = .uint32(2)
    }
}
