import Foundation
import Graph
import SwiftProtobuf
import Tensors

/// Writes an ONNX model with its weights as external data: tensors of `externalThreshold` bytes or more go to
/// `NAME.data` beside the model at 4096-aligned offsets (the ONNX spec's SHOULD), copied from their sources
/// inside the kernel where it can; smaller ones stay inline, as `onnx.save` keeps them. The protobuf then
/// holds only the graph, far from its 2 GiB limit. Both files are written beside their targets and renamed
/// into place at the end. Payloads may be computed while writing (an export's transposed or packed weights).
struct ONNXWriter {
    static let externalThreshold = 1024
    static let alignment = 4096
    private static let copyBufferSize = 4 << 20

    let model: Onnx_ModelProto
    /// Initializer name → its bytes; initializers stored in typed fields are written as they are.
    let payloads: [String: TensorPayload]
    let inputs: [MappedFile]

    init(model: Onnx_ModelProto, payloads: [String: TensorPayload], inputs: [MappedFile]) {
        self.model = model
        self.payloads = payloads
        self.inputs = inputs
    }

    init(model: Onnx_ModelProto, tensorBytes: [String: TensorBytes], inputs: [MappedFile]) {
        self.init(model: model, payloads: tensorBytes.mapValues { .bytes($0) }, inputs: inputs)
    }

    /// Writes `url` and, when any tensor is large enough, `url.data`; returns the files written.
    func write(to url: URL, progress: ((Int, Int) -> Void)? = nil) throws -> [URL] {
        let dataURL = url.deletingLastPathComponent().appendingPathComponent(url.lastPathComponent + ".data")
        try checkNotOverwriting(inputs, with: [url, dataURL])
        var model = model
        let external = try writeExternalData(of: &model, to: dataURL, progress: progress)
        let bytes: [UInt8]
        do {
            bytes = try model.serializedBytes()
        } catch {
            throw FormatError.output(file: url.path, problem: "the graph does not fit in a protobuf (2 GiB at most): \(error)")
        }
        let output = try OutputFile(target: url)
        try output.write(bytes)
        try external?.commit()
        try output.commit()
        return [url] + (external == nil ? [] : [dataURL])
    }

    /// Points every large initializer of `model` at its place in the data file, inlines the small ones, and
    /// writes the data file; nil when no tensor goes external.
    private func writeExternalData(of model: inout Onnx_ModelProto, to dataURL: URL,
                                   progress: ((Int, Int) -> Void)?) throws -> OutputFile? {
        let total = model.graph.initializer.reduce(0) { $0 + (payloads[$1.name]?.byteCount ?? 0) }
        guard model.graph.initializer.contains(where: { (payloads[$0.name]?.byteCount ?? 0) >= Self.externalThreshold }) else {
            for index in model.graph.initializer.indices { try inline(&model.graph.initializer[index]) }
            return nil
        }
        let output = try OutputFile(target: dataURL)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.copyBufferSize, alignment: 4096)
        defer { buffer.deallocate() }
        var done = 0
        for index in model.graph.initializer.indices {
            let name = model.graph.initializer[index].name
            guard let payload = payloads[name] else { continue }
            guard payload.byteCount >= Self.externalThreshold else {
                try inline(&model.graph.initializer[index])
                continue
            }
            try output.writeZeros((Self.alignment - output.bytesWritten % Self.alignment) % Self.alignment)
            let offset = output.bytesWritten
            try output.write(payload, of: name, through: buffer)
            var tensor = model.graph.initializer[index]
            tensor.clearRawData()
            tensor.dataLocation = .external
            tensor.externalData = [("location", dataURL.lastPathComponent), ("offset", String(offset)),
                                   ("length", String(payload.byteCount))].map { key, value in
                var entry = Onnx_StringStringEntryProto()
                entry.key = key
                entry.value = value
                return entry
            }
            model.graph.initializer[index] = tensor
            done += payload.byteCount
            progress?(done, total)
        }
        return output
    }

    /// The tensor with its bytes inline as `raw_data`.
    private func inline(_ tensor: inout Onnx_TensorProto) throws {
        guard let payload = payloads[tensor.name] else { return }
        switch payload {
        case .bytes(let bytes):
            tensor.rawData = Data(bytes.buffer)
        case .produced(_, let produce):
            var data = Data()
            try produce { data.append(contentsOf: $0) }
            tensor.rawData = data
        }
        tensor.clearDataLocation()
        tensor.externalData = []
    }
}
