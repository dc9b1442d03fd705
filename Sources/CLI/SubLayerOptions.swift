import ArgumentParser
import Engine
import Scoring
import Surgery

/// `prune`'s sub-layer removal and recovery options.
struct SubLayerOptions: ParsableArguments {
    @Option(help: "Fraction of the attention sub-layers to remove (the least important), in (0, 1).")
    var attentionRatio: Double?

    @Option(help: "Number of attention sub-layers to remove.")
    var attentionCount: Int?

    @Option(help: "Fraction of the feed-forward sub-layers to remove, in (0, 1).")
    var ffnRatio: Double?

    @Option(help: "Number of feed-forward sub-layers to remove.")
    var ffnCount: Int?

    @Option(help: "Sub-layers and blocks to remove by name, e.g. 'attn:3,7 ffn:12 block:20-21'.")
    var drop: String?

    @Option(help: ArgumentHelp("Replace each removed run of blocks or sub-layer by a stand-in fitted on calibration activations: bias, linear or lowrank:R.", valueName: "kind"))
    var recover: String?

    var recovery: RecoveryFit.Kind? { recover.flatMap(RecoveryFit.Kind.init(parsing:)) }

    /// Whether any option asks for the deci route (sub-layers or recovery).
    var given: Bool { scoresSubLayers || drop != nil || recover != nil }
    var scoresSubLayers: Bool { [attentionRatio, ffnRatio].contains { $0 != nil } || [attentionCount, ffnCount].contains { $0 != nil } }

    func validate() throws {
        for (name, ratio, count) in [("attention", attentionRatio, attentionCount), ("ffn", ffnRatio, ffnCount)] {
            if ratio != nil && count != nil { throw ValidationError("give --\(name)-ratio or --\(name)-count, not both") }
            if let ratio, !(ratio > 0 && ratio < 1) { throw ValidationError("--\(name)-ratio must be between 0 and 1 (exclusive)") }
            if let count, count < 1 { throw ValidationError("--\(name)-count must be at least 1") }
        }
        if let recover, recovery == nil {
            throw ValidationError("--recover '\(recover)' is not bias, linear or lowrank:R (R a positive rank)")
        }
    }

    /// How many `part` sub-layers to remove out of `blockCount` blocks, nil when not asked.
    func count(of part: SubLayers, blockCount: Int) -> Int? {
        let (ratio, count) = part == .attention ? (attentionRatio, attentionCount) : (ffnRatio, ffnCount)
        return count ?? ratio.map { Int($0 * Double(blockCount) + 0.5) }
    }
}
