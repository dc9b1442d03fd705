import Foundation

/// The threads that parallel work (decoding, products, attention, scoring) spreads over: the processors this
/// process may use, unless `--threads` set a number before the work began.
public enum Cores {
    nonisolated(unsafe) public static var count = max(1, ProcessInfo.processInfo.activeProcessorCount)
}
