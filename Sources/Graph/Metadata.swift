/// Key–value metadata in file order. Setting an existing key replaces it in place; a new key goes last.
public struct Metadata: Sendable {
    public private(set) var entries: [(key: String, value: MetadataValue)] = []
    private var positions: [String: Int] = [:]

    public init() {}

    public init(_ entries: [(key: String, value: MetadataValue)]) {
        for (key, value) in entries { self[key] = value }
    }

    public var count: Int { entries.count }
    public var keys: [String] { entries.map(\.key) }

    public func contains(_ key: String) -> Bool { positions[key] != nil }

    public subscript(key: String) -> MetadataValue? {
        get { positions[key].map { entries[$0].value } }
        set {
            switch (positions[key], newValue) {
            case (let index?, let value?):
                entries[index].value = value
            case (nil, let value?):
                positions[key] = entries.count
                entries.append((key, value))
            case (let index?, nil):
                entries.remove(at: index)
                positions = Dictionary(uniqueKeysWithValues: entries.enumerated().map { ($1.key, $0) })
            case (nil, nil):
                break
            }
        }
    }
}
