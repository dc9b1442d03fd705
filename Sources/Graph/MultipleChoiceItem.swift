/// One zero-shot multiple-choice question: a context, its candidate endings and the index of the right one.
/// The evaluator scores `context + " " + ending` for each ending, as lm-evaluation-harness and
/// llama-perplexity --hellaswag do.
public struct MultipleChoiceItem: Sendable, Equatable {
    public let context: String
    public let endings: [String]
    public let label: Int
    /// Where the item came from (`file:line`), for messages.
    public let source: String

    public init(context: String, endings: [String], label: Int, source: String) {
        self.context = context
        self.endings = endings
        self.label = label
        self.source = source
    }
}
