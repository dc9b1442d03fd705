import Foundation

/// A progress line on stderr, redrawn in place, shown only when stderr is a terminal.
final class ProgressLine {
    enum Counting { case bytes, steps }

    private let label: String
    private let counting: Counting
    private let enabled = isatty(STDERR_FILENO) != 0
    private var lastDrawn = Date.distantPast
    private var drawn = false

    init(label: String, counting: Counting = .bytes) {
        self.label = label
        self.counting = counting
    }

    func update(done: Int, total: Int) {
        guard enabled, Date().timeIntervalSince(lastDrawn) > 0.1 || done == total else { return }
        lastDrawn = Date()
        drawn = true
        let percent = total > 0 ? 100 * done / total : 100
        let amount = counting == .bytes ? "\(Format.bytes(done)) of \(Format.bytes(total))" : "\(done)/\(total)"
        FileHandle.standardError.write(Data("\r\(label) \(percent)% (\(amount))\u{1B}[K".utf8))
    }

    func finish() {
        if drawn { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}
