public enum SurgeryError: Error, CustomStringConvertible, Equatable {
    case badLayerList(text: String, part: String)
    case blockOutOfRange(index: Int, blockCount: Int)
    case removesEveryBlock(blockCount: Int)
    case cannotConvert(tensor: String, type: String)
    case missingHeadCount(tensor: String)
    case removesEveryAttention(blockCount: Int)
    case badDropList(text: String, part: String)
    case subLayersUnsupported(architecture: String)
    case missingTensor(String)

    public var description: String {
        switch self {
        case let .badLayerList(text, part):
            "invalid layer list '\(text)': '\(part)' is not an index or a range like 20-23"
        case let .blockOutOfRange(index, blockCount):
            blockCount == 0 ? "block \(index) does not exist: the model has no blocks"
                : "block \(index) does not exist: the model has blocks 0-\(blockCount - 1)"
        case let .removesEveryBlock(blockCount):
            "that would remove all \(blockCount) blocks; at least one must remain"
        case let .cannotConvert(tensor, type):
            "tensor '\(tensor)' is \(type), which cannot be decoded for conversion"
        case let .removesEveryAttention(blockCount):
            "that would remove the attention of all \(blockCount) blocks; at least one must remain"
        case let .badDropList(text, part):
            "invalid --drop '\(text)': '\(part)' is not like attn:3,7 or ffn:12 or block:20-21"
        case let .subLayersUnsupported(architecture):
            "sub-layer removal and recovery are written as llama.cpp's deci architecture, which covers llama and deci models, not \(architecture)"
        case let .missingTensor(name):
            "tensor '\(name)' is missing"
        case let .missingHeadCount(tensor):
            "tensor '\(tensor)' needs the attention head count to change layout, and the metadata has none"
        }
    }
}
