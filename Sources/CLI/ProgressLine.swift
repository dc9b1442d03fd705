import ArgumentParser
import Foundation

/// The progress of one phase on stderr: its label, done/total and an ETA, once the phase has run a second.
///
/// On a terminal, one line redrawn in place and cleared at the end. On a file or a pipe (logs, `make demo`, CI),
/// plain lines without carriage returns: one when the phase has run a second, then one about every 10% of the
/// work or 30 s, whichever comes first, and one when it ends. A timer keeps the lines coming while a long step
/// runs between two updates. `--quiet` (`ProgressLine.quiet`) silences every phase.
final class ProgressLine: @unchecked Sendable {
    enum Counting { case bytes, steps }

    /// Set by `--quiet` before any phase starts.
    nonisolated(unsafe) static var quiet = false
    /// How long a phase runs before its first line, and the longest gap between lines in a log.
    static let firstLineAfter = 1.0, logInterval = 30.0

    private let label: String
    private let counting: Counting
    private let terminal = isatty(STDERR_FILENO) != 0
    private let enabled = !ProgressLine.quiet
    private let start = Date()
    private let lock = NSLock()
    private var done = 0, total = 0
    private var lastShown = Date.distantPast, shownFraction = -1.0, shown = false, finished = false
    private var timer: DispatchSourceTimer?

    init(label: String, counting: Counting = .bytes) {
        self.label = label
        self.counting = counting
        guard enabled else { return }
        let timer = DispatchSource.makeTimerSource(queue: .global(qos: .utility))
        timer.schedule(deadline: .now() + Self.firstLineAfter, repeating: terminal ? 1 : Self.logInterval)
        timer.setEventHandler { [weak self] in self?.tick() }
        timer.resume()
        self.timer = timer
    }

    deinit { timer?.cancel() }

    func update(done: Int, total: Int) {
        guard enabled else { return }
        lock.withLock {
            (self.done, self.total) = (done, total)
            show(force: false)
        }
    }

    func finish() {
        guard enabled else { return }
        timer?.cancel()
        lock.withLock {
            guard !finished else { return }
            finished = true
            guard shown else { return }
            if terminal {
                write("\r\u{1B}[K")
            } else {
                write("\(label): done in \(Self.duration(Date().timeIntervalSince(start)))\n")
            }
        }
    }

    private func tick() {
        lock.withLock { show(force: !terminal) }
    }

    /// Shows the state when the phase has run a second and the line is due: on a terminal every 0.1 s; in a
    /// log every 10% or, with `force` (the timer), after 30 s without a line.
    private func show(force: Bool) {
        let now = Date(), elapsed = now.timeIntervalSince(start)
        guard !finished, elapsed >= Self.firstLineAfter else { return }
        let fraction = total > 0 ? Double(done) / Double(total) : 0
        if terminal {
            guard now.timeIntervalSince(lastShown) >= 0.1 || done == total else { return }
        } else if shown {
            let stale = now.timeIntervalSince(lastShown) >= Self.logInterval - 0.5
            guard fraction >= shownFraction + 0.1 || (force && stale) else { return }
        }
        (lastShown, shownFraction, shown) = (now, fraction, true)
        let state = total > 0 ? "\(amount()) \(Int(fraction * 100))%" : "started"
        let line = "\(label): \(state), \(timing(elapsed: elapsed, fraction: fraction))"
        write(terminal ? "\r\(line)\u{1B}[K" : line + "\n")
    }

    private func amount() -> String {
        counting == .bytes ? "\(Format.bytes(done)) of \(Format.bytes(total))" : "\(done)/\(total)"
    }

    /// Elapsed time, and the time left at the pace so far once any work is done.
    private func timing(elapsed: Double, fraction: Double) -> String {
        let spent = Self.duration(elapsed) + " elapsed"
        guard fraction > 0, fraction < 1 else { return spent }
        return spent + ", ETA " + Self.duration(elapsed / fraction * (1 - fraction))
    }

    /// 42s, 3m05s, 2h07m.
    static func duration(_ seconds: Double) -> String {
        let whole = Int(seconds.rounded())
        if whole < 60 { return "\(whole)s" }
        if whole < 3600 { return String(format: "%dm%02ds", whole / 60, whole % 60) }
        return String(format: "%dh%02dm", whole / 3600, whole / 60 % 60)
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}

/// `--quiet`, for every command with long phases.
struct ProgressOptions: ParsableArguments {
    @Flag(help: "Show no progress on stderr (results and errors are unchanged).")
    var quiet = false

    func apply() { ProgressLine.quiet = quiet }
}
