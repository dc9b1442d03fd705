import ArgumentParser
import Dispatch
import Formats
import Foundation

@main
struct ModelSurgery: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "modelsurgery",
        abstract: "Make language models smaller by removing whole decoder blocks.",
        version: "0.1.0",
        subcommands: [Inspect.self, Score.self, Prune.self, Convert.self, Eval.self]
    )
}

extension ModelSurgery {
    static func main() {
        let handlers = removeOutputsOnInterrupt()
        defer { handlers.forEach { $0.cancel() } }
        var command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exit(withError: error)
        }
        do {
            try command.run()
        } catch let error as ValidationError {
            exit(withError: error)
        } catch let error as ExitCode {
            exit(withError: error)
        } catch let error as CleanExit {
            exit(withError: error)
        } catch where String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") {
            // `--help` after a subcommand parses as ArgumentParser's help command, whose run throws its request.
            exit(withError: error)
        } catch {
            // Our errors quote names and values from the input files: one line, escaped, bounded.
            FileHandle.standardError.write(Data("Error: \(Format.oneLine(String(describing: error)))\n".utf8))
            Foundation.exit(1)
        }
    }
}

/// On Ctrl-C or SIGTERM, removes the temporary files of outputs being written, then exits: the input and any
/// previous output stay as they were. (A free function, so the handlers run off the main actor.)
private func removeOutputsOnInterrupt() -> [DispatchSourceSignal] {
    [SIGINT, SIGTERM].map { number in
        signal(number, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
        source.setEventHandler { @Sendable in
            PendingOutputs.removeAll()
            FileHandle.standardError.write(Data("\ninterrupted: no output written\n".utf8))
            // _exit, not exit: exit runs the libraries' destructors (OpenBLAS frees its buffers) while other threads
            // are still inside them, which crashed an interrupted scoring run.
            _exit(128 + number)
        }
        source.resume()
        return source
    }
}
