import ArgumentParser

@main
struct ModelSurgery: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "modelsurgery",
        abstract: "Make language models smaller by removing whole decoder blocks.",
        version: "0.1.0",
        subcommands: [Inspect.self, Score.self, Prune.self, Convert.self, Eval.self]
    )
}
