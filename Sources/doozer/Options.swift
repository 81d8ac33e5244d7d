// The command line (§8.1): options are parsed twice with the same set — before the command name,
// then between the command name and its arguments — and each pass stops at the first argument
// that is not an option, so `doozer set /x -1` takes -1 as the rev.

import DoozerClient
import DoozerFlags

/// What the options say, after both passes (command line over environment over defaults).
struct Options {
    static let defaultURI = "doozer:?ca=127.0.0.1:8046"

    var argv0: String
    /// -a, DOOZER_URI
    var uri: String
    /// -b, DOOZER_BOOT_URI; empty = none
    var bootURI: String
    /// -r; -1 = the current revision
    var rev: Int64 = -1
    /// -t in nanoseconds; 0 (or negative) = no timeout
    var timeoutNanoseconds: Int64 = 0
    /// find -l
    var longListing = false
    /// get -linear
    var linearizable = false
    /// -tlsca, -tlscert, -tlskey (DOOZER_TLS_CA, DOOZER_TLS_CERT, DOOZER_TLS_KEY): TLS with
    /// these files; nil unless one is set (`tls=1` in the URI alone uses the system's CAs).
    var tls: TLSOptions?

    /// The options every command takes, in either position.
    static func globalFlagSet() -> FlagSet {
        var flags = FlagSet()
        flags.define("a", .string, placeholder: "string", default: "\"\(defaultURI)\"",
                     usage: "the doozer cluster URI to connect to")
        flags.define("b", .string, placeholder: "string",
                     usage: "the DzNS URI, used to look up the cluster named by cn= in -a")
        flags.define("h", .boolean, usage: "show help")
        flags.define("r", .string, placeholder: "int", default: "-1",
                     usage: "request rev for find, get, wait and watch (-1: the current one)")
        flags.define("t", .string, placeholder: "duration",
                     usage: "wait timeout, e.g. 500ms or 1m30s (0: none)")
        flags.define("tlsca", .string, placeholder: "file",
                     usage: "connect with TLS, trusting the CA certificates (PEM) in this file")
        flags.define("tlscert", .string, placeholder: "file",
                     usage: "connect with TLS, presenting this client certificate (PEM; needs -tlskey)")
        flags.define("tlskey", .string, placeholder: "file",
                     usage: "the private key (PEM) of -tlscert")
        flags.define("v", .boolean, usage: "print doozer's version string")
        return flags
    }

    /// Takes the values one pass gave; returns the error text of a bad value.
    mutating func apply(_ flags: FlagSet) -> String? {
        if let value = flags.value("a") { uri = value }
        if let value = flags.value("b") { bootURI = value }
        if let text = flags.value("r") {
            switch GoSyntax.flagInt64(text) {
            case .none: return "invalid value \(GoSyntax.quote(text)) for flag -r: parse error"
            case .some(.none): return "invalid value \(GoSyntax.quote(text)) for flag -r: value out of range"
            case .some(.some(let value)): rev = value
            }
        }
        if let text = flags.value("t") {
            switch GoSyntax.parseDuration(text) {
            case .failure: return "invalid value \(GoSyntax.quote(text)) for flag -t: parse error"
            case .success(let value): timeoutNanoseconds = value
            }
        }
        for (name, path) in [("tlsca", \TLSOptions.caFile), ("tlscert", \.certificate), ("tlskey", \.key)] {
            if let value = flags.value(name), !value.isEmpty {
                var tls = self.tls ?? TLSOptions()
                tls[keyPath: path] = value
                self.tls = tls
            }
        }
        if flags.value("l") != nil { longListing = flags.flag("l") }
        if flags.value("linear") != nil { linearizable = flags.flag("linear") }
        return nil
    }
}

/// The outcome of reading the command line.
enum Invocation {
    case run(Command, arguments: [String], options: Options)
    /// Nothing to run: print and exit (help, version, usage errors).
    case finish(status: Int32, stdout: String, stderr: String)

    static func parse(_ argv: [String], environment: [String: String]) -> Invocation {
        let argv0 = argv.first ?? "doozer"
        var options = Options(
            argv0: argv0,
            uri: environment["DOOZER_URI"].flatMap { $0.isEmpty ? nil : $0 } ?? Options.defaultURI,
            bootURI: environment["DOOZER_BOOT_URI"] ?? "")
        for (name, path) in [("DOOZER_TLS_CA", \TLSOptions.caFile), ("DOOZER_TLS_CERT", \.certificate), ("DOOZER_TLS_KEY", \.key)] {
            if let value = environment[name], !value.isEmpty {
                var tls = options.tls ?? TLSOptions()
                tls[keyPath: path] = value
                options.tls = tls
            }
        }

        // Pass 1: the options before the command; errors get Go's generic listing (§8.1).
        var first = Options.globalFlagSet()
        do {
            try first.parse(Array(argv.dropFirst()))
        } catch {
            return .finish(status: 2, stdout: "", stderr: "\(error)\n" + HelpText.genericUsage(argv0: argv0))
        }
        if let problem = options.apply(first) {
            return .finish(status: 2, stdout: "", stderr: problem + "\n" + HelpText.genericUsage(argv0: argv0))
        }
        if first.helpRequested || first.flag("h") {
            return .finish(status: 0, stdout: "", stderr: HelpText.usage(argv0: argv0))
        }
        if first.flag("v") {
            return .finish(status: 0, stdout: "doozer \(HelpText.version)\n", stderr: "")
        }
        guard let name = first.positional.first else {
            return .finish(status: 127, stdout: "", stderr: "\(argv0): missing command\n" + HelpText.usage(argv0: argv0))
        }
        guard let command = Commands.named(name) else {
            return .finish(status: 127, stdout: "", stderr: "Unknown command: \(name)\n" + HelpText.usage(argv0: argv0))
        }

        // Pass 2: the options after the command name; errors get the full usage.
        var second = Options.globalFlagSet()
        command.defineFlags(&second)
        do {
            try second.parse(Array(first.positional.dropFirst()))
        } catch {
            return .finish(status: 2, stdout: "", stderr: "\(error)\n" + HelpText.usage(argv0: argv0))
        }
        if let problem = options.apply(second) {
            return .finish(status: 2, stdout: "", stderr: problem + "\n" + HelpText.usage(argv0: argv0))
        }
        let help = HelpText.help(argv0: argv0, commandName: name)
        if second.helpRequested || second.flag("h") {
            return .finish(status: 0, stdout: help, stderr: "")
        }
        guard second.positional.count == command.arity else {
            return .finish(status: 127, stdout: help, stderr: "\(name): wrong number of arguments\n")
        }
        return .run(command, arguments: second.positional, options: options)
    }
}
