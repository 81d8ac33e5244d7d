// DoozerClient's reconnection policy against a scripted fake server on 127.0.0.1: what is
// re-sent after a connection breaks mid-call, and what is reported as `.connectionLost`.

@testable import DoozerClient
import DoozerWire
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// A TCP listener on 127.0.0.1 (ephemeral port). Each accepted connection is handed, with its
/// index, to `script` on its own thread; the script closes it when done.
final class FakeServer: @unchecked Sendable {
    let port: UInt16
    private let listener: Int32
    private let lock = NSLock()
    private var accepted = 0
    private var stopped = false

    init(script: @escaping @Sendable (_ index: Int, _ peer: FakePeer) -> Void) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        listener = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0, listen(fd, 16) == 0 else { throw XCTSkip("cannot listen on 127.0.0.1") }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = UInt16(bigEndian: address.sin_port)
        let listener = self.listener
        Thread { [self] in
            while true {
                let fd = accept(listener, nil, nil)
                if fd < 0 { return }
                let index: Int = lock.withLock { accepted += 1; return accepted - 1 }
                Thread { script(index, FakePeer(fd: fd)) }.start()
            }
        }.start()
    }

    var address: String { "127.0.0.1:\(port)" }
    var connections: Int { lock.withLock { accepted } }

    func stop() {
        _ = shutdown(listener, Int32(SHUT_RDWR))
        _ = close(listener)
    }
}

/// Answers every request like a tiny server: REV → 42, SET → rev 43, GET → "ok"@7, NOP/DEL → tag only.
func answerAll(_ peer: FakePeer) {
    while let request = peer.receive() {
        switch request.verb.flatMap(Verb.init(rawValue:)) {
        case .rev?: peer.send(Response(tag: request.tag, rev: 42))
        case .set?: peer.send(Response(tag: request.tag, rev: 43))
        case .get?: peer.send(Response(tag: request.tag, rev: 7, value: Array("ok".utf8)))
        case .wait?: peer.send(Response(tag: request.tag, flags: 4, rev: request.rev, path: "/w", value: []))
        default: peer.send(Response(tag: request.tag))
        }
    }
    peer.close()
}

final class RetryTests: XCTestCase {
    /// The first connection reads one request after the connect-time ones and drops the line.
    private func dropFirstCallServer(skipping: Int = 0) throws -> FakeServer {
        try FakeServer { index, peer in
            if index == 0 {
                for _ in 0...skipping { _ = peer.receive() }
                peer.close()
            } else {
                answerAll(peer)
            }
        }
    }

    func testReadsAndConditionalWritesAreReissued() throws {
        for call in ["get", "set0", "del5", "wait", "rev"] {
            let server = try dropFirstCallServer()
            defer { server.stop() }
            let client = try DoozerClient(uri: "doozer:?ca=\(server.address)", timeout: .seconds(5))
            defer { client.close() }
            switch call {
            case "get": XCTAssertEqual(try client.get("/a").body, Array("ok".utf8))
            case "set0": XCTAssertEqual(try client.set("/a", rev: 0, body: []), 43)
            case "del5": try client.del("/a", rev: 5)
            case "wait": XCTAssertEqual(try client.wait("/w", rev: 9).rev, 9)
            default: XCTAssertEqual(try client.rev(), 42)
            }
            XCTAssertEqual(server.connections, 2, call)
        }
    }

    func testUnconditionalWritesAreNeverRepeated() throws {
        for call in ["set", "del", "nop"] {
            let server = try dropFirstCallServer()
            defer { server.stop() }
            let client = try DoozerClient(uri: "doozer:?ca=\(server.address)", timeout: .seconds(5))
            defer { client.close() }
            XCTAssertThrowsError(try {
                switch call {
                case "set": _ = try client.set("/a", rev: -1, body: [])
                case "del": try client.del("/a", rev: -1)
                default: try client.nop()
                }
            }(), call) { XCTAssertEqual($0 as? DoozerError, .connectionLost, call) }
            // The next call reconnects.
            XCTAssertEqual(try client.rev(), 42)
            XCTAssertEqual(try client.set("/a", rev: -1, body: []), 43)
        }
    }

    /// A server that closes every connection on a SET (as on a frame over its -maxframe): the
    /// SET is sent once more on a fresh connection, then the break is reported — not resent
    /// until the reconnect window ends in `timeout`.
    func testARequestThatBreaksTheRetryConnectionIsReportedAtOnce() throws {
        let server = try FakeServer { _, peer in
            while let request = peer.receive() {
                if request.verb == Verb.set.rawValue { break }
                peer.send(Response(tag: request.tag, rev: 42))
            }
            peer.close()
        }
        defer { server.stop() }
        let client = try DoozerClient(uri: "doozer:?ca=\(server.address)", timeout: .seconds(30))
        defer { client.close() }
        XCTAssertThrowsError(try client.set("/a", rev: 0, body: Array(repeating: 1, count: 100))) { error in
            guard case .connection(let text)? = error as? DoozerError else { return XCTFail("\(error)") }
            XCTAssertTrue(text.contains("-maxframe"), text)
        }
        XCTAssertEqual(server.connections, 2, "tried once more on a fresh connection, no more")
        // Other requests still work.
        XCTAssertEqual(try client.rev(), 42)
    }

    /// A conditional SET whose connection breaks after it reached the server is sent again; if
    /// the copy is refused with REV_MISMATCH, the first one may be what changed the file: the
    /// outcome is unknown (`connectionLost`), never the "not written" a REV_MISMATCH says.
    func testAConditionalWriteRefusedAfterABreakIsReportedAsConnectionLost() throws {
        let server = try FakeServer { index, peer in
            while let request = peer.receive() {
                if request.verb == Verb.set.rawValue {
                    if index == 0 { break }   // "applied", then the connection breaks before the answer
                    peer.send(Response(tag: request.tag, errCode: ErrorCode.revMismatch.rawValue))
                } else {
                    peer.send(Response(tag: request.tag, rev: 42))
                }
            }
            peer.close()
        }
        defer { server.stop() }
        let client = try DoozerClient(uri: "doozer:?ca=\(server.address)", timeout: .seconds(30))
        defer { client.close() }
        XCTAssertThrowsError(try client.set("/a", rev: 0, body: Array("v".utf8))) { error in
            XCTAssertEqual(error as? DoozerError, .connectionLost)
        }
        XCTAssertEqual(server.connections, 2, "sent again once, on a fresh connection")
    }

    func testSecretIsPresentedOnEveryConnection() throws {
        let secrets = ClientBox<[[UInt8]]>([])
        let server = try FakeServer { index, peer in
            guard let access = peer.receive(), access.verb == Verb.access.rawValue else { return peer.close() }
            secrets.update { $0.append(access.value ?? []) }
            peer.send(Response(tag: access.tag))
            if index == 0 {
                _ = peer.receive()
                peer.close()
            } else {
                answerAll(peer)
            }
        }
        defer { server.stop() }
        let client = try DoozerClient(uri: "doozer:?ca=\(server.address)&sk=top%20secret", timeout: .seconds(5))
        defer { client.close() }
        XCTAssertEqual(try client.rev(), 42)
        XCTAssertEqual(secrets.get(), [Array("top secret".utf8), Array("top secret".utf8)])
    }

    func testRefusedAccessClosesAndReports() throws {
        let closed = ClientBox(false)
        let server = try FakeServer { _, peer in
            if let access = peer.receive() { peer.send(Response(tag: access.tag, errCode: .other, errDetail: "permission denied")) }
            if peer.receive() == nil { closed.update { $0 = true } }
            peer.close()
        }
        defer { server.stop() }
        XCTAssertThrowsError(try DoozerClient(uri: "doozer:?ca=\(server.address)&sk=x")) {
            XCTAssertEqual(($0 as? DoozerError)?.description, "OTHER: permission denied")
        }
        XCTAssertTrue(clientWait { closed.get() }, "the refused connection is closed")
    }

    func testDialTimeoutAndReconnectWindow() throws {
        // Nothing listens: reconnection gives up within the timeout with the dial error.
        let server = try FakeServer { index, peer in
            if index == 0 { _ = peer.receive(); peer.close() } else { peer.close() }
        }
        let client = try DoozerClient(uri: "doozer:?ca=\(server.address)", timeout: .milliseconds(600))
        defer { client.close() }
        server.stop()
        let start = Date()
        XCTAssertThrowsError(try client.rev()) { error in
            guard case .connection(let text)? = error as? DoozerError else { return XCTFail("\(error)") }
            XCTAssertTrue(text.hasPrefix("dial tcp 127.0.0.1:"), text)
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 3)
    }

    func testLookupConnectionIsClosed() throws {
        let lookupClosed = ClientBox(false)
        let target = try FakeServer { _, peer in answerAll(peer) }
        defer { target.stop() }
        let dzns = try FakeServer { _, peer in
            while let request = peer.receive() {
                switch request.verb.flatMap(Verb.init(rawValue:)) {
                case .rev?: peer.send(Response(tag: request.tag, rev: 100))
                case .getdir?:
                    if request.offset == 0 { peer.send(Response(tag: request.tag, path: "NODE")) }
                    else { peer.send(Response(tag: request.tag, errCode: .range)) }
                case .get?: peer.send(Response(tag: request.tag, rev: 9, value: Array(target.address.utf8)))
                default: peer.send(Response(tag: request.tag, errCode: .unknownVerb))
                }
            }
            lookupClosed.update { $0 = true }
            peer.close()
        }
        defer { dzns.stop() }
        let client = try DoozerClient(uri: "doozer:?cn=c", bootURI: "doozer:?ca=\(dzns.address)")
        defer { client.close() }
        XCTAssertEqual(client.currentAddress, target.address)
        XCTAssertTrue(clientWait { lookupClosed.get() }, "B23: the DzNS connection is closed after the lookup")
        XCTAssertEqual(try client.rev(), 42)
    }
}

final class ClientBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func get() -> Value { lock.withLock { value } }
    func update(_ body: (inout Value) -> Void) { lock.withLock { body(&value) } }
}
