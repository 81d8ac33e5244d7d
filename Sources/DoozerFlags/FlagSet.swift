/// Go-style command-line flags (`-name value`, `-name=value`, `--name`, booleans as `-v` or
/// `-v=false`), as the original doozer tools take them. Parses; never prints or exits.
public struct FlagSet {
    public enum Kind {
        case string
        /// May be given several times; every value is kept.
        case repeated
        case boolean
    }

    public struct Definition {
        public let name: String
        public let kind: Kind
        public let placeholder: String
        public let usage: String
        public let defaultText: String
    }

    public struct ParseError: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    public private(set) var definitions: [Definition] = []
    private var values: [String: [String]] = [:]
    /// Arguments after the flags (after `--` or the first non-flag argument).
    public private(set) var positional: [String] = []
    /// Whether `-h`, `-help` or `--help` was given.
    public private(set) var helpRequested = false
    /// Whether an unknown flag's error names the defined flag it is likely a typo of. Off by
    /// default: the `doozer` CLI keeps the original's output byte for byte.
    public var suggestsNearest = false

    public init() {}

    public mutating func define(_ name: String, _ kind: Kind, placeholder: String = "value",
                                default defaultText: String = "", usage: String) {
        definitions.append(Definition(name: name, kind: kind, placeholder: placeholder,
                                      usage: usage, defaultText: defaultText))
    }

    public mutating func parse(_ arguments: [String]) throws(ParseError) {
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if argument == "--" {
                positional += arguments[index...]
                return
            }
            guard argument.hasPrefix("-"), argument != "-" else {
                positional += arguments[(index - 1)...]
                return
            }
            var body = argument.dropFirst(argument.hasPrefix("--") ? 2 : 1)
            var inlineValue: String?
            if let equals = body.firstIndex(of: "=") {
                inlineValue = String(body[body.index(after: equals)...])
                body = body[..<equals]
            }
            let name = String(body)
            if name == "h" || name == "help" {
                helpRequested = true
                continue
            }
            guard let definition = definitions.first(where: { $0.name == name }) else {
                let hint = suggestsNearest ? nearest(to: name).map { " (did you mean -\($0)?)" } ?? "" : ""
                throw ParseError(description: "flag provided but not defined: -\(name)\(hint)")
            }
            switch definition.kind {
            case .boolean:
                let text = inlineValue ?? "true"
                guard FlagSet.boolean(text) != nil else {
                    throw ParseError(description: "invalid boolean value \"\(text)\" for -\(name)")
                }
                values[name, default: []].append(text)
            case .string, .repeated:
                var value = inlineValue
                if value == nil {
                    guard index < arguments.count else {
                        throw ParseError(description: "flag needs an argument: -\(name)")
                    }
                    value = arguments[index]
                    index += 1
                }
                if definition.kind == .repeated {
                    values[name, default: []].append(value!)
                } else {
                    values[name] = [value!]
                }
            }
        }
    }

    /// The last value given for `name`, or nil.
    public func value(_ name: String) -> String? { values[name]?.last }
    /// Every value given for a repeated flag, in order.
    public func all(_ name: String) -> [String] { values[name] ?? [] }
    public func flag(_ name: String) -> Bool { value(name).flatMap(FlagSet.boolean) ?? false }

    /// Go's boolean spellings.
    public static func boolean(_ text: String) -> Bool? {
        switch text {
        case "1", "t", "T", "true", "TRUE", "True": return true
        case "0", "f", "F", "false", "FALSE", "False": return false
        default: return nil
        }
    }

    /// One entry per flag: `  -name value` then the indented description and default.
    public var usageText: String {
        definitions.map { definition in
            var line = "  -\(definition.name)"
            if definition.kind != .boolean { line += " \(definition.placeholder)" }
            line += "\n    \t\(definition.usage)"
            if !definition.defaultText.isEmpty { line += " (default \(definition.defaultText))" }
            return line
        }.joined(separator: "\n")
    }
}

extension FlagSet {
    /// The defined flag `name` is most likely a typo of: at most two edits away (one for names
    /// of four letters or fewer), and closer than any other; nil for none or a tie.
    func nearest(to name: String) -> String? {
        let limit = name.count <= 4 ? 1 : 2
        var best: (name: String, distance: Int)?
        var tied = false
        for definition in definitions {
            let distance = Self.editDistance(Array(name.utf8), Array(definition.name.utf8))
            guard distance <= limit, distance < definition.name.count else { continue }
            if let current = best, distance >= current.distance {
                if distance == current.distance { tied = true }
                continue
            }
            best = (definition.name, distance)
            tied = false
        }
        return tied ? nil : best?.name
    }

    /// Insertions, deletions, substitutions and swaps of neighbours between `a` and `b`.
    static func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var previous2 = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { current[j] = min(current[j], previous2[j - 2] + 1) }
            }
            (previous2, previous, current) = (previous, current, previous2)
        }
        return previous[b.count]
    }
}
