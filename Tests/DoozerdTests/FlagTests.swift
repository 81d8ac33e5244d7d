// §6 doozerd command line: flags, exit statuses, signals; -pulse, -c, -l spelling (§12.11 #92, #93).

import DoozerWire
import XCTest

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

final class FlagTests: DoozerdTestCase {
    override class var serverConfig: DoozerdProcess.Config? { nil }

    /// A `-l` value on a fresh loopback address (in case the process unexpectedly starts serving).
    private func listenArgument() throws -> String {
        let host = Loopback.freshHost()
        return "\(host):\(try Loopback.freePort(on: host))"
    }

    private func assertFails(_ arguments: [String], _ item: String, stderrContains: String? = nil,
                             file: StaticString = #filePath, line: UInt = #line) throws {
        let outcome = try runDoozerd(arguments)
        XCTAssertFalse(outcome.timedOut, "\(item): doozerd \(arguments) must exit by itself; \(outcome.summary)", file: file, line: line)
        XCTAssertEqual(outcome.reason, .exit, "\(item): a clean exit, not a crash; \(outcome.summary)", file: file, line: line)
        XCTAssertNotEqual(outcome.status, 0, "\(item): non-zero exit; \(outcome.summary)", file: file, line: line)
        XCTAssertFalse(outcome.stderr.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty,
                       "\(item): a message on stderr; \(outcome.summary)", file: file, line: line)
        XCTAssertFalse(outcome.stderr.contains("Fatal error"), "\(item): no Swift runtime trap; \(outcome.summary)",
                       file: file, line: line)
        if let needle = stderrContains {
            XCTAssertTrue(outcome.stderr.lowercased().contains(needle.lowercased()),
                          "\(item): stderr should mention \(needle.debugDescription); \(outcome.summary)", file: file, line: line)
        }
    }

    // §6.2 -v
    func testVersion() throws {
        let outcome = try runDoozerd(["-v"])
        XCTAssertEqual(outcome.status, 0, "§6.2 -v: \(outcome.summary)")
        XCTAssertEqual(outcome.reason, .exit, "§6.2 -v")
        let line = outcome.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(line.hasPrefix("doozerd "), "§6.2 -v prints `doozerd <version>` to stdout: \(outcome.summary)")
        XCTAssertGreaterThan(line.count, "doozerd ".count, "§6.2 -v: a version follows")
        XCTAssertFalse(line.contains("\n"), "§6.2 -v: one line")
    }

    // §6.5 -h / --help
    func testHelp() throws {
        for flag in ["-h", "--help", "-help"] {
            let outcome = try runDoozerd([flag])
            XCTAssertEqual(outcome.status, 0, "§6.5 \(flag) exits 0: \(outcome.summary)")
            XCTAssertEqual(outcome.reason, .exit, "§6.5 \(flag)")
            let text = outcome.stderr + outcome.stdout
            XCTAssertTrue(text.contains("Usage:"), "§6.5 \(flag) prints the usage: \(outcome.summary)")
            for name in ["-l", "-c", "-hist", "-pulse", "-w"] {
                XCTAssertTrue(text.contains(name), "§6.5 \(flag): usage lists \(name)")
            }
        }
    }

    // §6.5 unknown flags and bad values
    func testBadFlags() throws {
        let listen = try listenArgument()
        try assertFails(["-l", listen, "-w", "false", "-nosuchflag"], "§6.5 unknown flag")
        try assertFails(["-l", listen, "-w", "false", "-hist", "abc"], "§6.5 bad -hist")
        try assertFails(["-l", listen, "-w", "false", "-pulse", "soon"], "§6.5 bad -pulse")
        try assertFails(["-l", listen, "-w", "false", "-maxframe", "huge"], "§6.5 bad -maxframe")
        try assertFails(["-l", listen, "-w", "false", "-hist"], "§6.5 flag without its value")
        try assertFails(["-l", listen, "-w", "false", "-v=maybe"], "§6.5 bad boolean")
    }

    // §6.5: -l ''
    func testEmptyListenAddress() throws {
        try assertFails(["-l", "", "-w", "false"], "§6.5 -l ''")
        try assertFails(["-l=", "-w", "false"], "§6.5 -l=")
    }

    // B16: -c must be a valid path component
    func testBadClusterNames() throws {
        let listen = try listenArgument()
        for name in ["bad name", "", "a/b", "x_y", "é", "a:b"] {
            try assertFails(["-l", listen, "-w", "false", "-c", name], "B16 -c \(name.debugDescription)")
        }
    }

    // TLS files that cannot be read and attaching to nothing fail with one clear line.
    func testUnreadableFilesAndFailedAttachExitWithMessage() throws {
        let listen = try listenArgument()
        try assertFails(["-l", listen, "-w", "false", "-tlscert", "/nonexistent.pem", "-tlskey", "/nonexistent.key"],
                        "TLS files missing", stderrContains: "/nonexistent.pem: No such file or directory")
        try assertFails(["-l", listen, "-w", "false", "-a", "127.0.0.1:1", "-attachwait", "0"], "-a to nothing, once",
                        stderrContains: "failed to attach")
    }

    // -a keeps trying while nothing listens, for -attachwait, says so once, then fails as before.
    func testAttachToNothingTriesAgainForAttachWait() throws {
        let listen = try listenArgument()
        try assertFails(["-l", listen, "-w", "false", "-a", "127.0.0.1:1", "-attachwait", "0.8"], "-a to nothing for 0.8 s",
                        stderrContains: "failed to attach")
        let outcome = try runDoozerd(["-l", try listenArgument(), "-w", "false", "-a", "127.0.0.1:1", "-attachwait", "0.8"])
        XCTAssertEqual(outcome.stderr.components(separatedBy: "trying again for up to").count - 1, 1,
                       "one line says it tries again: \(outcome.summary)")
        try assertFails(["-l", listen, "-w", "false", "-a", "127.0.0.1:1", "-attachwait", "soon"], "-attachwait soon",
                        stderrContains: "invalid value \"soon\" for -attachwait")
        // Not an address at all: no retry mends that, so it fails at once whatever -attachwait says.
        try assertFails(["-l", listen, "-w", "false", "-a", "8046"], "-a without a port", stderrContains: "missing port in address")
    }

    // A mistyped flag names the defined one it is likely a typo of; a name near none, or near
    // several alike, gets the plain error.
    func testAMistypedFlagSuggestsTheNearestOne() throws {
        for (typed, meant) in [("tiemout", "timeout"), ("tlscrt", "tlscert"), ("peerky", "peerkey"), ("attachwiat", "attachwait")] {
            let outcome = try runDoozerd(["-\(typed)", "1"])
            XCTAssertEqual(outcome.status, 2, outcome.summary)
            XCTAssertTrue(outcome.stderr.contains("flag provided but not defined: -\(typed) (did you mean -\(meant)?)"),
                          outcome.summary)
        }
        for typed in ["x", "zzzzzz"] {
            let outcome = try runDoozerd(["-\(typed)", "1"])
            XCTAssertEqual(outcome.status, 2, outcome.summary)
            XCTAssertTrue(outcome.stderr.contains("flag provided but not defined: -\(typed)\n"), outcome.summary)
        }
    }

    // B17: only `false` disables the web view; other booleans are addresses (here: invalid ones).
    func testWebFlagTrueIsAnAddress() throws {
        let listen = try listenArgument()
        try assertFails(["-l", listen, "-w", "true"], "B17 -w true")
    }

    // §6.5 / §1.4: a listen address that cannot be bound
    func testUnbindableListenAddress() throws {
        let host = Loopback.freshHost()
        let port = try Loopback.freePort(on: host)
        let holder = try Loopback.occupy(host, port)
        defer { close(holder) }
        try assertFails(["-l", "\(host):\(port)", "-w", "false"], "§6.5 cannot bind -l")
        try assertFails(["-l", "not-an-address", "-w", "false"], "§6.5 malformed -l")
    }

    // Exits 0 on SIGTERM and SIGINT, closing its connections and its listener.
    func testSignalsStopTheServerCleanly() throws {
        for sig in [SIGTERM, SIGINT] {
            let process = try startServer(DoozerdProcess.Config())
            let c = try connect(to: process)
            XCTAssertGreaterThanOrEqual(try c.rev(), 57)
            let exit = process.stop(signal: sig, timeout: 5)
            XCTAssertFalse(exit.killed, "signal \(sig): must exit within 5 s; stderr: \(process.stderrTail())")
            XCTAssertEqual(exit.reason, .exit, "signal \(sig): exits (not killed by the signal): \(exit)")
            XCTAssertEqual(exit.status, 0, "signal \(sig): exit status 0: \(exit)")
            XCTAssertTrue(c.expectClosed(within: 2).isClosed, "signal \(sig): open connections are closed")
            XCTAssertFalse(Loopback.isListening(host: process.host, port: process.port), "signal \(sig): listener closed")
        }
    }

    // 12.11 #92 with -pulse, and -c NAME (§5.2, §3.12)
    func testPulseAndClusterName() throws {
        let process = try startServer(DoozerdProcess.Config(arguments: ["-pulse", "0.25", "-c", "conf-Name.1"]))
        let c = try connect(to: process)
        let id = process.nodeID
        let applied = "/ctl/node/\(id)/applied"
        let current = try c.rev()
        var times: [Double] = []
        var last = current
        var previous: Int64?
        for _ in 0..<5 {
            let event = try c.wait(applied, rev: last + 1)
            times.append(now())
            let rev = try XCTUnwrap(event.rev, "12.11 #92: \(event.brief)")
            let body = try XCTUnwrap(event.text.flatMap { Int64($0) }, "12.11 #92: decimal body, \(event.brief)")
            XCTAssertLessThan(body, rev, "12.11 #92: applied body < its own rev")
            XCTAssertGreaterThanOrEqual(body, previous ?? 56, "12.11 #92: the store revision when the write started")
            previous = rev
            last = rev
        }
        let average = (times.last! - times.first!) / Double(times.count - 1)
        XCTAssertGreaterThan(average, 0.1, "12.11 #92 -pulse 0.25: interval \(average)")
        XCTAssertLessThan(average, 0.6, "12.11 #92 -pulse 0.25: interval \(average)")

        XCTAssertEqual(try c.get("/ctl/name").text, "conf-Name.1", "§6.2 -c")
        XCTAssertEqual(try c.get("/ctl/name").rev, 1, "§3.12 -c")
        XCTAssertEqual(try c.get("/ctl/ns/conf-Name.1/\(id)").text, process.address, "§3.12 /ctl/ns/<cluster>/<id>")
        XCTAssertEqual(try c.listDir("/ctl/ns"), ["conf-Name.1"], "§3.12")
    }

    // 12.11 #93: the recorded addr is the bound address, not the spelling of -l.
    func testAddrIsTheBoundAddress() throws {
        var config = DoozerdProcess.Config()
        config.host = "127.0.0.1"
        config.listenHostSpelling = "localhost"
        guard let resolved = try? String(contentsOfFile: "/etc/hosts", encoding: .utf8),
              resolved.split(separator: "\n").contains(where: { $0.hasPrefix("127.0.0.1") && $0.contains("localhost") })
        else {
            throw XCTSkip("localhost does not map to 127.0.0.1 here")
        }
        let process = try startServer(config)
        let c = try connect(to: process)
        XCTAssertEqual(try c.get("/ctl/node/\(process.nodeID)/addr").text, "127.0.0.1:\(process.port)",
                       "12.11 #93: -l localhost:P is recorded as 127.0.0.1:P")
    }

    // B10 / §2.9: writability is evaluated per request, so a connection accepted before the node
    // became writable accepts writes afterwards.
    func testConnectionOpenedEarlyBecomesWritable() throws {
        var config = DoozerdProcess.Config()
        config.skipReadiness = true
        let process = try startServer(config)
        let deadline = now() + 15
        var early: TestConnection?
        while early == nil && now() < deadline && process.isRunning {
            early = try? connect(to: process)
            if early == nil { pause(0.005) }
        }
        let c = try XCTUnwrap(early, "B10: could not connect; stderr: \(process.stderrTail())")
        let firstRev = try c.rev()
        var rev = firstRev
        while rev < 57 && now() < deadline {
            pause(0.02)
            rev = try c.rev()
        }
        XCTAssertGreaterThanOrEqual(rev, 57, "B10: the node finishes start-up")
        let id = try c.nodeID()
        var writable = Response()
        while now() < deadline {
            writable = try c.get("/ctl/node/\(id)/writable")
            if (writable.rev ?? 0) > 0 { break }
            pause(0.02)
        }
        XCTAssertEqual(writable.text, "true", "B10: writable appears")
        let path = "/" + unique("early")
        let response = try c.set(path, "x", rev: -1)
        assertOK(response, "B10: SET on a connection accepted at rev \(firstRev)")
        assertOK(try c.nop(), "B10: NOP on the early connection")
    }

    // §6.2 -hist, -pulse and -maxframe accept the `-name=value` spelling too.
    func testEqualsSpelling() throws {
        let process = try startServer(DoozerdProcess.Config(arguments: ["-hist=100", "-pulse=0.5", "-maxframe=65536", "-c=eq"]))
        let c = try connect(to: process)
        XCTAssertEqual(try c.get("/ctl/name").text, "eq", "§6.1 -c=eq")
    }
}

private extension FlagTests {
    func assertFails(_ arguments: [String], _ item: String, stderrContains: String?, environment: [String: String],
                     file: StaticString = #filePath, line: UInt = #line) throws {
        let outcome = try runDoozerd(arguments, environment: environment)
        XCTAssertFalse(outcome.timedOut, "\(item): must exit by itself; \(outcome.summary)", file: file, line: line)
        XCTAssertNotEqual(outcome.status, 0, "\(item): non-zero exit; \(outcome.summary)", file: file, line: line)
        if let needle = stderrContains {
            XCTAssertTrue(outcome.stderr.lowercased().contains(needle.lowercased()),
                          "\(item): stderr should mention \(needle.debugDescription); \(outcome.summary)", file: file, line: line)
        }
    }
}

/// A client or peer port that cannot be bound ends start-up with one line naming the address
/// and its flag, as the web port's does.
final class ListenAddressTests: DoozerdTestCase {
    override class var serverConfig: DoozerdProcess.Config? { nil }

    func testClientAndPeerAddressesInUseFailStartUpWithOneLine() throws {
        let host = Loopback.freshHost()
        for (udp, name) in [(false, "client port (-l \(host):"), (true, "peer port (UDP, -l \(host):")] {
            let port = try Loopback.freePort(on: host)
            let holder = try Loopback.occupy(host, port, udp: udp)
            defer { close(holder) }
            let outcome = try runDoozerd(["-l", "\(host):\(port)", "-w", "false", "-attachwait", "0"])
            XCTAssertEqual(outcome.status, 1, outcome.summary)
            XCTAssertFalse(outcome.timedOut, outcome.summary)
            XCTAssertTrue(outcome.stderr.contains("\(name)\(port))"), "names the port and its flag: \(outcome.summary)")
            XCTAssertTrue(outcome.stderr.contains("in use"), outcome.summary)
            XCTAssertEqual(outcome.stderr.split(separator: "\n").count, 1, outcome.summary)
        }
    }
}
