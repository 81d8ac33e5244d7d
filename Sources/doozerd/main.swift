// doozerd: parse the command line, set up logging, run a node until SIGINT/SIGTERM.
import DoozerServer
import DoozerStartup
import DoozerSystem
import Logging

#if canImport(Glibc)
import Glibc
#endif

let programName = CommandLine.arguments.first.map { String($0.split(separator: "/").last ?? "doozerd") } ?? "doozerd"

func writeStderr(_ text: String) {
    var text = text
    text.withUTF8 { try? FileDescriptor(rawValue: 2).writeAll(UnsafeRawBufferPointer($0)) }
}

let invocation: Invocation
do {
    var environment: [String: String] = [:]
    for name in ["DOOZER_BOOT_URI", "DOOZER_RWSECRET", "DOOZER_ROSECRET"] {
        if let value = getenv(name) { environment[name] = String(cString: value) }
    }
    invocation = try DoozerdCommandLine.parse(Array(CommandLine.arguments.dropFirst()), environment: environment)
} catch {
    writeStderr("\(programName): \(error)\n")
    if error.showUsage { writeStderr(DoozerdCommandLine.usage(programName: programName)) }
    exit(error.status)
}

switch invocation {
case .printVersion:
    print("doozerd \(Configuration.version)")
case .printUsage:
    writeStderr(DoozerdCommandLine.usage(programName: programName))
case .run(let configuration):
    LiveLogLevel.shared.configure(configuration.logLevel)
    LoggingSystem.bootstrap { label in LiveLevelLogHandler(label: label) }
    let logger = Logger(label: "doozerd")
    do {
        let server = try Server(configuration: configuration, logger: logger)
        try server.run()
    } catch let interrupted as StartupInterrupted {
        logger.info("\(interrupted)")   // stopped as asked, before it served anything
    } catch {
        logger.critical("\(error)")
        exit(1)
    }
}
