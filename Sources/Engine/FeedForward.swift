extension Engine {
    /// x += down(act(gate(norm(x))) · up(norm(x))) (with biases where the model has them): the gated MLP (SiLU, or GELU for Gemma), post-normed
    /// where the model has it, added to the residual stream.
    func feedForward(_ x: UnsafeMutablePointer<Float>, _ pass: BlockPass, weights: BlockWeights,
                     buffers: inout ActivationBuffers) {
        let rows = pass.rows, width = config.hiddenSize, hidden = weights.feedForwardSize
        Kernels.rmsNorm(x, weight: weights.feedForwardNorm!, into: &buffers.normed, rows: rows, width: width,
                        epsilon: config.rmsEpsilon)
        weights.gate!.multiply(buffers.normed, into: &buffers.gate, m: rows, n: hidden, k: width)
        weights.up!.multiply(buffers.normed, into: &buffers.up, m: rows, n: hidden, k: width)
        if let bias = weights.gateBias { Kernels.addBias(&buffers.gate, bias, rows: rows, width: hidden) }
        if let bias = weights.upBias { Kernels.addBias(&buffers.up, bias, rows: rows, width: hidden) }
        Kernels.gatedActivation(&buffers.gate, buffers.up, count: rows * hidden, gelu: config.architecture.geluActivation)
        addProjection(of: buffers.gate, through: weights.down!, inputWidth: hidden, bias: weights.downBias,
                      postNorm: weights.postFeedForwardNorm,
                      to: x, rows: rows, projected: &buffers.projected)
    }
}
