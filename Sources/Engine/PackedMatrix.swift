import CKernels
import Graph
import Tensors

/// A weight matrix of `rows` rows of `rowLength` (ggml's layout: one output per row) decoded to Float in the
/// order the engine's product reads it: panels of 32 rows, each stored one step along the rows at a time
/// (`modelsurgery_pack_panel`). Decoding writes every weight once anyway; writing it in this order spares each
/// product the repacking a BLAS sgemm does on every call, which took 9% of a SmolLM2 perplexity run.
struct PackedMatrix {
    let values: [Float]
    let rows: Int
    let rowLength: Int

    static let panelWidth = Int(MODELSURGERY_PANEL_WIDTH)

    static func panelCount(rows: Int) -> Int { (rows + panelWidth - 1) / panelWidth }

    /// The floats a packed matrix of this shape takes: whole panels, the last one padded with zeros.
    static func storage(rows: Int, rowLength: Int) -> Int { panelCount(rows: rows) * panelWidth * rowLength }

    /// Decodes `tensor` (ggml order, rows of `rowLength`, whole blocks per row: the reader's guarantee) straight
    /// into panels, 32 rows at a time on each core, into an array taken from `spare` when one fits.
    init(decoding tensor: Tensor, rows: Int, rowLength: Int, reusing spare: inout [[Float]]) {
        precondition(tensor.elementCount == rows * rowLength && tensor.shape.first == rowLength,
                     "'\(tensor.name)': \(tensor.shape) is not \(rows) rows of \(rowLength)") // callers check
        let type = tensor.type, rowBytes = tensor.data.buffer.count / max(rows, 1)
        nonisolated(unsafe) let source = tensor.data.buffer.baseAddress
        self.init(rows: rows, rowLength: rowLength, reusing: &spare) { panel, first, count, scratch in
            Dequantizer.decode(type, from: source! + first * rowBytes, count: count * rowLength, into: scratch)
            modelsurgery_pack_panel(scratch, count, rowLength, panel)
        }
    }

    /// Packs rows already decoded (`rows` × `rowLength` values, row after row).
    init(packing decoded: [Float], rows: Int, rowLength: Int, reusing spare: inout [[Float]]) {
        precondition(decoded.count == rows * rowLength, "\(decoded.count) values are not \(rows) rows of \(rowLength)")
        self = decoded.withUnsafeBufferPointer { decoded in
            nonisolated(unsafe) let source = decoded.baseAddress
            return PackedMatrix(rows: rows, rowLength: rowLength, reusing: &spare) { panel, first, count, _ in
                modelsurgery_pack_panel(source! + first * rowLength, count, rowLength, panel)
            }
        }
    }

    /// Fills every panel in parallel: `fill(panel, first row, rows, scratch of 32 rows)`.
    private init(rows: Int, rowLength: Int, reusing spare: inout [[Float]],
                 fill: (UnsafeMutablePointer<Float>, Int, Int, UnsafeMutablePointer<Float>) -> Void) {
        (self.rows, self.rowLength) = (rows, rowLength)
        let width = Self.panelWidth, panels = Self.panelCount(rows: rows)
        values = [Float](count: Self.storage(rows: rows, rowLength: rowLength), reusing: &spare) { output in
            nonisolated(unsafe) let output = output
            Kernels.parallel(panels, minimumChunk: 4) { range in
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: width * rowLength)
                defer { scratch.deallocate() }
                for panel in range {
                    let first = panel * width
                    fill(output + panel * width * rowLength, first, min(width, rows - first), scratch)
                }
            }
        }
    }

    /// C[m × rows] = A[m × rowLength] · Wᵀ + beta · C, split over the cores by panels of output columns.
    func multiply(_ a: UnsafePointer<Float>, into c: UnsafeMutablePointer<Float>, m: Int, beta: Float = 0) {
        let panels = Self.panelCount(rows: rows)
        guard m * rows * rowLength >= 1 << 22 else {
            multiply(a, into: c, m: m, panels: 0 ..< panels, ldc: rows, beta: beta)
            return
        }
        nonisolated(unsafe) let c = c
        Kernels.parallel(panels, minimumChunk: 1) { range in
            multiply(a, into: c + range.lowerBound * Self.panelWidth, m: m, panels: range, ldc: rows, beta: beta)
        }
    }

    /// The output columns of `panels` only, on this thread: `c` points at the first of them, rows `ldc` apart.
    func multiply(_ a: UnsafePointer<Float>, into c: UnsafeMutablePointer<Float>, m: Int, panels: Range<Int>, ldc: Int,
                  beta: Float = 0) {
        guard m > 0, !panels.isEmpty else { return }
        guard rowLength > 0 else { // an empty sum
            let columns = min(rows, panels.upperBound * Self.panelWidth) - panels.lowerBound * Self.panelWidth
            for i in 0 ..< m { for j in 0 ..< columns { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
            return
        }
        values.withUnsafeBufferPointer { packed in
            modelsurgery_packed_gemm(a, m, rowLength, packed.baseAddress!, rowLength, rows, panels.lowerBound,
                                     panels.upperBound, c, ldc, beta)
        }
    }
}
