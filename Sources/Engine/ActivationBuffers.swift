/// The activations of one block's run, reused from block to block: fresh buffers for every block cost a page
/// fault per 4 KiB, which took longer than the arithmetic on them. Every use overwrites them entirely.
struct ActivationBuffers {
    var normed: [Float] = []
    var query: [Float] = []
    var key: [Float] = []
    var value: [Float] = []
    /// Attention's output per head, before the output projection.
    var attention: [Float] = []
    /// A projection's output when a post-norm must apply before the residual add.
    var projected: [Float] = []
    var gate: [Float] = []
    var up: [Float] = []

    /// Gives every buffer the size `pass` needs in `layer`, keeping those that already have it.
    mutating func prepare(for pass: BlockPass, layer: EngineConfig.Layer, config: EngineConfig, feedForwardSize: Int) {
        func size(_ buffer: inout [Float], _ width: Int) {
            if buffer.count != pass.rows * width { buffer = [Float](repeating: 0, count: pass.rows * width) }
        }
        size(&normed, config.hiddenSize)
        size(&query, layer.headCount * config.headSize)
        size(&key, layer.kvHeadCount * config.headSize)
        size(&value, layer.kvHeadCount * config.valueHeadSize)
        size(&attention, layer.headCount * config.valueHeadSize)
        size(&projected, config.hiddenSize)
        size(&gate, feedForwardSize)
        size(&up, feedForwardSize)
    }
}
