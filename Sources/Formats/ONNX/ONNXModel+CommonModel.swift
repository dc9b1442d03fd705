import Foundation
import Graph

extension ONNXModel {
    public static let format = "onnx"

    /// The decoder as the common model: each block's weights under GGUF roles in llama.cpp's shapes (fused
    /// Q/K/V and gate/up split), metadata from the model's configs or its graph (see `ONNXMetadata`), the
    /// tokenizer files beside it when `tokenizer`. Weights stored [in, out] are transposed and block-quantized
    /// ones decoded to F32 into an unlinked scratch file in `scratchFolder` (default: the temporary folder).
    /// Values follow transformers' conventions, except RoPE on adjacent pairs and Gemma's norms (always the
    /// multiplier in ONNX), which are llama.cpp's.
    public func commonModel(tokenizer: Bool = true, scratchFolder: URL? = nil) throws -> Model {
        let sources = try ONNXWeightSources(decoder: decoder)
        let scratch = try ScratchFile(in: scratchFolder ?? FileManager.default.temporaryDirectory, name: "modelsurgery-onnx")
        let maker = ONNXTensorMaker(source: source, graph: decoder.graph, scratch: scratch)
        let facts = ONNXGraphFacts(decoder: decoder, tensorBytes: source.tensorBytes)
        let blockShapes = try sources.blocks.first.map { roles in try roles.mapValues(maker.shape) } ?? [:]
        let embeddingShape = try maker.shape(of: sources.embedding)
        var metadata = try ONNXMetadata(model: self, facts: facts, blockShapes: blockShapes, embeddingShape: embeddingShape).read()
        if tokenizer { try addTokenizer(to: &metadata, embeddingRows: embeddingShape.last) }

        // The head counts that split fused Q/K/V, as the engine will read them.
        let origin = Origin(format: Self.format, version: 0, files: inputs, folder: folder)
        let sizes = Model(metadata: metadata, globalTensors: [], blocks: [], origin: origin).hyperParameters
        let made = try makeTensors(sources, maker: maker, sizes: sizes)
        let computed = try scratch.mapped()
        var globals: [Tensor] = [], blocks = BlockAssembly()
        for (ordinal, entry) in made.enumerated() {
            let data: TensorBytes
            switch entry.made.placement {
            case .source(let bytes): data = bytes
            case .scratch(let offset, let count): data = TensorBytes(file: computed, offset: offset, count: count)
            }
            let tensor = Tensor(name: entry.name, shape: entry.made.shape, type: entry.made.type, data: data, ordinal: ordinal)
            if let block = entry.block { blocks.add(tensor, toBlock: block) } else { globals.append(tensor) }
        }
        Self.tieHead(&globals)
        let architecture = metadata["general.architecture"]?.string ?? ""
        // ONNX norms hold the multiplier itself (Gemma's +1 included), as llama.cpp's do.
        let llamaCpp = WeightLayout.shiftedNorms.contains(architecture) || facts.interleavedRope
        // The origin lists the model's own files (sizes, outputs that must not overwrite them); the scratch file
        // lives as long as the tensors that map it.
        let model = Model(metadata: metadata, globalTensors: globals, blocks: try blocks.blocks(file: path), origin: origin,
                          layout: llamaCpp ? .llamaCpp : .transformers)
        return try model.validated(file: path)
    }

    /// Every tensor, globals first, then block by block with fused roles split; computed bytes go to the scratch file.
    private func makeTensors(_ sources: ONNXWeightSources, maker: ONNXTensorMaker,
                             sizes: HyperParameters) throws -> [(block: Int?, name: String, made: ONNXTensorMaker.Made)] {
        var made: [(block: Int?, name: String, made: ONNXTensorMaker.Made)] = []
        for (name, source) in sources.globals.sorted(by: { $0.key < $1.key }) {
            made.append((nil, name, try maker.make(source)))
        }
        for (block, roles) in sources.blocks.enumerated() {
            for (role, source) in roles.sorted(by: { $0.key < $1.key }) {
                for (name, part) in try split(role, try maker.make(source), sizes: sizes, block: block, maker: maker) {
                    made.append((block, name, part))
                }
            }
        }
        return made
    }

    /// Drops `output.weight` when it holds the embedding table's bytes: exporters may write a tied head apart
    /// (modelsurgery's does), and GGUF and transformers both state tying by leaving it out.
    private static func tieHead(_ globals: inout [Tensor]) {
        guard let head = globals.firstIndex(where: { $0.name == "output.weight" }),
              let embedding = globals.first(where: { $0.name == "token_embd.weight" }),
              globals[head].type == embedding.type, globals[head].shape == embedding.shape, embedding.byteCount > 0,
              memcmp(globals[head].data.buffer.baseAddress!, embedding.data.buffer.baseAddress!, embedding.byteCount) == 0
        else { return }
        globals.remove(at: head)
    }

    /// A fused role cut into its parts (`attn_qkv` into Q, K and V, `ffn_gate_up` into gate and up); others as they are.
    private func split(_ role: String, _ made: ONNXTensorMaker.Made, sizes: HyperParameters, block: Int,
                       maker: ONNXTensorMaker) throws -> [(String, ONNXTensorMaker.Made)] {
        let (base, part) = (role.prefix { $0 != "." }, role.drop { $0 != "." })
        switch base {
        case "attn_qkv":
            let headSize = sizes.headSize ?? 0
            let (query, overflowQ) = (sizes.headCount[block] ?? 0).multipliedReportingOverflow(by: headSize)
            let (key, overflowK) = (sizes.headCountKV[block] ?? 0).multipliedReportingOverflow(by: headSize)
            guard !overflowQ, !overflowK else {
                throw FormatError.onnx(file: path, problem: "block \(block): the head counts and head size \(headSize) overflow")
            }
            let parts = try maker.split(made, into: [query, key, key], role: "block \(block) \(role)")
            return zip(["attn_q", "attn_k", "attn_v"], parts).map { ($0 + part, $1) }
        case "ffn_gate_up":
            let rows = made.shape.last ?? 0
            let parts = try maker.split(made, into: [rows / 2, rows - rows / 2], role: "block \(block) \(role)")
            return zip(["ffn_gate", "ffn_up"], parts).map { ($0 + part, $1) }
        default:
            return [(role, made)]
        }
    }

    /// The tokenizer.* keys from tokenizer.json in the model's folder (or beside its file), when there is one.
    private func addTokenizer(to metadata: inout Metadata, embeddingRows: Int?) throws {
        let folder = self.folder ?? source.file.url.deletingLastPathComponent()
        guard FileManager.default.fileExists(atPath: folder.appendingPathComponent("tokenizer.json").path) else { return }
        let configURL = folder.appendingPathComponent(HuggingFace.configFileName)
        // Without config.json the embedding table's rows are the vocabulary (the tokenizer pads its list to them).
        let config = FileManager.default.fileExists(atPath: configURL.path) ? try HuggingFace.readJSON(configURL)
            : .object(embeddingRows.map { [("vocab_size", .integer($0))] } ?? [])
        for (key, value) in try HuggingFace.tokenizerMetadata(in: folder, config: config, embeddingRows: embeddingRows) {
            metadata[key] = value
        }
    }
}
