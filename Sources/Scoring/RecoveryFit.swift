#if canImport(Accelerate)
import Accelerate
#else
import CBLAS
#endif
import Engine
import Foundation
import Graph

/// Closed-form stand-ins for removed pieces (Siddiqui et al., "A deeper look at depth pruning of LLMs", 2024),
/// fitted on the unpruned model's calibration activations, no training loop. For a removed piece with input
/// X and output Y over every calibration token, D = Y − X and Z = RMSNorm(X) (unit gain):
///
/// - bias: β = mean(D);
/// - linear: W minimising ‖D − Z·W‖² + λ‖W‖², from the normal equations in float64, λ chosen among
///   `ridgeScales` × mean diag(ZᵀZ) on held-back calibration sequences (the last fifth), then refitted on all;
/// - lowRank(R): the best rank-R W for the same objective (reduced-rank regression: W projected on the top R
///   eigenvectors of Wᵀ·ZᵀZ·W).
public struct RecoveryFit: Sendable {
    public enum Kind: Equatable, Sendable, CustomStringConvertible {
        case bias, linear, lowRank(Int)

        /// `bias`, `linear` or `lowrank:R`.
        public init?(parsing text: String) {
            switch text {
            case "bias": self = .bias
            case "linear": self = .linear
            default:
                guard text.hasPrefix("lowrank:"), let rank = Int(text.dropFirst("lowrank:".count)), rank > 0 else { return nil }
                self = .lowRank(rank)
            }
        }

        public var description: String {
            switch self {
            case .bias: "bias"
            case .linear: "linear"
            case .lowRank(let rank): "lowrank:\(rank)"
            }
        }
    }

    public let kind: Kind
    public static let ridgeScales: [Double] = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 0.3, 1, 3, 10]

    public init(kind: Kind) { self.kind = kind }

    /// How one replacement was fitted.
    public struct Fitted: Codable, Sendable {
        public let unit: String
        /// λ chosen, relative to the mean diagonal of ZᵀZ (nil for a bias).
        public let ridge: Double?
        /// ‖D − fit‖² / ‖D‖² on the held-back tokens: 1 is no better than removal, 0 is exact.
        public let heldOutError: Double
        public let parameters: Int
    }

    /// A replacement for each unit, from one pass of the calibration tokens through the unpruned model.
    public func fit(_ units: [RemovalUnit], engine: Engine, calibration: Calibration,
                    progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws -> (replacements: [RemovalUnit: Replacement], report: [Fitted]) {
        var replacements: [RemovalUnit: Replacement] = [:]
        var report: [Fitted] = []
        let lastPosition = units.map { Self.positions(of: $0).upperBound }.max() ?? 0
        var states = try engine.embed(calibration.sequences)
        let split = Self.heldOutStart(sequences: states.sequenceCount, length: states.sequenceLength)
        // Read before the block runs below hold `states` exclusively.
        let width = states.width, length = states.sequenceLength
        var inputs: [RemovalUnit: [Float]] = [:]
        func visit(_ position: Int, _ values: UnsafeBufferPointer<Float>) {
            for unit in units where Self.positions(of: unit).upperBound == position {
                let statistics = FitStatistics(input: inputs.removeValue(forKey: unit)!, output: values,
                                               width: width, sequenceLength: length, heldOutFrom: split, epsilon: engine.rmsEpsilon,
                                               needsGram: kind != .bias)
                let (replacement, fitted) = solve(statistics, unit: unit)
                replacements[unit] = replacement
                report.append(fitted)
            }
            for unit in units where Self.positions(of: unit).lowerBound == position { inputs[unit] = Array(values) }
        }
        let lastBlock = (lastPosition + 1) / 2
        for block in 0 ..< lastBlock {
            states.values.withUnsafeBufferPointer { visit(2 * block, $0) }
            try engine.runBlock(block, on: &states) { visit(2 * block + 1, $0) }
            progress?(block + 1, lastBlock)
        }
        states.values.withUnsafeBufferPointer { visit(2 * lastBlock, $0) }
        return (replacements, report)
    }

    /// Positions in the residual stream: 2b enters block b, 2b + 1 follows its attention, 2b + 2 leaves it.
    static func positions(of unit: RemovalUnit) -> ClosedRange<Int> {
        switch unit {
        case .blocks(let run): 2 * run.lowerBound ... 2 * run.upperBound
        case .attention(let block): 2 * block ... 2 * block + 1
        case .feedForward(let block): 2 * block + 1 ... 2 * block + 2
        }
    }

    /// The first held-back row: the last fifth of the sequences, or of the tokens when there is one sequence.
    static func heldOutStart(sequences: Int, length: Int) -> Int {
        sequences >= 2 ? (sequences - max(1, sequences / 5)) * length : length - max(1, length / 5)
    }
}
