import ArgumentParser
import Tensors

/// `--threads`, for every command that runs the engine: llama.cpp's `-t`.
struct ThreadOptions: ParsableArguments {
    @Option(help: "Threads for the engine's work (default: every processor this process may use).")
    var threads: Int?

    func validate() throws {
        if let threads, !(1 ... 4096).contains(threads) { throw ValidationError("--threads must be between 1 and 4096") }
    }

    func apply() { if let threads { Cores.count = threads } }
}
