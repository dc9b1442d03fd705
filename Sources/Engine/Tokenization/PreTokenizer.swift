import Graph

/// Splits text into the words a byte-level BPE merges within, as llama.cpp's unicode_regex_split does for
/// the `tokenizer.ggml.pre` of the model: a list of passes, each splitting every piece of the previous
/// pass further (a pass keeps both what its pattern matches and the text between matches).
///
/// The regex passes are hand-written as in llama.cpp's unicode.cpp (including its deviations from the
/// regexes they stand for); the passes llama.cpp runs through std::regex on its one-byte-per-code-point
/// "collapsed" text are written out for their pattern.
struct PreTokenizer: Sendable {
    enum Pass: Sendable {
        /// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)   (unicode_regex_split_custom_gpt2)
        case gpt2
        /// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
        /// (unicode_regex_split_custom_llama3); with `digitsPerPiece` 1 it is Qwen2's \p{N} variant.
        case llama3(digitsPerPiece: Int)
        /// \p{N}: every number code point on its own.
        case eachNumber
        /// \p{N}+
        case numberRuns
        /// [\p{P}\$\+<=>\^~\|]+
        case punctuationRuns
        /// [0-9][0-9][0-9]
        case asciiDigitTriples
    }

    let passes: [Pass]
    /// llama.cpp's ignore_merges: a word that is a token as a whole is taken as that token.
    let ignoreMerges: Bool
    /// The add_bos default for this pre-tokenizer when tokenizer.ggml.add_bos_token is absent.
    let addsBOSByDefault: Bool

    /// The pre-tokenizer llama.cpp selects for a `tokenizer.ggml.pre` value (nil: absent, llama.cpp's
    /// 'default'); nil for values this implementation does not cover.
    init?(named name: String?) {
        guard let family = PreTokenizerFamily.named(name) else { return nil }
        switch family.splitting {
        case .llamaCppDefault: passes = [.punctuationRuns, .gpt2, .numberRuns, .asciiDigitTriples]
        case .gpt2: passes = [.gpt2]
        case .eachNumberThenGPT2: passes = [.eachNumber, .gpt2]
        case .llama3: passes = [.llama3(digitsPerPiece: 3)]
        case .qwen2: passes = [.llama3(digitsPerPiece: 1)]
        }
        ignoreMerges = family.ignoresMerges
        addsBOSByDefault = family.addsBOSByDefault
    }

    /// The lengths, in code points, of the words of `codepoints` (which sum to its count).
    func split(_ codepoints: [UInt32]) -> [Int] {
        guard !codepoints.isEmpty else { return [] }
        let flags = codepoints.map { CodepointFlags($0) }
        var pieces = [codepoints.count]
        for pass in passes {
            var next: [Int] = []
            next.reserveCapacity(pieces.count * 2)
            var start = 0
            for length in pieces {
                var splitter = Splitter(cps: codepoints, flags: flags, start: start, end: start + length)
                switch pass {
                case .gpt2: splitter.gpt2(into: &next)
                case .llama3(let digits): splitter.llama3(digitsPerPiece: digits, into: &next)
                case .eachNumber: splitter.isolate(into: &next) { s, i in s.flag(i).isNumber ? 1 : 0 }
                case .numberRuns: splitter.isolate(into: &next) { s, i in s.run(from: i) { s.flag($0).isNumber } }
                case .punctuationRuns: splitter.isolate(into: &next) { s, i in s.run(from: i, s.isDefaultPunctuation) }
                case .asciiDigitTriples:
                    splitter.isolate(into: &next) { s, i in
                        i + 3 <= s.end && (i ..< i + 3).allSatisfy { (48 ... 57).contains(s.cps[$0]) } ? 3 : 0
                    }
                }
                start += length
            }
            pieces = next
        }
        return pieces
    }
}

/// One piece of text being split: positions outside start..<end read as "no code point" (no flags), as in
/// llama.cpp's _get_cpt / _get_flags.
private struct Splitter {
    let cps: [UInt32]
    let flags: [CodepointFlags]
    let start: Int
    let end: Int
    private var previousEnd: Int

    static let outside: UInt32 = 0xFFFF_FFFF

    init(cps: [UInt32], flags: [CodepointFlags], start: Int, end: Int) {
        self.cps = cps
        self.flags = flags
        self.start = start
        self.end = end
        previousEnd = start
    }

    @inline(__always) func cpt(_ i: Int) -> UInt32 { i >= start && i < end ? cps[i] : Self.outside }
    @inline(__always) func flag(_ i: Int) -> CodepointFlags { i >= start && i < end ? flags[i] : [] }

    /// Ends a word at `position` (nothing when empty); returns its length.
    @discardableResult
    @inline(__always) mutating func add(_ position: Int, _ out: inout [Int]) -> Int {
        let length = position - previousEnd
        if length > 0 { out.append(length) }
        previousEnd = position
        return length
    }

    func run(from i: Int, _ predicate: (Int) -> Bool) -> Int {
        var j = i
        while j < end && predicate(j) { j += 1 }
        return j - i
    }

    /// [\p{P}\$\+<=>\^~\|] on llama.cpp's collapsed text: ASCII punctuation and $+<=>^~| as themselves,
    /// other code points by category (white space first).
    func isDefaultPunctuation(_ i: Int) -> Bool {
        let c = cps[i]
        if c < 128 {
            switch UInt8(c) {
            case UInt8(ascii: "!") ... UInt8(ascii: "#"), UInt8(ascii: "%") ... UInt8(ascii: "*"),
                 UInt8(ascii: ",") ... UInt8(ascii: "/"), UInt8(ascii: ":"), UInt8(ascii: ";"),
                 UInt8(ascii: "?"), UInt8(ascii: "@"), UInt8(ascii: "[") ... UInt8(ascii: "]"),
                 UInt8(ascii: "_"), UInt8(ascii: "{"), UInt8(ascii: "}"),
                 UInt8(ascii: "$"), UInt8(ascii: "+"), UInt8(ascii: "<"), UInt8(ascii: "="), UInt8(ascii: ">"),
                 UInt8(ascii: "^"), UInt8(ascii: "~"), UInt8(ascii: "|"):
                return true
            default:
                return false
            }
        }
        let f = flags[i]
        return !f.isWhitespace && f.rawValue & CodepointFlags.categories == CodepointFlags.punctuation.rawValue
    }

    /// A regex pass whose pattern matches `matchLength(self, i)` code points at i (0: no match there):
    /// matches and the gaps between them become words.
    mutating func isolate(into out: inout [Int], _ matchLength: (Splitter, Int) -> Int) {
        var i = start
        while i < end {
            let length = matchLength(self, i)
            if length > 0 {
                add(i, &out)
                i += length
                add(i, &out)
            } else {
                i += 1
            }
        }
        add(end, &out)
    }

    @inline(__always) private func isContraction(_ pos: Int, lowercase: Bool) -> Int {
        guard cpt(pos) == 0x27, pos + 1 < end else { return 0 }
        func fold(_ c: UInt32) -> UInt32 { lowercase && c >= 65 && c <= 90 ? c + 32 : c }
        let next = fold(cpt(pos + 1))
        switch next {
        case 0x73, 0x74, 0x6D, 0x64: return 2  // s t m d
        default: break
        }
        if pos + 2 < end {
            let nextNext = fold(cpt(pos + 2))
            if (next == 0x72 && nextNext == 0x65) || (next == 0x76 && nextNext == 0x65) || (next == 0x6C && nextNext == 0x6C) {
                return 3  // re ve ll
            }
        }
        return 0
    }

    mutating func gpt2(into out: inout [Int]) {
        var pos = start
        while pos < end {
            let c = cpt(pos)
            let f = flag(pos)

            // 's|'t|'re|'ve|'m|'ll|'d
            let contraction = isContraction(pos, lowercase: false)
            if contraction > 0 {
                pos += add(pos + contraction, &out)
                continue
            }

            var f2 = c == 0x20 ? flag(pos + 1) : f
            // <space>?\p{L}+
            if f2.isLetter {
                if c == 0x20 { pos += 1 }
                while f2.isLetter { pos += 1; f2 = flag(pos) }
                add(pos, &out)
                continue
            }
            // <space>?\p{N}+
            if f2.isNumber {
                if c == 0x20 { pos += 1 }
                while f2.isNumber { pos += 1; f2 = flag(pos) }
                add(pos, &out)
                continue
            }
            // <space>?[^\s\p{L}\p{N}]+
            if !(f2.isWhitespace || f2.isLetter || f2.isNumber) && f2.isInside {
                if c == 0x20 { pos += 1 }
                while !(f2.isWhitespace || f2.isLetter || f2.isNumber) && f2.isInside { pos += 1; f2 = flag(pos) }
                add(pos, &out)
                continue
            }

            var whitespaces = 0
            while flag(pos + whitespaces).isWhitespace { whitespaces += 1 }
            // \s+(?!\S)
            if whitespaces > 1 && cpt(pos + whitespaces) != Self.outside {
                pos += whitespaces - 1
                add(pos, &out)
                continue
            }
            // \s+
            if whitespaces > 0 {
                pos += whitespaces
                add(pos, &out)
                continue
            }
            pos += 1
            add(pos, &out)
        }
    }

    mutating func llama3(digitsPerPiece: Int, into out: inout [Int]) {
        var pos = start
        while pos < end {
            let c = cpt(pos)
            let f = flag(pos)

            // (?i:'s|'t|'re|'ve|'m|'ll|'d)
            let contraction = isContraction(pos, lowercase: true)
            if contraction > 0 {
                pos += add(pos + contraction, &out)
                continue
            }

            // [^\r\n\p{L}\p{N}]?\p{L}+
            if !(c == 0x0D || c == 0x0A || f.isNumber) {
                if f.isLetter || flag(pos + 1).isLetter {
                    pos += 1
                    while flag(pos).isLetter { pos += 1 }
                    add(pos, &out)
                    continue
                }
            }

            // \p{N}{1,3} (Qwen2: \p{N})
            if f.isNumber {
                var first = pos
                while flag(pos).isNumber {
                    pos += 1
                    if pos - first >= digitsPerPiece {
                        add(pos, &out)
                        first = pos
                    }
                }
                add(pos, &out)
                continue
            }

            // <space>?[^\s\p{L}\p{N}]+[\r\n]*   (llama.cpp tests the first code point's own flags here)
            var f2 = c == 0x20 ? flag(pos + 1) : f
            if !(f2.isWhitespace || f2.isLetter || f2.isNumber) && f.isInside {
                if c == 0x20 { pos += 1 }
                while !(f2.isWhitespace || f2.isLetter || f2.isNumber) && f2.isInside { pos += 1; f2 = flag(pos) }
                var c2 = cpt(pos)
                while c2 == 0x0D || c2 == 0x0A { pos += 1; c2 = cpt(pos) }
                add(pos, &out)
                continue
            }

            var whitespaces = 0
            var lastLineBreakEnd = 0
            while flag(pos + whitespaces).isWhitespace {
                let c2 = cpt(pos + whitespaces)
                if c2 == 0x0D || c2 == 0x0A { lastLineBreakEnd = pos + whitespaces + 1 }
                whitespaces += 1
            }
            // \s*[\r\n]+
            if lastLineBreakEnd > 0 {
                pos = lastLineBreakEnd
                add(pos, &out)
                continue
            }
            // \s+(?!\S)
            if whitespaces > 1 && cpt(pos + whitespaces) != Self.outside {
                pos += whitespaces - 1
                add(pos, &out)
                continue
            }
            // \s+
            if whitespaces > 0 {
                pos += whitespaces
                add(pos, &out)
                continue
            }
            pos += 1
            add(pos, &out)
        }
    }
}
