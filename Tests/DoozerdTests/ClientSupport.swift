// Helpers for the DoozerClient integration tests: typed-error assertions, a locked box, and
// servers on a chosen address (for restarts on the same address and the default port).

@testable import DoozerClient
import DoozerWire
import Foundation
import XCTest

/// A value shared between a test and its background threads.
final class ClientLocked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func get() -> Value { lock.lock(); defer { lock.unlock() }; return value }
    func update<R>(_ body: (inout Value) -> R) -> R { lock.lock(); defer { lock.unlock() }; return body(&value) }
}

/// Asserts that `body` throws exactly `expected`.
func assertClientError<T>(_ expected: DoozerError, _ item: String, file: StaticString = #filePath, line: UInt = #line,
                          _ body: () throws -> T) {
    do {
        let value = try body()
        XCTFail("\(item): expected \(expected), got the value \(value)", file: file, line: line)
    } catch {
        XCTAssertEqual(error as? DoozerError, expected, "\(item): got \(error)", file: file, line: line)
    }
}

/// Waits (bounded) until a call on `connection` is outstanding: its tag taken, its request on
/// its way — the moment a test that breaks or closes the connection under a call needs.
func awaitOutstandingCall(on connection: DoozerConnection) throws {
    guard clientEventually(5, { !connection.core.tagsInUse.isEmpty }) else {
        throw HarnessError("no call became outstanding on \(connection.address) within 5 s")
    }
}

/// Polls `condition` every 10 ms for up to `seconds`.
@discardableResult
func clientEventually(_ seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = now() + seconds
    while now() < deadline {
        if condition() { return true }
        pause(0.01)
    }
    return condition()
}

extension DoozerdTestCase {
    /// A dedicated doozerd listening on exactly `host:port` (stopped in tearDown), ready once it
    /// answers REV ≥ 57 and has written its `writable` flag. Returns the process and its node id.
    func startClientServer(host: String, port: UInt16, arguments: [String] = [],
                           environment: [String: String] = [:]) throws -> (process: DoozerdProcess, id: String) {
        var config = DoozerdProcess.Config(arguments: ["-l", "\(host):\(port)"] + arguments, environment: environment)
        config.host = host
        config.skipReadiness = true
        let process = try startServer(config)
        let address = "\(host):\(port)"
        let deadline = now() + 15
        var problem = "not tried"
        while now() < deadline {
            guard process.isRunning else { throw HarnessError("doozerd on \(address) exited: \(process.stderrTail())") }
            do {
                let connection = try DoozerConnection.dial(address, timeout: .seconds(1))
                defer { connection.close() }
                if let secret = environment["DOOZER_RWSECRET"] { try connection.access(Array(secret.utf8)) }
                let rev = try connection.rev()
                if rev >= 57 {
                    let id = String(decoding: try connection.selfID(), as: UTF8.self)
                    if try connection.get("/ctl/node/\(id)/writable").rev > 0 { return (process, id) }
                }
                problem = "rev \(rev)"
            } catch {
                problem = "\(error)"
            }
            pause(0.02)
        }
        throw HarnessError("doozerd on \(address) not ready: \(problem); stderr:\n\(process.stderrTail())")
    }
}
