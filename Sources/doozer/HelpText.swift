// The texts the CLI prints: the general usage (§8.5), the per-command `Use:` help, the version.

enum HelpText {
    static let version = "0.9.0-swift"

    /// `Use: <argv0> [options] <command> [options] [args]` and the rest of §8.5 (stderr).
    static func usage(argv0: String) -> String {
        let entries = Commands.all.map { command in
            (command.argSpec.isEmpty ? command.name : "\(command.name) \(command.argSpec)", command.summary)
        }
        let width = entries.map { $0.0.count }.max() ?? 0
        let table = entries.map { name, summary in
            "  " + name + String(repeating: " ", count: width - name.count) + " - " + summary + "\n"
        }.joined()
        return """
            Use: \(argv0) [options] <command> [options] [args]

            Each command takes zero or more options and zero or more arguments.
            In addition, there are some global options that can be used with any
            command. The exit status is 0 on success, 1 for a rev mismatch, and 2
            otherwise.

            Global Options:
            \(Options.globalFlagSet().usageText)

            Environment:

              DOOZER_URI - The doozer cluster to bind to; overridden by -a.

              DOOZER_BOOT_URI - The DzNS to look up addresses in; overridden by -b.

              DOOZER_TLS_CA, DOOZER_TLS_CERT, DOOZER_TLS_KEY - Defaults for -tlsca,
              -tlscert and -tlskey. TLS is on when one of them is set or the URI
              says tls=1 (then with the system's CA certificates).

            Commands:

            """ + table
    }

    /// Go's default flag usage, printed for a bad option before the command (§8.1).
    static func genericUsage(argv0: String) -> String {
        "Usage of \(argv0):\n" + Options.globalFlagSet().usageText + "\n"
    }

    /// `Use: <argv0> [options] <cmd> [options] <argspec>`, then a blank line and the long help.
    static func help(argv0: String, commandName: String) -> String {
        let command = Commands.named(commandName)
        var text = "Use: \(argv0) [options] \(commandName) [options] \(command?.argSpec ?? "")\n"
        if let help = command?.help, !help.isEmpty { text += "\n" + help }
        return text
    }

    static let globRules = """
        <glob> is a path pattern matched against the whole path of each change:
          ?   matches one character other than /
          *   matches zero or more characters other than /
          **  matches zero or more characters, including /
        Any other character matches itself. For example, /a/* matches /a/b but
        not /a/b/c, and /a/** matches everything below /a (but not /a itself).
        No-op revisions are reported with the path /, so /** matches them too.
        """

    static let recordFormat = """
        Each change is printed as a header line, the body and a newline:

          <path> <rev> <set|del> <len>
          <body>

        where <rev> is the revision of the change, set or del its kind (empty,
        giving two spaces, for a no-op revision), and <len> the length of
        <body> in bytes. A failed write shows up as a set of /ctl/err.
        """
}
