import DoozerWire
import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// `-loglevel` and SIGUSR1: a node started at `warning` writes no info lines; SIGUSR1 raises
/// it to debug (a malformed web request then shows), and a second SIGUSR1 sets it back.
final class LogLevelTests: DoozerdTestCase {
    /// The web view's address, chosen here: at `warning` the node does not log it.
    private static let web: (host: String, port: UInt16) = {
        let host = Loopback.freshHost()
        return (host, try! Loopback.freePort(on: host))
    }()

    override class var serverConfig: DoozerdProcess.Config? {
        var config = DoozerdProcess.Config(webEnabled: true)
        config.host = web.host
        config.arguments = ["-w", "\(web.host):\(web.port)", "-loglevel", "warning"]
        return config
    }

    private func awaitLog(_ text: String, _ what: String) {
        let deadline = now() + 10
        while now() < deadline {
            if server.stderrTail(50_000).contains(text) { return }
            pause(0.02)
        }
        XCTFail("\(what): no \"\(text)\" in the log:\n\(server.stderrTail())")
    }

    /// A request the web view answers 400, with a debug line.
    private func malformedWebRequest() throws {
        _ = try? WebClient.exchange(host: Self.web.host, port: Self.web.port, raw: Array("NONSENSE\r\n\r\n".utf8))
    }

    func testSIGUSR1RaisesTheLevelAndSetsItBack() throws {
        _ = try connect().call(Request(tag: 1, verb: .rev))
        XCTAssertFalse(server.stderrTail(50_000).contains(" info "), "no info lines at -loglevel warning:\n\(server.stderrTail())")
        try malformedWebRequest()
        XCTAssertEqual(kill(server.pid, SIGUSR1), 0)
        awaitLog("log level debug until the next SIGUSR1 (then warning again)", "the raise is logged")
        try malformedWebRequest()
        awaitLog("malformed request", "a debug line shows once raised")
        XCTAssertEqual(server.stderrTail(50_000).components(separatedBy: "malformed request").count - 1, 1,
                       "only the request after the raise was logged")
        XCTAssertEqual(kill(server.pid, SIGUSR1), 0)
        awaitLog("log level back to warning (SIGUSR1)", "the return is logged")
        try malformedWebRequest()   // answered (400) before it returns: any line about it is written by then
        XCTAssertEqual(server.stderrTail(50_000).components(separatedBy: "malformed request").count - 1, 1,
                       "and debug lines stop again")
    }
}
