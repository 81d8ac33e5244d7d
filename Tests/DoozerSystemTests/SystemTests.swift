import DoozerSystem
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class LZ4Tests: XCTestCase {
    func testRoundTrip() throws {
        var input: [UInt8] = []
        for i in 0..<50_000 { input.append(UInt8(truncatingIfNeeded: i % 251 < 200 ? 65 : i)) }
        let compressed = try LZ4.compress(input)
        XCTAssertLessThan(compressed.count, input.count)
        XCTAssertEqual(try LZ4.decompress(compressed, originalCount: input.count), input)
    }

    func testEmptyRoundTrip() throws {
        let compressed = try LZ4.compress([])
        XCTAssertEqual(try LZ4.decompress(compressed, originalCount: 0), [])
    }

    func testCorruptInputIsAnErrorNotACrash() throws {
        let compressed = try LZ4.compress(Array(repeating: 1, count: 1000))
        XCTAssertThrowsError(try LZ4.decompress(Array(compressed.prefix(compressed.count / 2)), originalCount: 1000))
        XCTAssertThrowsError(try LZ4.decompress(compressed, originalCount: 999))
    }

    func testBufferForms() throws {
        let input = [UInt8]((0..<3000).map { UInt8(truncatingIfNeeded: $0 % 37) })
        let bound = try XCTUnwrap(LZ4.compressBound(input.count))
        var block = [UInt8](repeating: 0, count: bound)
        let written = try input.withUnsafeBytes { src in
            try block.withUnsafeMutableBytes { try LZ4.compress(src, into: $0) }
        }
        XCTAssertEqual(Array(block.prefix(written)), try LZ4.compress(input))
        var output = [UInt8](repeating: 0, count: input.count)
        try block.withUnsafeBytes { b in
            try output.withUnsafeMutableBytes { try LZ4.decompress(UnsafeRawBufferPointer(rebasing: b.prefix(written)), into: $0) }
        }
        XCTAssertEqual(output, input)
        // An output buffer smaller than the bound is refused, not overrun.
        var small = [UInt8](repeating: 0, count: bound - 1)
        XCTAssertThrowsError(try input.withUnsafeBytes { src in
            try small.withUnsafeMutableBytes { try LZ4.compress(src, into: $0) }
        })
        XCTAssertNil(LZ4.compressBound(LZ4.maxInputCount + 1))
    }
}

final class SocketAddressTests: XCTestCase {
    func testResolvesNumericAndNamedHosts() throws {
        XCTAssertEqual(try SocketAddress.resolve("127.0.0.1:8046").description, "127.0.0.1:8046")
        XCTAssertEqual(try SocketAddress.resolve("localhost:8046").description, "127.0.0.1:8046")
        XCTAssertEqual(try SocketAddress.resolve("[::1]:9").description, "[::1]:9")
        XCTAssertEqual(try SocketAddress.resolve("127.0.0.2:1").withPort(8000).description, "127.0.0.2:8000")
    }

    func testRejectsMalformedAddresses() {
        for bad in ["127.0.0.1", "127.0.0.1:http", ":8046", "127.0.0.1:70000", "no.such.host.invalid:1"] {
            XCTAssertThrowsError(try SocketAddress.resolve(bad), bad)
        }
    }

    func testListenerReportsItsBoundAddress() throws {
        let fd = try Socket.listenTCP(try SocketAddress.resolve("127.0.0.1:0"))
        defer { fd.close() }
        let bound = try Socket.localAddress(fd)
        XCTAssertEqual(bound.host, "127.0.0.1")
        XCTAssertNotEqual(bound.port, 0)
        if case .done = try Socket.accept(fd) { XCTFail("nothing should be pending") }
    }

    func testSameHostComparesTheAddressNotThePort() throws {
        let a = try SocketAddress.resolve("127.0.0.2:8046")
        XCTAssertTrue(a.hasSameHost(as: try SocketAddress.resolve("127.0.0.2:40000")))
        XCTAssertFalse(a.hasSameHost(as: try SocketAddress.resolve("127.0.0.3:8046")))
        XCTAssertFalse(a.hasSameHost(as: try SocketAddress.resolve("[::1]:8046")), "another family")
        let six = try SocketAddress.resolve("[::1]:1")
        XCTAssertTrue(six.hasSameHost(as: try SocketAddress.resolve("[::1]:2")))
        XCTAssertFalse(six.hasSameHost(as: try SocketAddress.resolve("[::2]:1")))
    }

    /// The event loop's connect: from the given host, non-blocking, its outcome read once the
    /// socket turns writable; a refusal carries ECONNREFUSED.
    func testNonBlockingConnectFromAGivenHost() throws {
        let listener = try Socket.listenTCP(try SocketAddress.resolve("127.0.0.1:0"))
        var listening = true
        defer { if listening { listener.close() } }
        let target = try Socket.localAddress(listener)
        let started = try Socket.startConnect(to: target, from: try SocketAddress.resolve("127.0.0.5:0"))
        defer { started.fd.close() }
        var entry = pollfd(fd: started.fd.rawValue, events: Int16(POLLOUT), revents: 0)
        XCTAssertEqual(poll(&entry, 1, 5000), 1, "the handshake ends")
        XCTAssertNoThrow(try Socket.connectOutcome(started.fd))
        XCTAssertEqual(try Socket.localAddress(started.fd).host, "127.0.0.5", "it connects from the host asked for")
        guard case .done(let accepted) = try Socket.accept(listener) else { return XCTFail("no connection to accept") }
        defer { accepted.close() }
        XCTAssertEqual(try Socket.peerAddress(accepted).host, "127.0.0.5")

        listener.close()   // nothing listens at `target` now
        listening = false
        let refused = try Socket.startConnect(to: target, from: try SocketAddress.resolve("127.0.0.1:0"))
        defer { refused.fd.close() }
        var again = pollfd(fd: refused.fd.rawValue, events: Int16(POLLOUT), revents: 0)
        XCTAssertEqual(poll(&again, 1, 5000), 1)
        XCTAssertThrowsError(try Socket.connectOutcome(refused.fd)) { error in
            XCTAssertEqual((error as? SystemError)?.errno, Errno(rawValue: ECONNREFUSED))
        }
    }

    func testBindingABusyPortCarriesTheErrno() throws {
        let first = try Socket.listenTCP(try SocketAddress.resolve("127.0.0.1:0"))
        defer { first.close() }
        let taken = try Socket.localAddress(first)
        XCTAssertThrowsError(try Socket.listenTCP(taken)) { error in
            let systemError = error as? SystemError
            XCTAssertEqual(systemError?.call, "bind")
            XCTAssertEqual(systemError?.errno, .addressInUse)
        }
    }
}

final class ConstantTimeTests: XCTestCase {
    func testEqualOnlyForTheSameBytes() {
        XCTAssertTrue(ConstantTime.equal([], []))
        XCTAssertTrue(ConstantTime.equal(Array("secret".utf8), Array("secret".utf8)))
        XCTAssertFalse(ConstantTime.equal(Array("secret".utf8), Array("secreT".utf8)))
        XCTAssertFalse(ConstantTime.equal(Array("Secret".utf8), Array("secret".utf8)))
        XCTAssertFalse(ConstantTime.equal(Array("secret".utf8), Array("secrets".utf8)))
        XCTAssertFalse(ConstantTime.equal([], [0]))
    }
}
