import Foundation
import Graph
import Tensors

/// Runs a model on the CPU one block at a time: embed a batch, run block i on the hidden states of every
/// token, apply the head. Each block's weights are dequantized when it runs and freed after, so memory
/// holds the hidden states plus one block (and the output head while logits are computed).
///
/// The forward pass follows llama.cpp's graphs for the supported architectures, in Float throughout.
public final class Engine: @unchecked Sendable {
    public let model: Model
    let config: EngineConfig
    private var headWeights: [Float]?
    /// Dequantized blocks kept between calls while they fit in the budget: none by default, as scoring streams
    /// each block once; generation, which runs every block for every token, sets one with `keepingWeights`.
    private var weightCacheBytes = 0
    private var cachedWeights: [Int: BlockWeights] = [:]
    private var cachedBytes = 0
    /// The last streamed block's weight arrays, overwritten by the next block's (`BlockWeights(reusing:)`).
    private var spareWeights: [[Float]] = []
    /// Activation buffers kept from block to block: fresh ones for every block cost a page fault per 4 KiB,
    /// which took longer than the arithmetic on them. Every use overwrites them entirely.
    private var scratch = [[Float]](repeating: [], count: 8)

    /// Scratch buffer `slot`, moved out of `scratch` (so uniquely owned) with exactly `count` elements.
    private func takeScratch(_ slot: Int, count: Int) -> [Float] {
        var buffer: [Float] = []
        swap(&buffer, &scratch[slot])
        if buffer.count != count { buffer = [Float](repeating: 0, count: count) }
        return buffer
    }

    /// Runs `body` with dequantized blocks kept in memory up to `bytes`, and frees them after.
    public func keepingWeights<T>(upTo bytes: Int, _ body: () throws -> T) rethrows -> T {
        weightCacheBytes = bytes
        defer {
            weightCacheBytes = 0
            cachedWeights = [:]
            cachedBytes = 0
        }
        return try body()
    }

    public init(model: Model) throws {
        self.model = model
        config = try EngineConfig(model: model)
        // Fail before any work, not when the scoring pass reaches the block.
        for (name, tensor) in model.globalTensors.map({ ($0.name, $0) })
            + model.blocks.enumerated().flatMap({ index, block in block.tensors.map { ("blk.\(index).\($0.name)", $0) } })
            where !Dequantizer.supports(tensor.type) {
            throw TensorError.unsupportedType(tensor: name, type: tensor.type.name)
        }
    }

    public var blockCount: Int { model.blocks.count }

    private func globalTensor(_ name: String) throws -> Tensor {
        guard let tensor = model.globalTensors.first(where: { $0.name == name }) else { throw EngineError.missingTensor(name) }
        return tensor
    }

    /// Embeddings of equally long token sequences.
    public func embed(_ sequences: [[Int]]) throws -> HiddenStates {
        let table = try globalTensor("token_embd.weight")
        let width = config.hiddenSize
        guard Dequantizer.supports(table.type) else {
            throw TensorError.unsupportedType(tensor: table.name, type: table.type.name)
        }
        let length = sequences.first?.count ?? 0
        precondition(sequences.allSatisfy { $0.count == length }, "sequences must have equal length")
        let vocabulary = table.shape.count > 1 ? table.shape[1] : 1
        let rowBytes = table.type.byteCount(elements: width)!
        var values = [Float](repeating: 0, count: sequences.count * length * width)
        let scale = config.architecture.scalesEmbeddings ? Float(width).squareRoot() : 1
        values.withUnsafeMutableBufferPointer { out in
            for (row, token) in sequences.joined().enumerated() {
                precondition(token >= 0 && token < vocabulary, "token \(token) outside the vocabulary")
                Dequantizer.decode(table.type, from: table.data.buffer.baseAddress! + token * rowBytes, count: width,
                                   into: out.baseAddress! + row * width)
                if scale != 1 { for i in 0 ..< width { out[row * width + i] *= scale } }
            }
        }
        return HiddenStates(values: values, sequenceCount: sequences.count, sequenceLength: length, width: width)
    }

    /// Runs block `index` on every token of `states`, in place. With a cache, `states` holds the tokens that
    /// follow the cached ones (positions continue from the cache), and their keys and values are appended to it.
    public func runBlock(_ index: Int, on states: inout HiddenStates, cache: KeyValueCache? = nil) throws {
        let weights = try blockWeights(index)
        let layer = config.layers[index]
        let rows = states.tokenCount, width = config.hiddenSize
        let queryWidth = layer.headCount * config.headSize
        let keyWidth = layer.kvHeadCount * config.headSize
        let valueWidth = layer.kvHeadCount * config.valueHeadSize
        let past = cache?.length(of: index) ?? 0
        let positions = states.positions.map { $0 + past }
        let sequenceCount = states.sequenceCount, sequenceLength = states.sequenceLength

        var normed = takeScratch(0, count: rows * width)
        var query = takeScratch(1, count: rows * queryWidth)
        var key = takeScratch(2, count: rows * keyWidth)
        var value = takeScratch(3, count: rows * valueWidth)
        var attention = takeScratch(4, count: rows * layer.headCount * config.valueHeadSize)
        var projected = takeScratch(5, count: rows * width)
        let hidden = weights.feedForwardSize
        var gate = takeScratch(6, count: rows * hidden)
        var up = takeScratch(7, count: rows * hidden)
        defer {
            scratch = [normed, query, key, value, attention, projected, gate, up]
            if cachedWeights[index] == nil { spareWeights = weights.arrays }
        }

        states.values.withUnsafeMutableBufferPointer { x in
            let x = x.baseAddress!
            Kernels.rmsNorm(x, weight: weights.attentionNorm, into: &normed, rows: rows, width: width, epsilon: config.rmsEpsilon)
            BLAS.multiplyTransposed(normed, weights.query, into: &query, m: rows, n: queryWidth, k: width)
            BLAS.multiplyTransposed(normed, weights.key, into: &key, m: rows, n: keyWidth, k: width)
            BLAS.multiplyTransposed(normed, weights.value, into: &value, m: rows, n: valueWidth, k: width)
            if let bias = weights.queryBias { Kernels.addBias(&query, bias, rows: rows, width: queryWidth) }
            if let bias = weights.keyBias { Kernels.addBias(&key, bias, rows: rows, width: keyWidth) }
            if let bias = weights.valueBias { Kernels.addBias(&value, bias, rows: rows, width: valueWidth) }
            if let norm = weights.queryNorm {
                Kernels.rmsNormInPlace(&query, weight: norm, rows: rows * layer.headCount, width: config.headSize,
                                       epsilon: config.rmsEpsilon)
            }
            if let norm = weights.keyNorm {
                Kernels.rmsNormInPlace(&key, weight: norm, rows: rows * layer.kvHeadCount, width: config.headSize,
                                       epsilon: config.rmsEpsilon)
            }
            layer.rope.apply(&query, rows: rows, heads: layer.headCount, headSize: config.headSize, positions: positions)
            layer.rope.apply(&key, rows: rows, heads: layer.kvHeadCount, headSize: config.headSize, positions: positions)

            if let cache {
                cache.append(layer: index, keys: key, values: value, sequenceCount: sequenceCount, length: sequenceLength,
                             keyWidth: keyWidth, valueWidth: valueWidth)
                cache.withLayer(index) { keys, values, stride in
                    attend(query: query, keys: keys, values: values, keyRowsPerSequence: stride, past: past,
                           into: &attention, layer: layer, sequenceCount: sequenceCount, length: sequenceLength)
                }
            } else {
                key.withUnsafeBufferPointer { keys in
                    value.withUnsafeBufferPointer { values in
                        attend(query: query, keys: keys.baseAddress!, values: values.baseAddress!,
                               keyRowsPerSequence: sequenceLength, past: 0, into: &attention, layer: layer,
                               sequenceCount: sequenceCount, length: sequenceLength)
                    }
                }
            }
            // Without a post-norm, the projection adds itself to the residual stream inside the GEMM (beta 1).
            if let norm = weights.postAttentionNorm {
                BLAS.multiplyTransposed(attention, weights.output, into: &projected, m: rows, n: width,
                                        k: layer.headCount * config.valueHeadSize)
                Kernels.rmsNormInPlace(&projected, weight: norm, rows: rows, width: width, epsilon: config.rmsEpsilon)
                Kernels.add(x, projected, count: rows * width)
            } else {
                BLAS.multiplyTransposed(attention, weights.output, into: x, m: rows, n: width,
                                        k: layer.headCount * config.valueHeadSize, beta: 1)
            }

            Kernels.rmsNorm(x, weight: weights.feedForwardNorm, into: &normed, rows: rows, width: width, epsilon: config.rmsEpsilon)
            BLAS.multiplyTransposed(normed, weights.gate, into: &gate, m: rows, n: hidden, k: width)
            BLAS.multiplyTransposed(normed, weights.up, into: &up, m: rows, n: hidden, k: width)
            Kernels.gatedActivation(&gate, up, count: rows * hidden, gelu: config.architecture.geluActivation)
            if let norm = weights.postFeedForwardNorm {
                BLAS.multiplyTransposed(gate, weights.down, into: &projected, m: rows, n: width, k: hidden)
                Kernels.rmsNormInPlace(&projected, weight: norm, rows: rows, width: width, epsilon: config.rmsEpsilon)
                Kernels.add(x, projected, count: rows * width)
            } else {
                BLAS.multiplyTransposed(gate, weights.down, into: x, m: rows, n: width, k: hidden, beta: 1)
            }
        }
    }

    /// Causal (and, on sliding-window layers, windowed) grouped-query attention, one sequence and head at a time.
    /// Sequence s has `past + length` keys starting at row s × keyRowsPerSequence of `keys`/`values`; its
    /// `length` queries sit at positions past ..< past + length.
    private func attend(query: [Float], keys: UnsafePointer<Float>, values: UnsafePointer<Float>, keyRowsPerSequence: Int,
                        past: Int, into output: inout [Float], layer: EngineConfig.Layer, sequenceCount: Int, length: Int) {
        let headSize = config.headSize, valueSize = config.valueHeadSize
        let queryWidth = layer.headCount * headSize, keyWidth = layer.kvHeadCount * headSize
        let valueWidth = layer.kvHeadCount * valueSize, outputWidth = layer.headCount * valueSize
        let group = layer.headCount / layer.kvHeadCount
        let window = layer.slidingWindow ? config.window : Int.max
        let keyCount = past + length
        // Queries go in tiles, each against only the keys it may see: causal masking then skips about half
        // the products, and a sliding window skips everything before it.
        let tile = 64
        output.withUnsafeMutableBufferPointer { out in
            let out = out.baseAddress!
            Kernels.parallel(sequenceCount * layer.headCount, minimumChunk: 1) { range in
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

    private func blockWeights(_ index: Int) throws -> BlockWeights {
        if let cached = cachedWeights[index] { return cached }
        let weights = try BlockWeights(block: model.blocks[index], index: index, config: config, reusing: &spareWeights)
        if cachedBytes + weights.byteCount <= weightCacheBytes {
            cachedWeights[index] = weights
            cachedBytes += weights.byteCount
        }
        return weights
    }

    /// Final norm and output head on the chosen rows; `body` gets each row's index in `rows` and its logits.
    public func forEachLogits(of states: HiddenStates, rows: [Int],
                              _ body: (Int, UnsafeBufferPointer<Float>) -> Void) throws {
        try forEachLogitsChunk(of: states, rows: rows) { start, count, logits in
            let vocabulary = logits.count / count
            for i in 0 ..< count {
                body(start + i, UnsafeBufferPointer(rebasing: logits[i * vocabulary ..< (i + 1) * vocabulary]))
            }
        }
    }

    /// −log p(targets[i] | rows[i]) for each chosen row. The logits are never stored whole: each core takes a
    /// share of the vocabulary and runs through it in slices of `columns` head rows, folding each slice of
    /// logits into a running log-sum-exp per row (the largest logit so far and the sum of exponentials
    /// relative to it) while it is still in cache; the shares are combined at the end.
    public func negativeLogLikelihoods(of states: HiddenStates, rows: [Int], targets: [Int]) throws -> [Double] {
        let head = try outputHead()
        let width = config.hiddenSize, vocabulary = head.count / width
        let norm = try outputNorm()
        let rowChunk = 512, columns = 512
        let slices = (vocabulary + columns - 1) / columns
        let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, slices))
        var result = [Double](repeating: 0, count: rows.count)
        var selected = [Float](repeating: 0, count: min(rowChunk, rows.count) * width)
        // Per worker and row: the largest logit of its share, Σ exp(logit − that largest), and the target's logit.
        var maxima = [Float](repeating: 0, count: workers * rowChunk)
        var sums = [Double](repeating: 0, count: workers * rowChunk)
        var targetLogits = [Float](repeating: 0, count: rowChunk)
        for start in stride(from: 0, to: rows.count, by: rowChunk) {
            let count = min(rowChunk, rows.count - start)
            finalNorm(of: states, rows: rows[start ..< start + count], weight: norm, into: &selected)
            selected.withUnsafeBufferPointer { a in
                head.withUnsafeBufferPointer { b in
                    maxima.withUnsafeMutableBufferPointer { maxima in
                        sums.withUnsafeMutableBufferPointer { sums in
                            targetLogits.withUnsafeMutableBufferPointer { targetLogits in
                                let a = a.baseAddress!, b = b.baseAddress!
                                DispatchQueue.concurrentPerform(iterations: workers) { worker in
                                    let logits = UnsafeMutablePointer<Float>.allocate(capacity: count * columns)
                                    defer { logits.deallocate() }
                                    let maxima = maxima.baseAddress! + worker * rowChunk
                                    let sums = sums.baseAddress! + worker * rowChunk
                                    for i in 0 ..< count { maxima[i] = -.infinity; sums[i] = 0 }
                                    for slice in slices * worker / workers ..< slices * (worker + 1) / workers {
                                        let first = slice * columns, n = min(columns, vocabulary - first)
                                        BLAS.multiplyTransposed(a, b + first * width, into: logits, m: count, n: n,
                                                                k: width, ldc: n, splitting: false)
                                        for i in 0 ..< count {
                                            let row = logits + i * n
                                            let maximum = Kernels.maximum(row, count: n)
                                            if maximum > maxima[i] {
                                                sums[i] *= Double(Foundation.exp(maxima[i] - maximum))
                                                maxima[i] = maximum
                                            }
                                            sums[i] += Double(Kernels.sumOfExponentials(row, count: n, shift: maxima[i]))
                                            let target = targets[start + i]
                                            if target >= first && target < first + n { targetLogits[i] = row[target - first] }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            for i in 0 ..< count {
                let maximum = (0 ..< workers).map { maxima[$0 * rowChunk + i] }.max()!
                let sum = (0 ..< workers).reduce(0.0) {
                    $0 + sums[$1 * rowChunk + i] * Foundation.exp(Double(maxima[$1 * rowChunk + i] - maximum))
                }
                result[start + i] = Double(maximum) + Foundation.log(sum) - Double(targetLogits[i])
            }
        }
        return result
    }

    /// The head on the chosen rows in chunks of about 128 MB of logits, so the head's weights are read once per
    /// chunk rather than once per few rows; `body` gets the chunk's first index in `rows`, its row count and
    /// its logits (`count × vocabulary`).
    private func forEachLogitsChunk(of states: HiddenStates, rows: [Int],
                                    _ body: (Int, Int, UnsafeBufferPointer<Float>) -> Void) throws {
        let head = try outputHead()
        let width = config.hiddenSize, vocabulary = head.count / width
        let norm = try outputNorm()
        let chunk = max(16, min(rows.count, (128 << 20) / (vocabulary * MemoryLayout<Float>.size)))
        var selected = [Float](repeating: 0, count: chunk * width)
        var logits = [Float](repeating: 0, count: chunk * vocabulary)
        for start in stride(from: 0, to: rows.count, by: chunk) {
            let count = min(chunk, rows.count - start)
            finalNorm(of: states, rows: rows[start ..< start + count], weight: norm, into: &selected)
            BLAS.multiplyTransposed(selected, head, into: &logits, m: count, n: vocabulary, k: width)
            logits.withUnsafeBufferPointer { all in
                body(start, count, UnsafeBufferPointer(rebasing: all[0 ..< count * vocabulary]))
            }
        }
    }

    /// The final RMS norm of the chosen rows of `states`, packed one after another into `output`.
    private func finalNorm(of states: HiddenStates, rows: ArraySlice<Int>, weight: [Float], into output: inout [Float]) {
        let width = config.hiddenSize
        states.values.withUnsafeBufferPointer { x in
            output.withUnsafeMutableBufferPointer { out in
                for (i, row) in rows.enumerated() {
                    Kernels.rmsNorm(x.baseAddress! + row * width, weight: weight, into: out.baseAddress! + i * width,
                                    rows: 1, width: width, epsilon: config.rmsEpsilon)
                }
            }
        }
    }

    /// The final RMS norm's weights, in llama.cpp's conventions.
    private func outputNorm() throws -> [Float] {
        let name = "output_norm.weight"
        return try config.floats(of: try globalTensor(name), role: name, layer: nil, name: name)
    }

    /// The output projection, tied to the embeddings when the model has no `output.weight`; kept once built.
    private func outputHead() throws -> [Float] {
        if let headWeights { return headWeights }
        let tensor = try model.globalTensors.first { $0.name == "output.weight" } ?? globalTensor("token_embd.weight")
        let weights = try Dequantizer.floats(of: tensor, name: tensor.name)
        headWeights = weights
        return weights
    }
}
