import ArgumentParser
import Formats
import Foundation
import Graph

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a model's block structure, hyper-parameters, tensor types and sizes.")

    @Argument(help: "A GGUF file (for a split model, its first shard), a Hugging Face folder, or an ONNX model (a .onnx file or a folder with one).")
    var model: String

    @Flag(help: "List every tensor.")
    var tensors = false

    @Flag(help: "Print JSON for machines.")
    var json = false

    func run() throws {
        if ONNXModel.isONNX(model) {
            let summary = try ONNXModel(path: model).summary
            print(json ? try Format.json(summary) : Format.terminalSafe(summary.text(listTensors: tensors)))
            return
        }
        let report = InspectReport(model: try ModelFiles.read(model, needsTokenizer: false), file: model, listTensors: tensors)
        print(json ? try Format.json(report) : Format.terminalSafe(report.text))
    }
}

struct InspectReport: Encodable {
    struct Part: Encodable {
        let parameters: Int
        let bytes: Int
        let tensorTypes: [String: Int]
    }

    struct BlockReport: Encodable {
        let index: Int
        let parameters: Int
        let bytes: Int
        let tensorTypes: [String: Int]
        let attributes: [String: String]
    }

    struct TensorReport: Encodable {
        let name: String
        let type: String
        let shape: [Int]
        let bytes: Int
    }

    let file: String
    let format: String
    let version: Int
    let architecture: String
    let name: String?
    let blockCount: Int
    let hiddenSize: Int?
    let headCount: [Int]
    let headCountKV: [Int]
    let feedForwardLength: [Int]
    let vocabularySize: Int?
    let contextLength: Int?
    let parameters: Int
    let bytes: Int
    let tensorTypes: [String: Int]
    let globals: Part
    let blocks: [BlockReport]
    let tensors: [TensorReport]?
    /// What modelsurgery recorded when it made this model (`modelsurgery.*` keys without the prefix).
    let provenance: [String: String]

    init(model: Model, file: String, listTensors: Bool) {
        let hyper = model.hyperParameters
        self.file = file
        format = model.origin.format
        version = model.origin.version
        architecture = model.architecture
        name = model.metadata["general.name"]?.string
        blockCount = hyper.blockCount
        hiddenSize = hyper.hiddenSize
        headCount = hyper.headCount.values
        headCountKV = hyper.headCountKV.values
        feedForwardLength = hyper.feedForwardLength.values
        vocabularySize = hyper.vocabularySize
        contextLength = hyper.contextLength
        parameters = model.parameterCount
        bytes = model.byteCount
        tensorTypes = Self.histogram(model.allTensors)
        globals = Part(parameters: model.globalTensors.reduce(0) { $0 + $1.elementCount },
                       bytes: model.globalTensors.reduce(0) { $0 + $1.byteCount },
                       tensorTypes: Self.histogram(model.globalTensors))
        blocks = model.blocks.enumerated().map { index, block in
            BlockReport(index: index, parameters: block.parameterCount, bytes: block.byteCount,
                        tensorTypes: Self.histogram(block.tensors),
                        attributes: Dictionary(uniqueKeysWithValues: model.attributes(ofBlock: index).map {
                            (String($0.key.dropFirst(model.architecture.count + 1)), $0.value.description)
                        }))
        }
        let prefix = "modelsurgery."
        provenance = Dictionary(model.metadata.entries.filter { $0.key.hasPrefix(prefix) }.map { key, value in
            (String(key.dropFirst(prefix.count)), value.arrayCount == nil ? value.description : Self.list(value))
        }, uniquingKeysWith: { first, _ in first })
        tensors = listTensors
            ? GGUF.namedTensors(of: model).map { name, tensor, _ in
                TensorReport(name: name, type: tensor.type.name, shape: tensor.shape, bytes: tensor.byteCount)
            }
            : nil
    }

    /// An array's values in full (removed block lists are short), comma-separated.
    private static func list(_ value: MetadataValue) -> String {
        (value.array ?? []).map(\.description).joined(separator: ",")
    }

    private static func histogram(_ tensors: [Tensor]) -> [String: Int] {
        tensors.reduce(into: [:]) { $0[$1.type.name, default: 0] += 1 }
    }

    var text: String {
        func sizes(_ values: [Int]) -> String {
            guard let low = values.min(), let high = values.max() else { return "-" }
            return low == high ? "\(low)" : "\(low)-\(high) (per block)"
        }
        func types(_ histogram: [String: Int]) -> String {
            histogram.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
                .map { "\($0.key)×\($0.value)" }.joined(separator: " ")
        }
        let container = format == "gguf" ? "GGUF v\(version)" : "Hugging Face folder (\(format))"
        var lines = ["\(file): \(container), \(architecture), \(blockCount) blocks"]
        let rows: [(String, String)] = [
            ("name", name ?? "-"),
            ("hidden size", hiddenSize.map(String.init) ?? "-"),
            ("heads / KV heads", "\(sizes(headCount)) / \(sizes(headCountKV))"),
            ("FFN size", sizes(feedForwardLength)),
            ("vocabulary", vocabularySize.map(String.init) ?? "-"),
            ("context", contextLength.map(String.init) ?? "-"),
            ("parameters", "\(Format.count(parameters)) (global \(Format.count(globals.parameters)), "
                + "blocks \(Format.count(parameters - globals.parameters)))"),
            ("size", "\(Format.bytes(bytes)) of tensor data"),
            ("tensor types", types(tensorTypes)),
        ]
        lines += rows.map { "  " + $0.0.padding(toLength: 18, withPad: " ", startingAt: 0) + $0.1 }
        if !provenance.isEmpty {
            lines.append("")
            lines.append("  made by modelsurgery:")
            lines += provenance.sorted { $0.key < $1.key }.map { "    " + $0.key.padding(toLength: 22, withPad: " ", startingAt: 0) + $0.value }
        }
        lines.append("")
        lines.append("  block  parameters   bytes       types")
        for block in blocks {
            var line = "  " + String(block.index).padding(toLength: 7, withPad: " ", startingAt: 0)
                + Format.count(block.parameters).padding(toLength: 13, withPad: " ", startingAt: 0)
                + Format.bytes(block.bytes).padding(toLength: 12, withPad: " ", startingAt: 0)
                + types(block.tensorTypes)
            if !block.attributes.isEmpty {
                line += "  " + block.attributes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            }
            lines.append(line)
        }
        if let tensors {
            lines.append("")
            lines.append("  tensor                                    type     shape              bytes")
            for tensor in tensors {
                lines.append("  " + tensor.name.padding(toLength: 42, withPad: " ", startingAt: 0)
                    + tensor.type.padding(toLength: 9, withPad: " ", startingAt: 0)
                    + tensor.shape.map(String.init).joined(separator: "×").padding(toLength: 19, withPad: " ", startingAt: 0)
                    + String(tensor.bytes))
            }
        }
        return lines.joined(separator: "\n")
    }
}

extension ONNXSummary {
    func text(listTensors: Bool) -> String {
        func values(_ list: [Value]) -> String {
            list.map { "\($0.name) \($0.type)[\($0.shape.joined(separator: ", "))]" }.joined(separator: ", ")
        }
        let cacheInputs = blocks.flatMap(\.cacheInputs), cacheOutputs = blocks.flatMap(\.cacheOutputs)
        let cacheShape = inputs.first { $0.name == cacheInputs.first }.map { "\($0.type)[\($0.shape.joined(separator: ", "))]" }
        let opsets = self.opsets.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        var lines = ["\(file): ONNX (ir \(irVersion), \(producer.isEmpty ? "unknown producer" : producer); opsets \(opsets)), "
            + "\(blockCount) blocks, residual: \(residual == "fusedNorms" ? "fused skip norms" : "add chain")"]
        let rows: [(String, String)] = [
            ("inputs", values(inputs.filter { !cacheInputs.contains($0.name) })),
            ("outputs", values(outputs.filter { !cacheOutputs.contains($0.name) })),
            ("KV cache", cacheInputs.isEmpty ? "none"
                : "\(cacheInputs.count) inputs past_key_values.N.key|value \(cacheShape ?? ""), \(cacheOutputs.count) outputs present.N.key|value"),
            ("parameters", "\(Format.count(parameters)) (global \(Format.count(globals.parameters)), shared "
                + "\(Format.count(shared.parameters)), blocks \(Format.count(parameters - globals.parameters - shared.parameters)))"),
            ("size", "\(Format.bytes(bytes)) of initializers"),
            ("external data", externalData.isEmpty ? "none"
                : externalData.sorted { $0.key < $1.key }.map { "\($0.key) (\(Format.bytes($0.value)))" }.joined(separator: ", ")),
        ] + (removedBlocks.map { [("pruned", "blocks \($0.map(String.init).joined(separator: ",")) of \(originalBlockCount ?? 0) removed")] } ?? [])
        lines += rows.map { "  " + $0.0.padding(toLength: 18, withPad: " ", startingAt: 0) + $0.1 }
        lines.append("")
        lines.append("  block  nodes  parameters   bytes       roles")
        for block in blocks {
            lines.append("  " + String(block.index).padding(toLength: 7, withPad: " ", startingAt: 0)
                + String(block.nodes).padding(toLength: 7, withPad: " ", startingAt: 0)
                + Format.count(block.parameters).padding(toLength: 13, withPad: " ", startingAt: 0)
                + Format.bytes(block.bytes).padding(toLength: 12, withPad: " ", startingAt: 0)
                + block.tensors.map(\.role).joined(separator: " "))
        }
        if listTensors {
            lines.append("")
            lines.append("  block  role               type      shape              bytes      initializer")
            for block in blocks {
                for tensor in block.tensors {
                    lines.append("  " + String(block.index).padding(toLength: 7, withPad: " ", startingAt: 0)
                        + tensor.role.padding(toLength: 19, withPad: " ", startingAt: 0)
                        + tensor.type.padding(toLength: 10, withPad: " ", startingAt: 0)
                        + tensor.shape.map(String.init).joined(separator: "×").padding(toLength: 19, withPad: " ", startingAt: 0)
                        + Format.bytes(tensor.bytes).padding(toLength: 11, withPad: " ", startingAt: 0) + tensor.name)
                }
            }
        }
        return lines.joined(separator: "\n")
    }
}
