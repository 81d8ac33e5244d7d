// One doozerd of the fault cluster, as a user runs it: a fixed command line (with its own
// -data folder) started, killed, paused and started again exactly the same way.

import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One node of the fault cluster: owns its command line, its log file (every run of it,
/// appended) and its current process, if any. Used from the fault thread only.
final class FaultNode: @unchecked Sendable {
    static let port = 8046

    /// Short name in messages and the summary, e.g. "n2".
    let label: String
    let host: String
    private let binary: String
    /// Everything after the binary; the same on every start.
    let arguments: [String]
    let logPath: String
    private(set) var pid: pid_t?
    /// SELF, once known (it never changes: the node is durable).
    var id = ""
    /// A member (holds a /ctl/cal slot) rather than the slave.
    var isMember = false
    private(set) var starts = 0

    init(label: String, host: String, binary: String, arguments: [String], logPath: String) {
        self.label = label
        self.host = host
        self.binary = binary
        self.arguments = ["-l", "\(host):\(Self.port)"] + arguments
        self.logPath = logPath
    }

    var address: String { "\(host):\(Self.port)" }
    var name: String { "\(label) \(address)\(isMember ? " member" : " slave")" }
    var isRunning: Bool { pid != nil }

    /// Starts the process (stderr and stdout appended to `logPath`); the environment is ours
    /// without DOOZER_* variables.
    func start() throws {
        precondition(pid == nil, "\(label) is already running")
        starts += 1
        let banner = "=== start \(starts): \(binary) \(arguments.joined(separator: " "))\n"
        if let handle = FileHandle(forWritingAtPath: logPath) ?? createLog() {
            handle.seekToEndOfFile()
            handle.write(Data(banner.utf8))
            handle.closeFile()
        }
        let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("DOOZER_") }
        pid = try Spawn.start(binary, arguments, environment: environment, stdout: .file(logPath), stderr: .file(logPath))
    }

    private func createLog() -> FileHandle? {
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        return FileHandle(forWritingAtPath: logPath)
    }

    /// `kill -9`, and reap.
    func kill9() {
        guard let pid else { return }
        Spawn.kill9(pid)
        self.pid = nil
    }

    func pause() { signal(SIGSTOP) }
    func resume() { signal(SIGCONT) }

    private func signal(_ number: Int32) {
        if let pid { _ = kill(pid, number) }
    }

    /// How the process ended if it did so by itself (reaped now); nil while it runs.
    func unexpectedExit() -> Spawn.Exit? {
        guard let pid, let exit = Spawn.poll(pid) else { return nil }
        self.pid = nil
        return exit
    }

    /// The last `limit` bytes of its log.
    func logTail(_ limit: Int = 1500) -> String {
        guard let data = FileManager.default.contents(atPath: logPath) else { return "<no log>" }
        return String(decoding: data.suffix(limit), as: UTF8.self)
    }

    /// Waits (bounded poll) until the process answers REV and SELF; fills in `id`.
    func awaitAnswering(within seconds: Double) throws {
        let deadline = Clock.seconds() + seconds
        var problem = "no attempt yet"
        while Clock.seconds() < deadline {
            if let exit = unexpectedExit() { throw FaultError("\(name) exited (\(exit)) before it answered") }
            do {
                let link = try ClientLink.dial(self, timeout: 1)
                defer { link.close() }
                _ = try link.rev(timeout: 1)
                id = try link.selfID(timeout: 1)
                return
            } catch {
                problem = "\(error)"
            }
            usleep(50_000)
        }
        throw FaultError("\(name) did not answer within \(seconds) s: \(problem)")
    }
}
