// doozer: the command-line client (§8). Parse the command line, run one command, exit.
import DoozerClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

var environment: [String: String] = [:]
for name in ["DOOZER_URI", "DOOZER_BOOT_URI", "DOOZER_TLS_CA", "DOOZER_TLS_CERT", "DOOZER_TLS_KEY"] {
    if let value = getenv(name) { environment[name] = String(cString: value) }
}

switch Invocation.parse(CommandLine.arguments, environment: environment) {
case .finish(let status, let stdout, let stderr):
    Terminal.err(stderr)
    Terminal.out(stdout)
    exit(status)
case .run(let command, let arguments, let options):
    let session = Session(options: options)
    do {
        try command.run(session, arguments)
    } catch {
        Terminal.err("\(error)\n")
        exit(error.status)
    }
    session.close()
    exit(0)
}
