/// A code point's Unicode category group and white-space property, with llama.cpp's definitions
/// (unicode.h / gen-unicode-data.py): \p{L} = Lu Ll Lt Lm Lo, \p{N} = Nd Nl No, \p{P} = Pc Pd Ps Pe Pi Pf Po,
/// \p{S} = Sm Sc Sk So, \p{M} = Mn Mc Me, \p{Z} = Zs Zl Zp, "control" = Cc Cf Co Cs, "undefined" = Cn;
/// whitespace (\s) is the White_Space property. Categories are those of Unicode 15.1, the version of
/// llama.cpp's tables. A position outside the text has no flags at all.
struct CodepointFlags: OptionSet, Sendable {
    let rawValue: UInt16

    static let undefined = CodepointFlags(rawValue: 0x0001)
    static let number = CodepointFlags(rawValue: 0x0002)
    static let letter = CodepointFlags(rawValue: 0x0004)
    static let separator = CodepointFlags(rawValue: 0x0008)
    static let mark = CodepointFlags(rawValue: 0x0010)
    static let punctuation = CodepointFlags(rawValue: 0x0020)
    static let symbol = CodepointFlags(rawValue: 0x0040)
    static let control = CodepointFlags(rawValue: 0x0080)
    static let whitespace = CodepointFlags(rawValue: 0x0100)

    static let categories: UInt16 = 0x00FF

    /// The Unicode version of llama.cpp's unicode-data.cpp tables (every code point Swift knows from a later
    /// version reads as unassigned, as there).
    static let tableVersion = (15, 1)

    init(rawValue: UInt16) { self.rawValue = rawValue }

    init(_ codepoint: UInt32) {
        if codepoint < 128 {
            self = Self.ascii[Int(codepoint)]
            return
        }
        var flags: CodepointFlags
        if let scalar = Unicode.Scalar(codepoint) {
            // Code points assigned after llama.cpp's table version are still unassigned there.
            let assigned = scalar.properties.age.map { ($0.major, $0.minor) <= Self.tableVersion } ?? false
            flags = assigned ? Self.category(scalar.properties.generalCategory) : .undefined
        } else {
            flags = codepoint < 0x110000 ? .control : .undefined  // surrogates are Cs
        }
        if Self.isWhitespace(codepoint) { flags.insert(.whitespace) }
        self = flags
    }

    var isLetter: Bool { contains(.letter) }
    var isNumber: Bool { contains(.number) }
    var isWhitespace: Bool { contains(.whitespace) }
    /// Any flag at all: true for every code point inside the text, false past its ends.
    var isInside: Bool { rawValue != 0 }

    /// The Unicode White_Space code points (llama.cpp's unicode_set_whitespace).
    static func isWhitespace(_ c: UInt32) -> Bool {
        switch c {
        case 0x09 ... 0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000 ... 0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            true
        default:
            false
        }
    }

    private static func category(_ category: Unicode.GeneralCategory) -> CodepointFlags {
        switch category {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            .letter
        case .nonspacingMark, .spacingMark, .enclosingMark:
            .mark
        case .decimalNumber, .letterNumber, .otherNumber:
            .number
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            .punctuation
        case .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol:
            .symbol
        case .spaceSeparator, .lineSeparator, .paragraphSeparator:
            .separator
        case .control, .format, .surrogate, .privateUse:
            .control
        case .unassigned:
            .undefined
        @unknown default:
            .undefined
        }
    }

    private static let ascii: [CodepointFlags] = (0 ..< 128).map { c in
        var flags = category(Unicode.Scalar(UInt8(c)).properties.generalCategory)
        if isWhitespace(UInt32(c)) { flags.insert(.whitespace) }
        return flags
    }
}
