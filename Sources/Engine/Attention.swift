extension Engine {
    /// x += attention(norm(x)): RMS norm, Q/K/V projections (with biases and per-head Q/K norms where the
    /// model has them), RoPE, causal grouped-query attention over the cache and the new tokens, the output
    /// projection (post-normed where the model has it) added to the residual stream. deci's linear attention
    /// is x += norm(x) · Wᵀ; its attention-free layers add nothing.
    func attention(_ x: UnsafeMutablePointer<Float>, _ pass: BlockPass, weights: BlockWeights, layer: EngineConfig.Layer,
                   index: Int, cache: KeyValueCache?, buffers: inout ActivationBuffers) {
        switch layer.attention {
        case .none: return
        case .linear:
            Kernels.rmsNorm(x, weight: weights.attentionNorm!, into: &buffers.normed, rows: pass.rows,
                            width: config.hiddenSize, epsilon: config.rmsEpsilon)
            addProjection(of: buffers.normed, through: weights.output!, inputWidth: config.hiddenSize, bias: nil,
                          postNorm: weights.postAttentionNorm, to: x, rows: pass.rows, projected: &buffers.projected)
        case .full:
            selfAttention(x, pass, weights: weights, layer: layer, index: index, cache: cache, buffers: &buffers)
        }
    }

    private func selfAttention(_ x: UnsafeMutablePointer<Float>, _ pass: BlockPass, weights: BlockWeights,
                               layer: EngineConfig.Layer, index: Int, cache: KeyValueCache?,
                               buffers: inout ActivationBuffers) {
        let rows = pass.rows, width = config.hiddenSize, headSize = config.headSize
        let queryWidth = layer.headCount * headSize, keyWidth = layer.kvHeadCount * headSize
        let valueWidth = layer.kvHeadCount * config.valueHeadSize
        Kernels.rmsNorm(x, weight: weights.attentionNorm!, into: &buffers.normed, rows: rows, width: width, epsilon: config.rmsEpsilon)
        weights.query!.multiply(buffers.normed, into: &buffers.query, m: rows, n: queryWidth, k: width)
        weights.key!.multiply(buffers.normed, into: &buffers.key, m: rows, n: keyWidth, k: width)
        weights.value!.multiply(buffers.normed, into: &buffers.value, m: rows, n: valueWidth, k: width)
        if let bias = weights.queryBias { Kernels.addBias(&buffers.query, bias, rows: rows, width: queryWidth) }
        if let bias = weights.keyBias { Kernels.addBias(&buffers.key, bias, rows: rows, width: keyWidth) }
        if let bias = weights.valueBias { Kernels.addBias(&buffers.value, bias, rows: rows, width: valueWidth) }
        if let norm = weights.queryNorm {
            Kernels.rmsNormInPlace(&buffers.query, weight: norm, rows: rows * layer.headCount, width: headSize,
                                   epsilon: config.rmsEpsilon)
        }
        if let norm = weights.keyNorm {
            Kernels.rmsNormInPlace(&buffers.key, weight: norm, rows: rows * layer.kvHeadCount, width: headSize,
                                   epsilon: config.rmsEpsilon)
        }
        let positions = pass.positions
        layer.rope.apply(&buffers.query, rows: rows, heads: layer.headCount, headSize: headSize, positions: positions)
        layer.rope.apply(&buffers.key, rows: rows, heads: layer.kvHeadCount, headSize: headSize, positions: positions)

        if let cache {
            cache.append(layer: index, keys: buffers.key, values: buffers.value, sequenceCount: pass.sequenceCount,
                         length: pass.sequenceLength, keyWidth: keyWidth, valueWidth: valueWidth)
            cache.withLayer(index) { keys, values, stride in
                attend(query: buffers.query, keys: keys, values: values, keyRowsPerSequence: stride, pass: pass,
                       into: &buffers.attention, layer: layer)
            }
        } else {
            buffers.key.withUnsafeBufferPointer { keys in
                buffers.value.withUnsafeBufferPointer { values in
                    attend(query: buffers.query, keys: keys.baseAddress!, values: values.baseAddress!,
                           keyRowsPerSequence: pass.sequenceLength, pass: pass, into: &buffers.attention, layer: layer)
                }
            }
        }
        addProjection(of: buffers.attention, through: weights.output!, inputWidth: layer.headCount * config.valueHeadSize,
                      bias: weights.outputBias, postNorm: weights.postAttentionNorm, to: x, rows: rows, projected: &buffers.projected)
    }

    /// x += norm(input · weightᵀ + bias), or without a post-norm and bias x += input · weightᵀ inside the GEMM (beta 1).
    func addProjection(of input: [Float], through weight: WeightMatrix, inputWidth: Int, bias: [Float]?, postNorm: [Float]?,
                       to x: UnsafeMutablePointer<Float>, rows: Int, projected: inout [Float]) {
        let width = config.hiddenSize
        guard postNorm != nil || bias != nil else {
            weight.multiply(input, into: x, m: rows, n: width, k: inputWidth, beta: 1)
            return
        }
        weight.multiply(input, into: &projected, m: rows, n: width, k: inputWidth)
        if let bias { Kernels.addBias(&projected, bias, rows: rows, width: width) }
        if let postNorm { Kernels.rmsNormInPlace(&projected, weight: postNorm, rows: rows, width: width, epsilon: config.rmsEpsilon) }
        Kernels.add(x, projected, count: rows * width)
    }

    /// Causal (and, on sliding-window layers, windowed) grouped-query attention, one sequence and head at a time.
    /// Sequence s has `past + length` keys starting at row s × keyRowsPerSequence of `keys`/`values`; its
    /// `length` queries sit at positions past ..< past + length.
    private func attend(query: [Float], keys: UnsafePointer<Float>, values: UnsafePointer<Float>, keyRowsPerSequence: Int,
                        pass: BlockPass, into output: inout [Float], layer: EngineConfig.Layer) {
        let headSize = config.headSize, valueSize = config.valueHeadSize
        let queryWidth = layer.headCount * headSize, keyWidth = layer.kvHeadCount * headSize
        let valueWidth = layer.kvHeadCount * valueSize, outputWidth = layer.headCount * valueSize
        let group = layer.headCount / layer.kvHeadCount
        let window = layer.slidingWindow ? config.window : Int.max
        let past = pass.past, length = pass.sequenceLength
        let keyCount = past + length
        // Queries go in tiles, each against only the keys it may see: causal masking then skips about half
        // the products, and a sliding window skips everything before it.
        let tile = 64
        output.withUnsafeMutableBufferPointer { out in
            let out = out.baseAddress!
            Kernels.parallel(pass.sequenceCount * layer.headCount, minimumChunk: 1) { range in
                var scores = [Float](repeating: 0, count: min(tile, length) * keyCount)
                for pair in range {
                    let sequence = pair / layer.headCount, head = pair % layer.headCount
                    let firstQuery = sequence * length, firstKeyRow = sequence * keyRowsPerSequence
                    let keyColumn = (head / group) * headSize, valueColumn = (head / group) * valueSize
                    for tileStart in stride(from: 0, to: length, by: tile) {
                        let rows = min(tile, length - tileStart)
                        let firstPosition = past + tileStart, lastPosition = firstPosition + rows - 1
                        let firstKey = window == Int.max ? 0 : max(0, firstPosition - window + 1)
                        let visible = lastPosition + 1 - firstKey
                        query.withUnsafeBufferPointer { q in
                            BLAS.multiplyTransposed(q.baseAddress! + (firstQuery + tileStart) * queryWidth + head * headSize,
                                                    keys + (firstKeyRow + firstKey) * keyWidth + keyColumn,
                                                    into: &scores, m: rows, n: visible, k: headSize,
                                                    lda: queryWidth, ldb: keyWidth, ldc: visible, alpha: config.attentionScale)
                        }
                        scores.withUnsafeMutableBufferPointer { s in
                            for row in 0 ..< rows {
                                let position = firstPosition + row
                                let start = window == Int.max ? 0 : max(0, position - window + 1) - firstKey
                                Kernels.softmax(s.baseAddress! + row * visible, over: start ..< position + 1 - firstKey,
                                                width: visible)
                            }
                        }
                        BLAS.multiply(scores, values + (firstKeyRow + firstKey) * valueWidth + valueColumn,
                                      into: out + (firstQuery + tileStart) * outputWidth + head * valueSize,
                                      m: rows, n: valueSize, k: visible, lda: visible, ldb: valueWidth, ldc: outputWidth)
                    }
                }
            }
        }
    }
}
