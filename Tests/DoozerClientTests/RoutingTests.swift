// Response routing and failure handling of DoozerConnection against a scripted fake peer on a
// socketpair, and DoozerClient's retry policy against a scripted fake server on 127.0.0.1.

@testable import DoozerClient
import DoozerWire
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The server side of a fake connection: reads request frames, writes response frames.
final class FakePeer: @unchecked Sendable {
    let fd: Int32
    private var buffer: [UInt8] = []

    init(fd: Int32) {
        self.fd = fd
        var tv = timeval(tv_sec: 10, tv_usec: 0)  // a broken test fails instead of hanging
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// The next request, or nil at end of stream.
    func receive() -> Request? {
        while true {
            if buffer.count >= 4 {
                let length = Int(buffer[0]) << 24 | Int(buffer[1]) << 16 | Int(buffer[2]) << 8 | Int(buffer[3])
                if buffer.count >= 4 + length {
                    let payload = Array(buffer[4..<4 + length])
                    buffer.removeFirst(4 + length)
                    return try? Request(decoding: payload)
                }
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 4096, 0) }
            if n <= 0 { return nil }
            buffer += chunk[0..<n]
        }
    }

    func send(_ response: Response) { sendRaw(Framing.frame(response.encoded())) }

    func sendRaw(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    func close() { _ = Glibc.close(fd) }
}

/// A connection whose other end is a FakePeer.
func fakeConnection() -> (DoozerConnection, FakePeer) {
    var fds: [Int32] = [0, 0]
    precondition(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
    return (DoozerConnection(rawDescriptor: fds[0], address: "fake"), FakePeer(fd: fds[1]))
}

/// Runs `body` on a new thread; `join` waits for it and returns its result.
final class Background<T>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var result: Result<T, DoozerError>?

    init(_ body: @escaping @Sendable () throws(DoozerError) -> T) {
        Thread { [self] in
            do throws(DoozerError) { result = .success(try body()) } catch { result = .failure(error) }
            done.signal()
        }.start()
    }

    func join(timeout seconds: Double = 10) -> Result<T, DoozerError>? {
        guard done.wait(timeout: .now() + seconds) == .success else { return nil }
        done.signal()  // later joins return at once
        return result
    }
}

final class RoutingTests: XCTestCase {
    func testResponsesAreRoutedByTagInAnyOrder() throws {
        let (connection, peer) = fakeConnection()
        defer { connection.close(); peer.close() }
        let first = Background { () throws(DoozerError) in try connection.get("/a") }
        let one = try XCTUnwrap(peer.receive())
        let second = Background { () throws(DoozerError) in try connection.get("/b") }
        let two = try XCTUnwrap(peer.receive())
        XCTAssertEqual(one.tag, 0)
        XCTAssertEqual(two.tag, 1)
        XCTAssertEqual([one.path, two.path], ["/a", "/b"])
        peer.send(Response(tag: 99, rev: 1, value: Array("stray".utf8)))          // unknown tag: dropped
        peer.send(Response(rev: 1, value: Array("untagged".utf8)))                // no tag: dropped
        peer.send(Response(tag: 1, rev: 20, value: Array("B".utf8)))
        peer.send(Response(tag: 0, rev: 10, value: Array("A".utf8)))
        XCTAssertEqual(try first.join()?.get().body, Array("A".utf8))
        XCTAssertEqual(try first.join()?.get().rev, 10)
        XCTAssertEqual(try second.join()?.get().body, Array("B".utf8))
        XCTAssertNil(connection.failure)
        XCTAssertEqual(connection.core.tagsInUse, [])

        // Tags go on counting; a tag still outstanding is skipped after wrap-around too.
        let third = Background { () throws(DoozerError) in try connection.rev() }
        XCTAssertEqual(peer.receive()?.tag, 2)
        peer.send(Response(tag: 2, rev: 5))
        XCTAssertEqual(try third.join()?.get(), 5)
    }

    func testServerErrorsAndMissingFields() throws {
        let (connection, peer) = fakeConnection()
        defer { connection.close(); peer.close() }
        let call = Background { () throws(DoozerError) in try connection.set("/a", rev: 3, body: [1]) }
        let request = try XCTUnwrap(peer.receive())
        XCTAssertEqual(request, Request(tag: 0, verb: .set, path: "/a", value: [1], rev: 3))
        peer.send(Response(tag: 0, errCode: .revMismatch))
        XCTAssertEqual(call.join()?.failureValue, .server(code: .revMismatch, detail: nil))
        let bare = Background { () throws(DoozerError) in try connection.set("/a", rev: 3, body: [1]) }
        _ = peer.receive()
        peer.send(Response(tag: 1))
        XCTAssertEqual(bare.join()?.failureValue, .malformedResponse("SET answer without rev"))
        let unknown = Background { () throws(DoozerError) in try connection.rev() }
        _ = peer.receive()
        peer.send(Response(tag: 2, errCode: 55 as Int32, errDetail: "new"))
        XCTAssertEqual(unknown.join()?.failureValue, .malformedResponse("unknown error code 55: new"))
    }

    func testWaitTimeoutReservesTheTagUntilTheLateAnswer() throws {
        let (connection, peer) = fakeConnection()
        defer { connection.close(); peer.close() }
        let waiting = Background { () throws(DoozerError) in try connection.wait("/x", rev: 5, timeout: .milliseconds(50)) }
        let wait = try XCTUnwrap(peer.receive())
        XCTAssertEqual(wait.verb, Verb.wait.rawValue)
        XCTAssertEqual(waiting.join()?.failureValue, .waitTimeout)
        XCTAssertEqual(connection.core.tagsInUse, [0], "the abandoned tag stays reserved")
        // A new call does not reuse tag 0 while the server may still answer it.
        let next = Background { () throws(DoozerError) in try connection.get("/y") }
        let get = try XCTUnwrap(peer.receive())
        XCTAssertEqual(get.tag, 1)
        peer.send(Response(tag: 0, flags: 4, rev: 9, path: "/x", value: []))    // the late WAIT answer
        peer.send(Response(tag: 1, rev: 3, value: Array("y".utf8)))
        XCTAssertEqual(try next.join()?.get().body, Array("y".utf8))
        XCTAssertTrue(clientWait { connection.core.tagsInUse.isEmpty }, "the late answer frees the tag")
        XCTAssertNil(connection.failure)
    }

    func testPeerCloseFailsOutstandingAndLaterCalls() throws {
        let (connection, peer) = fakeConnection()
        defer { connection.close() }
        let calls = (0..<3).map { _ in Background { () throws(DoozerError) in try connection.rev() } }
        for _ in calls { XCTAssertNotNil(peer.receive()) }
        peer.close()
        for call in calls { XCTAssertEqual(call.join()?.failureValue, .connection("EOF")) }
        XCTAssertEqual(connection.failure, .connection("EOF"))
        XCTAssertThrowsError(try connection.rev()) { XCTAssertEqual($0 as? DoozerError, .connection("EOF")) }
    }

    func testMalformedFrameKillsTheConnection() throws {
        let (connection, peer) = fakeConnection()
        defer { connection.close(); peer.close() }
        let call = Background { () throws(DoozerError) in try connection.rev() }
        _ = peer.receive()
        peer.sendRaw([0, 0, 0, 2, 0x08, 0x80])  // truncated varint
        XCTAssertEqual(call.join()?.failureValue, .malformedResponse("truncated varint"))
        let (other, otherPeer) = fakeConnection()
        defer { other.close(); otherPeer.close() }
        let huge = Background { () throws(DoozerError) in try other.rev() }
        _ = otherPeer.receive()
        otherPeer.sendRaw([0x7f, 0xff, 0xff, 0xff])
        XCTAssertEqual(huge.join()?.failureValue, .malformedResponse("response frame of 2147483647 bytes"))
    }

    func testCloseFailsOutstandingCalls() throws {
        let (connection, peer) = fakeConnection()
        defer { peer.close() }
        let call = Background { () throws(DoozerError) in try connection.wait("/**", rev: 1) }
        _ = peer.receive()
        connection.close()
        XCTAssertEqual(call.join()?.failureValue, .closed)
        XCTAssertThrowsError(try connection.nop()) { XCTAssertEqual($0 as? DoozerError, .closed) }
        connection.close()  // idempotent
    }
}

func clientWait(_ seconds: Double = 5, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(5_000)
    }
    return condition()
}

extension Result {
    var failureValue: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
