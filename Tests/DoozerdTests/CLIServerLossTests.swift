// Issue 10: the CLI when the server goes away or refuses a request — the cause is reported
// (as the original reports it) and promptly, never a bare exit status or a late "timeout".

import Foundation
import XCTest

final class CLIServerLossTests: CLITestCase {
    override class var serverConfig: DoozerdProcess.Config? { nil }

    /// The original prints `Error: EOF` when the server dies under `watch`.
    func testWatchReportsEOFWhenTheServerDies() throws {
        let server = try startServer(DoozerdProcess.Config())
        let connection = try connect(to: server)
        let start = try connection.rev() + 1
        let watcher = try startDoozer(["-a", server.uri, "watch", "-r", "\(start)", "/w/**"])
        let rev = try connection.mustSet("/w/a", "1")
        let record = Array("/w/a \(rev) set 1\n1\n".utf8)
        XCTAssertEqual(watcher.waitForOutput(count: record.count), record, "stderr: \(watcher.stderr)")

        _ = server.stop()
        // The client library tries to reconnect for its window (10 s) before giving up.
        let deadline = now() + 30
        while watcher.process.isRunning && now() < deadline { pause(0.05) }
        XCTAssertFalse(watcher.process.isRunning, "watch must end once the server is gone")
        guard !watcher.process.isRunning else { return }
        XCTAssertEqual(watcher.process.terminationStatus, 2)
        XCTAssertEqual(watcher.stderr, "Error: EOF\n")
        XCTAssertEqual(watcher.stdout, record, "nothing printed after the last record")
    }

    /// A value over `-maxframe`: the server closes the connection at once, and so must the
    /// CLI — with the cause, not `timeout` after 10 s of resending it.
    func testSetOverMaxFrameReportsTheClosedConnection() throws {
        var config = DoozerdProcess.Config()
        config.arguments = ["-maxframe", "1024"]
        let server = try startServer(config)
        let result = try runDoozerCLI(["-a", server.uri, "set", "/big", "0"], stdin: [UInt8](repeating: 0x61, count: 4000),
                                      timeout: 8)
        XCTAssertFalse(result.timedOut, "must not wait for a timeout; \(result.summary)")
        XCTAssertEqual(result.status, 2, result.summary)
        XCTAssertTrue(result.err.hasPrefix("Error: "), result.summary)
        XCTAssertTrue(result.err.contains("-maxframe"), "the likely cause is named; \(result.summary)")
        XCTAssertFalse(result.err.contains("timeout"), result.summary)
        XCTAssertEqual(result.stdout, [], result.summary)
        // A value under the limit still goes through on the same server.
        let small = try runDoozerCLI(["-a", server.uri, "set", "/small", "0"], stdin: Array("x".utf8))
        XCTAssertEqual(small.status, 0, small.summary)
    }
}
