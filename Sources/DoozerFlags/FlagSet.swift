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
                throw ParseError(description: "flag provided but not defined: -\(name)")
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
