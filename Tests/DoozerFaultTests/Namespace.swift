// The fault suite runs in a network namespace of its own: the test method, started normally,
// re-executes this test bundle under `unshare -n` with a filter naming itself, streams the
// child's output, and fails when the child fails. Inside, every 127.0.0.x address and port is
// private to the run, and nftables rules touch nothing outside it.

import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// What the suite needs from the machine, checked before anything starts: a skip names the
/// first missing piece in one line.
enum Prerequisites {
    /// `XCTSkip` unless this is root, on a release build (or forced), with `unshare` and `nft`
    /// working in a new network namespace; returns the tools' paths.
    static func check() throws -> (unshare: String, nft: String) {
        #if DEBUG
        if ProcessInfo.processInfo.environment["DOOZER_FAULT_DEBUG"] != "1" {
            throw XCTSkip("fault rounds run on release builds only (DOOZER_FAULT_DEBUG=1 runs them on a debug build)")
        }
        #endif
        guard geteuid() == 0 else { throw XCTSkip("fault rounds need root (unshare -n, nft)") }
        guard let unshare = Spawn.tool("unshare") else { throw XCTSkip("fault rounds need unshare (util-linux)") }
        guard let nft = Spawn.tool("nft") else { throw XCTSkip("fault rounds need nft (apt-get install nftables)") }
        if !Namespace.isInside {
            let probe = try Spawn.run(unshare, ["-n", nft, "list", "ruleset"])
            guard probe.exit == .status(0) else {
                throw XCTSkip("nft does not work in a new network namespace here: \(probe.output.prefix(200))")
            }
        }
        return (unshare, nft)
    }
}

/// Entering the namespace: the outer side re-executes the bundle, the inner side sets up `lo`.
enum Namespace {
    /// Set in the child's environment: this process already runs in the suite's namespace.
    static let marker = "DOOZER_FAULT_NETNS"

    static var isInside: Bool { ProcessInfo.processInfo.environment[marker] == "1" }

    /// Runs test `name` (`Module.Class/method`) of this bundle under `unshare -n`, in a process
    /// group of its own that is killed whole once it ends (or after `timeout` s), so no doozerd
    /// it started outlives it. Prints the child's output line by line as it comes, prefixed so
    /// the child's test summary is not mistaken for ours; fails the calling test when it fails.
    static func runInside(_ name: String, unshare: String, timeout: Double, file: StaticString = #filePath, line: UInt = #line) throws {
        let bundle = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        var environment = ProcessInfo.processInfo.environment
        environment[marker] = "1"
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else { throw FaultError("pipe: \(String(cString: strerror(errno)))") }
        let pid: pid_t
        do {
            pid = try Spawn.start(unshare, ["-n", "--", bundle, name], environment: environment,
                                  stdout: .descriptor(pipeEnds[1]), stderr: .descriptor(pipeEnds[1]), newGroup: true)
        } catch {
            close(pipeEnds[0])
            close(pipeEnds[1])
            throw error
        }
        close(pipeEnds[1])
        let relay = LineRelay(fd: pipeEnds[0], prefix: "netns| ")
        relay.start()
        let exit = Spawn.wait(pid, timeout: timeout)
        _ = kill(-pid, SIGKILL)  // whatever the child left in its group (a doozerd, if it crashed)
        if exit == nil { _ = Spawn.wait(pid) }
        relay.finish()
        guard let exit else {
            XCTFail("\(name) in its network namespace did not end within \(Int(timeout)) s; killed its process group", file: file, line: line)
            return
        }
        if exit != .status(0) {
            let errors = relay.errorLines.suffix(20).joined(separator: "\n")
            XCTFail("\(name) in its network namespace failed (\(exit)); its failures:\n\(errors)", file: file, line: line)
        }
    }

    /// Inside: brings `lo` up (a new namespace starts with it down).
    static func bringLoopbackUp() throws {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw FaultError("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var request = ifreq()
        withUnsafeMutableBytes(of: &request.ifr_ifrn.ifrn_name) { name in
            for (i, byte) in "lo".utf8.enumerated() { name[i] = byte }
        }
        guard ioctl(fd, UInt(SIOCGIFFLAGS), &request) == 0 else {
            throw FaultError("SIOCGIFFLAGS lo: \(String(cString: strerror(errno)))")
        }
        request.ifr_ifru.ifru_flags |= Int16(IFF_UP | IFF_RUNNING)
        guard ioctl(fd, UInt(SIOCSIFFLAGS), &request) == 0 else {
            throw FaultError("SIOCSIFFLAGS lo up: \(String(cString: strerror(errno)))")
        }
    }
}

/// Copies a child's output to ours line by line, prefixed; owns the read end of the pipe and
/// the thread reading it, and keeps the lines that report test failures.
final class LineRelay: @unchecked Sendable {
    private let fd: Int32
    private let prefix: String
    private let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var failures: [String] = []

    init(fd: Int32, prefix: String) {
        self.fd = fd
        self.prefix = prefix
    }

    /// XCTest's failure lines (`…: error: …`) seen so far.
    var errorLines: [String] { lock.withLock { failures } }

    func start() {
        Thread { [self] in
            defer { done.signal() }
            guard let stream = fdopen(fd, "r") else { return }
            defer { fclose(stream) }
            var line: UnsafeMutablePointer<CChar>?
            var capacity = 0
            while getline(&line, &capacity, stream) >= 0, let line {
                let text = String(cString: line).trimmingCharacters(in: .newlines)
                if text.contains(": error: ") { lock.withLock { failures.append(text) } }
                say(prefix + text)
            }
            free(line)
        }.start()
    }

    /// Waits until the child's last byte was relayed (every writer closed the pipe).
    func finish() { done.wait() }
}

/// Writes one line to stdout at once (unbuffered, so a piped child's lines stream as they come).
func say(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}
