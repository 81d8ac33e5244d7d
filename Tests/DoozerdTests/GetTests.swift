// §12.2 GET.

import DoozerWire
import XCTest

final class GetTests: DoozerdTestCase {
    // 12.2 #14
    func testCtlNameIsLocalAtRev1() throws {
        let c = try connect()
        let response = try c.get("/ctl/name")
        assertExactly(response, Response(tag: response.tag, rev: 1, value: bytes("local")), "12.2 #14")
    }

    // 12.2 #15
    func testMissingPathIsRevZeroEmptyValue() throws {
        let c = try connect()
        let response = try c.call(Request(tag: 15, verb: .get, path: "/" + unique("missing") + "/deeper"))
        assertExactly(response, Response(tag: 15, rev: 0, value: []), "12.2 #15")
    }

    // 12.2 #16
    func testDirectoriesAreIsDir() throws {
        let c = try connect()
        assertError(try c.get("/"), .isDir, "12.2 #16 GET /")
        assertError(try c.get("/ctl"), .isDir, "12.2 #16 GET /ctl")
        assertError(try c.get("/ctl/node"), .isDir, "12.2 #16 GET /ctl/node")
    }

    // 12.2 #17
    func testMissingPathArgument() throws {
        let c = try connect()
        assertError(try c.get(nil), .missingArg, "12.2 #17")
        assertError(try c.get(nil, rev: 5), .missingArg, "12.2 #17 (with rev)")
    }

    // 12.2 #18
    func testGetAtOldRevReturnsOldBody() throws {
        let c = try connect()
        let path = "/" + unique("hist")
        let r1 = try c.mustSet(path, "one")
        let r2 = try c.mustSet(path, "two")
        XCTAssertGreaterThan(r2, r1)
        assertExactly(try c.call(Request(tag: 1, verb: .get, path: path, rev: r1)),
                      Response(tag: 1, rev: r1, value: bytes("one")), "12.2 #18 at r1")
        assertExactly(try c.call(Request(tag: 2, verb: .get, path: path, rev: r2 - 1)),
                      Response(tag: 2, rev: r1, value: bytes("one")), "12.2 #18 at r2-1")
        assertExactly(try c.call(Request(tag: 3, verb: .get, path: path, rev: r2)),
                      Response(tag: 3, rev: r2, value: bytes("two")), "12.2 #18 at r2")
        assertExactly(try c.call(Request(tag: 4, verb: .get, path: path, rev: r1 - 1)),
                      Response(tag: 4, rev: 0, value: []), "12.2 #18 before creation")
        assertExactly(try c.call(Request(tag: 5, verb: .get, path: path)),
                      Response(tag: 5, rev: r2, value: bytes("two")), "12.2 #18 current")
    }

    // 12.2 #19
    func testCalSlotBeforeCreation() throws {
        let c = try connect()
        assertExactly(try c.call(Request(tag: 1, verb: .get, path: "/ctl/cal/0", rev: 4)),
                      Response(tag: 1, rev: 0, value: []), "12.2 #19 at rev 4")
        assertExactly(try c.call(Request(tag: 2, verb: .get, path: "/ctl/cal/0", rev: 5)),
                      Response(tag: 2, rev: 5, value: bytes(nodeID)), "12.2 #19 at rev 5")
    }

    // 12.2 #20
    func testRevZeroMeansRevisionOne() throws {
        let c = try connect()
        for rev: Int64 in [0, -1, -7] {
            let name = try c.get("/ctl/name", rev: rev)
            XCTAssertEqual(name.rev, 1, "12.2 #20 rev \(rev): \(name.brief)")
            XCTAssertEqual(name.text, "local", "12.2 #20 rev \(rev)")
            let cal = try c.get("/ctl/cal/0", rev: rev)
            assertExactly(cal, Response(tag: cal.tag, rev: 0, value: []), "12.2 #20 rev \(rev): /ctl/cal/0 missing")
            let addr = try c.get("/ctl/node/\(nodeID)/addr", rev: rev)
            XCTAssertEqual(addr.rev, 0, "12.2 #20 rev \(rev): addr (seqn 2) missing at rev 1")
        }
    }

    // 12.2 #21
    func testFutureRevBlocksUntilItExists() throws {
        let a = try connect()
        let b = try connect()
        let path = "/" + unique("future")
        let r0 = try a.mustSet(path, "v0")
        let target = r0 + 2
        try a.send(Request(tag: 21, verb: .get, path: path, rev: target))
        // If an answer is already readable now, revision `target` must exist by now.
        let answeredEarly = a.isReadable(within: 0)
        let seen = try b.rev()
        if answeredEarly {
            XCTAssertGreaterThanOrEqual(seen, target, "12.2 #21: GET(rev=\(target)) answered while rev was \(seen)")
        }
        let r1 = try b.mustSet(path, "v1")
        let r2 = try b.mustSet(path, "v2")
        let response = try a.receive(tag: 21)
        // State as of `target`: the newest of our writes at or before it.
        let expected = [(r0, "v0"), (r1, "v1"), (r2, "v2")].last { $0.0 <= target }!
        assertExactly(response, Response(tag: 21, rev: expected.0, value: bytes(expected.1)),
                      "12.2 #21 (writes at \(r0), \(r1), \(r2); asked for \(target))")
        XCTAssertGreaterThanOrEqual(try b.rev(), target, "12.2 #21")
    }

    // 12.2 #21, driven by the pulse alone
    func testFutureRevIsAnsweredWhenThePulseCreatesIt() throws {
        let c = try connect()
        let current = try c.rev()
        try c.send(Request(tag: 22, verb: .get, path: "/ctl/name", rev: current + 2))
        let response = try c.receive(tag: 22)
        assertExactly(response, Response(tag: 22, rev: 1, value: bytes("local")), "12.2 #21 (pulse)")
        XCTAssertGreaterThanOrEqual(try c.rev(), current + 2, "12.2 #21 (pulse)")
    }

    // 12.2 #22 (fixed, B2)
    func testInvalidPathsAreBadPath() throws {
        let c = try connect()
        for path in ["", "ctl/name", "/ctl/", "/a//b", "xctl/name", "/x y", "/x_y", "//", "/ctl/name/"] {
            let response = try c.call(Request(tag: 22, verb: .get, path: path))
            assertExactly(response, Response(tag: 22, errCode: .badPath), "12.2 #22 GET \(path.debugDescription)")
        }
        let other = try server.connect()
        defer { other.close() }
        XCTAssertEqual(try other.get("/ctl/name").text, "local", "12.2 #22: server stays up")
    }

    // 12.2 #23
    func testBinaryBodyRoundTrip() throws {
        let c = try connect()
        let path = "/" + unique("bin")
        let body: [UInt8] = [0x00, 0xff, 0x3d, 0x3a, 0x0a]
        let rev = try c.mustSet(path, body)
        assertExactly(try c.call(Request(tag: 23, verb: .get, path: path)),
                      Response(tag: 23, rev: rev, value: body), "12.2 #23")
        let all = (0...255).map { UInt8($0) }
        let rev2 = try c.mustSet(path, all)
        assertExactly(try c.call(Request(tag: 24, verb: .get, path: path)),
                      Response(tag: 24, rev: rev2, value: all), "12.2 #23 (all byte values)")
    }
}
