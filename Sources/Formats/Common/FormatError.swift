/// What can be wrong with a model file. Every description is one line that starts with the file.
public enum FormatError: Error, CustomStringConvertible, Equatable {
    case notGGUF(file: String, magic: String)
    case unsupportedVersion(file: String, version: UInt32)
    case bigEndian(file: String)
    case truncated(file: String, offset: Int, reading: String)
    case implausibleCount(file: String, what: String, count: UInt64, room: Int)
    case unknownValueType(file: String, key: String, id: UInt32)
    case duplicateKey(file: String, key: String)
    case badAlignment(file: String, value: String)
    case tooManyDimensions(file: String, tensor: String, count: UInt32)
    case badDimension(file: String, tensor: String, shape: [Int64])
    case unknownTensorType(file: String, tensor: String, id: UInt32)
    case partialBlock(file: String, tensor: String, rowLength: Int, type: String, blockSize: Int)
    case duplicateTensor(file: String, tensor: String)
    case misalignedTensor(file: String, tensor: String, offset: UInt64, alignment: Int)
    case tensorOutsideFile(file: String, tensor: String, start: UInt64, byteCount: Int, fileSize: Int)
    case blockOutOfRange(file: String, tensor: String, blockCount: Int)
    case split(file: String, problem: String)
    /// Well-formed bytes whose hyper-parameters, counts or shapes are out of range or contradict each other.
    case malformedModel(file: String, problem: String)
    case headerTooLarge(file: String, length: UInt64, limit: Int)
    case malformedHeader(file: String, problem: String)
    case unknownDtype(file: String, tensor: String, dtype: String)
    case partialBytes(file: String, tensor: String, elements: Int, type: String)
    case sizeMismatch(file: String, tensor: String, type: String, shape: [Int], byteCount: Int, span: UInt64)
    case badOffsets(file: String, tensor: String, start: UInt64, end: UInt64, expectedStart: Int)
    case uncoveredData(file: String, tensorsEnd: Int, dataBytes: Int)
    case malformedIndex(file: String, problem: String)
    case missingShard(index: String, shard: String)
    case tensorNotInShard(index: String, tensor: String, shard: String)
    case unlistedTensor(index: String, tensor: String, shard: String)
    case tensorInTwoShards(index: String, tensor: String, shards: [String])
    case noSafetensors(folder: String)
    case output(file: String, problem: String)
    /// A Hugging Face folder whose config or layout we cannot read.
    case huggingFace(file: String, problem: String)
    case tokenizer(file: String, problem: String)
    /// An ONNX model we cannot read, recognize or rewrite.
    case onnx(file: String, problem: String)
    /// A multiple-choice task file we cannot read; `line` is 1-based.
    case tasks(file: String, line: Int?, problem: String)

    public var description: String {
        switch self {
        case let .notGGUF(file, magic):
            "\(file): not a GGUF file (magic \(magic), expected \"GGUF\")"
        case let .unsupportedVersion(file, version):
            "\(file): unsupported GGUF version \(version) (supported: 2, 3)"
        case let .bigEndian(file):
            "\(file): big-endian GGUF is not supported"
        case let .truncated(file, offset, reading):
            "\(file): truncated: file ends at byte \(offset) while reading \(reading)"
        case let .implausibleCount(file, what, count, room):
            "\(file): \(what) \(count) cannot fit in the \(room) bytes that remain (truncated or corrupt file)"
        case let .unknownValueType(file, key, id):
            "\(file): metadata key '\(key)' has unknown value type \(id)"
        case let .duplicateKey(file, key):
            "\(file): duplicate metadata key '\(key)'"
        case let .badAlignment(file, value):
            "\(file): general.alignment must be a UINT32 power of two, found \(value)"
        case let .tooManyDimensions(file, tensor, count):
            "\(file): tensor '\(tensor)' has \(count) dimensions (at most 4)"
        case let .badDimension(file, tensor, shape):
            "\(file): tensor '\(tensor)' has an invalid or overflowing shape \(shape)"
        case let .unknownTensorType(file, tensor, id):
            "\(file): tensor '\(tensor)' has unknown ggml type id \(id)"
        case let .partialBlock(file, tensor, rowLength, type, blockSize):
            "\(file): tensor '\(tensor)' row length \(rowLength) is not a multiple of the \(type) block size \(blockSize)"
        case let .duplicateTensor(file, tensor):
            "\(file): duplicate tensor name '\(tensor)'"
        case let .misalignedTensor(file, tensor, offset, alignment):
            "\(file): tensor '\(tensor)' data offset \(offset) is not a multiple of the alignment \(alignment)"
        case let .tensorOutsideFile(file, tensor, start, byteCount, fileSize):
            "\(file): tensor '\(tensor)' data (\(byteCount) bytes at \(start)) extends past the end of the file (\(fileSize) bytes)"
        case let .blockOutOfRange(file, tensor, blockCount):
            "\(file): tensor '\(tensor)' names a block beyond the block count \(blockCount)"
        case let .malformedModel(file, problem):
            "\(file): \(problem)"
        case let .split(file, problem):
            "\(file): \(problem)"
        case let .headerTooLarge(file, length, limit):
            "\(file): safetensors header length \(length) exceeds the limit of \(limit) bytes (corrupt or not a safetensors file)"
        case let .malformedHeader(file, problem):
            "\(file): invalid safetensors header: \(problem)"
        case let .unknownDtype(file, tensor, dtype):
            "\(file): tensor '\(tensor)' has unknown dtype \"\(dtype)\""
        case let .partialBytes(file, tensor, elements, type):
            "\(file): tensor '\(tensor)' has \(elements) \(type) elements, which do not fill whole bytes"
        case let .sizeMismatch(file, tensor, type, shape, byteCount, span):
            "\(file): tensor '\(tensor)' is \(type) \(shape) (\(byteCount) bytes) but its data_offsets span \(span) bytes"
        case let .badOffsets(file, tensor, start, end, expectedStart):
            if end < start {
                "\(file): tensor '\(tensor)' data_offsets [\(start), \(end)] end before they start"
            } else if start > UInt64(expectedStart) {
                "\(file): tensor '\(tensor)' data_offsets [\(start), \(end)] leave a hole: the previous tensor ends at \(expectedStart)"
            } else {
                "\(file): tensor '\(tensor)' data_offsets [\(start), \(end)] overlap the previous tensor, which ends at \(expectedStart)"
            }
        case let .uncoveredData(file, tensorsEnd, dataBytes):
            "\(file): the tensors end at byte \(tensorsEnd) of the \(dataBytes)-byte data section: \(dataBytes - tensorsEnd) bytes belong to no tensor"
        case let .malformedIndex(file, problem):
            "\(file): invalid safetensors index: \(problem)"
        case let .missingShard(index, shard):
            "\(index): shard '\(shard)' does not exist"
        case let .tensorNotInShard(index, tensor, shard):
            "\(index): weight_map puts '\(tensor)' in \(shard), which has no such tensor"
        case let .unlistedTensor(index, tensor, shard):
            "\(index): tensor '\(tensor)' of \(shard) is missing from weight_map"
        case let .tensorInTwoShards(index, tensor, shards):
            "\(index): tensor '\(tensor)' is in more than one shard (\(shards.joined(separator: ", ")))"
        case let .noSafetensors(folder):
            "\(folder): no model.safetensors or model.safetensors.index.json"
        case let .output(file, problem), let .huggingFace(file, problem), let .onnx(file, problem):
            "\(file): \(problem)"
        case let .tokenizer(file, problem):
            "\(file): \(problem)"
        case let .tasks(file, line, problem):
            "\(file)\(line.map { ":\($0)" } ?? ""): \(problem)"
        }
    }
}
