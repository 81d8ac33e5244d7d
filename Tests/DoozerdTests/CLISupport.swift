// Running the built `doozer` CLI as a subprocess: to completion (exact stdout/stderr bytes and
// exit status), or in the background with its stdout read as it arrives (watch).

import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum DoozerCLIBinary {
    static let path: Result<String, HarnessError> = locate()

    /// `doozer` is built next to `doozerd`; DOOZER_CLI_BINARY overrides.
    private static func locate() -> Result<String, HarnessError> {
        let fm = FileManager.default
        if let explicit = ProcessInfo.processInfo.environment["DOOZER_CLI_BINARY"] {
            guard fm.isExecutableFile(atPath: explicit) else {
                return .failure(HarnessError("DOOZER_CLI_BINARY=\(explicit) is not an executable file"))
            }
            return .success(explicit)
        }
        switch DoozerdBinary.path {
        case .failure(let error):
            return .failure(error)
        case .success(let server):
            let candidate = URL(fileURLWithPath: server).deletingLastPathComponent().appendingPathComponent("doozer").path
            guard fm.isExecutableFile(atPath: candidate) else {
                return .failure(HarnessError("no doozer executable next to \(server); build it (swift build --product doozer) or set DOOZER_CLI_BINARY"))
            }
            return .success(candidate)
        }
    }

    static func get() throws -> String { try path.get() }
}

/// A finished `doozer` run.
typealias CLIResult = RawRun

extension RawRun {
    var out: String { String(decoding: stdout, as: UTF8.self) }
    var err: String { String(decoding: stderr, as: UTF8.self) }

    var summary: String {
        "status \(status) (\(reason == .exit ? "exit" : "signal"))\(timedOut ? " after timeout" : ""); "
            + "stdout: \(out.prefix(600).debugDescription); stderr: \(err.prefix(600).debugDescription)"
    }
}

/// Runs `doozer arguments` with `stdin` as its standard input and waits for it to exit.
/// The environment is the test's minus every DOOZER_* variable, plus `environment`.
func runDoozerCLI(_ arguments: [String], stdin: [UInt8] = [], environment: [String: String] = [:],
                  timeout: Double = 10) throws -> CLIResult {
    try runToExit(try DoozerCLIBinary.get(), arguments, stdin: stdin, environment: environment, timeout: timeout)
}

/// A `doozer` left running (watch): stdout is collected by a reader thread as it arrives.
final class BackgroundCLI: @unchecked Sendable {
    let process = Process()
    private let lock = NSLock()
    private var collected: [UInt8] = []
    private let stdoutPipe = Pipe()
    private let errURL: URL
    private let readerDone = DispatchSemaphore(value: 0)

    init(_ arguments: [String], environment: [String: String] = [:]) throws {
        let binary = try DoozerCLIBinary.get()
        errURL = FileManager.default.temporaryDirectory
            .appendingPathComponent("doozer-cli-bg-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).stderr")
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.environment = DoozerdProcess.environment(with: environment)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = stdoutPipe
        process.standardError = try FileHandle(forWritingTo: errURL)
        try process.run()
        let handle = stdoutPipe.fileHandleForReading
        let thread = Thread { [self] in
            while true {
                let data = handle.availableData
                if data.isEmpty { break }
                lock.lock()
                collected += data
                lock.unlock()
            }
            readerDone.signal()
        }
        thread.start()
    }

    var stdout: [UInt8] {
        lock.lock()
        defer { lock.unlock() }
        return collected
    }

    var stderr: String { (try? String(contentsOf: errURL, encoding: .utf8)) ?? "" }

    /// Waits (bounded) until stdout has at least `count` bytes; returns what it has then.
    @discardableResult
    func waitForOutput(count: Int, timeout: Double = 10) -> [UInt8] {
        let deadline = now() + timeout
        while now() < deadline {
            let current = stdout
            if current.count >= count || !process.isRunning { return current }
            pause(0.01)
        }
        return stdout
    }

    /// SIGTERM, then SIGKILL if needed; reaps the process and the reader thread.
    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            let deadline = now() + 5
            while process.isRunning && now() < deadline { pause(0.01) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
        _ = readerDone.wait(timeout: .now() + 5)
        try? FileManager.default.removeItem(at: errURL)
    }
}

extension DoozerdProcess {
    /// The `doozer:` URI of this server.
    var uri: String { "doozer:?ca=\(address)" }
}

/// Base class of the CLI tests: a shared server and `doozer` runs aimed at it.
class CLITestCase: DoozerdTestCase {
    private var background: [BackgroundCLI] = []

    override func tearDown() {
        for process in background { process.stop() }
        background = []
        super.tearDown()
    }

    /// The argv[0] the CLI sees (and prints in its usage and help).
    var argv0: String { (try? DoozerCLIBinary.get()) ?? "doozer" }

    /// `doozer -a <shared server> arguments…`
    func doozer(_ arguments: String..., stdin: [UInt8] = [], timeout: Double = 10) throws -> CLIResult {
        try runDoozerCLI(["-a", server.uri] + arguments, stdin: stdin, timeout: timeout)
    }

    /// `doozer arguments…` exactly as given.
    func doozerRaw(_ arguments: [String], stdin: [UInt8] = [], environment: [String: String] = [:],
                   timeout: Double = 10) throws -> CLIResult {
        try runDoozerCLI(arguments, stdin: stdin, environment: environment, timeout: timeout)
    }

    /// A `doozer` running in the background until the end of the test.
    func startDoozer(_ arguments: [String], environment: [String: String] = [:]) throws -> BackgroundCLI {
        let process = try BackgroundCLI(arguments, environment: environment)
        background.append(process)
        return process
    }

    /// Exact outcome: status, stdout bytes, stderr bytes.
    func assertCLI(_ result: CLIResult, status: Int32, stdout: [UInt8], stderr: String = "", _ item: String,
                   file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(result.timedOut, "\(item): must exit by itself; \(result.summary)", file: file, line: line)
        XCTAssertEqual(result.reason, .exit, "\(item): exits, no signal; \(result.summary)", file: file, line: line)
        XCTAssertEqual(result.status, status, "\(item): exit status; \(result.summary)", file: file, line: line)
        XCTAssertEqual(result.stdout, stdout,
                       "\(item): stdout \(result.out.debugDescription) != \(String(decoding: stdout, as: UTF8.self).debugDescription)",
                       file: file, line: line)
        XCTAssertEqual(result.err, stderr, "\(item): stderr", file: file, line: line)
    }

    func assertCLI(_ result: CLIResult, status: Int32, stdout: String, stderr: String = "", _ item: String,
                   file: StaticString = #filePath, line: UInt = #line) {
        assertCLI(result, status: status, stdout: Array(stdout.utf8), stderr: stderr, item, file: file, line: line)
    }

    /// A rev printed as `<decimal>\n`.
    func printedRev(_ result: CLIResult, _ item: String, file: StaticString = #filePath, line: UInt = #line) -> Int64? {
        let text = result.out
        guard text.hasSuffix("\n"), let rev = Int64(text.dropLast()), rev > 0 else {
            XCTFail("\(item): expected `<rev>\\n`; \(result.summary)", file: file, line: line)
            return nil
        }
        return rev
    }
}
